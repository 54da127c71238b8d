"""Adamax, NAdam and RAdam: update rules identical to ``torch.optim``'s (single-tensor forms, same order of
operations), written once against ``xp``. They have no fused kernel: on the GPU each update is a few elementwise
array ops (and ``fit``'s device-side skip of a non-finite step does not cover them: it reads the loss instead).
"""
from __future__ import annotations

from typing import Iterable

import numpy as np

from ._functional import _accumulate_square, _effective_grad, _lerp_
from .adam import Adam
from .optimizer import Optimizer

__all__ = ["Adamax", "NAdam", "RAdam"]


def _grad(xp, param, grad, group):
    """``±grad`` (maximize), plus the L2 term unless the decay is decoupled (then θ is scaled here, as torch)."""
    wd = group["weight_decay"]
    if wd != 0 and group.get("decoupled_weight_decay"):
        param *= 1 - group["lr"] * wd
        wd = 0
    return _effective_grad(xp, param, grad, wd, bool(group.get("maximize")))[0]


def _first_moment(xp, state, param, g, beta1, second: str):
    """Count the step and m ← lerp(m, g, 1 − β₁) (torch's lerp_); the state starts as zeros with ``exp_avg``
    and the ``second`` buffer. Returns ``(m, second buffer, step, a scratch array)``."""
    if not state:
        state["step"] = 0
        state["exp_avg"] = xp.zeros_like(param)
        state[second] = xp.zeros_like(param)
    state["step"] += 1
    tmp = xp.empty_like(param)
    _lerp_(xp, state["exp_avg"], g, 1 - beta1, tmp)
    return state["exp_avg"], state[second], state["step"], tmp


def _moments(xp, state, param, g, beta1, beta2):
    """m as :func:`_first_moment`, and v ← β₂·v + (1 − β₂)·g², as Adam's (torch's addcmul_)."""
    m, v, t, tmp = _first_moment(xp, state, param, g, beta1, "exp_avg_sq")
    _accumulate_square(xp, v, g, beta2, tmp)
    return m, v, t


class _AdamFamily(Adam):
    """Adam's constructor checks; subclasses set their defaults and their ``_update``."""

    _kernel_name = ""  # no fused kernel: the generic update runs on every backend
    _reference = None

    def __init__(self, params: Iterable, defaults: dict) -> None:
        Optimizer.__init__(self, params, defaults)

    def _validate(self, group) -> None:
        group.setdefault("amsgrad", False)
        super()._validate(group)


class Adamax(_AdamFamily):
    """Adamax (Kingma & Ba, the infinity-norm Adam), identical to ``torch.optim.Adamax``:
    m ← lerp(m, g, 1 − β₁);  u ← max(β₂·u, |g| + ε);  θ ← θ − lr/(1 − β₁ᵗ) · m / u.
    State: ``step``, ``exp_avg``, ``exp_inf``."""

    def __init__(self, params: Iterable, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        g = _grad(xp, param, grad, group)
        m, u, t, _ = _first_moment(xp, state, param, g, beta1, "exp_inf")
        u *= beta2
        xp.maximum(u, xp.abs(g) + group["eps"], out=u)
        param -= (group["lr"] / (1 - beta1 ** t)) * (m / u)


class NAdam(_AdamFamily):
    """NAdam (Dozat: Adam with Nesterov momentum), identical to ``torch.optim.NAdam``:
    μₜ = β₁(1 − ½·0.96^(t·ψ)), Πₜ = Πμ;  θ ← θ − lr(1 − μₜ)/(1 − Πₜ) · g/d − lr·μₜ₊₁/(1 − Πₜ·μₜ₊₁) · m/d,
    d = √(v/(1 − β₂ᵗ)) + ε (ψ = ``momentum_decay``). The running product Π is kept as torch keeps it: a float32
    scalar while the default dtype is float32, so the numbers agree with torch's to the last bit."""

    def __init__(self, params: Iterable, lr: float = 2e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, momentum_decay: float = 4e-3, *, decoupled_weight_decay: bool = False,
                 maximize: bool = False) -> None:
        if not 0.0 <= momentum_decay:
            raise ValueError(f"Invalid momentum_decay value: {momentum_decay} (expected >= 0)")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      momentum_decay=momentum_decay, decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        from ..autograd.tensor import get_default_dtype

        beta1, beta2 = group["betas"]
        lr, psi = group["lr"], group["momentum_decay"]
        g = _grad(xp, param, grad, group)
        fresh = not state
        m, v, t = _moments(xp, state, param, g, beta1, beta2)
        scalar = np.float64 if get_default_dtype() == np.float64 else np.float32
        if fresh:
            state["mu_product"] = 1.0
        mu = beta1 * (1.0 - 0.5 * (0.96 ** (t * psi)))
        mu_next = beta1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * psi)))
        state["mu_product"] = float(scalar(state["mu_product"]) * scalar(mu))
        prod = state["mu_product"]
        denom = xp.sqrt(v / (1 - beta2 ** t)) + group["eps"]
        param += g / denom * (-lr * (1.0 - mu) / (1.0 - prod))
        param += m / denom * ((-lr * mu_next) / (1.0 - prod * mu_next))  # this product is a Python float's


class RAdam(_AdamFamily):
    """RAdam (Liu et al., rectified Adam), identical to ``torch.optim.RAdam``: with ρ∞ = 2/(1 − β₂) − 1 and
    ρₜ = ρ∞ − 2t·β₂ᵗ/(1 − β₂ᵗ), θ ← θ − lr · m/(1 − β₁ᵗ) · √(1 − β₂ᵗ)/(√v + ε) · rₜ when ρₜ > 5 (rₜ the
    variance rectification), else θ ← θ − lr · m/(1 − β₁ᵗ) (SGD with momentum while the variance is unreliable)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, *, decoupled_weight_decay: bool = False, maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay, maximize=maximize))

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        beta1, beta2 = group["betas"]
        lr = group["lr"]
        g = _grad(xp, param, grad, group)
        m, v, t = _moments(xp, state, param, g, beta1, beta2)
        bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
        corrected = m / bc1
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * (beta2 ** t) / bc2
        if rho_t > 5.0:
            rect = (((rho_t - 4) * (rho_t - 2) * rho_inf) / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = (bc2 ** 0.5) / (xp.sqrt(v) + group["eps"])
            param -= corrected * lr * adaptive * rect
        else:
            param -= corrected * lr

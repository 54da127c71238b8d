"""Adam and AdamW."""
from __future__ import annotations

from typing import Iterable

from . import _functional as F
from .optimizer import Optimizer

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba), update rule identical to ``torch.optim.Adam``.

    g = ±∇θ + λ·θ (or, with ``decoupled_weight_decay``, θ ← θ·(1 − lr·λ) as AdamW);
    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  (amsgrad: v̂ ← max(v̂, v) replaces v)
    θ ← θ − lr/(1 − β₁ᵗ) · m / (√v/√(1 − β₂ᵗ) + ε).
    State per parameter: ``step`` (int), ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq`` (amsgrad only).
    """

    _kernel_name = "adam"
    _reference = staticmethod(F.adam_update)

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *, maximize: bool = False,
                 decoupled_weight_decay: bool = False) -> None:
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _validate(self, group) -> None:
        lr, eps, betas, wd = group["lr"], group["eps"], group["betas"], group["weight_decay"]
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr} (expected lr >= 0)")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps} (expected eps >= 0)")
        if len(betas) != 2:
            raise ValueError(f"Invalid betas: {betas} (expected a pair (beta1, beta2))")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]} (expected 0 <= beta < 1)")
        if not 0.0 <= wd:
            raise ValueError(f"Invalid weight_decay value: {wd} (expected weight_decay >= 0)")

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        amsgrad = bool(group["amsgrad"])
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param)
            state["exp_avg_sq"] = xp.zeros_like(param)
        if amsgrad and state.get("max_exp_avg_sq") is None:
            state["max_exp_avg_sq"] = xp.zeros_like(param)
        state["step"] += 1
        beta1, beta2 = group["betas"]
        kernel(xp, param, grad, state["exp_avg"], state["exp_avg_sq"], state.get("max_exp_avg_sq"),
               state["step"], float(group["lr"]), float(beta1), float(beta2), float(group["eps"]),
               float(group["weight_decay"]), amsgrad, bool(group["decoupled_weight_decay"]),
               bool(group["maximize"]))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), identical to ``torch.optim.AdamW``:
    θ ← θ·(1 − lr·λ) before the Adam step, instead of adding λ·θ to the gradient. Default λ = 1e-2."""

    def __init__(self, params: Iterable, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         decoupled_weight_decay=True)

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True

"""SGD: plain, momentum, Nesterov; full-batch gradient descent is SGD over the whole data set."""
from __future__ import annotations

from typing import Iterable

from . import _functional as F
from .optimizer import Optimizer

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, update rule identical to ``torch.optim.SGD``.

    g = ±∇θ + λ·θ;  with momentum μ: b₁ = g, bₜ = μ·bₜ₋₁ + (1 − τ)·g;  g ← g + μ·b (Nesterov) or g ← b;
    θ ← θ − lr·g.  State per parameter: ``momentum_buffer`` (only when μ ≠ 0).
    """

    _kernel_name = "sgd"
    _reference = staticmethod(F.sgd_update)

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group) -> None:
        if group["lr"] < 0.0:
            raise ValueError(f"Invalid learning rate: {group['lr']} (expected lr >= 0)")
        if group["momentum"] < 0.0:
            raise ValueError(f"Invalid momentum value: {group['momentum']} (expected momentum >= 0)")
        if group["weight_decay"] < 0.0:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']} (expected weight_decay >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"Nesterov momentum requires a momentum and zero dampening (got momentum="
                             f"{group['momentum']}, dampening={group['dampening']}); set momentum > 0 and "
                             f"dampening=0, or nesterov=False")

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        momentum = float(group["momentum"])
        buf = None
        init = False
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.zeros_like(param)
                init = True
        kernel(xp, param, grad, buf, float(group["lr"]), momentum, float(group["dampening"]),
               float(group["weight_decay"]), bool(group["nesterov"]), bool(group["maximize"]), init)

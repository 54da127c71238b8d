"""Adadelta."""
from __future__ import annotations

from typing import Iterable

from . import _functional as F
from .optimizer import Optimizer

__all__ = ["Adadelta"]


class Adadelta(Optimizer):
    """Adadelta (Zeiler), update rule identical to ``torch.optim.Adadelta``.

    g = ±∇θ + λ·θ;  v ← ρ·v + (1 − ρ)·g²;  Δ = √(u + ε)/√(v + ε) · g;  u ← ρ·u + (1 − ρ)·Δ²;  θ ← θ − lr·Δ.
    State per parameter: ``step`` (int), ``square_avg``, ``acc_delta``.
    """

    _kernel_name = "adadelta"
    _reference = staticmethod(F.adadelta_update)

    def __init__(self, params: Iterable, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group) -> None:
        if not 0.0 <= group["lr"]:
            raise ValueError(f"Invalid learning rate: {group['lr']} (expected lr >= 0)")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']} (expected 0 <= rho <= 1)")
        if not 0.0 <= group["eps"]:
            raise ValueError(f"Invalid epsilon value: {group['eps']} (expected eps >= 0)")
        if not 0.0 <= group["weight_decay"]:
            raise ValueError(f"Invalid weight_decay value: {group['weight_decay']} (expected weight_decay >= 0)")

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
            state["acc_delta"] = xp.zeros_like(param)
        state["step"] += 1
        kernel(xp, param, grad, state["square_avg"], state["acc_delta"], float(group["lr"]), float(group["rho"]),
               float(group["eps"]), float(group["weight_decay"]), bool(group["maximize"]))

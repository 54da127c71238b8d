"""RMSprop."""
from __future__ import annotations

from typing import Iterable

from . import _functional as F
from .optimizer import Optimizer

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (Hinton), update rule identical to ``torch.optim.RMSprop``.

    g = ±∇θ + λ·θ;  v ← α·v + (1 − α)·g²;  centered: ḡ ← α·ḡ + (1 − α)·g, d = √(v − ḡ²) + ε, else d = √v + ε;
    momentum μ > 0: b ← μ·b + g/d, θ ← θ − lr·b;  else θ ← θ − lr·g/d.
    State per parameter: ``step`` (int), ``square_avg``, ``momentum_buffer`` (μ > 0), ``grad_avg`` (centered).
    """

    _kernel_name = "rmsprop"
    _reference = staticmethod(F.rmsprop_update)

    def __init__(self, params: Iterable, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False, *,
                 maximize: bool = False) -> None:
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults)

    def _validate(self, group) -> None:
        checks = (("lr", "Invalid learning rate"), ("eps", "Invalid epsilon value"),
                  ("momentum", "Invalid momentum value"), ("weight_decay", "Invalid weight_decay value"),
                  ("alpha", "Invalid alpha value"))
        for key, text in checks:
            if not 0.0 <= group[key]:
                raise ValueError(f"{text}: {group[key]} (expected {key} >= 0)")

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        momentum = float(group["momentum"])
        centered = bool(group["centered"])
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(param)
        if momentum > 0 and state.get("momentum_buffer") is None:
            state["momentum_buffer"] = xp.zeros_like(param)
        if centered and state.get("grad_avg") is None:
            state["grad_avg"] = xp.zeros_like(param)
        state["step"] += 1
        kernel(xp, param, grad, state["square_avg"], state.get("grad_avg"), state.get("momentum_buffer"),
               float(group["lr"]), float(group["alpha"]), float(group["eps"]), float(group["weight_decay"]),
               momentum, centered, bool(group["maximize"]))

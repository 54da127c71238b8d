"""Adagrad."""
from __future__ import annotations

from typing import Iterable

from . import _functional as F
from .optimizer import Optimizer

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (Duchi et al.), update rule identical to ``torch.optim.Adagrad``.

    g = ±∇θ + λ·θ;  clr = lr / (1 + (t − 1)·lr_decay);  s ← s + g²;  θ ← θ − clr · g / (√s + ε).
    State per parameter (created with the optimizer, as torch): ``step`` (int), ``sum`` (starts at the group's
    ``initial_accumulator_value``; torch uses the constructor's value for every group, so the two differ only
    when a param group overrides it).
    """

    _kernel_name = "adagrad"
    _reference = staticmethod(F.adagrad_update)

    def __init__(self, params: Iterable, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, *, maximize: bool = False) -> None:
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, maximize=maximize)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p.backend.xp, p.data, self.state[p], group)

    def _validate(self, group) -> None:
        checks = (("lr", "Invalid learning rate"), ("lr_decay", "Invalid lr_decay value"),
                  ("weight_decay", "Invalid weight_decay value"),
                  ("initial_accumulator_value", "Invalid initial_accumulator_value value"),
                  ("eps", "Invalid epsilon value"))
        for key, text in checks:
            if not 0.0 <= group[key]:
                raise ValueError(f"{text}: {group[key]} (expected {key} >= 0)")

    @staticmethod
    def _init_state(xp, param, state, group) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(param, group["initial_accumulator_value"])

    def _update(self, kernel, xp, param, grad, state, group) -> None:
        self._init_state(xp, param, state, group)
        state["step"] += 1
        kernel(xp, param, grad, state["sum"], state["step"], float(group["lr"]), float(group["lr_decay"]),
               float(group["weight_decay"]), float(group["eps"]), bool(group["maximize"]))

"""Loss modules: thin wrappers over :mod:`gpunet.functional.loss` (same arguments as PyTorch).

``reduction`` is 'mean' (default), 'sum' or 'none' (torch's deprecated ``size_average``/``reduce`` are
accepted in the same positions and translated as torch does). Class weights are registered as buffers (as torch), so they
move with ``.to()`` and appear in the ``state_dict``.
"""
from __future__ import annotations

import importlib

from .module import Module

__all__ = ["MSELoss", "L1Loss", "RMSELoss", "CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss",
           "GaussianNLLLoss", "MultiMarginLoss", "SmoothL1Loss", "HuberLoss", "KLDivLoss"]

_LOSS = None
_REDUCTIONS = ("mean", "sum", "none")


def _F():
    """gpunet.functional.loss, imported on first use."""
    global _LOSS
    if _LOSS is None:
        _LOSS = importlib.import_module("gpunet.functional.loss")
    return _LOSS


def _legacy_reduction(size_average, reduce) -> str:
    """torch's deprecated ``size_average``/``reduce`` pair as a ``reduction`` string."""
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return ("mean" if size_average else "sum") if reduce else "none"


class _Loss(Module):
    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of 'mean', 'sum', 'none', got "
                             f"{reduction!r}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """mean((input − target)²) (or the sum, or elementwise)."""

    def forward(self, input, target):
        return _F().mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """mean(|input − target|)."""

    def forward(self, input, target):
        return _F().l1_loss(input, target, reduction=self.reduction)


class RMSELoss(_Loss):
    """√(mean((input − target)²)) (not in PyTorch; see ``gpunet.functional.loss.rmse_loss`` for reductions)."""

    def forward(self, input, target):
        return _F().rmse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """−Σ_c y_c log softmax(input)_c over logits (N, C) and class indices (N,) or class probabilities."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index, self.label_smoothing = ignore_index, label_smoothing

    def forward(self, input, target):
        kw = {"weight": self.weight} if self.weight is not None else {}
        return _F().cross_entropy(input, target, ignore_index=self.ignore_index, reduction=self.reduction,
                                  label_smoothing=self.label_smoothing, **kw)


class NLLLoss(_WeightedLoss):
    """−input[n, target[n]] over log-probabilities (N, C) and class indices (N,)."""

    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input, target):
        kw = {"weight": self.weight} if self.weight is not None else {}
        return _F().nll_loss(input, target, ignore_index=self.ignore_index, reduction=self.reduction, **kw)


class BCELoss(_WeightedLoss):
    """−[t·log p + (1 − t)·log(1 − p)] over probabilities p (logs clamped at −100)."""

    def forward(self, input, target):
        kw = {"weight": self.weight} if self.weight is not None else {}
        return _F().binary_cross_entropy(input, target, reduction=self.reduction, **kw)


class BCEWithLogitsLoss(_Loss):
    """BCE on sigmoid(input), computed stably from the logits: max(x, 0) − x·t + log(1 + e^−|x|)."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None):
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input, target):
        kw = {k: v for k, v in (("weight", self.weight), ("pos_weight", self.pos_weight)) if v is not None}
        return _F().binary_cross_entropy_with_logits(input, target, reduction=self.reduction, **kw)


class GaussianNLLLoss(_Loss):
    """½·(log max(var, eps) + (input − target)² / max(var, eps)) (+ ½·log 2π when ``full``)."""

    def __init__(self, *, full: bool = False, eps: float = 1e-6, reduction: str = "mean"):
        super().__init__(reduction=reduction)
        self.full, self.eps = full, eps

    def forward(self, input, target, var):
        return _F().gaussian_nll_loss(input, target, var, full=self.full, eps=self.eps, reduction=self.reduction)


class MultiMarginLoss(_WeightedLoss):
    """Σ_{i≠y} max(0, margin − x_y + x_i)^p / C per sample (multi-class hinge)."""

    def __init__(self, p: int = 1, margin: float = 1.0, weight=None, size_average=None, reduce=None,
                 reduction: str = "mean"):
        super().__init__(weight, size_average, reduce, reduction)
        if p not in (1, 2):
            raise ValueError(f"MultiMarginLoss: only p = 1 and p = 2 are supported, got p={p}")
        self.p, self.margin = p, margin

    def forward(self, input, target):
        kw = {"weight": self.weight} if self.weight is not None else {}
        return _F().multi_margin_loss(input, target, p=self.p, margin=self.margin, reduction=self.reduction, **kw)


class SmoothL1Loss(_Loss):
    """½d²/β where |d| < β, else |d| − ½β (d = input − target)."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input, target):
        return _F().smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """½d² where |d| < δ, else δ(|d| − ½δ)."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(None, None, reduction)
        self.delta = delta

    def forward(self, input, target):
        return _F().huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class KLDivLoss(Module):
    """KL divergence of log-probabilities ``input`` from ``target``; reduction 'mean' (default, per element, as
    torch), 'batchmean' (per sample: the KL divergence), 'sum' or 'none'."""

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", log_target: bool = False):
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = _legacy_reduction(size_average, reduce)
        if reduction not in _REDUCTIONS + ("batchmean",):
            raise ValueError(f"KLDivLoss: reduction must be one of 'mean', 'batchmean', 'sum', 'none', got "
                             f"{reduction!r}")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, input, target):
        return _F().kl_div(input, target, reduction=self.reduction, log_target=self.log_target)

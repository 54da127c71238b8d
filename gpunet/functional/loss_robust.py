"""Robust regression losses and the KL divergence: smooth_l1_loss, huber_loss, kl_div (as ``torch.nn.functional``),
re-exported by :mod:`gpunet.functional.loss`."""
from __future__ import annotations

from ..autograd.function import Function
from ._loss_common import Reduction, _check_float_input, _check_reduction, _float_target, _reduce, _reduce_grad
from .loss_pointwise import _pointwise, _Pointwise

__all__ = ["smooth_l1_loss", "huber_loss", "kl_div"]


class SmoothL1(_Pointwise):
    """ℓ = ½d²/β where |d| < β, else |d| − ½β (d = x − y; β = 0 is l1); dℓ/dx = d/β or sign(d) = −dℓ/dy."""

    mean_by_weight = True

    def loss(self, xp, x, y):
        beta = self.params["beta"]
        d = x - y
        a = xp.abs(d)
        self.d, self.inner = d, a < beta
        if beta == 0:
            return a
        return xp.where(self.inner, 0.5 * d * d / beta, a - 0.5 * beta)

    def grads(self, xp, g, nx, ny):
        beta = self.params["beta"]
        dx = (xp.where(self.inner, self.d / beta, xp.sign(self.d)) if beta else xp.sign(self.d)) * g
        return (dx if nx else None), (-dx if ny else None)


class Huber(_Pointwise):
    """ℓ = ½d² where |d| < δ, else δ(|d| − ½δ); dℓ/dx = d or δ·sign(d) = −dℓ/dy."""

    mean_by_weight = True

    def loss(self, xp, x, y):
        delta = self.params["delta"]
        d = x - y
        a = xp.abs(d)
        self.d, self.inner = d, a < delta
        return xp.where(self.inner, 0.5 * d * d, delta * (a - 0.5 * delta))

    def grads(self, xp, g, nx, ny):
        dx = xp.where(self.inner, self.d, self.params["delta"] * xp.sign(self.d)) * g
        return (dx if nx else None), (-dx if ny else None)


class KLDiv(Function):
    """ℓ = t·(log t − x) (0 where t = 0), or eᵗ·(t − x) with ``log_target``; x holds log-probabilities.
    dℓ/dx = −t (−eᵗ); dℓ/dt = log t + 1 − x (eᵗ·(t − x + 1))."""
    arg_names = ("input", "target")

    def forward(self, xp, x, t, reduction="mean", log_target=False):
        if log_target:
            et = xp.exp(t)
            loss = et * (t - x)
            self.et = et
        else:
            pos = t > 0
            log_t = xp.log(xp.where(pos, t, 1))
            loss = xp.where(pos, t * (log_t - x), 0)
            self.pos, self.log_t = pos, log_t
        self.x, self.t, self.log_target, self.reduction = x, t, log_target, reduction
        self.denom = x.shape[0] if reduction == "batchmean" and x.ndim else loss.size
        return _reduce(loss, "mean" if reduction == "batchmean" else reduction, self.denom)

    def backward(self, xp, g):
        r = _reduce_grad(g, "mean" if self.reduction == "batchmean" else self.reduction, self.denom)
        nx, nt = self.needs_input_grad
        if self.log_target:
            dx = -self.et * r if nx else None
            dt = self.et * (self.t - self.x + 1) * r if nt else None
        else:
            dx = -self.t * r if nx else None
            dt = xp.where(self.pos, self.log_t + 1 - self.x, 0) * r if nt else None
        return dx, dt


def smooth_l1_loss(input, target, *, reduction: Reduction = "mean", beta: float = 1.0):
    """Smooth L1: ½(x − y)²/β where |x − y| < β, else |x − y| − ½β; 'mean' over the elements."""
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    return _pointwise(SmoothL1, "smooth_l1_loss", input, target, reduction, None, beta=float(beta))


def huber_loss(input, target, *, reduction: Reduction = "mean", delta: float = 1.0):
    """Huber: ½(x − y)² where |x − y| < δ, else δ(|x − y| − ½δ) (= δ · smooth_l1 with β = δ)."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return _pointwise(Huber, "huber_loss", input, target, reduction, None, delta=float(delta))


def kl_div(input, target, *, reduction: str = "mean", log_target: bool = False):
    """KL divergence D(t ‖ eˣ) pointwise, ``input`` log-probabilities, ``target`` probabilities (log-probabilities
    with ``log_target``). 'batchmean' divides the sum by the batch size (the true KL per sample); 'mean', the
    default as in torch, divides by the number of elements."""
    op = "kl_div"
    if reduction != "batchmean":
        _check_reduction(reduction, op)
    _check_float_input(input, op)
    target = _float_target(target, input, op)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target shape {tuple(target.shape)} does not match input shape "
                         f"{tuple(input.shape)}")
    return KLDiv.apply(input, target, reduction=reduction, log_target=bool(log_target))

"""The reference loss ops of every backend: a mixin of :class:`~.base.Backend`, written against ``self.xp`` alone.
The NumPy (:mod:`._numpy_loss`) and CuPy (:mod:`._cupy_loss`) mixins override what they speed up and call
``super()`` for what they do not handle.

Mean squared error: the forward reduces (x − y)² to one value (or returns it elementwise); the backward writes
c · (x − y) (· g elementwise for 'none') for the input and its negation for the target, c = 2g/n ('mean'), 2g
('sum') or 2 ('none'). ``x`` and ``y`` broadcast; gradients have the broadcast shape (the engine sums them back).
"""
from __future__ import annotations

import numpy as np


class LossOps:
    """Reference loss ops."""

    # ----------------------------------------------------------------- mean squared error
    def mse_forward(self, x, y, reduction: str):
        """Σ(x − y)² / n ('mean', nan when n = 0), Σ(x − y)² ('sum', a 0-d array of x's dtype), or (x − y)²
        ('none', the broadcast shape)."""
        d = x - y
        sq = d * d
        if reduction == "none":
            return sq
        s = sq.sum()
        if reduction == "sum":
            return s
        with np.errstate(divide="ignore", invalid="ignore"):
            return (s / sq.size).astype(sq.dtype, copy=False)

    def mse_forward_grad(self, x, y, reduction: str, n: int, need_x: bool):
        """``(loss, grad)``: :meth:`mse_forward` and, where this backend computes it in the same pass, the
        gradient :meth:`mse_backward` gives for an upstream gradient of 1 (dx = 2(x − y) / n when ``need_x``,
        else dy = 2(y − x) / n; 'sum': without the / n), else None. 'mean' and 'sum' only."""
        return self.mse_forward(x, y, reduction), None

    def mse_backward(self, x, y, g, reduction: str, n: int, need_x: bool, need_y: bool):
        """``(dx, dy)``: 2(x − y) · g (/ n for 'mean') and its negation, None where not needed; ``g`` is a 0-d
        array ('mean', 'sum') or shaped like the loss ('none')."""
        if reduction == "none":
            dx = (x - y) * g * 2
        else:
            c = g * 2 if reduction == "sum" else g * (2 / n if n else 0.0)
            dx = (x - y) * c.astype(x.dtype, copy=False)
        if not need_y:
            return dx, None
        dy = -dx
        return (dx if need_x else None), dy

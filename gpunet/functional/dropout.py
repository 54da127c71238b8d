"""Inverted dropout: the mask is drawn once in forward and reused by backward."""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "Dropout"]


class Dropout(Function):
    """``y = x ⊙ m / (1 − p)`` with ``m ~ Bernoulli(1 − p)``; the scaled mask is kept for backward. ``mask_shape``
    (broadcastable to x, e.g. (N, C, 1, 1)) draws one mask value per channel instead of per element."""
    arg_names = ("input",)

    def forward(self, xp, x, p=0.5, mask_shape=None):
        shape = x.shape if mask_shape is None else mask_shape
        if p >= 1.0:
            self.scale = xp.zeros(shape, dtype=x.dtype)
        else:
            u = self.backend.rand(shape, x.dtype)
            self.scale = (u >= p).astype(x.dtype)
            self.scale *= x.dtype.type(1.0 / (1.0 - p))
        return x * self.scale

    def backward(self, xp, g):
        return (g * self.scale,)


def dropout(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout, as ``torch.nn.functional.dropout``.

    In training each element is kept with probability 1 − p and scaled by 1/(1 − p), so E[y] = x:
    y = x ⊙ m / (1 − p), m ~ Bernoulli(1 − p), drawn from the backend's generator (seeded by
    ``gn.manual_seed``); dy/dx = m / (1 − p). p = 1 gives zeros. Not training, or p = 0: ``x`` unchanged.
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, got {p}")
    if not training or p == 0.0:
        return as_tensor(x)
    if getattr(x, "dtype", None) is not None and x.dtype.kind != "f":
        raise TypeError(f"dropout: expected a floating input, got dtype {x.dtype}")
    return Dropout.apply(x, p=p)


def dropout2d(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout, as ``torch.nn.functional.dropout2d``: in training each channel (plane) of (N, C, H, W) is
    zeroed whole with probability p and the others scaled by 1/(1 − p); a 3-D input is read as (N, C, L), one mask
    value per (n, c). Not training, or p = 0: ``x`` unchanged."""
    return _channel_dropout("dropout2d", x, p, training, {3: 2, 4: 2}, "a 3-D (N, C, L) or 4-D (N, C, H, W)")


def _channel_dropout(op, x, p, training, lead, layouts):
    """Dropout of whole channels; ``lead[ndim]``: the leading dims that get one mask value each."""
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p has to be between 0 and 1, got {p}")
    if x.ndim not in lead:
        raise ValueError(f"{op}: expected {layouts} input, got shape {tuple(x.shape)} ({x.ndim}-D)")
    if not training or p == 0.0:
        return as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating input, got dtype {x.dtype}")
    k = lead[x.ndim]
    return Dropout.apply(x, p=p, mask_shape=tuple(x.shape[:k]) + (1,) * (x.ndim - k))


def dropout1d(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout of (N, C, L) or unbatched (C, L), as ``torch.nn.functional.dropout1d``."""
    return _channel_dropout("dropout1d", x, p, training, {3: 2, 2: 1}, "a 2-D (unbatched) or 3-D")


def dropout3d(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Channel dropout of (N, C, D, H, W) or unbatched (C, D, H, W), as ``torch.nn.functional.dropout3d``."""
    return _channel_dropout("dropout3d", x, p, training, {5: 2, 4: 1}, "a 4-D (unbatched) or 5-D")

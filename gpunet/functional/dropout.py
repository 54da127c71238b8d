"""Inverted dropout: the mask is drawn once in forward and reused by backward."""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor

__all__ = ["dropout", "Dropout"]


class Dropout(Function):
    """``y = x ⊙ m / (1 − p)`` with ``m ~ Bernoulli(1 − p)``; the scaled mask is kept for backward."""
    arg_names = ("input",)

    def forward(self, xp, x, p=0.5):
        if p >= 1.0:
            self.scale = xp.zeros(x.shape, dtype=x.dtype)
        else:
            u = self.backend.rand(x.shape, x.dtype)
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

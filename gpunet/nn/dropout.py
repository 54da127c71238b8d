"""Dropout."""
from __future__ import annotations

from ..functional.dropout import dropout, dropout1d, dropout2d, dropout3d
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class Dropout(Module):
    """Inverted dropout: in training, zero each element with probability ``p`` and scale the rest by 1/(1 − p);
    in evaluation, the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, got {p}")
        self.p, self.inplace = p, inplace

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Channel dropout of (N, C, H, W) (or (N, C, L)), as ``torch.nn.Dropout2d``: in training each channel is
    zeroed whole with probability ``p`` and the rest scaled by 1/(1 − p); in evaluation, the identity."""

    def forward(self, x):
        return dropout2d(x, self.p, self.training)


class Dropout1d(Dropout):
    """Channel dropout of (N, C, L) or (C, L), as ``torch.nn.Dropout1d``."""

    def forward(self, x):
        return dropout1d(x, self.p, self.training)


class Dropout3d(Dropout):
    """Channel dropout of (N, C, D, H, W) or (C, D, H, W), as ``torch.nn.Dropout3d``."""

    def forward(self, x):
        return dropout3d(x, self.p, self.training)

"""Linear algebra: matrix products (batched, broadcasting as NumPy's ``@``).

As in PyTorch, both operands must have the same dtype: ``int64 @ float32`` or ``float32 @ float64`` is a
``TypeError`` (NumPy would silently compute in float64).
"""
from __future__ import annotations

from ..autograd.function import Function

__all__ = ["matmul"]


class MatMul(Function):
    """(a @ b): ga = g @ bᵀ, gb = aᵀ @ g; 1-D operands are promoted as in NumPy; batch dims broadcast."""
    arg_names = ("input", "other")

    def forward(self, xp, a, b):
        if a.dtype != b.dtype:
            raise TypeError(f"matmul: both arguments must have the same dtype, got {a.dtype} (argument 0) and "
                            f"{b.dtype} (argument 1); cast one of them, e.g. x.to(w.dtype) or x.float()")
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul: both arguments need at least one dimension; use * for scalars")
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise ValueError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} are not aligned: "
                             f"{ka} (last dim of argument 0) != {kb} "
                             f"({'second-to-last' if b.ndim > 1 else 'only'} dim of argument 1)")
        self.a, self.b = a, b
        return a @ b

    def backward(self, xp, g):
        a, b = self.a, self.b
        na, nb = self.needs_input_grad
        if a.ndim == 1 and b.ndim == 1:  # inner product: the output is 0-d
            return (g * b if na else None), (g * a if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if a.ndim == 1:
            g = xp.expand_dims(g, -2)
        if b.ndim == 1:
            g = xp.expand_dims(g, -1)
        ga = gb = None
        if na:
            ga = g @ xp.swapaxes(b2, -1, -2)
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else ga.reshape(-1)
        if nb:
            gb = xp.swapaxes(a2, -1, -2) @ g
            if b.ndim == 1:
                gb = gb.reshape(gb.shape[:-1]) if gb.ndim > 2 else gb.reshape(-1)
        return ga, gb


def matmul(a, b):
    """a @ b: 2-D, batched (leading dims broadcast) and 1-D as in NumPy."""
    return MatMul.apply(a, b)

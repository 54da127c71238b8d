"""Linear algebra: matrix products (batched, broadcasting as NumPy's ``@``).

As in PyTorch, both operands must have the same dtype: ``int64 @ float32`` or ``float32 @ float64`` is a
``TypeError`` (NumPy would silently compute in float64).
"""
from __future__ import annotations

from ..autograd.function import Function

__all__ = ["matmul", "mm", "bmm", "outer", "einsum"]


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


def mm(a, b):
    """a @ b for 2-D a (n, k) and b (k, m) only, as torch.mm."""
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: both arguments must be 2-D matrices, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}; use matmul (or @) for other shapes")
    return MatMul.apply(a, b)


def bmm(a, b):
    """Batched a @ b for 3-D a (B, n, k) and b (B, k, m) with the same batch, as torch.bmm."""
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0]:
        raise RuntimeError(f"bmm: expected 3-D tensors with the same batch size, got shapes {tuple(a.shape)} and "
                           f"{tuple(b.shape)}")
    return MatMul.apply(a, b)


def outer(a, b):
    """The outer product of two 1-D tensors: (n,) × (m,) → (n, m)."""
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {tuple(a.shape)} and {tuple(b.shape)}")
    from .math import mul, reshape

    return mul(reshape(a, (-1, 1)), reshape(b, (1, -1)))


class Einsum(Function):
    """``xp.einsum(spec, *operands)``; the gradient of operand i is the einsum of the output's gradient with
    the other operands into operand i's subscripts (broadcast back over letters found nowhere else). Each
    operand's subscripts must be distinct letters (no diagonals) and ``...`` is not supported."""

    def forward(self, xp, *ops, inputs=(), output=""):
        self.ops, self.inputs, self.output = ops, inputs, output
        return xp.einsum(",".join(inputs) + "->" + output, *ops)

    def backward(self, xp, g):
        grads = []
        for i, (sub, need) in enumerate(zip(self.inputs, self.needs_input_grad)):
            if not need:
                grads.append(None)
                continue
            others = [(s, o) for j, (s, o) in enumerate(zip(self.inputs, self.ops)) if j != i]
            known = set(self.output).union(*[set(s) for s, _ in others])
            target = "".join(c for c in sub if c in known)
            spec = ",".join([self.output] + [s for s, _ in others]) + "->" + target
            gi = xp.einsum(spec, g, *[o for _, o in others])
            if target != sub:  # letters only this operand has: the gradient is constant along them
                shape = [self.ops[i].shape[k] if c in target else 1 for k, c in enumerate(sub)]
                gi = xp.broadcast_to(gi.reshape([self.ops[i].shape[k] for k, c in enumerate(sub) if c in target]
                                                 ).reshape(shape), self.ops[i].shape)
            grads.append(gi)
        return tuple(grads)


def einsum(equation: str, *operands):
    """Einstein summation, as torch.einsum (``"ij,jk->ik"``; an implicit output lists the letters that appear
    once, sorted). Operands may also be given as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    if "..." in eq:
        raise NotImplementedError("einsum: '...' (ellipsis) is not supported yet; write the letters out")
    lhs, _, rhs = eq.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts in {equation!r} but {len(operands)} operands")
    for s, o in zip(inputs, operands):
        if len(s) != o.ndim:
            raise ValueError(f"einsum: subscripts {s!r} name {len(s)} dims but the operand has shape "
                             f"{tuple(o.shape)}")
        if len(set(s)) != len(s):
            raise NotImplementedError(f"einsum: repeated subscripts in one operand ({s!r}, a diagonal) are not "
                                      f"supported yet")
    if "->" not in eq:
        letters = "".join(inputs)
        rhs = "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    return Einsum.apply(*operands, inputs=tuple(inputs), output=rhs)

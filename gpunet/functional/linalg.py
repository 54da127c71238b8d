"""Linear algebra: matrix products (batched, broadcasting as NumPy's ``@``).

As in PyTorch, both operands must have the same dtype: ``int64 @ float32`` or ``float32 @ float64`` is a
``TypeError`` (NumPy would silently compute in float64).
"""
from __future__ import annotations

import string

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
        return self.backend.matmul(a, b)

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
            ga = self.backend.matmul(g, xp.swapaxes(b2, -1, -2))
            if a.ndim == 1:
                ga = ga.reshape(ga.shape[:-2] + (ga.shape[-1],)) if ga.ndim > 2 else ga.reshape(-1)
        if nb:
            gb = self.backend.matmul(xp.swapaxes(a2, -1, -2), g)
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
    """``xp.einsum(spec, *operands)`` on letter subscripts (the wrapper spells out ``...`` and broadcasts size-1
    dims). The gradient of operand i is the einsum of the output's gradient with the other operands into the
    letters of operand i that appear elsewhere, broadcast along the letters it alone has (a constant there); a
    repeated letter (a diagonal, ``ii``) puts that gradient back on the diagonal: an einsum with identity
    matrices ``ia`` for each repeat ``a``."""

    def forward(self, xp, *ops, inputs=(), output=""):
        self.ops, self.inputs, self.output = ops, inputs, output
        return xp.einsum(",".join(inputs) + "->" + output, *ops)

    def plan(self, i):
        """``(others, subscripts, target, dedup, target_shape, dedup_shape, diagonal)`` for operand i's gradient."""
        sub = self.inputs[i]
        dedup = "".join(dict.fromkeys(sub))
        others = [j for j in range(len(self.inputs)) if j != i]
        known = set(self.output).union(*[set(self.inputs[j]) for j in others])
        target = "".join(c for c in dedup if c in known)
        size = {c: self.ops[i].shape[k] for k, c in enumerate(sub)}
        diag = None
        if dedup != sub:
            fresh = (c for c in _LETTERS if c not in set("".join(self.inputs) + self.output))
            seen, renamed, eyes = set(), [], []
            for c in sub:
                if c in seen:
                    f = next(fresh)
                    renamed.append(f)
                    eyes.append(c + f)
                else:
                    seen.add(c)
                    renamed.append(c)
            diag = (tuple(eyes), "".join(renamed), [size[e[0]] for e in eyes])
        return (others, tuple([self.output] + [self.inputs[j] for j in others]), target, dedup,
                tuple(size[c] if c in target else 1 for c in dedup), tuple(size[c] for c in dedup), diag)

    def backward(self, xp, g):
        grads = []
        for i, need in enumerate(self.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            others, subs, target, dedup, tshape, dshape, diag = self.plan(i)
            gi = xp.einsum(",".join(subs) + "->" + target, g, *[self.ops[j] for j in others])
            if target != dedup:  # letters only this operand has: the gradient is constant along them
                gi = xp.broadcast_to(gi.reshape(tshape), dshape)
            if diag is not None:
                eyes, renamed, sizes = diag
                gi = xp.einsum(",".join((dedup,) + eyes) + "->" + renamed, gi,
                               *[xp.eye(n, dtype=g.dtype) for n in sizes])
            grads.append(gi)
        return tuple(grads)


_LETTERS = string.ascii_letters


def einsum(equation: str, *operands):
    """Einstein summation, as torch.einsum (``"ij,jk->ik"``; an implicit output lists the letters that appear
    once, sorted). ``...`` stands for the leading (broadcast) dims; a letter repeated in one operand takes its
    diagonal (``"ii->i"``, trace ``"ii"``); size-1 dims broadcast. Operands may also be given as one list."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    inputs = lhs.split(",")
    if len(inputs) != len(operands):
        raise ValueError(f"einsum: {len(inputs)} operand subscripts in {equation!r} but {len(operands)} operands")
    used = {c for c in eq if c.isalpha()}
    fresh = (c for c in _LETTERS if c not in used)
    ell_n = []
    for s, o in zip(inputs, operands):
        if s.replace("...", "").isalpha() is False and s.replace("...", ""):
            raise ValueError(f"einsum: invalid subscripts {s!r} in {equation!r}: use letters a-z, A-Z and '...'")
        if "..." in s:
            if s.count("...") > 1 or s.count(".") != 3:
                raise ValueError(f"einsum: subscripts {s!r} may hold at most one '...'")
            n = o.ndim - (len(s) - 3)
            if n < 0:
                raise ValueError(f"einsum: subscripts {s!r} name more dims than the operand has (shape "
                                 f"{tuple(o.shape)})")
        else:
            n = 0
            if len(s) != o.ndim:
                raise ValueError(f"einsum: subscripts {s!r} name {len(s)} dims but the operand has shape "
                                 f"{tuple(o.shape)}")
        ell_n.append(n)
    e = max(ell_n, default=0)
    ell = "".join(next(fresh) for _ in range(e))
    inputs = [s.replace("...", ell[e - n:]) for s, n in zip(inputs, ell_n)]
    if arrow:
        if rhs.count("...") > 1 or (rhs.replace("...", "") and not rhs.replace("...", "").isalpha()):
            raise ValueError(f"einsum: invalid output subscripts {rhs!r}")
        rhs = rhs.replace("...", ell)
        missing = set(rhs) - set("".join(inputs))
        if missing or len(set(rhs)) != len(rhs):
            raise ValueError(f"einsum: output subscripts {rhs!r} must be distinct letters that appear in the inputs")
    else:
        letters = "".join(inputs)
        rhs = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    operands = _broadcast_letters(inputs, list(operands), equation)
    return Einsum.apply(*operands, inputs=tuple(inputs), output=rhs)


def _broadcast_letters(inputs, operands, equation):
    """Operands whose dims of size 1 meet a larger size of the same letter elsewhere, expanded (differentiable)."""
    size = {}
    for s, o in zip(inputs, operands):
        for c, n in zip(s, o.shape):
            if n != 1 and size.get(c, 1) not in (1, n):
                raise ValueError(f"einsum: letter {c!r} has sizes {size[c]} and {n} in {equation!r}; they must match "
                                 f"(or be 1, which broadcasts)")
            if n != 1 or c not in size:
                size[c] = n if n != 1 else size.get(c, 1)
    for k, (s, o) in enumerate(zip(inputs, operands)):
        want = tuple(size[c] for c in s)
        if tuple(o.shape) != want:
            if len(set(s)) != len(s):
                raise ValueError(f"einsum: a repeated letter in {s!r} needs equal dims, got shape {tuple(o.shape)}")
            from .shape import expand

            operands[k] = expand(o, want)
    return operands

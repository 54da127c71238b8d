"""Elementwise, reduction, sorting and product ops against PyTorch in float64: values and gradients on both
backends, and the gradient at the kinks torch defines (ties, zeros, clamp bounds)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch

import gpunet as gn


def leaf(a):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def check(torch, fn_gn, fn_t, *arrays, rtol=1e-12):
    values_and_grads_like_torch(fn_gn, fn_t, *arrays, rtol=rtol)


A = np.array([[0.3, -1.2, 2.5, 0.0], [1.7, -0.4, -2.2, 0.9], [0.5, 0.5, -3.1, 1.1]])
B = np.array([[0.3, 0.2, -2.5, 1.0], [-1.7, -0.4, 2.2, 0.9], [0.1, 0.5, 3.1, -1.1]])  # ties with A at places


@pytest.mark.torch
@pytest.mark.parametrize("name", ["sin", "cos", "expm1", "square", "sign", "floor", "ceil", "trunc", "round"])
def test_unary_ops_match_torch(backend, name):
    torch = torch_or_skip()
    check(torch, lambda x: getattr(x, name)(), lambda t: getattr(t, name)(), A)
    check(torch, lambda x: getattr(gn, name)(x), lambda t: getattr(torch, name)(t), A)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["log1p", "rsqrt", "reciprocal"])
def test_unary_ops_on_their_domain_match_torch(backend, name):
    torch = torch_or_skip()
    check(torch, lambda x: getattr(x, name)(), lambda t: getattr(t, name)(), np.abs(A) + 0.1)


@pytest.mark.torch
def test_maximum_minimum_and_clamp_with_tensor_bounds_match_torch(backend):
    torch = torch_or_skip()
    check(torch, gn.maximum, torch.maximum, A, B)          # ties share the gradient
    check(torch, gn.minimum, torch.minimum, A, B)
    lo, hi = A - 0.5, A + np.where(B > 0, 0.3, -0.7)       # some rows with lo > hi
    check(torch, lambda x, a, b: x.clamp(a, b), lambda x, a, b: x.clamp(a, b), B, lo, hi)
    check(torch, lambda x, a: x.clamp_min(a), lambda x, a: x.clamp_min(a), B, lo)
    check(torch, lambda x, b: x.clamp(max=b), lambda x, b: x.clamp(max=b), B, hi)


@pytest.mark.torch
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (0, True), ((0, 1), False)])
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_std_match_torch(backend, dim, keepdim, correction):
    torch = torch_or_skip()
    check(torch, lambda x: x.var(dim, correction=correction, keepdim=keepdim),
          lambda t: t.var(dim, correction=correction, keepdim=keepdim), A)
    check(torch, lambda x: x.std(dim, correction=correction, keepdim=keepdim),
          lambda t: t.std(dim, correction=correction, keepdim=keepdim), A)


@pytest.mark.torch
def test_logsumexp_prod_cumsum_cumprod_match_torch(backend):
    torch = torch_or_skip()
    check(torch, lambda x: x.logsumexp(1), lambda t: t.logsumexp(1), A * 30)   # large: stable
    check(torch, lambda x: x.logsumexp((0, 1), keepdim=True), lambda t: t.logsumexp((0, 1), keepdim=True), A)
    zero_once = A.copy()                                  # row 0 has one zero
    zero_twice = A.copy()
    zero_twice[1, :2] = 0.0                               # row 1 has two
    for a in (np.abs(A) + 0.5, zero_once, zero_twice):
        check(torch, lambda x: x.prod(1), lambda t: t.prod(1), a)
        check(torch, lambda x: x.prod(), lambda t: t.prod(), a)
        check(torch, lambda x: x.cumprod(1), lambda t: t.cumprod(1), a)
    check(torch, lambda x: x.cumsum(0), lambda t: t.cumsum(0), A)
    check(torch, lambda x: x.cumsum(-1), lambda t: t.cumsum(-1), A)


@pytest.mark.torch
def test_sort_argsort_topk_match_torch(backend):
    torch = torch_or_skip()
    a = np.random.default_rng(0).permutation(24).reshape(4, 6).astype(np.float64)  # distinct values
    check(torch, lambda x: x.sort(1), lambda t: tuple(t.sort(1)), a)
    check(torch, lambda x: x.sort(0, descending=True), lambda t: tuple(t.sort(0, descending=True)), a)
    check(torch, lambda x: x.topk(3), lambda t: tuple(t.topk(3)), a)
    check(torch, lambda x: x.topk(2, dim=0, largest=False), lambda t: tuple(t.topk(2, dim=0, largest=False)), a)
    np.testing.assert_array_equal(to_numpy(gn.argsort(leaf(a), 1)), torch.argsort(torch.tensor(a), 1).numpy())
    with pytest.raises(RuntimeError, match="topk: k"):
        leaf(a).topk(7)


@pytest.mark.torch
def test_products_and_einsum_match_torch(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    m, n, b3, c3 = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal((2, 3, 4)), \
        rng.standard_normal((2, 4, 5))
    check(torch, gn.mm, torch.mm, m, n)
    check(torch, gn.bmm, torch.bmm, b3, c3)
    check(torch, gn.outer, torch.outer, m[0], n[:, 0])
    for eq, ops in [("ij,jk->ik", (m, n)), ("bij,bjk->bik", (b3, c3)), ("ij->j", (m,)), ("ij,ij->", (m, m)),
                    ("i,j->ij", (m[0], n[:, 1])), ("bij,bjk", (b3, c3)), ("ijk->kj", (b3,))]:
        check(torch, lambda *xs: gn.einsum(eq, *xs), lambda *ts: torch.einsum(eq, *ts), *ops)
    with pytest.raises(RuntimeError, match="2-D"):
        gn.mm(leaf(b3), leaf(c3))
    with pytest.raises(ValueError, match="at most one"):  # '...' is supported now (tests/test_pad_modes.py)
        gn.einsum("...i...->i", leaf(b3))


@pytest.mark.parametrize("name,fn,shapes", [
    ("einsum", lambda x, y: gn.einsum("bij,bjk->bik", x, y), [(2, 3, 4), (2, 4, 2)]),
    ("var", lambda x: x.var(1), [(3, 5)]),
    ("logsumexp", lambda x: x.logsumexp(0), [(4, 3)]),
    ("prod", lambda x: x.prod(1), [(3, 4)]),
    ("cumprod", lambda x: x.cumprod(1), [(3, 4)]),
    ("cumsum", lambda x: x.cumsum(0), [(3, 4)]),
    ("maximum", lambda x, y: gn.maximum(x, y), [(3, 4), (4,)]),
    ("sort", lambda x: x.sort(1).values, [(3, 5)]),
    ("clamp", lambda x, a: x.clamp(min=a), [(3, 4), (3, 4)]),
    ("sin_cos", lambda x: x.sin() * x.cos() + x.expm1(), [(2, 3)]),
])
def test_gradcheck_on_random_shapes(backend, name, fn, shapes):
    rng = np.random.default_rng(11)
    inputs = [leaf(rng.uniform(0.5, 1.5, s) * rng.choice([-1, 1], s)) for s in shapes]
    gn.gradcheck(fn, inputs)

"""F.pad modes reflect / replicate / circular (values and gradients against PyTorch, gradcheck on every backend,
second derivatives), einsum with '...', diagonals and broadcasting, and torch.tensor() of 0-d gpunet tensors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import torch_or_skip, values_and_grads_like_torch

R = np.random.default_rng(11)
PADS = [((1, 2), (2, 3, 4)), ((2, 0), (3, 5)), ((1, 1, 2, 0), (1, 2, 3, 4)), ((0, 2, 1, 1), (2, 4, 3)),
        ((1, 0, 1, 2, 2, 1), (1, 2, 3, 4, 3))]


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pad,shape", PADS)
def test_pad_modes_like_torch(mode, pad, shape):
    torch = torch_or_skip()
    values_and_grads_like_torch(lambda x: F.pad(x, pad, mode=mode),
                                lambda x: torch.nn.functional.pad(x, pad, mode=mode), R.standard_normal(shape))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_gradcheck(backend, mode):
    x = gn.tensor(R.standard_normal((1, 2, 3, 3)), dtype=np.float64, requires_grad=True)
    assert gn.gradcheck(lambda t: F.pad(t, (1, 2, 2, 1), mode=mode) ** 2, [x])


def test_pad_mode_errors():
    x = gn.randn(1, 2, 3)
    with pytest.raises(RuntimeError, match="less than the corresponding input dimension"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(RuntimeError, match="wrapping around more than once"):
        F.pad(x, (4, 0), mode="circular")
    with pytest.raises(NotImplementedError, match="last 1-3 dims"):
        F.pad(gn.randn(3), (1, 1), mode="replicate")
    with pytest.raises(NotImplementedError, match="'wrap'"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="doesn't take in value"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)


@pytest.mark.torch
def test_pad_double_backward():
    torch = torch_or_skip()
    a = R.standard_normal((1, 2, 4))
    x = gn.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    g, = gn.autograd.grad((F.pad(x, (2, 1), mode="reflect") ** 3).sum(), x, create_graph=True)
    gt, = torch.autograd.grad((torch.nn.functional.pad(xt, (2, 1), mode="reflect") ** 3).sum(), xt,
                              create_graph=True)
    h, = gn.autograd.grad((g * g).sum(), x)
    ht, = torch.autograd.grad((gt * gt).sum(), xt)
    np.testing.assert_allclose(h.numpy(), ht.numpy(), rtol=1e-12)


EINSUMS = [("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("bii->bi", [(2, 3, 3)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 5)]),
           ("...ij,jk", [(2, 1, 3, 4), (4, 5)]), ("iij,jk->ik", [(2, 2, 3), (3, 4)]), ("ij,ij->ij", [(1, 3), (2, 3)]),
           ("...i->...", [(2, 3)]), ("iii->i", [(2, 2, 2)]), ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]),
           ("i...j,j->...", [(2, 3, 4), (4,)]), ("ij,jk->", [(2, 3), (3, 2)])]


@pytest.mark.torch
@pytest.mark.parametrize("eq,shapes", EINSUMS)
def test_einsum_ellipsis_and_diagonals_like_torch(eq, shapes):
    torch = torch_or_skip()
    values_and_grads_like_torch(lambda *xs: gn.einsum(eq, *xs), lambda *ts: torch.einsum(eq, *ts),
                                *[R.standard_normal(s) for s in shapes])


def test_einsum_gradcheck_and_double_backward(backend):
    a = gn.tensor(R.standard_normal((2, 3, 3)), dtype=np.float64, requires_grad=True)
    b = gn.tensor(R.standard_normal((3, 4)), dtype=np.float64, requires_grad=True)
    assert gn.gradcheck(lambda x, y: gn.einsum("...ii,ik->...k", x, y), [a, b])

    def first(x, y):
        return gn.autograd.grad((gn.einsum("bii,ij->bj", x, y) ** 2).sum(), [x, y], create_graph=True)[0]
    assert gn.gradcheck(first, [a, b])


def test_einsum_errors():
    with pytest.raises(ValueError, match="sizes 3 and 4"):
        gn.einsum("ij,jk->ik", gn.randn(2, 3), gn.randn(4, 5))
    with pytest.raises(ValueError, match="at most one"):
        gn.einsum("...i...->i", gn.randn(2, 3))
    with pytest.raises(ValueError, match="name more dims"):
        gn.einsum("ijk...->i", gn.randn(2, 3))
    with pytest.raises(ValueError, match="repeated letter"):
        gn.einsum("ii->i", gn.randn(2, 1))
    with pytest.raises(ValueError, match="appear in the inputs"):
        gn.einsum("ij->k", gn.randn(2, 3))


@pytest.mark.torch
def test_torch_tensor_of_gpunet_tensors():
    torch = torch_or_skip()
    for x in (gn.tensor(3.5), gn.tensor(2), gn.tensor(1.5, dtype=np.float64), gn.tensor([1.0, 2.0])):
        t = torch.tensor(x)
        assert tuple(t.shape) == tuple(x.shape)
        np.testing.assert_array_equal(t.numpy(), x.numpy())
        assert str(t.dtype).endswith(str(x.dtype))
    assert float(torch.as_tensor(gn.tensor(0.25))) == 0.25

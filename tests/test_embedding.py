"""Embedding: the lookup against NumPy indexing, the weight gradient (repeated indices summed, padding_idx, by
gradcheck on every backend and against PyTorch), max_norm and from_pretrained as torch, the compiled CPU and CUDA
scatter-adds against the reference, and the error messages (on the GPU reported by the deferred check)."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet import nn
from gpunet.backend import _parallel
from gpunet.backend.base import Backend

from conftest import to_numpy, torch_or_skip
from test_layer_norm import gpu  # noqa: F401  (the CUDA-kernel fixture, in every thread order)


def test_init_and_lookup_of_any_index_shape(backend, rng):
    gn.manual_seed(0)
    emb = nn.Embedding(50, 7, padding_idx=4)
    w = to_numpy(emb.weight)
    np.testing.assert_array_equal(w[4], 0)
    assert abs(w.mean()) < 0.2 and 0.8 < w.std() < 1.2  # N(0, 1)
    for shape in [(), (5,), (3, 4), (2, 3, 2)]:
        idx = rng.integers(0, 50, size=shape)
        y = emb(gn.tensor(idx))
        assert y.shape == shape + (7,) and y.dtype == np.float32
        np.testing.assert_array_equal(to_numpy(y), w[idx])


def test_gradient_sums_repeated_indices_and_skips_padding(backend):
    w = gn.tensor(np.arange(12.0).reshape(6, 2), requires_grad=True)
    idx = gn.tensor(np.array([[1, 3, 1], [1, 5, 3]]))
    g = np.arange(12.0).reshape(2, 3, 2)
    F.embedding(idx, w, padding_idx=5).backward(gn.tensor(g))
    want = np.zeros((6, 2))
    for i, r in enumerate([1, 3, 1, 1, 5, 3]):
        if r != 5:
            want[r] += g.reshape(-1, 2)[i]
    np.testing.assert_array_equal(to_numpy(w.grad), want)


def test_gradcheck(backend, rng):
    w = gn.tensor(rng.standard_normal((7, 3)), dtype=np.float64, requires_grad=True)
    idx = gn.tensor(rng.integers(0, 7, size=(4, 5)))
    assert gn.gradcheck(lambda w: F.embedding(idx, w), [w])
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: checked above and against torch)


@pytest.mark.torch
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 0}, {"padding_idx": -2, "scale_grad_by_freq": True},
                                {"max_norm": 1.5}, {"max_norm": 2.0, "norm_type": 1.0}])
def test_module_like_torch_over_adam_steps(rng, kw):
    torch = torch_or_skip()
    temb = torch.nn.Embedding(20, 4, **kw).double()
    emb = nn.Embedding(20, 4, **kw).double()
    emb.load_state_dict({k: v.numpy().copy() for k, v in temb.state_dict().items()})
    assert repr(emb) == repr(temb)
    opt, topt = gn.optim.Adam(emb.parameters(), lr=0.1), torch.optim.Adam(temb.parameters(), lr=0.1)
    for _ in range(3):
        idx = rng.integers(0, 20, size=(3, 6))
        g = rng.standard_normal((3, 6, 4))
        y, ty = emb(gn.tensor(idx)), temb(torch.tensor(idx))
        np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
        (y * gn.tensor(g)).sum().backward()
        (ty * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(to_numpy(emb.weight.grad), temb.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
        opt.step()
        topt.step()
        opt.zero_grad()
        topt.zero_grad()
    np.testing.assert_allclose(to_numpy(emb.weight), temb.weight.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_max_norm_renormalises_in_place_and_bumps_the_version():
    w = np.array([[3.0, 4.0], [0.3, 0.4], [6.0, 8.0]])
    emb = nn.Embedding.from_pretrained(gn.tensor(w), freeze=False, max_norm=1.0)
    v = emb.weight._version
    emb(gn.tensor(np.array([0, 1])))
    np.testing.assert_allclose(to_numpy(emb.weight), [[0.6, 0.8], [0.3, 0.4], [6.0, 8.0]], rtol=1e-6)
    assert emb.weight._version > v


def test_from_pretrained_shares_and_freezes():
    w = gn.tensor(np.arange(6.0).reshape(3, 2))
    emb = nn.Embedding.from_pretrained(w, padding_idx=1)
    assert not emb.weight.requires_grad and emb.weight.data is w.data
    np.testing.assert_array_equal(to_numpy(emb.weight)[1], [2.0, 3.0])  # the padding row is left as given
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="2-D"):
        nn.Embedding.from_pretrained(gn.tensor(np.ones(3)))


def test_errors_name_the_problem(backend):
    emb = nn.Embedding(10, 3)
    with pytest.raises(IndexError, match=r"index 10 at position \(1, 0\) is out of range.*\[0, 10\)"):
        emb(gn.tensor(np.array([[1], [10]])))
        gn.backend.current().flush_checks()
    with pytest.raises(IndexError, match=r"index -1 .* out of range"):
        emb(gn.tensor(np.array([-1, 2])))
        gn.backend.current().flush_checks()
    with pytest.raises(TypeError, match="indices must be integers"):
        emb(gn.tensor(np.array([1.0, 2.0])))
    with pytest.raises(ValueError, match="padding_idx=10 must be within num_embeddings=10"):
        nn.Embedding(10, 3, padding_idx=10)
    with pytest.raises(NotImplementedError, match="sparse"):
        nn.Embedding(10, 3, sparse=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_cpu_scatter_matches_reference(monkeypatch, rng, dtype, threads):
    be = B.get("numpy")
    monkeypatch.setattr(_parallel, "NUM_THREADS", threads)
    monkeypatch.setattr(_parallel, "PARALLEL_MIN", 1)
    g = rng.standard_normal((300, 5)).astype(dtype)
    idx = rng.integers(0, 17, size=300)
    for pad in (None, 3):
        got = be.embedding_backward(g, idx, 17, pad)
        want = Backend.embedding_backward(be, g, idx, 17, pad)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("deterministic", [False, True])
def test_cuda_kernels_match_reference(gpu, rng, dtype, deterministic, monkeypatch):  # noqa: F811
    from gpunet.backend import _determinism

    monkeypatch.setattr(_determinism, "_enabled", deterministic)
    xp = gpu.xp
    w = xp.array(rng.standard_normal((11, 3)).astype(dtype))
    idx = xp.array(rng.integers(0, 11, size=(4, 5)))
    np.testing.assert_array_equal(gpu.embedding_forward(w, idx).get(), w.get()[idx.get()])
    g = xp.array(rng.standard_normal((20, 3)).astype(dtype))
    for pad in (None, 0):
        got = gpu.embedding_backward(g, idx.reshape(-1), 11, pad)
        want = Backend.embedding_backward(gpu, g, idx.reshape(-1), 11, pad)
        np.testing.assert_allclose(got.get(), want.get(), rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)

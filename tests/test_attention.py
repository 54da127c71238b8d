"""Scaled dot-product attention and its fused softmax kernels (CPU and GPU); nn.MultiheadAttention is in test_mha.py."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import backend as B
from gpunet.backend._attn_ops import AttnOps

from conftest import to_numpy, torch_or_skip


def ref_sdpa(q, k, v, mask=None, causal=False, scale=None, safe=True):
    """float64 NumPy attention: softmax(q kᵀ · scale + bias) v; bool mask True = take part."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf) if mask.dtype == bool else s + mask
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    m = s.max(-1, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.exp(s - (np.where(np.isneginf(m), 0, m) if safe else m))
        t = e.sum(-1, keepdims=True)
        p = e / (np.where(t == 0, 1, t) if safe else t)
    return p @ v, p


def tens(a, dtype=None, grad=False):
    return gn.tensor(np.asarray(a) if dtype is None else np.asarray(a, dtype), requires_grad=grad)


def qkv(rng, batch=(2, 3), L=5, S=7, E=4, Ev=6, dtype=np.float64):
    return (rng.standard_normal(batch + (L, E)).astype(dtype), rng.standard_normal(batch + (S, E)).astype(dtype),
            rng.standard_normal(batch + (S, Ev)).astype(dtype))


def masks(rng, dtype):
    """(name, mask, causal) of every kind, with broadcast shapes."""
    b = rng.random((5, 7)) > 0.3
    b[:, 0] = True
    return [("none", None, False), ("causal", None, True), ("bool (L,S)", b, False),
            ("bool (N,1,1,S)", rng.random((2, 1, 1, 7)) > 0.2, False),
            ("float (2,3,5,7)", rng.standard_normal((2, 3, 5, 7)).astype(dtype), False),
            ("float (3,1,7)", rng.standard_normal((3, 1, 7)).astype(dtype), False),
            ("float (5,1)", rng.standard_normal((5, 1)).astype(dtype), False)]


# ---------------------------------------------------------------------------------------------- sdpa forward
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sdpa_matches_numpy_reference(backend, rng, dtype):
    q, k, v = qkv(rng, dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for name, m, causal in masks(rng, dtype):
        got = F.scaled_dot_product_attention(tens(q), tens(k), tens(v), None if m is None else tens(m),
                                             is_causal=causal)
        assert got.dtype == dtype and got.shape == (2, 3, 5, 6)
        np.testing.assert_allclose(to_numpy(got), ref_sdpa(q, k, v, m, causal)[0], err_msg=name, **tol)
    got = F.scaled_dot_product_attention(tens(q), tens(k), tens(v), scale=0.3)
    np.testing.assert_allclose(to_numpy(got), ref_sdpa(q, k, v, scale=0.3)[0], **tol)


def test_sdpa_broadcasts_batch_dims_and_takes_2d(backend, rng):
    q = rng.standard_normal((2, 3, 5, 4))
    k, v = rng.standard_normal((1, 3, 7, 4)), rng.standard_normal((3, 7, 2))
    got = F.scaled_dot_product_attention(tens(q), tens(k), tens(v))
    np.testing.assert_allclose(to_numpy(got), ref_sdpa(q, k, v)[0], rtol=1e-12, atol=1e-13)
    q2, k2, v2 = q[0, 0], k[0, 0], v[0]
    got = F.scaled_dot_product_attention(tens(q2), tens(k2), tens(v2))
    np.testing.assert_allclose(to_numpy(got), ref_sdpa(q2, k2, v2)[0], rtol=1e-12, atol=1e-13)


def test_sdpa_fully_masked_rows_give_zeros_and_zero_gradients(backend, rng):
    q, k, v = qkv(rng)
    m = np.ones((5, 7), bool)
    m[2] = False
    tq, tk, tv = tens(q, grad=True), tens(k, grad=True), tens(v, grad=True)
    out = F.scaled_dot_product_attention(tq, tk, tv, tens(m))
    o = to_numpy(out)
    assert np.all(o[:, :, 2] == 0) and np.isfinite(o).all()
    out.sum().backward()
    assert np.all(to_numpy(tq.grad)[:, :, 2] == 0) and np.isfinite(to_numpy(tk.grad)).all()
    fm = np.where(m, 0.0, -np.inf)
    np.testing.assert_array_equal(to_numpy(F.scaled_dot_product_attention(tens(q), tens(k), tens(v), tens(fm))), o)


def test_sdpa_gqa_shares_key_heads(backend, rng):
    q = rng.standard_normal((2, 4, 5, 3))
    k, v = rng.standard_normal((2, 2, 6, 3)), rng.standard_normal((2, 2, 6, 3))
    got = F.scaled_dot_product_attention(tens(q), tens(k), tens(v), enable_gqa=True)
    want = ref_sdpa(q, np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1))[0]
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-13)


def test_sdpa_dropout(backend, rng):
    q, k, v = qkv(rng, dtype=np.float32)
    out = F.scaled_dot_product_attention(tens(q), tens(k), tens(v), dropout_p=1.0)
    assert np.all(to_numpy(out) == 0)
    q, k, v = (np.ones((1, 1, 200, 2), np.float32),) * 3
    tv = tens(v, grad=True)
    out = F.scaled_dot_product_attention(tens(q), tens(k), tv, dropout_p=0.5)
    o = to_numpy(out)
    assert 0.85 < o.mean() < 1.15 and (o != 1).any()  # each weight 1/200 kept ×2 or dropped
    out.sum().backward()  # dv_j = Σ_i p_ij m_ij /(1 − p): about 1
    assert 0.8 < to_numpy(tv.grad).mean() < 1.2


# ---------------------------------------------------------------------------------------------- sdpa backward
@pytest.mark.parametrize("case", ["none", "causal", "bool", "float", "float-broadcast", "scale"])
def test_sdpa_gradcheck(backend, rng, case):
    q, k, v = qkv(rng, batch=(2,), L=3, S=4, E=3, Ev=2)
    args = [tens(q, grad=True), tens(k, grad=True), tens(v, grad=True)]
    kw = {}
    if case == "causal":
        kw["is_causal"] = True
    elif case == "bool":
        m = rng.random((3, 4)) > 0.4
        m[:, 1] = True
        kw["attn_mask"] = tens(m)
    elif case == "scale":
        kw["scale"] = 0.7
    elif case.startswith("float"):
        args.append(tens(rng.standard_normal((2, 3, 4) if case == "float" else (3, 1)), grad=True))
    assert gn.gradcheck(lambda *a: F.scaled_dot_product_attention(*a, **kw), args, atol=1e-6)


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("case", ["none", "causal", "float-mask", "bool-mask"])
def test_packed_self_attention_matches_sdpa_and_gradcheck(backend, rng, batch_first, case):
    from gpunet.functional.attention import PackedSelfAttention

    N, L, heads, D = 2, 3, 2, 2
    x = rng.standard_normal((N, L, 3 * heads * D) if batch_first else (L, N, 3 * heads * D))
    mask = None
    if case == "float-mask":
        mask = tens(rng.standard_normal((N, 1, L, L)), grad=True)
    elif case == "bool-mask":
        m = rng.random((L, L)) > 0.4
        m[:, 0] = True
        mask = tens(m)
    kw = dict(heads=heads, batch_first=batch_first, scale=0.6, causal=case == "causal")
    t = x.reshape(x.shape[:2] + (3, heads, D))
    t = t.transpose(2, 0, 3, 1, 4) if batch_first else t.transpose(2, 1, 3, 0, 4)
    want = ref_sdpa(t[0], t[1], t[2], None if mask is None else to_numpy(mask) if case == "float-mask" else m,
                    case == "causal", 0.6)[0]
    want = want.transpose(0, 2, 1, 3) if batch_first else want.transpose(2, 0, 1, 3)
    got = PackedSelfAttention.apply(tens(x), mask, **kw)
    np.testing.assert_allclose(to_numpy(got), want.reshape(got.shape), rtol=1e-12, atol=1e-13)
    args = [tens(x, grad=True)] + ([mask] if case == "float-mask" else [])
    if case == "float-mask":
        fn = lambda a, mk: PackedSelfAttention.apply(a, mk, **kw)  # noqa: E731
    else:
        fn = lambda a: PackedSelfAttention.apply(a, mask, **kw)  # noqa: E731
    assert gn.gradcheck(fn, args, atol=1e-6)


@pytest.mark.torch
def test_sdpa_matches_torch(rng):
    torch = torch_or_skip()
    q, k, v = qkv(rng)
    for name, m, causal in masks(rng, np.float64):
        ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
        gs = [tens(a, grad=True) for a in (q, k, v)]
        tm = gm = None
        if m is not None:
            tm = torch.tensor(m, requires_grad=m.dtype != bool)
            gm = tens(m, grad=m.dtype != bool)
        to = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=tm, is_causal=causal)
        go = F.scaled_dot_product_attention(*gs, attn_mask=gm, is_causal=causal)
        np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-12, atol=1e-13, err_msg=name)
        g = rng.standard_normal(to.shape)
        to.backward(torch.tensor(g))
        go.backward(tens(g))
        for t, x in zip(ts + ([tm] if tm is not None and tm.requires_grad else []),
                        gs + ([gm] if gm is not None and gm.requires_grad else [])):
            np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=1e-11, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------------------------------------- errors
def test_sdpa_errors_say_what_is_expected(rng):
    q, k, v = (tens(a) for a in qkv(rng, dtype=np.float32))
    with pytest.raises(ValueError, match=r"same feature size.*\(2, 3, 5, 4\).*\(2, 3, 7, 3\)"):
        F.scaled_dot_product_attention(q, tens(np.zeros((2, 3, 7, 3), np.float32)), v)
    with pytest.raises(ValueError, match="key and value must have the same length"):
        F.scaled_dot_product_attention(q, k, tens(np.zeros((2, 3, 6, 6), np.float32)))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(4, 7\) cannot be broadcast.*\(2, 3, 5, 7\)"):
        F.scaled_dot_product_attention(q, k, v, tens(np.ones((4, 7), bool)))
    with pytest.raises(TypeError, match="bool tensor.*or a float tensor.*int64"):
        F.scaled_dot_product_attention(q, k, v, tens(np.ones((5, 7), np.int64)))
    with pytest.raises(TypeError, match="query's dtype float32, got float64"):
        F.scaled_dot_product_attention(q, k, v, tens(np.zeros((5, 7))))
    with pytest.raises(ValueError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, k, v, tens(np.ones((5, 7), bool)), is_causal=True)
    with pytest.raises(ValueError, match="at least 2 dims"):
        F.scaled_dot_product_attention(tens(np.zeros(3, np.float32)), k, v)
    with pytest.raises(TypeError, match="one dtype"):
        F.scaled_dot_product_attention(q, k, tens(np.zeros((2, 3, 7, 6))))


# ---------------------------------------------------------------------------------------------- fused kernels
SHAPES = [(1, 1, 1), (3, 7, 5), (2, 128, 128), (1, 4, 1000)]


def _kernel_cases(rng, shape, dtype):
    b, L, S = shape
    yield None, False
    yield None, True
    yield rng.random(shape) > 0.3, False
    yield (rng.standard_normal((1, 1, S)) * 3).astype(dtype), False
    yield rng.random((L, 1)) > 0.5, True


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_cpu_kernels_match_reference(rng, shape, dtype):
    be = B.get("numpy")
    tol = dict(rtol=2e-6, atol=2e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    for mask, causal in _kernel_cases(rng, shape, dtype):
        s = (rng.standard_normal(shape) * 4).astype(dtype)
        for safe in (True, False):
            want = AttnOps.attn_softmax_forward(be, s.copy(), 0.7, mask, causal, safe)
            got = be.attn_softmax_forward(s.copy(), 0.7, mask, causal, safe)
            np.testing.assert_allclose(got, want, **tol)
        dp = rng.standard_normal(shape).astype(dtype)
        p = want
        np.testing.assert_allclose(be.attn_softmax_backward(p, dp.copy(), 0.3),
                                   AttnOps.attn_softmax_backward(be, p, dp.copy(), 0.3), **tol)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("into", [False, True])
def test_cpu_bmm_split_over_threads(rng, monkeypatch, axis, into):
    """Products big enough to be split over the threads (BLAS single-threaded meanwhile), into head views."""
    from gpunet.backend import _blas_threads, _numpy_attn, _parallel

    be = B.get("numpy")
    monkeypatch.setattr(_parallel, "NUM_THREADS", 2)
    seen = []
    run = _parallel.run
    monkeypatch.setattr(_numpy_attn._parallel, "run", lambda fn, n, parts: (seen.append(parts), run(fn, n, parts)))
    n0, n1 = (4, 2) if axis == 0 else (1, 8)
    a = rng.standard_normal((n0, 512, n1, 64)).astype(np.float32).transpose(0, 2, 1, 3)  # strided views
    b = rng.standard_normal((n0, n1, 64, 256)).astype(np.float32)
    want = np.matmul(a, b)
    if into:
        buf = np.full((n0, 512, n1, 256), np.nan, np.float32)
        got = be.bmm(a, b, buf.transpose(0, 2, 1, 3))
        assert np.shares_memory(got, buf)
    else:
        got = be.bmm(a, b)
    assert seen == [2] or not _blas_threads.available()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(be.bmm(a[:, :, :3], b[:, :, :, :5]), want[:, :, :3, :5], rtol=1e-5, atol=1e-4)


def test_cpu_kernel_extremes(rng):
    be = B.get("numpy")
    s = np.array([[[0.0, -200.0, 80.0, 80.0], [1e30, -1e30, 0.0, 3.0], [np.nan, 0.0, 1.0, 2.0]]], np.float32)
    got = be.attn_softmax_forward(s.copy(), 1.0)
    np.testing.assert_allclose(got[0, :2], [[0, 0, 0.5, 0.5], [1, 0, 0, 0]], atol=1e-7)
    assert np.isnan(got[0, 2]).all()
    m = np.ones((1, 3, 4), bool)
    m[0, 1] = False
    got = be.attn_softmax_forward(np.zeros((1, 3, 4), np.float32), 1.0, m, False, False)
    assert np.isnan(got[0, 1]).all() and np.allclose(got[0, 0], 0.25)


# ---------------------------------------------------------------------------------------------- GPU kernels
try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]  # decided outside the emulated context
except ImportError:  # the tests folder without its emulator
    ORDERS = [None]


@pytest.mark.gpu
class TestGpuKernels:
    """The CUDA kernels of kernels/attn.cu against the reference, outputs poisoned with NaN first, in the
    emulator's three thread orders (or once on a device)."""

    @pytest.fixture(autouse=True, params=ORDERS, ids=lambda o: o or "device")
    def order(self, request):
        if request.param is None:
            yield
            return
        _emulator.set_order(request.param)
        yield
        _emulator.set_order(None)

    @pytest.mark.parametrize("dtype", [np.float32, np.float64])
    def test_kernels_match_reference(self, rng, dtype):
        be = B.get("cupy")
        xp = be.xp
        tol = dict(rtol=2e-6, atol=2e-7) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
        for shape in [(1, 1, 1), (2, 3, 37), (1, 2, 300)]:
            for mask, causal in _kernel_cases(rng, shape, dtype):
                s = (rng.standard_normal(shape) * 4).astype(dtype)
                dm = None if mask is None else xp.asarray(mask)
                for safe in (True, False):
                    want = AttnOps.attn_softmax_forward(be, xp.asarray(s), 0.7, dm, causal, safe).get()
                    got = be.attn_softmax_forward(xp.asarray(s), 0.7, dm, causal, safe).get()
                    np.testing.assert_allclose(got, want, **tol)
                p = xp.asarray(want)
                dp = rng.standard_normal(shape).astype(dtype)
                got = be.attn_softmax_backward(p, xp.asarray(dp), 0.3).get()
                np.testing.assert_allclose(got, AttnOps.attn_softmax_backward(be, p, xp.asarray(dp), 0.3).get(),
                                           **tol)

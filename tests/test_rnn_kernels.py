"""The recurrent gate kernels (kernels/rnn.cu on the GPU, the Numba ones on the CPU) against the plain-xp reference
of :class:`~gpunet.backend._rnn_ops.RnnOps`.

GPU: every output buffer starts poisoned (NaN), so an element a kernel forgets shows; sizes are awkward (one unit,
odd H, more units than one block); on the CUDA emulator each test runs with blocks and threads forward, reversed
and shuffled. The reference is made to raise while a kernel test runs, so a silent fallback fails the test.
"""
from __future__ import annotations

import numpy as np
import pytest

from gpunet import backend as B
from gpunet.backend._rnn_ops import RnnOps
from gpunet.backend.base import Backend

try:
    from cuda_emulator import emulator as _emulator
    from cuda_emulator.activate import emulating
    ORDERS = list(_emulator.ORDERS) if emulating() else [None]
except ImportError:
    ORDERS = [None]

SHAPES = [(1, 1), (3, 5), (2, 193)]  # (N, H): one unit; odd; N·H > one block of 256 threads
DTYPES = [np.float32, np.float64]
STEPS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def tol(dtype):
    return dict(rtol=3e-6, atol=2e-6) if np.dtype(dtype) == np.float32 else dict(rtol=1e-13, atol=1e-13)


def _arrays(rng, step, N, H, dtype):
    """Host inputs of one step forward and backward."""
    G = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}[step]
    r = lambda *s: (rng.standard_normal(s) * 1.5).astype(dtype)
    return dict(gx=r(N, G * H), gh=r(N, G * H), b=r(G * H), hp=r(N, H), cp=r(N, H), dy=r(N, H), rec=r(N, H),
                dc=r(N, H), da=r(N, H))


def _run(ops, xp, step, a, fresh):
    """Forward then backward of one step through ``ops`` (a backend, or the reference class bound to it);
    returns every array the step writes, on the host."""
    d = {k: xp.asarray(v) for k, v in a.items()}
    N, H = a["hp"].shape
    dt = a["hp"].dtype
    if step.startswith("rnn"):
        relu = step == "rnn_relu"
        h, dpre = fresh((N, H), dt), fresh((N, H), dt)
        ops.rnn_step_forward(d["gx"], d["gh"], h, relu)
        ops.rnn_step_backward(d["dy"], d["rec"], h, dpre, relu)
        return [h, dpre]
    if step == "lstm":
        gates, c, tc, h, dg = (fresh(s, dt) for s in ((N, 4 * H), (N, H), (N, H), (N, H), (N, 4 * H)))
        ops.lstm_step_forward(d["gx"], d["gh"], d["cp"], gates, c, tc, h)
        ops.lstm_step_backward(d["dy"], d["rec"], d["dc"], gates, d["cp"], tc, dg)
        return [gates, c, tc, h, dg, d["dc"]]
    gates, h, dgi, dgh = (fresh(s, dt) for s in ((N, 4 * H), (N, H), (N, 3 * H), (N, 3 * H)))
    ops.gru_step_forward(d["gx"], d["gh"], d["b"], d["hp"], gates, h)
    ops.gru_step_backward(d["dy"], d["da"], d["rec"], gates, d["hp"], dgi, dgh)
    return [gates, h, dgi, dgh, d["da"]]


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


def _no_reference(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the reference ran: the kernel path fell back")

    for name in ("rnn_step_forward", "rnn_step_backward", "lstm_step_forward", "lstm_step_backward",
                 "gru_step_forward", "gru_step_backward"):
        monkeypatch.setattr(RnnOps, name, refuse)


class _Ref:
    """The reference ops over NumPy, for the expected values."""

    def __init__(self):
        self._be = Backend(np)

    def __getattr__(self, name):
        return getattr(RnnOps, name).__get__(self._be)


def _expected(step, a):
    return [_host(v) for v in _run(_Ref(), np, step, {k: v.copy() for k, v in a.items()},
                                   lambda s, dt: np.full(s, np.nan, dt))]


@pytest.mark.gpu
@pytest.mark.parametrize("order", ORDERS, ids=lambda o: o or "device")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("step", STEPS)
def test_gpu_gate_kernels_match_reference(monkeypatch, order, dtype, shape, step):
    rng = np.random.default_rng(5)
    a = _arrays(rng, step, *shape, dtype)
    want = _expected(step, a)
    be = B.get("cupy")
    xp = be.xp
    if order is not None:
        _emulator.set_order(order)
    try:
        _no_reference(monkeypatch)
        got = _run(be, xp, step, a, lambda s, dt: xp.full(s, np.nan, dtype=dt))
    finally:
        if order is not None:
            _emulator.set_order(None)
    for g, w in zip(got, want):
        g = _host(g)
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(g, w, **tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES + [(32, 256)])
@pytest.mark.parametrize("step", STEPS)
def test_cpu_gate_kernels_match_reference(monkeypatch, dtype, shape, step):
    from gpunet.backend import _numba

    if _numba.kernels() is None:
        pytest.skip("Numba kernels are off")
    rng = np.random.default_rng(6)
    a = _arrays(rng, step, *shape, dtype)
    want = _expected(step, a)
    _no_reference(monkeypatch)
    got = _run(B.get("numpy"), np, step, a, lambda s, dt: np.full(s, np.nan, dt))
    # float32: tanh and σ come from a rational fit (3 ulp); derivatives like 1 − h² near saturation scale that
    # error up by the incoming gradient
    t = dict(rtol=1e-5, atol=1e-5) if np.dtype(dtype) == np.float32 else tol(dtype)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **t)


@pytest.mark.parametrize("mode", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("n", [5, 9])
def test_cpu_row_split_loop_matches_one_loop(monkeypatch, mode, bidirectional, n):
    """The NumPy backend's recurrent loop split by batch rows over 2-3 threads (uneven spans, h0/c0 given, both
    directions) gives the outputs and every gradient of the one-loop run."""
    import gpunet as gn
    from gpunet import nn
    from gpunet.backend import _numpy_rnn, _parallel

    gn.use("numpy")
    rng = np.random.default_rng(3)
    gn.manual_seed(0)
    layer = getattr(nn, mode)(6, 7, num_layers=2, bidirectional=bidirectional).double()
    D = 2 if bidirectional else 1
    xh = rng.standard_normal((4, n, 6))
    h0h = rng.standard_normal((2 * D, n, 7))

    def run(threads, min_rows, min_macs):
        monkeypatch.setattr(_parallel, "NUM_THREADS", threads)
        monkeypatch.setattr(_numpy_rnn, "RNN_SPLIT_MIN_ROWS", min_rows)
        monkeypatch.setattr(_numpy_rnn, "RNN_SPLIT_MIN_MACS", min_macs)
        layer.zero_grad()
        x = gn.tensor(xh, requires_grad=True)
        h0 = gn.tensor(h0h, requires_grad=True)
        if mode == "LSTM":
            c0 = gn.tensor(h0h[::-1].copy(), requires_grad=True)
            out, (hn, cn) = layer(x, (h0, c0))
            (out.sum() + (hn * hn).sum() + (cn * 2).sum()).backward()
            extra = [cn, c0.grad]
        else:
            out, hn = layer(x, h0)
            (out.sum() + (hn * hn).sum()).backward()
            extra = []
        grads = [p.grad.numpy().copy() for p in layer.parameters()]
        return [a.numpy().copy() for a in [out, hn, x.grad, h0.grad] + extra] + grads

    want = run(1, 1 << 30, 1 << 62)
    for threads in (2, 3):
        got = run(threads, 1, 0)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)

"""Shared fixtures: one backend fixture that gains ``cupy`` where a GPU works, or on the CUDA emulator."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest

import gpunet as gn
from gpunet import backend as B

from cuda_emulator.activate import emulated_gpu, emulating  # noqa: E402

_GPU_OK = B.cupy_status()[0]
EMULATED = emulating()
# The cupy parameter carries the gpu mark, so `pytest -m gpu` runs every backend-parametrized test on the GPU (or
# the emulator) too.
BACKENDS = ["numpy"] + ([pytest.param("cupy", marks=pytest.mark.gpu)] if _GPU_OK or EMULATED else [])


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each available backend in turn, made current for the test (CuPy on the CUDA emulator without a GPU)."""
    with (emulated_gpu() if EMULATED and request.param == "cupy" else contextlib.nullcontext()):
        prev = B.current()
        be = gn.use(request.param)
        gn.manual_seed(0)
        yield be
        B._current = prev
        be.flush_checks()  # a failed device-side check the test left unread fails this test, not the next


@pytest.fixture(autouse=True)
def _emulated_gpu_for_gpu_tests(request):
    """Tests marked ``gpu`` run with the emulated CuPy installed where there is no GPU."""
    if EMULATED and request.node.get_closest_marker("gpu") is not None:
        with emulated_gpu():
            yield
    else:
        yield


@pytest.fixture(autouse=True)
def _default_numpy_backend():
    """Tests run on NumPy unless they take the ``backend`` fixture."""
    prev = B._current
    if prev is None:
        B.use("numpy")
    yield
    B._current = prev if prev is not None else B._current


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def to_numpy(x):
    """Host float64 copy of a Tensor or array."""
    if isinstance(x, gn.Tensor):
        x = x.numpy()
    elif hasattr(x, "get"):
        x = x.get()
    return np.asarray(x, dtype=np.float64)


def torch_or_skip():
    return pytest.importorskip("torch", reason="PyTorch is not installed (optional reference)")


def values_and_grads_like_torch(fn_gn, fn_t, *arrays, rtol=1e-12, atol=1e-13):
    """Run ``fn_gn`` on gpunet float64 leaves and ``fn_t`` on torch ones built from ``arrays``; compare the
    outputs (a ``(values, indices)`` pair compares its indices exactly) and every input's gradient for one random
    upstream gradient."""
    torch = torch_or_skip()
    xs = [gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
    out, tout = fn_gn(*xs), fn_t(*ts)
    if isinstance(tout, tuple):
        np.testing.assert_array_equal(to_numpy(out[1]), tout[1].numpy())
        out, tout = out[0], tout[0]
    np.testing.assert_allclose(to_numpy(out), tout.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(3).standard_normal(tout.shape)
    out.backward(gn.tensor(g, dtype=np.float64))
    tout.backward(torch.tensor(g))
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(to_numpy(x.grad), t.grad.numpy(), rtol=rtol, atol=atol)


def record_calls(monkeypatch, owner, name: str, pick) -> list:
    """Wrap ``owner.name`` (for the test) so that each call appends ``pick(args)`` to the returned list."""
    seen = []
    fn = getattr(owner, name)

    def spy(*args, **kw):
        seen.append(pick(args))
        return fn(*args, **kw)
    monkeypatch.setattr(owner, name, spy)
    return seen

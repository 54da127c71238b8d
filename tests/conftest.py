"""Shared fixtures: one backend fixture that gains ``cupy`` only where a GPU really works."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet import backend as B

_GPU_OK = B.cupy_status()[0]
BACKENDS = ["numpy"] + (["cupy"] if _GPU_OK else [])


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Each available backend in turn, made current for the test."""
    prev = B.current()
    be = gn.use(request.param)
    gn.manual_seed(0)
    yield be
    B._current = prev


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

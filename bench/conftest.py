"""Benchmarks run as ordinary tests (once each, ``--benchmark-disable`` in the default addopts) so CI keeps them
working; measure with ``pytest bench --benchmark-enable`` (or ``python -m bench`` for the table)."""
import pytest

import gpunet as gn
from gpunet import backend as B


@pytest.fixture(autouse=True)
def _restore_backend():
    prev = B._current
    yield
    B._current = prev


DEVICES = ["cpu", pytest.param("gpu", marks=pytest.mark.device)]  # timings: a real GPU only


def backend_name(device):
    return "numpy" if device == "cpu" else "cupy"


def torch_device(device):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional reference)")
    if device == "gpu" and not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA here")
    return torch, ("cpu" if device == "cpu" else "cuda")


def run(benchmark, fn, sync):
    """Benchmark ``fn`` with device work synchronised, after a warm-up call."""
    fn()
    sync()

    def once():
        fn()
        sync()

    benchmark(once)


__all__ = ["DEVICES", "backend_name", "torch_device", "run", "gn"]

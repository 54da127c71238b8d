"""Shared by tests/ and bench/: tests marked ``gpu`` skip, with CuPy's reason, where no GPU is usable."""
import pytest

from gpunet import backend as B

_GPU_OK, _GPU_WHY = B.cupy_status()


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason=f"no usable GPU: {_GPU_WHY}")
    for item in items:
        if "gpu" in item.keywords and not _GPU_OK:
            item.add_marker(skip_gpu)

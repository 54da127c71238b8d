"""Shared by tests/ and bench/: where the GPU tests run.

``gpu`` tests exercise the CuPy backend and its kernels: on a real GPU where CuPy finds one, else on the CUDA
emulator (tests/cuda_emulator: the .cu sources compiled by g++, a NumPy-backed CuPy), so they run on every CI
machine; ``GPUNET_CUDA_EMULATOR=0`` turns the emulator off (they then skip). ``device`` tests need a real GPU
(timings, memory, cuBLAS) and skip without one.
"""
import sys
from pathlib import Path

import pytest

from gpunet import backend as B

sys.path.insert(0, str(Path(__file__).resolve().parent / "tests"))
from cuda_emulator import emulator as _emulator  # noqa: E402

_GPU_OK, _GPU_WHY = B.cupy_status()
EMULATED, _EMU_WHY = (False, "a real GPU is used") if _GPU_OK else _emulator.available()


def pytest_report_header(config):
    if _GPU_OK:
        return f"gpu tests: on the GPU ({_GPU_WHY})"
    if EMULATED:
        return f"gpu tests: on the CUDA emulator ({_EMU_WHY}); no GPU: {_GPU_WHY}"
    return f"gpu tests: skipped (no GPU: {_GPU_WHY}; no emulator: {_EMU_WHY})"


def pytest_collection_modifyitems(config, items):
    skip_gpu = pytest.mark.skip(reason=f"no usable GPU ({_GPU_WHY}) and no CUDA emulator ({_EMU_WHY})")
    skip_device = pytest.mark.skip(reason=f"needs a real GPU: {_GPU_WHY}")
    for item in items:
        if "device" in item.keywords and not _GPU_OK:
            item.add_marker(skip_device)
        elif "gpu" in item.keywords and not (_GPU_OK or EMULATED):
            item.add_marker(skip_gpu)

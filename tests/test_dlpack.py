"""DLPack both ways, zero copy: gpunet ↔ PyTorch and NumPy on the CPU (and CuPy on the GPU)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn


@pytest.mark.torch
def test_dlpack_with_torch_shares_memory():
    torch = torch_or_skip()
    t = gn.tensor(np.arange(6.0, dtype=np.float32).reshape(2, 3))
    tt = torch.from_dlpack(t)
    tt[0, 0] = 42.0                                      # a write through torch is seen by gpunet
    assert float(t[0, 0]) == 42.0 and tt.dtype == torch.float32 and tuple(tt.shape) == (2, 3)
    back = gn.from_dlpack(torch.ones(3, dtype=torch.float64))
    assert back.dtype == np.float64 and back.device == "cpu" and not back.requires_grad
    src = torch.arange(4.0)
    g = gn.from_dlpack(src)
    src.add_(1)
    np.testing.assert_array_equal(to_numpy(g), [1.0, 2.0, 3.0, 4.0])   # zero copy
    w = gn.tensor([1.0, 2.0], requires_grad=True)
    assert torch.from_dlpack(w.detach()).tolist() == [1.0, 2.0]


def test_dlpack_with_numpy_and_errors():
    a = np.arange(3.0)
    t = gn.from_dlpack(a)
    a[0] = 7
    assert float(t[0]) == 7.0
    np.testing.assert_array_equal(np.from_dlpack(t), a)
    with pytest.raises(TypeError, match="does not support DLPack"):
        gn.from_dlpack([1, 2])


@pytest.mark.gpu
@pytest.mark.device  # DLPack's device field cannot be emulated: the emulator's arrays are host memory
def test_dlpack_on_the_gpu(backend):
    if backend.name != "cupy":
        pytest.skip("the GPU case")
    t = gn.ones(3)
    cp = backend.xp
    c = cp.from_dlpack(t)
    c[0] = 5
    assert float(t[0]) == 5.0
    assert gn.from_dlpack(c).device == backend.device

"""gn.device and gn.cuda: what training scripts ask of torch.device / torch.cuda."""
from __future__ import annotations

import pytest

import gpunet as gn
from gpunet import backend as B


def test_device_objects_are_strings_with_type_and_index():
    d = gn.device("cuda:0")
    assert d == "cuda:0" and d.type == "cuda" and d.index == 0 and repr(d) == "device(type='cuda', index=0)"
    c = gn.device("cpu")
    assert c == "cpu" and c.type == "cpu" and c.index is None
    assert gn.device("cuda", 0) == "cuda:0" and gn.device("cuda").index is None
    with pytest.raises(ValueError, match="expected 'cpu' or 'cuda"):
        gn.device("tpu")
    t = gn.ones(2).to(gn.device("cpu"))
    assert t.device == "cpu"


def test_cuda_is_available_says_what_the_backend_says():
    assert gn.cuda.is_available() is B.cupy_status()[0]
    assert gn.cuda.device_count() == (1 if gn.cuda.is_available() else 0)
    gn.cuda.manual_seed_all(3)
    gn.cuda.synchronize()  # a no-op without a GPU
    if not gn.cuda.is_available():
        with pytest.raises(RuntimeError, match="no GPU"):
            gn.cuda.current_device()


@pytest.mark.gpu
def test_cuda_device_on_the_gpu(backend):
    if backend.name != "cupy":
        pytest.skip("the GPU case")
    x = gn.ones(3).to(gn.device("cuda:0"))
    assert x.device == "cuda:0"

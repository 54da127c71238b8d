"""DLPack in: ``gn.from_dlpack(obj)`` makes a Tensor that shares ``obj``'s memory (a PyTorch or CuPy tensor, a
NumPy array, anything with ``__dlpack__``), on the backend of its device; ``Tensor.__dlpack__`` is the way out."""
from __future__ import annotations

from .. import backend as _backend
from .tensor import Tensor

__all__ = ["from_dlpack"]

_CPU, _CUDA = 1, 2  # DLPack device types (kDLCPU, kDLCUDA)


def from_dlpack(obj) -> Tensor:
    """A leaf Tensor sharing ``obj``'s memory (zero copy), on the CPU or the GPU as ``obj`` is."""
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack: {type(obj).__name__} does not support DLPack (no __dlpack__)")
    kind = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else _CPU
    if kind == _CPU:
        be = _backend.get("numpy")
    elif kind == _CUDA:
        be = _backend.get("cuda")
    else:
        raise RuntimeError(f"from_dlpack: the object lives on DLPack device type {kind}; gpunet takes CPU (1) and "
                           f"CUDA (2) memory")
    return Tensor._make(be.xp.from_dlpack(obj), False, None)

"""Parameter: a leaf Tensor that a Module registers as trainable."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from ..autograd.tensor import Tensor, get_default_dtype

__all__ = ["Parameter", "empty"]


class Parameter(Tensor):
    """A Tensor that requires grad by default and is registered by a Module on attribute assignment.

    ``Parameter(data)`` shares ``data``'s array (a Tensor's, or a NumPy/CuPy array) rather than copying it, as
    ``torch.nn.Parameter`` does. ``Module.to`` rebinds ``param.data`` so the Parameter object itself survives a
    move, which keeps optimizers that hold it valid.
    """

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            arr = _backend.current().xp.empty((0,), dtype=get_default_dtype())
        elif isinstance(data, Tensor):
            arr = data.data
        elif isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__"):
            arr = data
        else:
            arr = _backend.current().asarray(np.asarray(data, dtype=get_default_dtype()))
        if requires_grad and np.dtype(arr.dtype).kind != "f":
            raise TypeError(f"Parameter: only floating point data can require gradients, got dtype {arr.dtype}; "
                            f"cast it (e.g. data.astype(np.float32)) or pass requires_grad=False")
        self.data, self.requires_grad, self.grad, self.grad_fn = arr, bool(requires_grad), None, None
        self._vc, self._gv = None, 0

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


def empty(shape, device=None, dtype=None) -> np.ndarray:
    """An uninitialised array for a new parameter: on ``device`` (default: the current backend), ``dtype``
    (default: the default float dtype)."""
    be = _backend.current() if device is None else _backend.get(device)
    return be.xp.empty(tuple(shape), dtype=np.dtype(dtype) if dtype is not None else get_default_dtype())

"""Function: one differentiable op, forward and vector-Jacobian backward over raw backend arrays."""
from __future__ import annotations

import itertools

import numpy as np

from .. import backend as _backend
from .grad_mode import STATE


class Function:
    """Base of every op.

    Subclasses implement::

        forward(self, xp, *arrays, **params) -> array
        backward(self, xp, grad_out) -> tuple   # one gradient (or None) per positional input

    ``forward`` keeps on ``self`` only what backward needs. ``self.backend`` is the op's
    :class:`~gpunet.backend.Backend` (for fused kernels) and ``self.needs_input_grad`` says which inputs want a
    gradient, so forward can skip saving what nobody will use. ``backward`` may return ``grad_out`` itself or
    fresh arrays (the engine copies where it must), never the same fresh array for two inputs; gradients may
    have the broadcast shape: the engine sums them back to each input's shape.
    """

    __slots__ = ("backend", "parents", "needs_input_grad", "released", "retained", "seq", "__dict__",
                 "__weakref__")
    arg_names: tuple[str, ...] = ()

    def forward(self, xp, *arrays, **params):
        raise NotImplementedError

    def backward(self, xp, grad_out):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **params):
        """Run the op on Tensors (or raw arrays/scalars) and record it when some input requires grad."""
        Tensor = _TENSOR or _tensor_cls()
        arrays = []
        needs = []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                if isinstance(a, np.generic):  # NumPy scalars act like Python ones: x_f32 * np.float64(2) stays f32
                    a = a.item()
                arrays.append(a)
                needs.append(False)
        fn = cls.__new__(cls)
        fn.backend = be = _backend.backend_of(arrays, cls.__name__, cls.arg_names)
        record = STATE.enabled and True in needs
        fn.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        out = fn.forward(be.xp, *arrays, **params)
        if not record:
            return Tensor._make(out, False, None)
        fn.parents = args
        fn.released = False
        fn.retained = None
        fn.seq = next(_SEQ)  # creation order: the engine runs backward in decreasing seq
        return Tensor._make(out, True, fn)

    def _release(self) -> None:
        """Drop what forward saved (called after backward unless the graph is retained)."""
        self.__dict__.clear()
        self.parents = ()
        self.released = True

    @property
    def next_functions(self):
        return tuple(getattr(p, "grad_fn", None) for p in self.parents)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


_TENSOR = None
_SEQ = itertools.count()


def _tensor_cls():
    global _TENSOR
    if _TENSOR is None:
        from .tensor import Tensor

        _TENSOR = Tensor
    return _TENSOR

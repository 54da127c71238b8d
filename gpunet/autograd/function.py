"""Function: one differentiable op, forward and vector-Jacobian backward over raw backend arrays."""
from __future__ import annotations

import itertools

import numpy as np

from .. import backend as _backend
from . import inplace as _inplace
from .grad_mode import STATE


class Function:
    """Base of every op.

    Subclasses implement::

        forward(self, xp, *arrays, **params) -> array
        backward(self, xp, grad_out) -> tuple   # one gradient (or None) per positional input

    A subclass may add ``backward_graph(self, g) -> tuple``: the same product on Tensors with gpunet ops (so that
    ``create_graph=True`` records it; see :mod:`._graph_backward`). A subclass written in torch's style
    (``@staticmethod forward(ctx, ...)`` / ``backward(ctx, *grads)``) works too (:mod:`.custom`).

    ``forward`` keeps on ``self`` only what backward needs. ``self.backend`` is the op's
    :class:`~gpunet.backend.Backend` (for fused kernels) and ``self.needs_input_grad`` says which inputs want a
    gradient, so forward can skip saving what nobody will use. ``backward`` may return ``grad_out`` itself or
    fresh arrays (the engine copies where it must), never the same fresh array for two inputs; gradients may
    have the broadcast shape: the engine sums them back to each input's shape.
    """

    __slots__ = ("backend", "parents", "needs_input_grad", "released", "retained", "seq", "versions", "writes",
                 "out_vc", "out_v", "__dict__", "__weakref__")
    arg_names: tuple[str, ...] = ()
    is_view = False  # True for ops whose output may share the first input's memory (reshape, transpose, ...)

    def __init_subclass__(cls, **kwargs):
        """A subclass in torch's style (``@staticmethod forward(ctx, ...)`` / ``backward(ctx, *grads)``) gets
        :func:`gpunet.autograd.custom.apply` as its ``apply``; gpunet's own subclasses keep :meth:`apply`."""
        super().__init_subclass__(**kwargs)
        if _torch_style(cls):
            from . import custom

            cls.apply = classmethod(custom.apply)

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
        tracked = False  # some input has a version counter (it was written in place, or is or has a view)
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
                if a._vc is not None:
                    tracked = True
            else:
                # NumPy scalars and 0-d arrays act like Python scalars (x_f32 * np.float64(2) stays float32) on
                # every device, as torch treats 0-d CPU tensors beside CUDA ones
                if isinstance(a, np.generic) or type(a) is np.ndarray and a.ndim == 0:
                    a = a.item()
                arrays.append(a)
                needs.append(False)
        fn = cls.__new__(cls)
        fn.backend = be = _backend.backend_of(arrays, cls.__name__, cls.arg_names)
        enabled = STATE.enabled
        if tracked and enabled:
            _inplace.check_current(args, cls.__name__)
        record = enabled and True in needs
        fn.needs_input_grad = tuple(needs) if record else (False,) * len(needs)
        out = fn.forward(be.xp, *arrays, **params)
        if not record:
            t = Tensor._make(out, False, None)
            if cls.is_view:
                _inplace.share_view(t, args[0])
            return t
        fn.parents = args
        fn.released = False
        fn.retained = None
        fn.seq = next(_SEQ)  # creation order: the engine runs backward in decreasing seq
        # what the in-place checks need: the inputs' versions now (all 0 when none has a counter yet), the
        # number of writes so far, and (set when a counter is made for it) the output's counter and version
        fn.versions = tuple(_version(a) for a in args) if tracked else None
        fn.writes = STATE.writes
        fn.out_vc = None
        t = Tensor._make(out, True, fn)
        if cls.is_view:
            _inplace.share_view(t, args[0])
        return t

    def _release(self) -> None:
        """Drop what forward saved (called after backward unless the graph is retained)."""
        self.__dict__.clear()
        self.parents = ()
        self.out_vc = None
        self.released = True

    @property
    def next_functions(self):
        out = []
        for p in self.parents:
            f = getattr(p, "grad_fn", None)
            out.append(_inplace.grad_fn_at(p, self.seq) if f is not None and f.seq > self.seq else f)
        return tuple(out)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


_TENSOR = None
_SEQ = itertools.count()


def _version(a) -> int:
    vc = getattr(a, "_vc", None)
    return 0 if vc is None else vc[0]  # inplace.V


def _tensor_cls():
    global _TENSOR
    if _TENSOR is None:
        from .tensor import Tensor

        _TENSOR = Tensor
    return _TENSOR


def _torch_style(cls) -> bool:
    """Whether ``cls`` (a Function subclass) is written in torch's style (static forward taking ctx); raises a
    TypeError pointing at both forms for a forward(ctx, ...) that is not a staticmethod."""
    import inspect

    fwd = inspect.getattr_static(cls, "forward", None)
    if isinstance(fwd, staticmethod):
        bwd = inspect.getattr_static(cls, "backward", None)
        if not isinstance(bwd, staticmethod) and cls.__dict__.get("backward") is not None:
            raise TypeError(f"{cls.__name__}: a torch-style Function (static forward(ctx, ...)) needs a "
                            f"@staticmethod backward(ctx, *grads)")
        return True
    if isinstance(fwd, classmethod) or fwd is None or "forward" not in cls.__dict__:
        return False
    try:
        first = next(iter(inspect.signature(fwd).parameters), None)
    except (TypeError, ValueError):
        return False
    if first == "ctx":
        raise TypeError(f"{cls.__name__}.forward(ctx, ...) must be a @staticmethod (torch's form: @staticmethod "
                        f"forward(ctx, *args) and @staticmethod backward(ctx, *grads), called as "
                        f"{cls.__name__}.apply(...)); gpunet's own form is forward(self, xp, *arrays) and "
                        f"backward(self, xp, grad) on raw arrays")
    return False

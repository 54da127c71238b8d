"""The Tensor's size queries, dtype casts, ``new_*`` constructors, layout helpers and Python protocols.

A mixin of :class:`~gpunet.autograd.tensor.Tensor` (through :class:`._tensor_methods.TensorMethods`), as PyTorch
names them: ``size()`` returns a :class:`Size` (``size`` uncalled stays the element count), ``long() int() bool() half() float() double()`` cast (a
differentiable cast when the result is floating), ``new_zeros/new_ones/new_full/new_empty/new_tensor`` take this
tensor's dtype and device unless told, ``t()``/``mT`` transpose, ``view_as``/``reshape_as``/``expand_as`` take
another tensor's shape. Every method hands its work to an op in :mod:`gpunet.functional` or :mod:`.creation`.
"""
from __future__ import annotations

import builtins

import numpy as np

from ._dims import canonical_dim


class Size(tuple):
    """A tensor's shape, as ``torch.Size``: a tuple of ints (``x.size() == (2, 3)``)."""
    __slots__ = ()

    def __repr__(self) -> str:
        return f"Size({list(self)})"

    def numel(self) -> builtins.int:
        n = 1
        for d in self:
            n *= d
        return n


class SizeQuery(builtins.int):
    """What ``x.size`` is: PyTorch's method (``x.size()`` a :class:`Size`, ``x.size(d)`` one dim's length), and,
    read without a call, the number of elements, as NumPy's ``a.size`` (which gpunet's ``x.size`` was, and code
    written for it keeps working: ``x.size == 0`` is never silently False)."""

    def __new__(cls, shape, n):
        q = builtins.int.__new__(cls, n)
        q._shape = shape
        return q

    def __call__(self, dim=None):
        shape = self._shape
        if dim is None:
            return Size(shape)
        if not shape:
            raise IndexError(f"size: dim {dim} given but the tensor has no dimensions (0-d)")
        return shape[canonical_dim(dim, len(shape), "size")]


class TensorConvert:
    __slots__ = ()

    # ----------------------------------------------------------------- sizes
    @property
    def size(self) -> SizeQuery:
        """``x.size()``: the shape as a :class:`Size`; ``x.size(d)``: the length of dim ``d`` (an int); ``x.size``
        uncalled: the number of elements (see :class:`SizeQuery`)."""
        return SizeQuery(self.data.shape, self.data.size)

    def numel(self) -> builtins.int:
        return self.data.size

    def dim(self) -> builtins.int:
        return self.data.ndim

    def nelement(self) -> builtins.int:
        return self.data.size

    # ----------------------------------------------------------------- dtype casts (differentiable to floats)
    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def half(self):
        return self.to(dtype=np.float16)

    def long(self):
        return self.to(dtype=np.int64)

    def int(self):
        return self.to(dtype=np.int32)

    def bool(self):
        return self.to(dtype=np.bool_)

    def type_as(self, other):
        """This tensor with ``other``'s dtype (and device, as torch's type string carries it)."""
        return self.to(device=other.device, dtype=other.dtype)

    # ----------------------------------------------------------------- new tensors like this one
    def _new_args(self, dtype, device):
        return (self.dtype if dtype is None else dtype), (self.device if device is None else device)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        from .creation import zeros

        dtype, device = self._new_args(dtype, device)
        return zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        from .creation import ones

        dtype, device = self._new_args(dtype, device)
        return ones(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad: builtins.bool = False):
        from .creation import empty

        dtype, device = self._new_args(dtype, device)
        return empty(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad: builtins.bool = False):
        from .creation import full

        if not isinstance(size, (tuple, list)):
            raise TypeError(f"new_full(): argument 'size' must be a tuple of ints, not {type(size).__name__}")
        dtype, device = self._new_args(dtype, device)
        return full(tuple(size), fill_value, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_tensor(self, data, dtype=None, device=None, requires_grad: builtins.bool = False):
        """A copy of ``data`` with this tensor's dtype and device unless given (as torch, even for a
        ``data`` of another dtype)."""
        from .creation import tensor

        dtype, device = self._new_args(dtype, device)
        return tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)

    # ----------------------------------------------------------------- layout
    def t(self):
        """The transpose of a matrix; a 0-d or 1-d tensor comes back as it is (as torch)."""
        if self.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D; use "
                               f"transpose(d0, d1) or mT")
        return self.transpose(0, 1) if self.ndim == 2 else self

    @property
    def mT(self):
        """The last two dims swapped (matrices or batches of matrices)."""
        if self.ndim < 2:
            raise RuntimeError(f"tensor.mT is only supported on matrices or batches of matrices. Got "
                               f"{self.ndim}-D tensor.")
        return self.transpose(-2, -1)

    def contiguous(self):
        """``self`` when its memory is C-contiguous, else a contiguous (differentiable) copy."""
        return self if self.data.flags.c_contiguous else self.clone()

    def is_contiguous(self) -> builtins.bool:
        return builtins.bool(self.data.flags.c_contiguous)

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def expand(self, *sizes):
        """A broadcast view to ``sizes`` (-1 keeps a dim; only size-1 dims grow; new dims in front)."""
        from ..functional.shape import expand

        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return expand(self, sizes)

    def expand_as(self, other):
        return self.expand(other.shape)

    # ----------------------------------------------------------------- Python protocols
    # DLPack: zero-copy exchange with PyTorch, CuPy, NumPy, JAX ... (the array's own protocol, on its device)
    def __dlpack__(self, *args, **kwargs):
        """The DLPack capsule of this tensor's array (shares memory; a tensor that requires grad exports its
        values, as ``t.detach()`` would)."""
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    def __format__(self, spec: str) -> str:
        """``f"{t:.3f}"`` formats a 0-d tensor's value, as torch; other tensors take no format spec."""
        if self.data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __index__(self) -> builtins.int:
        """A one-element integer (or bool) tensor as an index (``range(t)``, ``lst[t]``), as torch."""
        if self.data.size != 1 or self.data.dtype.kind not in "biu":
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.item())

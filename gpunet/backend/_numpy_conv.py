"""The NumPy backend's convolution (im2col / col2im) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._conv_ops.ConvOps`).

Ungrouped float convolutions run as im2col + GEMM a chunk of samples at a time on each core, OpenBLAS on one
thread per core (``conv_fast_forward`` / ``conv_fast_backward`` -> :mod:`._numpy_conv_gemm`; ``conv_chunked``
False: the generic whole-batch path of :mod:`gpunet.functional.conv`). im2col is the input's windows as ONE
strided view (``as_strided``) copied once into a reused scratch buffer (the padding first copied into a zeroed,
padded input); col2im is a compiled scatter-add (over channels, split over the cores, for a whole batch; per
chunk of samples in the chunked path). Without Numba (``GPUNET_NUMBA=0``) col2im is the reference's loop over
kernel offsets.

Float32 stride-1 5x5 and 7x7 convolutions (and 3x3 ones from at most 32 channels) run as direct vector kernels
(:mod:`._numpy_direct_conv`, no columns). Float32 stride-1 3x3 convolutions with the same padding on every side,
16-64 input and output channels and outputs of at least 32 x 32 run as Winograd F(2x2, 3x3) when Numba is there (:mod:`._numpy_winograd`;
``NumpyConv.winograd = False`` or ``GPUNET_WINOGRAD=0`` turns it off). The residual block's 64 -> 64 layer on
(32, 64, 32, 32), forward + backward, best of 5 rounds on 2 vCPUs: 51-60 ms against 78-88 for im2col + GEMM; the
benchmark's residual-block step 131 against 182 ms (PyTorch 166), medians of 5 interleaved rounds in one process.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _numba, _parallel
from . import _numpy_conv_gemm as _gemm
from . import _numpy_direct_conv as _direct
from . import _numpy_winograd as _wino
from ._conv_ops import conv_out_hw

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _conv_kernels():
    if _numba.kernels() is None:
        return None
    from . import _cpu_conv_kernels

    return _cpu_conv_kernels


def _wino_kernels():
    from . import _cpu_wino_kernels

    return _cpu_wino_kernels


def _direct_kernels():
    from . import _cpu_direct_conv

    return _cpu_direct_conv


class NumpyConv:
    """convolution (im2col / col2im) on the CPU."""

    # Columns up to this many bytes are kept from forward for dW; larger ones are rebuilt in backward (one more
    # im2col copy) so the memory held between forward and backward stays bounded. At 32 MB the residual block's
    # 75 MB columns were rebuilt: its step took 175-181 ms (cpu 305-319) against 150-160 (277-294) keeping them,
    # with peak RSS 243 -> 380 MiB (PyTorch's 436-460).
    conv_keep_bytes = 96 << 20
    # Ungrouped convolutions run chunk by chunk of samples on each core (:mod:`._numpy_conv_gemm`); False: the
    # whole-batch im2col + one GEMM of :mod:`gpunet.functional.conv`.
    conv_chunked = True

    def conv_scratch(self, shape, dtype, slot: str):
        bufs = self.__dict__.setdefault("_conv_bufs", {})
        dt = np.dtype(dtype)
        size = int(np.prod(shape))
        buf = bufs.get((slot, dt))
        if buf is None or buf.size < size:
            buf = bufs[(slot, dt)] = np.empty(size, dtype=dt)
        return buf[:size].reshape(shape)

    def conv_im2col(self, x, geo, scratch: bool = False):
        if type(x) is not np.ndarray or x.dtype not in _FLOATS:
            return super().conv_im2col(x, geo, scratch)
        kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
        n, c, h, w = x.shape
        oh, ow = conv_out_hw(h, w, geo)
        shape = (c, kh, kw, n, oh, ow)
        cols = self.conv_scratch(shape, x.dtype, "cols") if scratch else np.empty(shape, dtype=x.dtype)
        parts = _parallel.parts(c, cols.size // max(c, 1))
        if pt or pb or pl or pr:
            xpad = self.conv_scratch((n, c, h + pt + pb, w + pl + pr), x.dtype, "pad")
            _zero_border(xpad, pt, pb, pl, pr)

            def pad(k, lo, hi):
                xpad[:, lo:hi, pt:pt + h, pl:pl + w] = x[:, lo:hi]
            _parallel.run(pad, c, parts)
        else:
            xpad = x
        sN, sC, sH, sW = xpad.strides
        view = as_strided(xpad, shape=shape, strides=(sC, dh * sH, dw * sW, sN, sh * sH, sw * sW), writeable=False)

        def copy(k, lo, hi):  # NumPy's copy releases the GIL: the channel spans run on every core
            np.copyto(cols[lo:hi], view[lo:hi])
        _parallel.run(copy, c, parts)
        return cols

    def conv_col2im(self, cols, x_shape, geo):
        K = _conv_kernels()
        if K is None or type(cols) is not np.ndarray or cols.dtype not in _FLOATS:
            return super().conv_col2im(cols, x_shape, geo)
        cols = np.ascontiguousarray(cols)
        kh, kw, sh, sw, pt, _, pl, _, dh, dw = geo
        n, c, h, w = x_shape
        dx = np.zeros(x_shape, dtype=cols.dtype)
        oh, ow = cols.shape[4], cols.shape[5]
        flat, dflat = cols.reshape(-1), dx.reshape(-1)
        _parallel.run(lambda k, lo, hi: K.col2im(flat, dflat, n, c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw,
                                                 lo, hi), c, _parallel.parts(c, cols.size // max(c, 1)))
        return dx

    def _col2im_into(self, cols, x_shape, geo, out):
        """``out`` (zeroed, C-contiguous, of ``x_shape``) += col2im(``cols``), on this thread."""
        K = _conv_kernels()
        if K is None:
            out += super().conv_col2im(cols, x_shape, geo)
            return
        kh, kw, sh, sw, pt, _, pl, _, dh, dw = geo
        n, c, h, w = x_shape
        K.col2im(cols.reshape(-1), out.reshape(-1), n, c, h, w, cols.shape[4], cols.shape[5], kh, kw, sh, sw, pt, pl,
                 dh, dw, 0, c)

    # ---------------------------------------------------------------------------------------- Winograd
    # stride-1 3x3 convolutions as Winograd F(2x2, 3x3) (:mod:`._numpy_winograd`); GPUNET_WINOGRAD=0: never
    winograd = not _numba.switched_off("GPUNET_WINOGRAD")
    winograd_dtypes = (np.dtype(np.float32),)
    # Where it runs: measured faster than im2col only for 16-64 channels on images of 32 x 32 and more (conv
    # forward + backward, one process: (32, 16, 32, 32) 1.11x, (32, 64, 32, 32) 1.4x, (4, 64, 64, 64) 1.24x;
    # 16 x 16: 0.99-1.03x; 8 x 8 and 4 x 4: 0.35-0.87x; 128-256 channels: 0.34-0.56x).
    winograd_channels = (16, 64)   # the smallest and the largest input / output channel count it takes
    winograd_min_pixels = 1024     # output pixels of one image (OH·OW)

    # ------------------------------------------------------------------------------------ direct
    # Float32 stride-1 convolutions run as direct vector kernels (:mod:`._numpy_direct_conv`) with these kernel
    # sizes, and 3x3 ones Winograd does not take with at most ``direct_3x3_channels`` input channels on rows of at
    # least 16 outputs; GPUNET_DIRECT_CONV=0: never. Measured, forward + backward against im2col + GEMM, best of
    # 3 x 4 rounds: 5x5 1.21-1.50x ((32, 3, 32, 32) -> 16, (16, 32, 16, 16) -> 64, LeNet's), 7x7 1.51x
    # ((8, 3, 64, 64) -> 16), 3x3 from 3 channels 1.32x ((32, 3, 32, 32) -> 32). With the weight-gradient kernel
    # unlooped over row segments, best of 6 interleaved rounds: 3x3 on 14 x 14 and 16 x 16 images from 16 channels
    # 1.52x, from 32 1.20-1.64x ((32, 32, 16, 16) -> 32 or 64, (64, 32, 14, 14) -> 32); from 64-128 channels
    # 0.95-1.11x and on 8 x 8 images 0.36-0.99x (those stay on im2col); 1x1 1.04x (stays).
    direct_conv = not _numba.switched_off("GPUNET_DIRECT_CONV")
    direct_kernel_sizes = frozenset({(5, 5), (7, 7)})
    direct_3x3_channels = 32

    def _direct(self, x_shape, w_shape, geo, groups, dtype) -> bool:
        if not (self.direct_conv and groups == 1 and np.dtype(dtype) == np.float32 and _direct.supported(geo)
                and _conv_kernels() is not None):
            return False
        k = tuple(w_shape[2:])
        return k in self.direct_kernel_sizes or (k == (3, 3) and x_shape[1] <= self.direct_3x3_channels
                                                 and conv_out_hw(x_shape[2], x_shape[3], geo)[1] >= 16)

    def _winograd_padding(self, x_shape, w_shape, geo, groups, dtype):
        """The padding p when this convolution runs as Winograd here, else None."""
        lo, hi = self.winograd_channels
        if (not self.winograd or groups != 1 or np.dtype(dtype) not in self.winograd_dtypes
                or not lo <= min(x_shape[1], w_shape[0]) <= max(x_shape[1], w_shape[0]) <= hi
                or _conv_kernels() is None):
            return None
        p = _wino.padding(geo)
        if p is None or (x_shape[2] + 2 * p - 2) * (x_shape[3] + 2 * p - 2) < self.winograd_min_pixels:
            return None
        return p

    def conv_fast_forward(self, x, W, b, geo, groups: int, need_W: bool, act=None):
        if type(x) is not np.ndarray or type(W) is not np.ndarray or W.dtype != x.dtype or x.dtype not in _FLOATS \
                or (b is not None and (type(b) is not np.ndarray or b.dtype != x.dtype)):
            return super().conv_fast_forward(x, W, b, geo, groups, need_W, act)
        p = self._winograd_padding(x.shape, W.shape, geo, groups, x.dtype)
        if p is None and act in (None, "relu") and self._direct(x.shape, W.shape, geo, groups, x.dtype):
            y, saved = _direct.forward(self, _direct_kernels(), np.ascontiguousarray(x),
                                       np.ascontiguousarray(W), b, geo, need_W, act == "relu")
            return y, ("direct", saved), act is not None
        if p is None:
            if groups != 1 or not self.conv_chunked:
                return super().conv_fast_forward(x, W, b, geo, groups, need_W, act)
            x, W = np.ascontiguousarray(x), np.ascontiguousarray(W)
            keep = need_W and self.conv_keep_cols(x.shape, W.shape, geo, x.itemsize)
            y, plan, kept = _gemm.conv_forward(self, x, W, b, geo, keep)
            return y, ("gemm", x if need_W and not keep else None, x.shape, W, geo, plan, kept), False
        W = np.ascontiguousarray(W)
        keep = need_W and x.size * x.itemsize <= self.conv_keep_bytes
        y, xs = _wino.forward(self, _wino_kernels(), x, W, b, p, keep)
        return y, ("winograd", (p, xs, x if need_W and xs is None else None, W)), False

    def conv_fast_backward(self, saved, g, needs):
        if saved[0] == "direct":
            return _direct.backward(self, _direct_kernels(), saved[1], g, needs)
        if saved[0] == "winograd":
            return _wino.backward(self, _wino_kernels(), saved[1], g, needs)
        _, x, x_shape, W, geo, plan, kept = saved
        g = np.ascontiguousarray(g, dtype=W.dtype)
        return _gemm.conv_backward(self, x, x_shape, W, g, geo, needs, self.conv_dx_as_conv(W.shape, 1),
                                   self._col2im_into, plan, kept)

    def conv_keep_cols(self, x_shape, w_shape, geo, itemsize: int) -> bool:
        n, c, h, w = x_shape
        oh, ow = conv_out_hw(h, w, geo)
        return c * geo[0] * geo[1] * n * oh * ow * itemsize <= self.conv_keep_bytes

    def conv_dx_as_conv(self, w_shape, groups: int) -> bool:
        # the full correlation's columns are O·kh·kw rows, col2im's C·kh·kw: the smaller side wins
        return w_shape[0] <= w_shape[1] * groups


def _zero_border(a, pt, pb, pl, pr) -> None:
    """Zero the padding frame of ``a`` (N, C, H + pt + pb, W + pl + pr): the interior is written next."""
    H, W = a.shape[2], a.shape[3]
    if pt:
        a[:, :, :pt] = 0
    if pb:
        a[:, :, H - pb:] = 0
    if pl:
        a[:, :, pt:H - pb, :pl] = 0
    if pr:
        a[:, :, pt:H - pb, W - pr:] = 0

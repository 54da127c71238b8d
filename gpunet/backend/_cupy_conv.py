"""The CuPy backend's convolution (im2col / col2im) ops (CUDA kernels of ``kernels/conv.cu``): a mixin of
:class:`~.cupy_backend.CupyBackend`, which supplies ``xp`` and the guards ``_fusable`` / ``_dense``; ``super()`` is
the reference (:class:`~._conv_ops.ConvOps`), for dtypes the kernels are not built for. The GEMMs around them are
cuBLAS (``xp.matmul`` in :mod:`gpunet.functional.conv`)."""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from ._conv_ops import conv_out_hw
from ._cuda_launch import _grid_1d


def _geo_args(n, c, h, w, geo, oh, ow):
    kh, kw, sh, sw, pt, _, pl, _, dh, dw = geo
    return tuple(np.int64(v) for v in (n, c, h, w, kh, kw, sh, sw, pt, pl, dh, dw, oh, ow))


class CupyConv:
    """convolution (im2col / col2im) on the GPU."""

    def conv_im2col(self, x, geo, scratch: bool = False):
        """ONE gather kernel: every column entry (zero in the padding) from the input."""
        if not self._fusable(x):
            return super().conv_im2col(x, geo, scratch)
        n, c, h, w = x.shape
        oh, ow = conv_out_hw(h, w, geo)
        cols = self.xp.empty((c, geo[0], geo[1], n, oh, ow), dtype=x.dtype)
        if cols.size == 0:
            return cols
        grid, block = _grid_1d(cols.size)
        K.kernel("conv_im2col")(x.dtype)(grid, block, (x, cols) + _geo_args(n, c, h, w, geo, oh, ow))
        return cols

    def conv_col2im(self, cols, x_shape, geo):
        """ONE kernel over the input's entries, each summing the column entries read from it (no atomics)."""
        n, c, h, w = x_shape
        if not self._fusable(strided=(cols,)) or cols.size == 0 or n * c * h * w == 0:
            return super().conv_col2im(cols, x_shape, geo)
        cols = self._dense(cols, cols.dtype)
        oh, ow = cols.shape[4], cols.shape[5]
        dx = self.xp.empty(x_shape, dtype=cols.dtype)
        grid, block = _grid_1d(dx.size)
        K.kernel("conv_col2im")(cols.dtype)(grid, block, (cols, dx) + _geo_args(n, c, h, w, geo, oh, ow))
        return dx

"""The reference pooling ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_pool`) and CuPy (:mod:`._cupy_pool`) mixins override what they speed up
and call ``super()`` for what they do not handle.

Every op works on a stack of planes ``x`` (B, H, W), C-contiguous, B = N·C: a 1-D pool is a 2-D one with H = 1.
``geom`` is the pool's geometry ``(kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)`` (kernel, stride, padding, dilation,
output size), checked by :mod:`gpunet.functional.pooling`. Max-pool indices are int64 and flat per plane (h·W + w
of the unpadded input), as ``torch.nn.functional.max_pool2d(..., return_indices=True)``.

The channels-first batch norm of BatchNorm2d (``batchnorm_cf_forward`` / ``batchnorm_cf_backward``, on (N, C, L)) is
here too, with the family's other 2-D image ops: its reference moves the channel axis last for the 2-D
``batchnorm_forward`` of :class:`~.base.Backend` (the fused GPU kernels), the CPU override works in place.
"""
from __future__ import annotations

import numpy as np


def avg_divisor(H: int, W: int, geom, count_include_pad: bool, divisor_override) -> np.ndarray:
    """The (oh, ow) host array each window's sum is divided by, as PyTorch: with ``count_include_pad`` the window
    clipped to the padded input (a ceil-mode window hanging past the padding counts only what lies inside it),
    without it the window clipped to the input itself; ``divisor_override`` replaces both."""
    kh, kw, sh, sw, ph, pw, _, _, oh, ow = geom
    if divisor_override:
        return np.full((oh, ow), float(divisor_override))

    def one(size, k, s, p, o):
        start = np.arange(o) * s - p
        end = np.minimum(start + k, size + p)
        if count_include_pad:
            return (end - start).astype(np.float64)
        return (np.minimum(end, size) - np.maximum(start, 0)).astype(np.float64)

    return np.outer(one(H, kh, sh, ph, oh), one(W, kw, sw, pw, ow))


def padded_extent(size: int, k: int, s: int, p: int, d: int, o: int) -> int:
    """Padding after the input along one axis so that every window (ceil mode included) lies in the array."""
    return max((o - 1) * s + (k - 1) * d + 1 - size - p, 0)


class PoolOps:
    """Reference pooling and upsampling ops."""

    def pool_windows(self, xpad, geom):
        """The (B, oh, ow, kh, kw) strided window view of an already padded (B, Hp, Wp) array (no copy)."""
        kh, kw, sh, sw, _, _, dh, dw, oh, ow = geom
        b, sy, sx = xpad.strides
        return self.xp.lib.stride_tricks.as_strided(
            xpad, shape=(xpad.shape[0], oh, ow, kh, kw), strides=(b, sy * sh, sx * sw, sy * dh, sx * dw))

    def _pad_planes(self, x, geom, value):
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        _, H, W = x.shape
        hi_h = padded_extent(H, kh, sh, ph, dh, oh)
        hi_w = padded_extent(W, kw, sw, pw, dw, ow)
        if not (ph or pw or hi_h or hi_w):
            return x
        return self.xp.pad(x, ((0, 0), (ph, hi_h), (pw, hi_w)), constant_values=value)

    def max_pool2d_forward(self, x, geom):
        """``(y, idx)``: the max of each window (NaN wins, as PyTorch) and its flat index in the plane."""
        xp = self.xp
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        B, H, W = x.shape
        win = self.pool_windows(self._pad_planes(x, geom, -np.inf), geom).reshape(B, oh, ow, kh * kw)
        k = win.argmax(axis=-1)
        y = xp.take_along_axis(win, k[..., None], axis=-1)[..., 0]
        rows = (xp.arange(oh) * sh - ph)[:, None] + (k // kw) * dh
        cols = xp.arange(ow) * sw - pw + (k % kw) * dw
        return y, (rows * W + cols).astype(np.int64)

    def max_pool2d_backward(self, g, idx, in_hw, geom=None):
        """(B, H, W) input gradient: each ``g`` scatter-added at its window's ``idx`` (repeats summed). ``geom``
        (None for adaptive pools) lets a backend gather instead of scatter."""
        xp = self.xp
        B = g.shape[0]
        H, W = in_hw
        gx = xp.zeros((B, H * W), dtype=g.dtype)
        flat = idx.reshape(B, idx.size // B if B else 0) + (xp.arange(B, dtype=np.int64) * (H * W))[:, None]
        self.scatter_add(gx.reshape(-1), flat.reshape(-1), xp.ascontiguousarray(g).reshape(-1))
        return gx.reshape(B, H, W)

    def avg_pool2d_forward(self, x, geom, count_include_pad: bool = True, divisor_override=None):
        """Window sums of the zero-padded planes (one strided slice per kernel offset) over their divisor."""
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        B, H, W = x.shape
        xpad = self._pad_planes(x, geom, 0)
        y = self.xp.zeros((B, oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                y += xpad[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw]
        y *= self.asarray(1.0 / avg_divisor(H, W, geom, count_include_pad, divisor_override), dtype=x.dtype)
        return y

    def avg_pool2d_backward(self, g, in_hw, geom, count_include_pad: bool = True, divisor_override=None):
        """col2im of ``g / divisor``: each kernel offset adds the scaled gradient into its strided slice."""
        xp = self.xp
        kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = geom
        H, W = in_hw
        B = g.shape[0]
        gs = g * self.asarray(1.0 / avg_divisor(H, W, geom, count_include_pad, divisor_override), dtype=g.dtype)
        Hp = H + ph + padded_extent(H, kh, sh, ph, dh, oh)
        Wp = W + pw + padded_extent(W, kw, sw, pw, dw, ow)
        gpad = xp.zeros((B, Hp, Wp), dtype=g.dtype)
        for i in range(kh):
            for j in range(kw):
                gpad[:, i * dh: i * dh + (oh - 1) * sh + 1: sh, j * dw: j * dw + (ow - 1) * sw + 1: sw] += gs
        return xp.ascontiguousarray(gpad[:, ph: ph + H, pw: pw + W])

    # ------------------------------------------------------------------ channels-first batch norm (BatchNorm2d)
    def batchnorm_cf_forward(self, x, gamma, beta, running_mean, running_var, training: bool, momentum: float,
                             eps: float):
        """Batch norm of a C-contiguous channels-first (N, C, L) array, per channel over its N·L values (a 3-D
        or 4-D input of ``F.batch_norm``). Returns ``(y, saved)``, y (N, C, L). This reference copies x to rows
        (N·L, C) for the 2-D :meth:`batchnorm_forward` (the GPU's fused kernels) and the result back."""
        xp = self.xp
        n, c, L = x.shape
        x2 = xp.ascontiguousarray(x.transpose(0, 2, 1)).reshape(n * L, c)
        y2, saved = self.batchnorm_forward(x2, gamma, beta, running_mean, running_var, training, momentum, eps)
        return xp.ascontiguousarray(y2.reshape(n, L, c).transpose(0, 2, 1)), saved

    def batchnorm_cf_backward(self, saved, gamma, grad_y, training: bool, need_x: bool = True,
                              need_affine: bool = True):
        """Gradients ``(dx, dgamma, dbeta)`` of :meth:`batchnorm_cf_forward`, dx channels-first (N, C, L)."""
        xp = self.xp
        n, c, L = grad_y.shape
        g2 = xp.ascontiguousarray(grad_y.transpose(0, 2, 1)).reshape(n * L, c)
        dx, dgamma, dbeta = self.batchnorm_backward(saved, gamma, g2, training, need_x, need_affine)
        if dx is not None:
            dx = xp.ascontiguousarray(dx.reshape(n, L, c).transpose(0, 2, 1))
        return dx, dgamma, dbeta

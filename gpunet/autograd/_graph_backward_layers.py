"""``backward_graph`` of the convolution, pooling, resizing and normalisation layers (double backward, e.g. a
gradient penalty through a CNN), each by differentiating its forward rewritten with ops that differentiate again
(:func:`~._graph_backward.through_composite`):

- convolution: the zero-padded input, its windows gathered by advanced indexing into (N, G, C/G·kh·kw, OH·OW),
  one batched matmul with the (G, O/G, C/G·kh·kw) weight, + bias; the transposed convolution as the convolution of
  the input with zeros inserted (stride), padded by d·(k − 1) − p (cropped where negative), by the flipped,
  transposed weight;
- max pooling (plain and adaptive): a gather of the input at the indices forward picked (its linearisation);
- average pooling, adaptive average pooling and interpolation: linear in the input, so their backward is their
  adjoint, applied with ops that differentiate again (average pooling: the windows summed over the zero-padded
  input and divided by the divisor forward used, found by pooling ones);
- batch (training: batch statistics; evaluation: the running ones, as constants), layer, RMS and group norm: the
  mean, the biased variance and the affine map as elementary ops.

(The sequence layers, attention, embedding and recurrence: :mod:`._graph_backward_seq`.)

These rebuild the forward at a few times its memory; they run only with ``create_graph=True``.
"""
from __future__ import annotations

import numpy as np

from ..functional.adaptive import AdaptiveAvgPool, AdaptiveMaxPool
from ..functional.conv import ConvNd
from ..functional._conv_geometry import conv_out_size
from ..functional.conv_transpose import ConvTranspose2dFn
from ..functional.fold import windows
from ..functional.group_norm import GroupNormFunction
from ..functional.layer_norm import LayerNormFunction
from ..functional.normalization import BatchNorm
from ..functional.pooling import AvgPool, MaxPool
from ..functional.upsample import _Separable
from ..functional.indexing import gather
from ..functional.math import matmul, reshape, sqrt
from ..functional.nn_misc import pad
from ..functional.shape import getitem
from ._graph_backward import const, through_composite


def _conv4(fn, x4, W4, b, geo, groups):
    """The convolution of x4 (N, C, H, W) by W4 (O, C/G, kh, kw) (+ b) with ``geo``, as differentiable ops."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
    n, c, h, w = x4.shape
    o = W4.shape[0]
    oh, ow = conv_out_size(h, kh, sh, pt, pb, dh), conv_out_size(w, kw, sw, pl, pr, dw)
    xp4 = pad(x4, (pl, pr, pt, pb)) if pt or pb or pl or pr else x4
    cols = windows(xp4, (kh, kw), (dh, dw), (sh, sw), (oh, ow))
    G = groups
    cols = reshape(cols, (n, G, (c // G) * kh * kw, oh * ow))
    y = matmul(reshape(W4, (G, o // G, (c // G) * kh * kw)), cols)
    y = reshape(y, (n, o, oh, ow))
    if b is not None:
        y = y + reshape(b, (1, o, 1, 1))
    return y


def _conv_nd(self, g):
    geo, groups, nd, unbatched = self.geo, self.groups, self.nd, self.unbatched

    def build(x, W, b):
        x4 = x.unsqueeze(0) if unbatched else x
        if nd == 1:
            x4, W = x4.unsqueeze(2), W.unsqueeze(2)
        y = _conv4(self, x4, W, b, geo, groups)
        if nd == 1:
            y = y.squeeze(2)
        return y[0] if unbatched else y
    return through_composite(self, g, build)


def _dilate(x4, s: int, axis: int):
    """``x4`` with s − 1 zeros between its entries along ``axis`` (2 or 3), as differentiable ops."""
    if s == 1:
        return x4
    n = x4.shape[axis]
    t = x4.unsqueeze(axis + 1)
    widths = [0, 0] * (t.ndim - axis - 2) + [0, s - 1]  # F.pad's order: the last axis first
    t = pad(t, tuple(widths))
    shape = list(x4.shape)
    shape[axis] = n * s
    t = reshape(t, tuple(shape))
    index = [slice(None)] * t.ndim
    index[axis] = slice(0, (n - 1) * s + 1)
    return getitem(t, tuple(index))


def _conv_transpose(self, g):
    kh, kw, sh, sw, ph, _, pw, _, dh, dw = self.geo
    G, unbatched = self.groups, self.unbatched
    oh_t, ow_t = None, None

    def build(x, W, b):
        nonlocal oh_t, ow_t
        x4 = x.unsqueeze(0) if unbatched else x
        cin, og = W.shape[0], W.shape[1]
        z = _dilate(_dilate(x4, sh, 2), sw, 3)
        # padding d(k-1) - p on the top/left; the bottom/right up to the output size forward made
        out_h = (x4.shape[2] - 1) * sh - 2 * ph + dh * (kh - 1) + 1
        out_w = (x4.shape[3] - 1) * sw - 2 * pw + dw * (kw - 1) + 1
        extra_h = self.out_hw[0] - out_h
        extra_w = self.out_hw[1] - out_w
        top, left = dh * (kh - 1) - ph, dw * (kw - 1) - pw
        bottom, right = top + extra_h, left + extra_w
        crop = [slice(None)] * 4
        if min(top, left, bottom, right) < 0:
            z = pad(z, (max(left, 0), max(right, 0), max(top, 0), max(bottom, 0)))
            H, Wd = z.shape[2], z.shape[3]
            crop[2] = slice(max(-top, 0), H - max(-bottom, 0))
            crop[3] = slice(max(-left, 0), Wd - max(-right, 0))
            z = getitem(z, tuple(crop))
        elif top or left or bottom or right:
            z = pad(z, (left, right, top, bottom))
        # W (Cin, O/G, kh, kw) -> per group transposed and flipped: (O, Cin/G, kh, kw)
        Wg = reshape(W, (G, cin // G, og, kh, kw)).permute(0, 2, 1, 3, 4)
        Wf = getitem(reshape(Wg, (G * og, cin // G, kh, kw)), (slice(None), slice(None), slice(None, None, -1),
                                                                 slice(None, None, -1)))
        y = _conv4(self, z, Wf, b, (kh, kw, 1, 1, 0, 0, 0, 0, dh, dw), G)
        return y[0] if unbatched else y
    return through_composite(self, g, build)


def _max_pool(self, g):
    idx = const(self, self.idx.reshape(self.idx.shape[0], -1))

    def build(x):
        planes = reshape(x, (idx.shape[0], -1))
        return reshape(gather(planes, 1, idx), tuple(g.shape))
    return through_composite(self, g, build)


def _avg_pool(self, g):
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = self.geom
    H, W = self.hw
    ones = self.backend.xp.ones((1, H, W), dtype=g.dtype)
    means = self.backend.avg_pool2d_forward(ones, self.geom, *self.opts)  # in-bounds count / divisor
    counts = _window_counts(self, H, W)
    inv = const(self, self.backend.xp.where(counts > 0, means / self.backend.xp.maximum(counts, 1), 0))
    bottom = max(0, (oh - 1) * sh + (kh - 1) * dh + 1 - (H + ph))  # ceil_mode: windows past the padding
    right = max(0, (ow - 1) * sw + (kw - 1) * dw + 1 - (W + pw))

    def build(x):
        x3 = reshape(x, (-1, 1, H, W))
        xp4 = pad(x3, (pw, right, ph, bottom)) if ph or pw or bottom or right else x3
        cols = windows(xp4, (kh, kw), (dh, dw), (sh, sw), (oh, ow))  # (B, 1, kh, kw, OH, OW)
        return reshape(cols.sum(axis=(1, 2, 3)) * inv, tuple(g.shape))
    return through_composite(self, g, build)


def _window_counts(fn, H, W):
    """(1, OH, OW): how many in-bounds input values each window of ``fn``'s geometry covers."""
    kh, kw, sh, sw, ph, pw, dh, dw, oh, ow = fn.geom
    rows = np.arange(oh)[:, None] * sh - ph + np.arange(kh)[None, :] * dh
    cols = np.arange(ow)[:, None] * sw - pw + np.arange(kw)[None, :] * dw
    rc = ((rows >= 0) & (rows < H)).sum(axis=1)
    cc = ((cols >= 0) & (cols < W)).sum(axis=1)
    return fn.backend.asarray((rc[:, None] * cc[None, :])[None].astype(np.float64))


def _adaptive_avg(self, g):
    H, W = self.shape[-2:]
    mats = None if self.mats is None else tuple(const(self, m) for m in self.mats)

    def build(x):
        x3 = reshape(x, (-1, H, W))
        y = x3.mean(axis=(1, 2)) if mats is None else matmul(mats[0], matmul(x3, mats[1].transpose(1, 0)))
        return reshape(y, tuple(g.shape))
    return through_composite(self, g, build)


def _separable(self, g):
    Ah = None if self.Ah is None else const(self, self.Ah)
    Aw = const(self, self.Aw)
    shape = self.shape

    def build(x):
        x3 = reshape(x, (-1,) + tuple(shape[-2:]))
        y = matmul(x3, Aw.transpose(1, 0))
        if Ah is not None:
            y = matmul(Ah, y)
        return reshape(y, tuple(g.shape))
    return through_composite(self, g, build)


def _affine(y, w, b, bshape):
    if w is not None:
        y = y * reshape(w, bshape)
    if b is not None:
        y = y + reshape(b, bshape)
    return y


def _normalise(x, axes, eps):
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    return d / sqrt(var + eps)


def _batch_norm(self, g):
    shape, eps, training = self.shape, self.eps, self.training

    def build(x, w, b, rm, rv):
        axes = (0,) + tuple(range(2, len(shape)))
        bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
        if training:
            y = _normalise(x, axes, eps)
        else:
            y = (x - reshape(rm, bshape)) / sqrt(reshape(rv, bshape) + eps)
        return _affine(y, w, b, bshape)
    return through_composite(self, g, build)


def _layer_norm(self, g):
    rows, d = self.x2.shape
    shape, eps, rms = self.shape, self.eps, self.rms

    def build(x, w, b):
        x2 = reshape(x, (rows, d))
        if rms:
            y = x2 / sqrt((x2 * x2).mean(axis=1, keepdims=True) + eps)
        else:
            y = _normalise(x2, (1,), eps)
        return reshape(_affine(y, w, b, (1, d)), tuple(shape))
    return through_composite(self, g, build)


def _group_norm(self, g):
    shape, eps, G = self.shape, self.eps, self.groups

    def build(x, w, b):
        n, c = shape[0], shape[1]
        y = reshape(_normalise(reshape(x, (n, G, -1)), (2,), eps), tuple(shape))
        return _affine(y, w, b, (1, c) + (1,) * (len(shape) - 2))
    return through_composite(self, g, build)


_METHODS = {
    ConvNd: _conv_nd, ConvTranspose2dFn: _conv_transpose, MaxPool: _max_pool, AdaptiveMaxPool: _max_pool,
    AvgPool: _avg_pool, AdaptiveAvgPool: _adaptive_avg, _Separable: _separable, BatchNorm: _batch_norm,
    LayerNormFunction: _layer_norm, GroupNormFunction: _group_norm,
}
for _cls, _m in _METHODS.items():
    _cls.backward_graph = _m

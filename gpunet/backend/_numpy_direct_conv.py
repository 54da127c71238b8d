"""The NumPy backend's direct convolution: float32, stride 1, undilated, ungrouped, padding at most kernel − 1,
with the compiled vector kernels of :mod:`._cpu_direct_conv` (no im2col columns).

Forward: the input is copied once into a zero-padded buffer (kept for the weight gradient when one is needed:
the size of the input, where im2col keeps kh·kw times that), then each core runs the kernel over its images,
storing y directly. Backward: dY is copied once into a zero-padded buffer, through the ReLU's mask when the
forward applied one, and summed per channel in the same pass (the bias gradient); dW by the weight-gradient
kernel, each core over its own input channels (disjoint parts of dW, no reduction between cores; with fewer
channels than cores, over its own images, the partial sums added in core order), the images in blocks of
:data:`IMAGES_PER_BLOCK`; dX by the forward kernel on that buffer (dY padded by kernel − 1 − padding), with the
flipped, transposed weight.
"""
from __future__ import annotations

import numpy as np

from . import _parallel
from ._conv_ops import conv_out_hw, dx_weight

# Images per weight-gradient call: LeNet's conv2 (16 -> 32, 14 x 14) holds 8 x (28 + 23) KB of g and padded x.
IMAGES_PER_BLOCK = 8


def supported(geo) -> bool:
    """Whether the kernels here run a convolution of geometry ``geo`` (of :mod:`._conv_ops`)."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
    return ((sh, sw, dh, dw) == (1, 1, 1, 1) and kh * kw <= 49 and max(pt, pb) <= kh - 1
            and max(pl, pr) <= kw - 1)


def _forward_blocking(o: int, ow: int) -> tuple:
    """(OB, PB, OWp): output channels x 8-pixel vectors per register block (at most 8 accumulators), and the
    output width rounded up to whole segments of PB vectors."""
    pb = min(4, -(-ow // 8))
    return next(d for d in (4, 2, 1) if o % d == 0 and d * pb <= 8), pb, -(-ow // (8 * pb)) * 8 * pb


_NO_SUMS = np.empty(0, np.float32)


def _padded(be, D, a, pt: int, pl: int, hp: int, wp: int, slot, mask=None, sums: bool = False):
    """``a`` (N, C, H, W) at (pt, pl) in a zeroed (N, C, hp, wp) buffer (scratch of ``slot``, or new for None);
    with ``mask`` (a ReLU's output, of a's shape), only where it is positive. ``(buffer, s)``: s (C,) the sum of
    what was written per channel (the bias gradient) with ``sums``, else None."""
    n, c, h, w = a.shape
    out = be.conv_scratch((n, c, hp, wp), a.dtype, slot) if slot else np.empty((n, c, hp, wp), dtype=a.dtype)
    a = np.ascontiguousarray(a)
    plane_sums = np.empty((n, c), np.float32) if sums else _NO_SUMS

    def part(k, lo, hi):
        src = a[lo:hi].reshape(-1)
        D.pad_planes(src, src if mask is None else mask[lo:hi].reshape(-1), mask is not None,
                     out[lo:hi].reshape(-1), h, w, pt, pl, hp, wp, plane_sums[lo:hi].reshape(-1))
    _parallel.run(part, n, _parallel.parts(n, out[0].size))
    return out, (plane_sums.sum(axis=0) if sums else None)


def forward(be, D, x, W, b, geo, keep: bool, relu: bool = False):
    """``(y, saved)``: y (N, O, OH, OW), the convolution of ``x`` by ``W`` (+ ``b``), with ReLU applied when
    ``relu``; ``saved`` for :func:`backward` (with the padded input when ``keep``: needed for dW). D:
    :mod:`._cpu_direct_conv`."""
    n, c, h, w = x.shape
    o = W.shape[0]
    kh, kw, _, _, pt, _, pl, _, _, _ = geo
    oh, ow = conv_out_hw(h, w, geo)
    OB, PB, owp = _forward_blocking(o, ow)
    xp, _ = _padded(be, D, x, pt, pl, oh + kh - 1, owp + kw - 1, None if keep else "direct_x")
    y = _run_forward(be, D, xp, W, b, oh, ow, owp, OB, PB, relu)
    return y, ((xp if keep else None), x.shape, W, geo, y if relu else None)


def _run_forward(be, D, xp, W, b, oh: int, ow: int, owp: int, OB: int, PB: int, relu: bool = False):
    n, c, hp, wp = xp.shape
    o, _, kh, kw = W.shape
    Wt = np.ascontiguousarray(W.reshape(o // OB, OB, c, kh * kw).transpose(0, 2, 3, 1)).reshape(-1)
    bias = np.zeros(o, dtype=np.float32) if b is None else np.ascontiguousarray(b)
    y = np.empty((n, o, oh, ow), dtype=np.float32)
    fn = D.forward(kh, kw, OB, PB, relu)
    xf, yf = xp.reshape(-1), y.reshape(-1)
    _parallel.run(lambda k, lo, hi: fn(xf, Wt, bias, yf, c, o, hp, wp, oh, ow, owp, lo, hi), n,
                  _parallel.parts(n, y[0].size * c * kh * kw // 64))
    return y


def backward(be, D, saved, g, needs):
    """``(dx, dW, db)`` of :func:`forward` for the upstream ``g`` (N, O, OH, OW) (of the ReLU's output when
    forward applied one: the gradient is masked in the padding pass). When dX is wanted, dW reads dY from the
    buffer dX's convolution pads it into (one pass for both)."""
    xp, x_shape, W, geo, y = saved
    need_x, need_W, need_b = needs
    n, o, oh, ow = g.shape
    _, c, h, w = x_shape
    kh, kw, _, _, pt, _, pl, _, _, _ = geo
    g = np.ascontiguousarray(g, dtype=np.float32)
    dx = dW = gx = gw = db = None
    if need_x:  # dY padded for the full correlation (the flipped weight over it gives dX)
        OBx, PBx, owpx = _forward_blocking(c, w)
        gx, db = _padded(be, D, g, kh - 1 - pt, kw - 1 - pl, h + kh - 1, owpx + kw - 1, "direct_g", y, need_b)
    if need_W:
        _, PB, owp = _forward_blocking(o, ow)  # forward's blocking: xp is owp + kw − 1 wide
        if gx is not None and kw - 1 - pl + owp <= gx.shape[3]:  # dX's buffer holds dY's rows with their zeros
            gw, offset = gx, (kh - 1 - pt, kw - 1 - pl)
        else:  # a buffer of its own, with the bias sums unless dX's pass took them
            gw, s = _padded(be, D, g, 0, 0, oh, owp, "direct_gw", y, need_b and db is None)
            offset = (0, 0)
            if s is not None:
                db = s
        dW = _weight_grad(D, xp, gw, offset, o, oh, owp, kh, kw, PB)
    if need_b and db is None:  # the masked gradient's sum comes from a padding pass (bias alone: one of its own)
        db = g.sum(axis=(0, 2, 3)) if y is None else _padded(be, D, g, 0, 0, oh, ow, None, y, True)[1]
    if need_x:
        dx = _run_forward(be, D, gx, dx_weight(W), None, h, w, owpx, OBx, PBx)
    return dx, dW, db


def _weight_grad(D, xp, gbuf, offset, o: int, oh: int, owp: int, kh: int, kw: int, PB: int):
    """dW (O, C, kh, kw) from the padded input ``xp`` and dY in ``gbuf`` at ``offset`` (zero past the output)."""
    n, c, hp, wp = xp.shape
    GH, GW = gbuf.shape[2:]
    OB = next(d for d in (4, 2, 1) if o % d == 0 and d * (kw + 1) <= 15)
    fn = D.weight_grad(kh, kw, OB, PB, owp == 8 * PB)
    xf, gf = xp.reshape(-1), gbuf.reshape(-1)
    parts = _parallel.parts(max(c, n), n * o * oh * owp * kh * kw * c // max(c, n))
    accs = [np.zeros(c * o * kh * kw * 8, dtype=np.float32) for _ in range(1 if c >= parts else parts)]

    def run(acc, n_lo, n_hi, c0, c1):
        for n0 in range(n_lo, n_hi, IMAGES_PER_BLOCK):
            fn(xf, gf, acc, c, o, hp, wp, oh, owp, GH, GW, offset[0], offset[1], n0,
               min(n_hi, n0 + IMAGES_PER_BLOCK), c0, c1)
    if len(accs) == 1:  # each core its own input channels: disjoint parts of dW
        _parallel.run(lambda k, c0, c1: run(accs[0], 0, n, c0, c1), c, parts)
    else:               # fewer channels than cores: each core its own images, partial sums added in core order
        _parallel.run(lambda k, lo, hi: run(accs[k], lo, hi, 0, c), n, parts)
    acc = accs[0] if len(accs) == 1 else sum(accs)
    dW = acc.reshape(c, o // OB, kh, OB, kw, 8).sum(axis=-1).transpose(1, 3, 0, 2, 4).reshape(o, c, kh, kw)
    return np.ascontiguousarray(dW)

"""Compiled CPU kernels (Numba) of the convolutions: col2im as a scatter-add (im2col is a strided-view copy, which
measured faster than a compiled gather: 9 against 25 ms for the residual block's (32, 64, 32, 32) 3x3 pad 1 and
3.6-6 against 8-10 ms for LeNet's (64, 16, 14, 14) 5x5 pad 2, one core). Layouts as in :mod:`._conv_ops`: x
(N, C, H, W), cols (C, kh, kw, N, OH, OW), both passed flat. col2im works on a channel range ``[c0, c1)``
(channels write disjoint parts of the output), so the caller splits the work over threads (:mod:`._parallel`);
the GIL is released while they run. Imported only through :func:`gpunet.backend._numba.kernels` (the reference
ops serve without Numba).
"""
from __future__ import annotations

from ._cpu_kernels import _inline, _jit


@_inline
def _span(o_count, start, step, size):
    """``[lo, hi)``: the output positions o with ``0 <= start + o·step < size``."""
    lo = 0
    if start < 0:
        lo = (-start + step - 1) // step
    hi = o_count
    if start + (o_count - 1) * step >= size:
        hi = (size - 1 - start) // step + 1 if size - 1 - start >= 0 else 0
    hi = max(hi, lo)
    return lo, hi


@_jit
def col2im(cols, dx, n_, c_, h, w, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw, c0, c1):
    """dx[:, c0:c1] += the columns of those channels, each entry at the input position it was read from
    (positions in the padding are dropped). ``cols`` and ``dx`` are flat C-order buffers of the layouts above;
    ``dx`` is zeroed by the caller. Rows of stride-1 convolutions add through local slices (1.54 -> 0.87 ms for a
    13-sample chunk of LeNet's 16-channel 5x5 col2im, 3.8 -> 1.35 ms for 4 samples of a 64-channel 3x3 one)."""
    for c in range(c0, c1):
        for i in range(kh):
            r0 = i * dh - pt
            a_lo, a_hi = _span(oh, r0, sh, h)
            for j in range(kw):
                q0 = j * dw - pl
                b_lo, b_hi = _span(ow, q0, sw, w)
                for n in range(n_):
                    src0 = (((c * kh + i) * kw + j) * n_ + n) * oh * ow
                    dst0 = (n * c_ + c) * h * w
                    for a in range(a_lo, a_hi):
                        s = src0 + a * ow
                        d = dst0 + (r0 + a * sh) * w + q0
                        if sw == 1:  # local slices: indexing the flat arrays from an offset did not vectorise
                            dst = dx[d + b_lo:d + b_hi]
                            src = cols[s + b_lo:s + b_hi]
                            for q in range(dst.size):
                                dst[q] += src[q]
                        else:
                            for b in range(b_lo, b_hi):
                                dx[d + b * sw] += cols[s + b]


@_jit
def pad_planes(x, out, h, w, pt, pl, hp, wp):
    """``out`` (P planes of hp x wp) = the P planes of ``x`` (h x w) placed at row ``pt``, column ``pl``, zeros
    around them; both flat C-order, any float dtype (the float32 direct convolutions have a vector version,
    :func:`._cpu_direct_conv.pad_planes`). One pass of contiguous writes (zeroing the frame through strided NumPy
    slices and copying the interior cost ~60 µs a chunk of the residual block's (4, 64, 34, 34) buffer)."""
    zero = out.dtype.type(0)
    for p in range(x.size // (h * w)):
        plane = out[p * hp * wp:(p + 1) * hp * wp]
        src = x[p * h * w:(p + 1) * h * w]
        for i in range(pt * wp):
            plane[i] = zero
        for r in range(h):
            row = plane[(pt + r) * wp:(pt + r + 1) * wp]
            srow = src[r * w:(r + 1) * w]
            for q in range(pl):
                row[q] = zero
            mid = row[pl:pl + w]
            for q in range(w):
                mid[q] = srow[q]
            for q in range(pl + w, wp):
                row[q] = zero
        for i in range((pt + h) * wp, hp * wp):
            plane[i] = zero

"""The NumPy backend's im2col + GEMM convolution (ungrouped), run a few samples at a time.

The batch is split into one span of samples per core (:mod:`._parallel`), and each span into chunks whose columns
fit in about ``chunk_bytes``; per chunk: im2col into a small per-thread buffer, then one GEMM on ONE OpenBLAS
thread (:func:`._blas_threads.single_threaded`) that writes the chunk of the output in its (N, O, OH·OW) layout (a single sample: straight into the output;
several: through a cache-warm buffer, adding the bias on the way). Backward takes each chunk's columns from
forward when it kept them (``conv_keep_cols``: small ones) or recomputes them, for ``dWᵀ += cols · dYᵀ`` (this
orientation, the long pixel axis inner in both operands, ran at the GEMM's full speed where ``dY · colsᵀ`` did
not), and takes dX per chunk, as ``col2im(Wᵀ · dY)`` or as the forward convolution of dY with the flipped weight
(see :mod:`gpunet.functional.conv`), into the chunk's own samples.

Measured on 2 busy vCPUs (load 3.5-4), against one im2col of the whole batch and GEMMs on OpenBLAS's two threads:
OpenBLAS's second thread waits for a busy core at every GEMM (the LeNet conv1 GEMM 19 ms on two threads, 1.3 ms on
one); per-thread chunks keep both cores on their own work, need no (O, N·OH·OW) result and transpose copy, and
hold a few MB of columns instead of C·kh·kw·N·OH·OW (75 MB for the residual block's 3x3 64-channel convolution).
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _parallel
from ._blas_threads import single_threaded
from ._conv_ops import conv_out_hw, dx_weight

# Columns per chunk. LeNet step, one core, best of 5: 42.2 ms at 4 MB, 43.7 at 1 MB, 41.5 at 16 MB (noise level).
chunk_bytes = 4 << 20


def im2col_into(be, x, geo, slot: str, fresh: bool = False):
    """The (C·kh·kw, N·OH·OW) columns of ``x`` (N, C, H, W) in the scratch buffer of ``slot`` (a new array when
    ``fresh``), on this thread."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
    n, c, h, w = x.shape
    oh, ow = conv_out_hw(h, w, geo)
    shape = (c, kh, kw, n, oh, ow)
    cols = np.empty(shape, dtype=x.dtype) if fresh else be.conv_scratch(shape, x.dtype, slot + "c")
    if pt or pb or pl or pr:
        xpad = be.conv_scratch((n, c, h + pt + pb, w + pl + pr), x.dtype, slot + "p")
        from ._numpy_conv import _conv_kernels, _zero_border  # (_numpy_conv imports this module)
        K = _conv_kernels()
        if K is not None and x.flags.c_contiguous:
            K.pad_planes(x.reshape(-1), xpad.reshape(-1), h, w, pt, pl, h + pt + pb, w + pl + pr)
        else:
            _zero_border(xpad, pt, pb, pl, pr)
            xpad[:, :, pt:pt + h, pl:pl + w] = x
    else:
        xpad = x
    sN, sC, sH, sW = xpad.strides
    np.copyto(cols, as_strided(xpad, shape=shape, strides=(sC, dh * sH, dw * sW, sN, sh * sH, sw * sW),
                               writeable=False))
    return cols.reshape(c * kh * kw, n * oh * ow)


def _plan(x_shape, ckk: int, L: int, itemsize: int, work: int):
    """``(parts, per_chunk)``: sample spans (one per thread, or 1 for small work) and samples per chunk."""
    n = x_shape[0]
    parts = _parallel.parts(n, work // max(n, 1))
    per = max(1, min(-(-n // parts), chunk_bytes // max(ckk * L * itemsize, 1)))
    return parts, per


def _forward_span(be, x, W2, b, geo, out, lo, hi, per, slot, kept=None):
    """out[lo:hi] (viewed (N, O, OH·OW)) = W2 · cols(x[lo:hi]) (+ b), ``per`` samples at a time; each chunk's
    columns go to ``kept[n0]`` when ``kept`` is a dict."""
    o = W2.shape[0]
    L = out.shape[2]
    for n0 in range(lo, hi, per):
        n1 = min(n0 + per, hi)
        cols = im2col_into(be, x[n0:n1], geo, slot, fresh=kept is not None)
        if kept is not None:
            kept[n0] = cols
        if n1 - n0 == 1:
            np.matmul(W2, cols, out=out[n0])
            if b is not None:
                out[n0] += b[:, None]
            continue
        y = be.conv_scratch((o, (n1 - n0) * L), out.dtype, slot + "y")
        np.matmul(W2, cols, out=y)
        y3 = y.reshape(o, n1 - n0, L).transpose(1, 0, 2)
        if b is None:
            out[n0:n1] = y3
        else:
            np.add(y3, b[:, None], out=out[n0:n1])


def conv_forward(be, x, W, b, geo, keep: bool = False):
    """``(y, plan, kept)``: y (N, O, OH, OW), the ungrouped convolution of ``x`` by ``W`` (O, C, kh, kw)
    (+ ``b``), the chunking it ran with and (``keep``) every chunk's columns by first sample, else None."""
    n = x.shape[0]
    o = W.shape[0]
    oh, ow = conv_out_hw(x.shape[2], x.shape[3], geo)
    L = oh * ow
    W2 = W.reshape(o, -1)
    out = np.empty((n, o, L), dtype=x.dtype)
    parts, per = _plan(x.shape, W2.shape[1], L, x.itemsize, n * L * W2.shape[1])
    kept = {} if keep else None

    def span(k, lo, hi):
        _forward_span(be, x, W2, b, geo, out, lo, hi, per, f"f{k}", kept)
    with single_threaded():
        _parallel.run(span, n, parts)
    return out.reshape(n, o, oh, ow), (parts, per), kept


def conv_backward(be, x, x_shape, W, g, geo, needs, dx_as_conv: bool, col2im, plan, kept=None):
    """``(dx, dW, db)`` for the upstream ``g`` (N, O, OH, OW); ``x`` is the input (for dW, unless ``kept``
    holds forward's columns; ``plan`` is forward's chunking).
    ``col2im(dcols6, shape, geo, out)`` scatters one chunk's (C, kh, kw, n, OH, OW) columns into ``out``."""
    need_x, need_W, need_b = needs
    n, o, oh, ow = g.shape
    c, (kh, kw) = x_shape[1], geo[:2]
    L = oh * ow
    g3 = g.reshape(n, o, L)
    W2 = W.reshape(o, -1)
    ckk = W2.shape[1]
    db = g3.sum(axis=(0, 2)) if need_b else None
    full = None
    if need_x and dx_as_conv:
        sh, sw, pt, pb, pl, pr, dh, dw = geo[2:]
        span_h, span_w = dh * (kh - 1), dw * (kw - 1)
        if sh == 1 and sw == 1 and max(pt, pb) <= span_h and max(pl, pr) <= span_w:
            Wf = dx_weight(W)
            full = (Wf.reshape(c, -1), (kh, kw, 1, 1, span_h - pt, span_h - pb, span_w - pl, span_w - pr, dh, dw))
    dx = None
    if need_x:
        dx = np.empty(x_shape, dtype=g.dtype) if full is not None else np.zeros(x_shape, dtype=g.dtype)
        dx3 = dx.reshape(x_shape[0], c, -1)
    parts, per = plan
    dWt = [None] * parts

    def span(k, lo, hi):
        slot = f"b{k}"
        if full is not None:
            _forward_span(be, g, full[0], None, full[1], dx3, lo, hi, per, slot + "x")
        for n0 in range(lo, hi, per) if need_W or full is None else ():
            n1 = min(n0 + per, hi)
            if n1 - n0 == 1:
                gt = g3[n0]
            else:
                gt = be.conv_scratch((o, n1 - n0, L), g.dtype, slot + "g")
                gt[...] = g3[n0:n1].transpose(1, 0, 2)
                gt = gt.reshape(o, -1)
            if need_W:
                cols = kept[n0] if kept is not None else im2col_into(be, x[n0:n1], geo, slot)
                if dWt[k] is None:
                    dWt[k] = cols @ gt.T
                else:
                    part = be.conv_scratch((ckk, o), g.dtype, slot + "w")
                    np.matmul(cols, gt.T, out=part)
                    dWt[k] += part
            if need_x and full is None:
                dcols = be.conv_scratch((ckk, gt.shape[1]), g.dtype, slot + "d")
                np.matmul(W2.T, gt, out=dcols)
                col2im(dcols.reshape(c, kh, kw, n1 - n0, oh, ow), (n1 - n0,) + tuple(x_shape[1:]), geo,
                       dx[n0:n1])
    with single_threaded():
        _parallel.run(span, n, parts)
    dW = None
    if need_W:
        acc = dWt[0]
        for p in dWt[1:]:
            if p is not None:
                acc = acc + p
        dW = np.ascontiguousarray(acc.T).reshape(W.shape)
    return dx, dW, db

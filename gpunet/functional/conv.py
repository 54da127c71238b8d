"""Convolutions ``conv1d`` and ``conv2d`` as ONE Function each call: im2col + one GEMM per group.

Forward: the backend lays the (zero-padded) input out as columns (``conv_im2col``: C·kh·kw rows, N·OH·OW columns,
a strided view copied once), then ``y_g = W_g · cols_g`` for each group g (one batched ``matmul``: cuBLAS on the
GPU), and one pass moves the (O, N·OH·OW) result to (N, O, OH, OW) and adds the bias. Backward:
``dW_gᵀ = cols_g · dY_gᵀ`` (this orientation: OpenBLAS ran ``dY_g · cols_gᵀ``, the long pixel axis inner, up to 6x
slower on two threads), ``db = Σ dY``, and ``dX`` either as ``col2im(W_gᵀ · dY_g)`` (the backend's compiled
scatter-add / CUDA kernel) or, for stride 1, as the forward convolution of dY with the flipped, transposed
weight (a full correlation: one more im2col + a GEMM with the long O·kh·kw inner dimension; the backend picks,
``conv_dx_as_conv``: on the CPU when O <= C, where it measured faster than the short-inner GEMM + scatter-add).
The columns are kept for dW or rebuilt there, by the backend's choice (``conv_keep_cols``): keeping them is
faster, rebuilding bounds the memory held between forward and backward. A backend may also run a convolution by
an algorithm of its own (``conv_fast_forward`` / ``conv_fast_backward``): the NumPy backend runs ungrouped
convolutions a chunk of samples per core (:mod:`gpunet.backend._numpy_conv_gemm`, the same products), and the
float32 stride-1 cases where they measured faster as Winograd F(2x2, 3x3) (:mod:`gpunet.backend._numpy_winograd`)
or as direct vector kernels (:mod:`gpunet.backend._numpy_direct_conv`).
A 1-D convolution is the 2-D one over an (N, C, 1, L) view.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend._conv_ops import conv_out_hw
from . import _conv_geometry as geom
from ._dtypes import require_same_dtype

__all__ = ["ConvNd", "conv1d", "conv2d", "conv_gemm_forward", "gemm"]


def gemm(be, a, b, out=None):
    """``a @ b`` over a leading group axis: (G, M, K) @ (G, K, N) -> (G, M, N), into ``out`` when given (through
    ``be.matmul``). One group runs as a plain 2-D product: NumPy's stacked matmul leaves BLAS for some transposed
    1-stacks."""
    if a.shape[0] == 1:
        r = be.matmul(a[0], b[0], None if out is None else out[0])
        return r[None] if out is None else out
    return be.matmul(a, b, out)


def conv_gemm_forward(be, xp, x4, W4, b, geo, groups: int, keep: bool = False):
    """``(y, cols)``: the (N, O, OH, OW) convolution of ``x4`` (N, C, H, W) by ``W4`` (O, C/G, kh, kw) (+ ``b``),
    and its columns when ``keep`` (else None: they were the backend's scratch)."""
    n = x4.shape[0]
    o = W4.shape[0]
    oh, ow = conv_out_hw(x4.shape[2], x4.shape[3], geo)
    cols = be.conv_im2col(x4, geo, scratch=not keep)
    L = n * oh * ow
    direct = n == 1 and b is None  # the GEMM's (O, 1·OH·OW) result is the output itself
    y = xp.empty((groups, o // groups, L), dtype=cols.dtype) if direct else \
        be.conv_scratch((groups, o // groups, L), cols.dtype, "gemm")
    gemm(be, W4.reshape(groups, o // groups, -1), cols.reshape(groups, -1, L), out=y)
    if direct:
        out = y.reshape(1, o, oh, ow)
    else:
        out = xp.empty((n, o, oh, ow), dtype=y.dtype)
        y4 = y.reshape(o, n, oh, ow).transpose(1, 0, 2, 3)
        if b is None:
            out[...] = y4
        else:
            xp.add(y4, b.reshape(1, o, 1, 1), out=out)
    return out, (cols if keep else None)


def conv_gemm_backward(be, xp, g4, x4, x_shape, W4, cols, geo, groups: int, needs):
    """``(dx, dW, db)`` of :func:`conv_gemm_forward` for the upstream ``g4`` (N, O, OH, OW) and an input of
    ``x_shape``; ``cols`` is what forward kept (None: rebuilt from ``x4`` when dW is wanted)."""
    need_x, need_W, need_b = needs
    n, o, oh, ow = g4.shape
    L = n * oh * ow
    gt = be.conv_scratch((o, n, oh, ow), g4.dtype, "grad")
    gt[...] = g4.transpose(1, 0, 2, 3)
    gt = gt.reshape(groups, o // groups, L)
    db = gt.reshape(o, L).sum(axis=1) if need_b else None
    dW = dx = None
    if need_W:
        if cols is None:
            cols = be.conv_im2col(x4, geo, scratch=True)
        # dWᵀ = cols · dYᵀ: OpenBLAS ran the (O, L) · (L, C·kh·kw) product with its long inner dimension on the
        # transposed side 4-6x slower (432 against 72 ms for the residual block's 64x576 over L = 32768)
        dWt = gemm(be, cols.reshape(groups, -1, L), gt.transpose(0, 2, 1))
        dW = xp.ascontiguousarray(dWt.transpose(0, 2, 1)).reshape(W4.shape)
    if need_x:
        kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
        span_h, span_w = dh * (kh - 1), dw * (kw - 1)
        full = (sh == 1 and sw == 1 and max(pt, pb) <= span_h and max(pl, pr) <= span_w
                and be.conv_dx_as_conv(W4.shape, groups))
        if full:  # dX = dY ⋆ flip(W)ᵀ, a stride-1 correlation padded to the full span
            c, cg = x_shape[1], W4.shape[1]
            Wf = W4.reshape(groups, o // groups, cg, kh, kw).transpose(0, 2, 1, 3, 4)[:, :, :, ::-1, ::-1]
            Wf = xp.ascontiguousarray(Wf).reshape(c, o // groups, kh, kw)
            geo_t = (kh, kw, 1, 1, span_h - pt, span_h - pb, span_w - pl, span_w - pr, dh, dw)
            dx, _ = conv_gemm_forward(be, xp, g4, Wf, None, geo_t, groups)
        else:
            Wg = W4.reshape(groups, o // groups, -1).transpose(0, 2, 1)
            dcols = be.conv_scratch((groups, Wg.shape[1], L), g4.dtype, "dcols")
            gemm(be, Wg, gt, out=dcols)
            dx = be.conv_col2im(dcols.reshape((x_shape[1], kh, kw, n, oh, ow)), x_shape, geo)
    return dx, dW, db


class ConvNd(Function):
    """``y[n, o] = b[o] + Σ_{c ∈ group(o), i, j} W[o, c, i, j] · x_pad[n, c, s·p + d·(i, j)]`` (1-D or 2-D); with
    ``act`` (``nn.Sequential``'s Conv + ReLU), that activation of it, in the same node (the NumPy backend's direct
    kernels apply it before they store the sums)."""
    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, W, b, pad, stride, dilation, groups, nd, fn, act=None):
        unbatched = geom.check_input(fn, x.shape, W.shape, groups, nd)
        require_same_dtype(fn, x, W)
        if b is not None:
            require_same_dtype(fn, x, b, "bias")
            if tuple(b.shape) != (W.shape[0],):
                raise ValueError(f"{fn}: bias must have shape ({W.shape[0]},) (out_channels), got "
                                 f"{tuple(b.shape)}")
        kernel = tuple(W.shape[2:])
        pads = geom.explicit_padding(pad, kernel, stride, dilation, fn)
        geo = geom.geometry_2d(kernel, stride, pads, dilation)
        self.shape = x.shape
        x4 = x[None] if unbatched else x
        if nd == 1:
            x4 = x4.reshape(x4.shape[0], x4.shape[1], 1, x4.shape[2])
            W = W.reshape(W.shape[0], W.shape[1], 1, W.shape[2])
        geom.check_kernel_fits(fn, x4.shape[2:], geo, nd)
        need_x, need_W, _ = self.needs_input_grad
        be = self.backend
        fast = be.conv_fast_forward(x4, W, b, geo, groups, need_W, act)
        self.fast = self.act = None
        fused = False
        if fast is not None:
            y, self.fast, fused = fast
            cols = None
        else:
            keep = need_W and be.conv_keep_cols(x4.shape, W.shape, geo, x4.dtype.itemsize)
            y, cols = conv_gemm_forward(be, xp, x4, W, b, geo, groups, keep=keep)
        if act is not None and not fused:  # the activation after the convolution, its backward before
            y, self.act_saved = be.activation_forward(act, y)
            self.act = act
        if need_x or need_W or self.needs_input_grad[2]:
            self.x4 = x4 if need_W and cols is None and fast is None else None
            self.x4_shape, self.unbatched, self.nd = x4.shape, unbatched, nd
            self.W4, self.cols, self.geo, self.groups = W, cols, geo, groups
        if nd == 1:
            y = y.reshape(y.shape[0], y.shape[1], y.shape[3])
        return y[0] if unbatched else y

    def backward(self, xp, g):
        g4 = g[None] if self.unbatched else g
        if self.nd == 1:
            g4 = g4.reshape(g4.shape[0], g4.shape[1], 1, g4.shape[2])
        if self.act is not None:
            g4 = self.backend.activation_backward(self.act, self.act_saved, g4)
        if self.fast is not None:
            dx, dW, db = self.backend.conv_fast_backward(self.fast, g4, self.needs_input_grad)
        else:
            dx, dW, db = conv_gemm_backward(self.backend, xp, g4, self.x4, self.x4_shape, self.W4, self.cols,
                                            self.geo, self.groups, self.needs_input_grad)
        if dx is not None:
            dx = dx.reshape(self.shape)
        if dW is not None and self.nd == 1:
            dW = dW.reshape(dW.shape[0], dW.shape[1], dW.shape[3])
        return dx, dW, db


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation, as torch) over an (N, C_in, L) or unbatched (C_in, L) input with
    ``weight`` (C_out, C_in/groups, k): ``y[n, o, t] = b[o] + Σ W[o, c, i] · x_pad[n, c, t·stride + i·dilation]``.
    ``padding``: an int, a 1-tuple, ``'valid'`` (0) or ``'same'`` (stride 1: output as long as the input)."""
    fn = "conv1d"
    return ConvNd.apply(input, weight, bias, pad=geom.padding_arg(padding, 1, fn),
                        stride=geom.tuple_arg(stride, 1, "stride", fn, 1),
                        dilation=geom.tuple_arg(dilation, 1, "dilation", fn, 1), groups=int(groups), nd=1, fn=fn)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation, as torch) over an (N, C_in, H, W) or unbatched (C_in, H, W) input with
    ``weight`` (C_out, C_in/groups, kh, kw): ``y[n, o, p, q] = b[o] + Σ_{c, i, j} W[o, c, i, j] ·
    x_pad[n, c, p·sh + i·dh, q·sw + j·dw]`` (c over o's group). ``padding``: int, pair, ``'valid'`` or
    ``'same'`` (stride 1)."""
    fn = "conv2d"
    return ConvNd.apply(input, weight, bias, pad=geom.padding_arg(padding, 2, fn),
                        stride=geom.tuple_arg(stride, 2, "stride", fn, 1),
                        dilation=geom.tuple_arg(dilation, 2, "dilation", fn, 1), groups=int(groups), nd=2, fn=fn)

"""Transposed convolution ``conv_transpose2d`` (the adjoint of ``conv2d`` in its input) as ONE Function.

Forward: ``cols_g = W_gᵀ · X_g`` (one GEMM per group, X as (C_in/G, N·H·W) rows), then the backend's ``col2im``
(a compiled scatter-add on the CPU, a CUDA kernel on the GPU) adds every column entry into the output, plus the
bias. Backward: ``im2col(dY)`` (the columns of the matching convolution), ``dX_g = W_g · cols_g`` and
``dW_g = X_g · cols_gᵀ``, ``db = Σ dY``.
"""
from __future__ import annotations

from ..autograd.creation import as_tensor
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend._conv_ops import conv_out_hw
from . import _conv_geometry as geom
from ._dtypes import require_same_dtype
from .conv import gemm

__all__ = ["ConvTranspose2dFn", "conv_transpose2d", "transpose_output_size"]


def transpose_output_size(hw, kernel, stride, padding, output_padding, dilation) -> tuple:
    """(OH, OW) of a transposed convolution: ``(H − 1)·s − 2p + d·(k − 1) + output_padding + 1``."""
    return tuple((h - 1) * s - 2 * p + d * (k - 1) + op + 1
                 for h, k, s, p, op, d in zip(hw, kernel, stride, padding, output_padding, dilation))


class ConvTranspose2dFn(Function):
    """``y = conv2d``'s input gradient map applied to ``x``, with weight (C_in, C_out/groups, kh, kw), + bias."""
    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, W, b, stride, padding, output_padding, dilation, groups, fn="conv_transpose2d"):
        unbatched = geom.check_input(fn, x.shape, W.shape, groups, 2, transposed=True)
        require_same_dtype(fn, x, W)
        cin, coutg, kh, kw = W.shape
        cout = coutg * groups
        if b is not None:
            require_same_dtype(fn, x, b, "bias")
            if tuple(b.shape) != (cout,):
                raise ValueError(f"{fn}: bias must have shape ({cout},) (out_channels), got {tuple(b.shape)}")
        for op, s, d in zip(output_padding, stride, dilation):
            if op >= max(s, d):
                raise ValueError(f"{fn}: output_padding {tuple(output_padding)} must be smaller than either stride "
                                 f"{tuple(stride)} or dilation {tuple(dilation)} in every dimension")
        x4 = x[None] if unbatched else x
        n, _, h, w = x4.shape
        oh, ow = transpose_output_size((h, w), (kh, kw), stride, padding, output_padding, dilation)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"{fn}: the output size ({oh} x {ow}) is not positive for input ({h} x {w}), kernel "
                             f"({kh} x {kw}), stride {tuple(stride)} and padding {tuple(padding)}; use less "
                             f"padding or a larger input")
        (ph, pw), (sh, sw), (dh, dw) = padding, stride, dilation
        geo = (kh, kw, sh, sw, ph, ph, pw, pw, dh, dw)
        assert conv_out_hw(oh, ow, geo) == (h, w)
        L = n * h * w
        xt = xp.ascontiguousarray(x4.transpose(1, 0, 2, 3)).reshape(groups, cin // groups, L)
        cols = gemm(self.backend, W.reshape(groups, cin // groups, -1).transpose(0, 2, 1), xt)
        y = self.backend.conv_col2im(cols.reshape(cout, kh, kw, n, h, w), (n, cout, oh, ow), geo)
        if b is not None:
            y += b.reshape(1, cout, 1, 1)
        if True in self.needs_input_grad:
            self.xt, self.W, self.geo, self.groups = xt, W, geo, groups
            self.x_shape, self.unbatched, self.out_hw = x4.shape, unbatched, (oh, ow)
        return y[0] if unbatched else y

    def backward(self, xp, g):
        need_x, need_W, need_b = self.needs_input_grad
        g4 = g[None] if self.unbatched else g
        n, cin, h, w = self.x_shape
        G = self.groups
        db = g4.sum(axis=(0, 2, 3)) if need_b else None
        dx = dW = None
        if need_x or need_W:
            cols = self.backend.conv_im2col(g4, self.geo, scratch=True).reshape(G, -1, n * h * w)
            if need_W:
                dW = gemm(self.backend, self.xt, cols.transpose(0, 2, 1)).reshape(self.W.shape)
            if need_x:
                dxt = gemm(self.backend, self.W.reshape(G, cin // G, -1), cols).reshape(cin, n, h, w)
                dx = xp.ascontiguousarray(dxt.transpose(1, 0, 2, 3))
                if self.unbatched:
                    dx = dx[0]
        return dx, dW, db


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """2-D transposed convolution ("deconvolution", torch's argument order) over (N, C_in, H, W) or unbatched
    (C_in, H, W) with ``weight`` (C_in, C_out/groups, kh, kw): the gradient of ``conv2d`` with respect to its
    input, applied to ``input``. Output size ``(H − 1)·stride − 2·padding + dilation·(k − 1) + output_padding +
    1``; ``output_padding`` (< stride or < dilation) picks among the sizes a strided conv maps to the same H."""
    fn = "conv_transpose2d"
    return ConvTranspose2dFn.apply(input, weight, bias, stride=geom.tuple_arg(stride, 2, "stride", fn, 1),
                                   padding=geom.padding_arg(padding, 2, fn, allow_string=False),
                                   output_padding=geom.tuple_arg(output_padding, 2, "output_padding", fn),
                                   dilation=geom.tuple_arg(dilation, 2, "dilation", fn, 1), groups=int(groups),
                                   fn=fn)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1,
                     dilation=1) -> Tensor:
    """1-D transposed convolution over (N, C_in, L) or unbatched (C_in, L) with ``weight`` (C_in, C_out/groups,
    k): :func:`conv_transpose2d` on a one-high input and kernel. Output length ``(L − 1)·stride − 2·padding +
    dilation·(k − 1) + output_padding + 1``."""
    fn = "conv_transpose1d"
    x = input if isinstance(input, Tensor) else as_tensor(input)
    w = weight if isinstance(weight, Tensor) else as_tensor(weight)
    if x.ndim not in (2, 3):
        raise ValueError(f"{fn}: expected a 2-D (unbatched (C_in, L)) or 3-D (N, C_in, L) input, got shape "
                         f"{tuple(x.shape)}")
    if w.ndim != 3:
        raise ValueError(f"{fn}: expected a 3-D weight (C_in, C_out/groups, k), got shape {tuple(w.shape)}")
    one = [geom.tuple_arg(v, 1, name, fn, lo)[0] for v, name, lo in
           ((stride, "stride", 1), (output_padding, "output_padding", 0), (dilation, "dilation", 1))]
    pad = geom.padding_arg(padding, 1, fn, allow_string=False)[0]
    (s, op, d) = one
    y = ConvTranspose2dFn.apply(x.unsqueeze(-2), w.unsqueeze(-2), bias, stride=(1, s), padding=(0, pad),
                                output_padding=(0, op), dilation=(1, d), groups=int(groups), fn=fn)
    return y.squeeze(-2)

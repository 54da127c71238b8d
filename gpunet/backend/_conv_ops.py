"""The reference convolution (im2col / col2im) ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_conv`) and CuPy (:mod:`._cupy_conv`) mixins override what they speed up
and call ``super()`` for what they do not handle.

Layouts (every convolution of :mod:`gpunet.functional.conv` is a 2-D one here): the input ``x`` is (N, C, H, W);
the columns are ``cols[c, i, j, n, oh, ow] = x_padded[n, c, oh·sh + i·dh, ow·sw + j·dw]``, a C-contiguous
(C, kh, kw, N, OH, OW) array, so ``cols.reshape(G, C/G·kh·kw, N·OH·OW)`` is the right operand of one GEMM per
group. ``geo = (kh, kw, sh, sw, pt, pb, pl, pr, dh, dw)``: kernel, stride, padding top/bottom/left/right, dilation.
"""
from __future__ import annotations


def conv_out_hw(h: int, w: int, geo) -> tuple:
    """(OH, OW) of a convolution with geometry ``geo`` over an (H, W) input."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
    return (h + pt + pb - dh * (kh - 1) - 1) // sh + 1, (w + pl + pr - dw * (kw - 1) - 1) // sw + 1


def dx_weight(W):
    """The weight whose full correlation with dY is dX for a stride-1 convolution by ``W`` (O, C, kh, kw): W
    transposed and flipped, (C, O, kh, kw), contiguous."""
    return W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1].copy()


class ConvOps:
    """Reference convolution (im2col / col2im) ops."""

    def conv_im2col(self, x, geo, scratch: bool = False):
        """The (C, kh, kw, N, OH, OW) columns of ``x`` (N, C, H, W), zero padding included. ``scratch=True``: the
        caller is done with the result before the next scratch request, so a backend may hand out a buffer it
        reuses (this reference allocates)."""
        xp = self.xp
        kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
        n, c, h, w = x.shape
        oh, ow = conv_out_hw(h, w, geo)
        if pt or pb or pl or pr:
            xpad = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=x.dtype)
            xpad[:, :, pt:pt + h, pl:pl + w] = x
        else:
            xpad = x
        cols = xp.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
        for i in range(kh):  # a loop over kernel offsets, each one strided slice of every pixel and channel
            for j in range(kw):
                win = xpad[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw]
                cols[:, i, j] = win.transpose(1, 0, 2, 3)
        return cols

    def conv_col2im(self, cols, x_shape, geo):
        """The adjoint of :meth:`conv_im2col`: every column entry added back at the input position it was read
        from (overlapping windows summed, padding dropped); a fresh (N, C, H, W) array."""
        xp = self.xp
        kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
        n, c, h, w = x_shape
        oh, ow = cols.shape[4:]
        dxp = xp.zeros((n, c, h + pt + pb, w + pl + pr), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i * dh: i * dh + sh * (oh - 1) + 1: sh, j * dw: j * dw + sw * (ow - 1) + 1: sw] += \
                    cols[:, i, j].transpose(1, 0, 2, 3)
        if pt or pb or pl or pr:
            return xp.ascontiguousarray(dxp[:, :, pt:pt + h, pl:pl + w])
        return dxp

    def conv_scratch(self, shape, dtype, slot: str):
        """An uninitialised array of ``shape`` the caller is done with before the next request for ``slot``
        (a backend may reuse one buffer per slot; this reference allocates)."""
        return self.xp.empty(shape, dtype=dtype)

    def conv_keep_cols(self, x_shape, w_shape, geo, itemsize: int) -> bool:
        """Whether a convolution's forward keeps its columns for the weight gradient (True) or backward rebuilds
        them from the input (False: less memory held between forward and backward)."""
        return True

    def conv_dx_as_conv(self, w_shape, groups: int) -> bool:
        """Whether a stride-1 convolution's input gradient runs as the full correlation of dY with the flipped
        weight (True) rather than ``col2im(Wᵀ · dY)`` (both exact; which is faster depends on the shapes)."""
        return True

    def conv_fast_forward(self, x, W, b, geo, groups: int, need_W: bool, act=None):
        """A backend's own algorithm for this convolution (e.g. Winograd): ``(y, saved, fused)``, or None to run
        the im2col + GEMM one. ``fused``: y is already activation ``act`` (a name of :meth:`activation_forward`)
        of the convolution, and :meth:`conv_fast_backward` takes that activation's gradient; otherwise the caller
        applies ``act``. ``saved`` goes to :meth:`conv_fast_backward`. This reference has none."""
        return None

    def conv_fast_backward(self, saved, grad_y, needs):
        """``(dx, dW, db)`` of :meth:`conv_fast_forward` (None where ``needs`` says no) for the gradient of its
        output (of the activation, when it fused one)."""
        raise NotImplementedError

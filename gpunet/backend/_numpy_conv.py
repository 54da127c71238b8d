"""The NumPy backend's convolution (im2col / col2im) ops (compiled CPU kernels where they pay): a mixin of
:class:`~.numpy_backend.NumpyBackend`; ``super()`` is the reference (:class:`~._conv_ops.ConvOps`).

Ungrouped float convolutions run as im2col + GEMM a chunk of samples at a time on each core, OpenBLAS on one
thread per core (``conv_fast_forward`` / ``conv_fast_backward`` -> :mod:`._numpy_conv_gemm`; ``conv_chunked``
False: the generic whole-batch path of :mod:`gpunet.functional.conv`). im2col is the input's windows as ONE
strided view (``as_strided``) copied once into a reused scratch buffer (the padding first copied into a zeroed,
padded input); col2im is a compiled scatter-add (over channels, split over the cores, for a whole batch; per
chunk of samples in the chunked path). Without Numba (``GPUNET_NUMBA=0``) col2im is the reference's loop over
kernel offsets.

Winograd F(2x2, r x r) for stride-1, undilated, ungrouped square 3x3 / 5x5 convolutions with symmetric padding is
here too (``conv_fast_forward`` / ``conv_fast_backward``), OFF by default (``winograd_tiles`` empty; ``{3: 2}`` or
``{3: 2, 5: 2}`` turns it on). 16 (36) GEMMs of C inner length over the transformed tiles replace im2col's one GEMM
of 9C (25C) inner length: 2.25x (2.8x) fewer multiplies, and those GEMMs ran 1.7x faster (22 against 37 ms for the
residual block's 64->64 3x3 on (32, 64, 32, 32), one core). The tile transforms (compiled, channels last, the
3x3 one written out) and the layout changes around them take most of that back: the residual-block training step
measured 294 against 306 ms of CPU time on one core (within the noise of a shared machine), and worse with two
threads; the generic 5x5 transforms made LeNet's step 2.2x slower. dW is the adjoint of the weight transform
applied to ``Vᵀ · dM``, dX the Winograd convolution of dY with the flipped, transposed weight.
"""
from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _numba, _parallel
from . import _numpy_conv_gemm as _gemm
from ._conv_ops import conv_out_hw

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _conv_kernels():
    if _numba.kernels() is None:
        return None
    from . import _cpu_conv_kernels

    return _cpu_conv_kernels


@functools.lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int, dtype) -> tuple:
    """``(Aᵀ, G, Bᵀ)`` of Winograd F(m, r) (Toom-Cook on the points 0, 1, −1, 2, −2, … and ∞), in ``dtype``:
    ``Aᵀ[(G g) ⊙ (Bᵀ d)] = (Σ_k g_k d_{i+k})_i`` for every ``g`` (r) and ``d`` (m + r − 1). Aᵀ and G are
    Vandermonde rows (G's scaled by 1 / Π(p_j − p_l)); Bᵀ is solved from the identity (exact: small integers)."""
    a = m + r - 1
    pts = [0.0] + [s * k for k in range(1, a) for s in (1.0, -1.0)][: a - 2]
    AT = np.zeros((m, a))
    G = np.zeros((a, r))
    for j, pj in enumerate(pts):
        AT[:, j] = [pj ** i for i in range(m)]
        G[j] = [pj ** k / np.prod([pj - q for q in pts if q != pj]) for k in range(r)]
    AT[m - 1, a - 1] = G[a - 1, r - 1] = 1.0
    eq = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, a)  # coefficient of Bᵀ[j, l] in equation (i, k, l)
    rhs = np.zeros((m * r, a))
    for i in range(m):
        for k in range(r):
            rhs[i * r + k, i + k] = 1.0
    BT = np.linalg.lstsq(eq, rhs, rcond=None)[0]
    BT = np.where(np.abs(BT - np.round(BT)) < 1e-9, np.round(BT), BT)
    dt = np.dtype(dtype)
    return AT.astype(dt), G.astype(dt), BT.astype(dt)


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
    winograd_dtypes = (np.dtype(np.float32),)
    winograd_tiles: dict = {}  # kernel size r -> output tile m of F(m x m, r x r); {3: 2, 5: 2} turns it on
    winograd_min_channels = 8      # fewer input or output channels: the im2col GEMM's inner length wins

    def _winograd_plan(self, x_shape, w_shape, geo, groups, dtype):
        """``(m, r, p)`` when the convolution runs as Winograd here, else None."""
        kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
        m = self.winograd_tiles.get(kh)
        if (m is None or kw != kh or groups != 1 or (sh, sw, dh, dw) != (1, 1, 1, 1) or not pt == pb == pl == pr
                or pt > kh - 1 or np.dtype(dtype) not in self.winograd_dtypes or _conv_kernels() is None
                or min(x_shape[1], w_shape[0]) < self.winograd_min_channels):
            return None
        return m, kh, pt

    def conv_fast_forward(self, x, W, b, geo, groups: int, need_W: bool):
        if type(x) is not np.ndarray or type(W) is not np.ndarray or W.dtype != x.dtype or x.dtype not in _FLOATS \
                or (b is not None and (type(b) is not np.ndarray or b.dtype != x.dtype)):
            return super().conv_fast_forward(x, W, b, geo, groups, need_W)
        plan = self._winograd_plan(x.shape, W.shape, geo, groups, x.dtype)
        if plan is None:
            if groups != 1 or not self.conv_chunked:
                return super().conv_fast_forward(x, W, b, geo, groups, need_W)
            x, W = np.ascontiguousarray(x), np.ascontiguousarray(W)
            keep = need_W and self.conv_keep_cols(x.shape, W.shape, geo, x.itemsize)
            y, plan, kept = _gemm.conv_forward(self, x, W, b, geo, keep)
            return y, ("gemm", x if need_W and not keep else None, x.shape, W, geo, plan, kept)
        m, r, p = plan
        a2 = (m + r - 1) ** 2
        keep = need_W and a2 * x.shape[1] * x.shape[0] * _tiles(x.shape[2:], r, p, m) * x.itemsize \
            <= self.conv_keep_bytes
        y, V = self._winograd(plan, x, W, b, p, keep)
        return y, (plan, x if need_W and V is None else None, V, W)

    def conv_fast_backward(self, saved, g, needs):
        if saved[0] == "gemm":
            _, x, x_shape, W, geo, plan, kept = saved
            g = np.ascontiguousarray(g, dtype=W.dtype)
            return _gemm.conv_backward(self, x, x_shape, W, g, geo, needs, self.conv_dx_as_conv(W.shape, 1),
                                       self._col2im_into, plan, kept)
        (m, r, p), x, V, W = saved
        need_x, need_W, need_b = needs
        K = _conv_kernels()
        AT, G, _ = winograd_matrices(m, r, W.dtype)
        n, o, oh, ow = g.shape
        db = g.sum(axis=(0, 2, 3)) if need_b else None
        dW = dx = None
        g = g.astype(W.dtype, copy=False)
        if need_W:
            if V is None:
                V = self._winograd_input(x, m, r, p)
            gh = self._channels_last(g, "wino_g")
            th, tw = -(-oh // m), -(-ow // m)
            a, T = m + r - 1, n * th * tw
            dM, dMf, S = self._planes((a * a, T, o), g.dtype, "wino_m")
            gf = gh.reshape(-1)
            if (m, r) == (2, 3):
                def adjoint(k, lo, hi):
                    K.wino23_output_adjoint(gf, dMf, n, o, oh, ow, th, tw, S, lo, hi)
            else:
                def adjoint(k, lo, hi):
                    K.wino_output_adjoint(gf, AT, dMf, n, o, oh, ow, th, tw, S, lo, hi)
            _parallel.run(adjoint, T, _parallel.parts(T, dM.size // T))
            dU = np.matmul(V.transpose(0, 2, 1), dM).reshape(a, a, -1, o)  # (α, α, C, O)
            dW = np.einsum("ui,uvco,vj->ocij", G, dU, G, optimize=True).astype(W.dtype, copy=False)
        if need_x:
            Wf = np.ascontiguousarray(W.transpose(1, 0, 2, 3)[:, :, ::-1, ::-1])
            dx, _ = self._winograd((m, r, p), g, Wf, None, r - 1 - p, False)
        return dx, dW, db

    def _planes(self, shape, dtype, slot):
        """``(view, flat, S)``: an (α², T, C) array whose planes lie S = T·C + 16 elements apart in the flat
        buffer (scratch of ``slot``, or fresh for None)."""
        a2, T, c = shape
        S = T * c + 16
        size = (a2 - 1) * S + T * c
        flat = self.conv_scratch((size,), dtype, slot) if slot else np.empty(size, dtype=dtype)
        it = flat.itemsize
        return as_strided(flat, shape=shape, strides=(S * it, c * it, it)), flat, S

    def _channels_last(self, x, slot, pad=0, hp=None, wp=None):
        """x (N, C, H, W) copied to a (N, hp, wp, C) scratch buffer at offset (pad, pad), zeros around it
        (default: no border, (N, H, W, C))."""
        n, c, h, w = x.shape
        hp, wp = hp or h + pad, wp or w + pad
        xh = self.conv_scratch((n, hp, wp, c), x.dtype, slot)
        if pad or hp > h or wp > w:
            _zero_border(xh.transpose(0, 3, 1, 2), pad, hp - h - pad, pad, wp - w - pad)
        K = _conv_kernels()
        xf, of = np.ascontiguousarray(x).reshape(-1), xh.reshape(-1)
        _parallel.run(lambda k, lo, hi: K.to_channels_last(xf, of, c, h, w, hp, wp, pad, lo, hi), n,
                      _parallel.parts(n, x.size // max(n, 1)))
        return xh

    def _winograd_input(self, x, m, r, p, scratch=True):
        """V (α², T, C): the transformed input tiles of x (N, C, H, W) (scratch unless ``scratch`` is False)."""
        K = _conv_kernels()
        _, _, BT = winograd_matrices(m, r, x.dtype)
        n, c, h, w = x.shape
        oh, ow = h + 2 * p - r + 1, w + 2 * p - r + 1
        th, tw = -(-oh // m), -(-ow // m)
        a, T = m + r - 1, n * th * tw
        shape = (a * a, T, c)
        V, Vf, S = self._planes(shape, x.dtype, "wino_v" if scratch else None)
        if (m, r) == (2, 3):  # the written-out kernel, on a zero-padded copy
            hp, wp = 2 * th + 2, 2 * tw + 2
            xf = self._channels_last(x, "wino_x", p, hp, wp).reshape(-1)

            def transform(k, lo, hi):
                K.wino23_input(xf, Vf, n, hp, wp, c, th, tw, S, lo, hi)
        else:
            xf = self._channels_last(x, "wino_x").reshape(-1)

            def transform(k, lo, hi):
                K.wino_input(xf, Vf, BT, n, c, h, w, th, tw, m, p, S, lo, hi)
        _parallel.run(transform, T, _parallel.parts(T, V.size // T))
        return V

    def _winograd(self, plan, x, W, b, p, keep):
        """``(y, V)``: the Winograd convolution of x (N, C, H, W) by W (O, C, r, r) with padding p (+ b), and
        the transformed input when ``keep``."""
        m, r, _ = plan
        K = _conv_kernels()
        AT, G, _ = winograd_matrices(m, r, W.dtype)
        o, c = W.shape[:2]
        n, _, h, w = x.shape
        a = m + r - 1
        oh, ow = h + 2 * p - r + 1, w + 2 * p - r + 1
        th, tw = -(-oh // m), -(-ow // m)
        T = n * th * tw
        V = self._winograd_input(x, m, r, p, scratch=not keep)
        U = np.einsum("ui,ocij,vj->uvco", G, W, G, optimize=True).reshape(a * a, c, o).astype(W.dtype, copy=False)
        M, Mf, S = self._planes((a * a, T, o), W.dtype, "wino_m")
        np.matmul(V, U, out=M)
        yh = self.conv_scratch((n, oh, ow, o), W.dtype, "wino_y")
        bb = b if b is not None else AT[0]
        yf = yh.reshape(-1)
        has_b = b is not None
        if (m, r) == (2, 3):
            def transform(k, lo, hi):
                K.wino23_output(Mf, bb, yf, n, o, oh, ow, th, tw, has_b, S, lo, hi)
        else:
            def transform(k, lo, hi):
                K.wino_output(Mf, AT, bb, yf, n, o, oh, ow, th, tw, has_b, S, lo, hi)
        _parallel.run(transform, T, _parallel.parts(T, M.size // T))
        y = np.empty((n, o, oh, ow), dtype=W.dtype)
        yhf, y_f = yh.reshape(-1), y.reshape(-1)
        _parallel.run(lambda k, lo, hi: K.to_channels_first(yhf, y_f, o, oh * ow, lo, hi), n,
                      _parallel.parts(n, y.size // max(n, 1)))
        return y, (V if keep else None)

    def conv_keep_cols(self, x_shape, w_shape, geo, itemsize: int) -> bool:
        n, c, h, w = x_shape
        oh, ow = conv_out_hw(h, w, geo)
        return c * geo[0] * geo[1] * n * oh * ow * itemsize <= self.conv_keep_bytes

    def conv_dx_as_conv(self, w_shape, groups: int) -> bool:
        # the full correlation's columns are O·kh·kw rows, col2im's C·kh·kw: the smaller side wins
        return w_shape[0] <= w_shape[1] * groups


def _tiles(hw, r, p, m) -> int:
    """Output tiles of one image of size ``hw``."""
    return (-(-(hw[0] + 2 * p - r + 1) // m)) * (-(-(hw[1] + 2 * p - r + 1) // m))


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

"""The reference recurrent gates (RNN / LSTM / GRU) ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_rnn`) and CuPy (:mod:`._cupy_rnn`) mixins override what they speed up
and call ``super()`` for what they do not handle.

One call is one time step of one layer-direction, after the step's GEMM ``gh = h_prev @ W_hhᵀ``; every array is
(N, ·) and written in place (the caller owns the buffers, so a step allocates nothing it keeps). Gate orders are
PyTorch's: LSTM (i, f, g, o), GRU (r, z, n). ``gx`` is the step's slice of the input projection ``x @ W_ihᵀ``
plus the biases that can be folded there (both for RNN/LSTM, ``b_ih`` for GRU, whose ``b_hn`` sits inside r·(…)).
"""
from __future__ import annotations


class RnnOps:
    """Reference recurrent gates (RNN / LSTM / GRU) ops."""

    def rnn_run_rows(self, steps, n: int, step_macs: int) -> None:
        """Run ``steps(r0, r1)``, a layer's whole loop over time for the batch rows ``[r0, r1)``, over all ``n``
        rows (each step's GEMM has ``step_macs`` multiply-adds for all rows): here one call for all of them; the
        NumPy backend splits the rows over its threads."""
        steps(0, n)

    # ----------------------------------------------------------------------------------------- Elman RNN
    def rnn_step_forward(self, gx, gh, h, relu: bool) -> None:
        """``h = act(gx + gh)``, act tanh or ReLU."""
        xp = self.xp
        z = gx + gh
        h[...] = xp.maximum(z, 0) if relu else xp.tanh(z)

    def rnn_step_backward(self, dy, dh_rec, h, dpre, relu: bool) -> None:
        """``dpre = (dy + dh_rec) · act'``, from the step's output ``h`` (tanh: 1 − h², ReLU: h > 0)."""
        dh = dy + dh_rec
        dpre[...] = dh * (h > 0) if relu else dh * (1 - h * h)

    # ----------------------------------------------------------------------------------------- LSTM
    def lstm_step_forward(self, gx, gh, c_prev, gates, c, tc, h) -> None:
        """Pre-activations ``a = gx + gh`` (N, 4H) → ``gates`` = (σ(a_i), σ(a_f), tanh(a_g), σ(a_o));
        ``c = f·c_prev + i·g``, ``tc = tanh(c)``, ``h = o·tc``."""
        xp = self.xp
        H = c.shape[-1]
        a = gx + gh
        gates[:, :2 * H] = _sigmoid(xp, a[:, :2 * H])
        gates[:, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])
        gates[:, 3 * H:] = _sigmoid(xp, a[:, 3 * H:])
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
        c[...] = f * c_prev + i * g
        tc[...] = xp.tanh(c)
        h[...] = o * tc

    def lstm_step_backward(self, dy, dh_rec, dc, gates, c_prev, tc, dgates) -> None:
        """With ``dh = dy + dh_rec`` and ``dc`` the cell gradient from the next step (updated in place to the
        gradient of ``c_prev``): ``dc_t = dc + dh·o·(1 − tc²)``; ``dgates`` (N, 4H) = the pre-activation
        gradients (dc_t·g·i(1−i), dc_t·c_prev·f(1−f), dc_t·i·(1−g²), dh·tc·o(1−o)); ``dc ← dc_t·f``."""
        H = dc.shape[-1]
        i, f, g, o = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
        dh = dy + dh_rec
        dct = dc + dh * o * (1 - tc * tc)
        dgates[:, :H] = dct * g * i * (1 - i)
        dgates[:, H:2 * H] = dct * c_prev * f * (1 - f)
        dgates[:, 2 * H:3 * H] = dct * i * (1 - g * g)
        dgates[:, 3 * H:] = dh * tc * o * (1 - o)
        dc[...] = dct * f

    # ----------------------------------------------------------------------------------------- GRU
    def gru_step_forward(self, gx, gh, b_hh, h_prev, gates, h) -> None:
        """``gh`` = h_prev @ W_hhᵀ (N, 3H) without its bias ``b_hh`` (3H,); r = σ(gx_r + gh_r + b_hr),
        z = σ(gx_z + gh_z + b_hz), hn = gh_n + b_hn, n = tanh(gx_n + r·hn), h = (1 − z)·n + z·h_prev.
        ``gates`` (N, 4H) keeps (r, z, n, hn) for backward."""
        xp = self.xp
        H = h.shape[-1]
        ghb = gh + b_hh
        gates[:, :2 * H] = _sigmoid(xp, gx[:, :2 * H] + ghb[:, :2 * H])
        gates[:, 3 * H:] = ghb[:, 2 * H:]
        r, z = gates[:, :H], gates[:, H:2 * H]
        gates[:, 2 * H:3 * H] = xp.tanh(gx[:, 2 * H:] + r * gates[:, 3 * H:])
        n = gates[:, 2 * H:3 * H]
        h[...] = (1 - z) * n + z * h_prev

    def gru_step_backward(self, dy, dh_a, dh_b, gates, h_prev, dgi, dgh) -> None:
        """With ``dh = dy + dh_a + dh_b`` (``dh_a`` the direct carry z·dh of the next step, ``dh_b`` its
        ``dgh @ W_hh``): dn' = dh·(1 − z)·(1 − n²), dr' = dn'·hn·r(1 − r), dz' = dh·(h_prev − n)·z(1 − z);
        ``dgi`` = (dr', dz', dn'), ``dgh`` = (dr', dz', dn'·r), and ``dh_a ← dh·z`` in place."""
        H = h_prev.shape[-1]
        r, z, n, hn = gates[:, :H], gates[:, H:2 * H], gates[:, 2 * H:3 * H], gates[:, 3 * H:]
        dh = dy + dh_a + dh_b
        dn = dh * (1 - z) * (1 - n * n)
        dr = dn * hn * r * (1 - r)
        dz = dh * (h_prev - n) * z * (1 - z)
        dgi[:, :H] = dr
        dgi[:, H:2 * H] = dz
        dgi[:, 2 * H:] = dn
        dgh[:, :H] = dr
        dgh[:, H:2 * H] = dz
        dgh[:, 2 * H:] = dn * r
        dh_a[...] = dh * z


def _sigmoid(xp, a):
    """σ(a) = ½(1 + tanh(a/2)): no overflow for large |a|, one transcendental."""
    return 0.5 * (1 + xp.tanh(0.5 * a))

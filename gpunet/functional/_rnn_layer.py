"""One layer-direction of a recurrent network over a whole sequence as ONE Function (one graph node).

Forward: the input projection ``x @ W_ihᵀ`` for all time steps in one GEMM (the foldable biases added once), then
per step one GEMM ``h_prev @ W_hhᵀ`` and one fused gate call of the backend (``rnn_step_forward``,
``lstm_step_forward``, ``gru_step_forward``). The batch rows never interact in the recurrence, so the step loop is
written for a span of rows and the backend runs it (``rnn_run_rows``: the NumPy backend splits the rows over its
threads, each running the whole loop with no synchronisation per step). Backward runs the BPTT loop on raw arrays: per step one fused gate
call backward and one GEMM ``dgates @ W_hh``; the weight gradients are one GEMM each over all steps at the end
(dW_ih = dGᵀ X, dW_hh = dGᵀ H_prev over the stacked arrays, db = column sums of dG), and dX is one GEMM dG W_ih.

The single output packs everything a layer returns: ``S`` of shape (L + 1, N, H), or (L + 2, N, H) for LSTM,
holds h_0 and the L hidden states in the order they occur in time (h_0 first for the forward direction, last for
the reverse one: ``S[p]`` is the previous state of the step writing ``S[o]``), and for LSTM the final cell state
in ``S[L + 1]``. The caller slices the output sequence, h_n and c_n out of it (views).
"""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ._dtypes import require_same_dtype

__all__ = ["GATES", "RecurrentLayer"]

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}


class RecurrentLayer(Function):
    """Inputs ``x`` (L, N, I), ``h0`` (N, H), ``c0`` (N, H) or None (LSTM only), ``W_ih`` (G·H, I), ``W_hh``
    (G·H, H), ``b_ih``, ``b_hh`` (G·H,) or None; ``mode`` a key of :data:`GATES`; ``reverse`` runs the steps
    from t = L − 1 down to 0. Returns the packed states ``S`` (see the module docstring)."""
    arg_names = ("input", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh")

    def forward(self, xp, x, h0, c0, W_ih, W_hh, b_ih, b_hh, mode="lstm", reverse=False):
        for name, a in (("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih), ("bias_hh", b_hh),
                        ("h0", h0), ("c0", c0)):
            if a is not None and a.dtype != x.dtype:
                require_same_dtype(mode.split("_")[0].upper(), x, a, name)
        be = self.backend
        x = xp.ascontiguousarray(x)
        L, N, I = x.shape
        H = W_hh.shape[1]
        G = W_hh.shape[0]
        lstm, gru = mode == "lstm", mode == "gru"
        save = True in self.needs_input_grad
        x2 = x.reshape(L * N, I)
        gx = be.matmul(x2, W_ih.T)
        if b_ih is not None:
            gx += b_ih if gru else b_ih + b_hh
        gx = gx.reshape(L, N, G)
        S = xp.empty((L + 1 + lstm, N, H), dtype=x.dtype)
        first = L if reverse else 0
        S[first] = h0
        WhhT = xp.ascontiguousarray(W_hh.T)  # matmul(..., out=) takes BLAS only with C-contiguous operands
        relu = mode == "rnn_relu"
        if lstm:
            C = xp.empty((L + 1, N, H), dtype=x.dtype)
            C[first] = c0
            gates = xp.empty((L if save else 1, N, G), dtype=x.dtype)
            TC = xp.empty((L if save else 1, N, H), dtype=x.dtype)
        elif gru:
            gates = xp.empty((L if save else 1, N, 4 * H), dtype=x.dtype)
            bh = b_hh if b_hh is not None else xp.zeros(G, dtype=x.dtype)

        def steps(r0, r1):  # the loop over time for the batch rows [r0, r1) (rows never meet in a recurrence)
            rows = slice(r0, r1)
            gh = xp.empty((r1 - r0, G), dtype=x.dtype)
            Sr, gxr = S[:, rows], gx[:, rows]
            if lstm or gru:
                gr = gates[:, rows]
            if lstm:
                Cr, TCr = C[:, rows], TC[:, rows]
            for t in (range(L - 1, -1, -1) if reverse else range(L)):
                p, o = (t + 1, t) if reverse else (t, t + 1)
                be.matmul(Sr[p], WhhT, gh)
                k = t if save else 0
                if lstm:
                    be.lstm_step_forward(gxr[t], gh, Cr[p], gr[k], Cr[o], TCr[k], Sr[o])
                elif gru:
                    be.gru_step_forward(gxr[t], gh, bh, Sr[p], gr[k], Sr[o])
                else:
                    be.rnn_step_forward(gxr[t], gh, Sr[o], relu)
        be.rnn_run_rows(steps, N, N * G * H)
        if lstm:
            S[L + 1] = C[0 if reverse else L]
        if save:
            self.mode, self.reverse, self.x2, self.W_ih, self.W_hh, self.S = mode, reverse, x2, W_ih, W_hh, S
            if lstm:
                self.C, self.TC, self.gates = C, TC, gates
            elif gru:
                self.gates = gates
        return S

    def backward(self, xp, g):
        need_x, need_h0, need_c0, need_wih, need_whh, need_bih, need_bhh = self.needs_input_grad
        be = self.backend
        mode, reverse, S, W_hh = self.mode, self.reverse, self.S, self.W_hh
        lstm, gru = mode == "lstm", mode == "gru"
        g = xp.ascontiguousarray(g, dtype=S.dtype)
        L = S.shape[0] - 1 - lstm
        N, H = S.shape[1], S.shape[2]
        G = W_hh.shape[0]
        dt = S.dtype
        rec = xp.zeros((N, H), dtype=dt)  # dG_{t+1} @ W_hh: the recurrent part of dh_t
        if lstm:
            dc = g[L + 1].copy()
            dG = xp.empty((L, N, G), dtype=dt)
            dGh = dG
        elif gru:
            direct = xp.zeros((N, H), dtype=dt)
            dG = xp.empty((L, N, G), dtype=dt)
            dGh = xp.empty((L, N, G), dtype=dt)
        else:
            dG = dGh = xp.empty((L, N, H), dtype=dt)
        relu = mode == "rnn_relu"
        last = L - 1 if reverse else 0

        def steps(r0, r1):  # BPTT for the batch rows [r0, r1)
            rows = slice(r0, r1)
            gr, recr, Sr, dGr, dGhr = g[:, rows], rec[rows], S[:, rows], dG[:, rows], dGh[:, rows]
            if lstm:
                dcr, gatr, Cr, TCr = dc[rows], self.gates[:, rows], self.C[:, rows], self.TC[:, rows]
            elif gru:
                dirr, gatr = direct[rows], self.gates[:, rows]
            for t in (range(L) if reverse else range(L - 1, -1, -1)):
                p, o = (t + 1, t) if reverse else (t, t + 1)
                if lstm:
                    be.lstm_step_backward(gr[o], recr, dcr, gatr[t], Cr[p], TCr[t], dGr[t])
                elif gru:
                    be.gru_step_backward(gr[o], dirr, recr, gatr[t], Sr[p], dGr[t], dGhr[t])
                else:
                    be.rnn_step_backward(gr[o], recr, Sr[o], dGr[t], relu)
                if t != last or need_h0:
                    be.matmul(dGhr[t], W_hh, recr)
        be.rnn_run_rows(steps, N, N * G * H)
        dx = dh0 = dc0 = dW_ih = dW_hh = db_ih = db_hh = None
        dG2 = dG.reshape(L * N, G)
        if need_h0:
            dh0 = rec + g[L if reverse else 0]
            if gru:
                dh0 += direct
        if need_c0:
            dc0 = dc
        if need_x:
            dx = be.matmul(dG2, self.W_ih).reshape(L, N, -1)
        if need_wih:
            dW_ih = be.matmul(dG2.T, self.x2)
        if need_whh:
            hprev = S[1:L + 1] if reverse else S[:L]
            dW_hh = be.matmul(dGh.reshape(L * N, G).T, hprev.reshape(L * N, H))
        if need_bih:
            db_ih = dG2.sum(axis=0)
        if need_bhh:
            db_hh = dGh.reshape(L * N, G).sum(axis=0) if gru or db_ih is None else db_ih.copy()
        return dx, dh0, dc0, dW_ih, dW_hh, db_ih, db_hh


def zeros_state(be, n: int, h: int, dtype) -> np.ndarray:
    """A zero initial state (N, H) on backend ``be``."""
    return be.xp.zeros((n, h), dtype=dtype)

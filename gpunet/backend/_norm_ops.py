"""The reference layer / RMS / group normalisation and embedding ops of every backend: a mixin of :class:`~.base.Backend`, written against
``self.xp`` alone. The NumPy (:mod:`._numpy_norm`) and CuPy (:mod:`._cupy_norm`) mixins override what they speed up
and call ``super()`` for what they do not handle.

Layer norm works on a 2-D (rows, D) view, one row per normalised slice; group norm on a 3-D (N·G, C/G, S) view, one
row per (sample, group). ``mean`` and ``rstd`` = 1/√(var + eps) are kept per row in the input's dtype (``mean`` is
None for RMS norm); backward recomputes x̂ from the input, so x̂ is never stored.
"""
from __future__ import annotations


class NormOps:
    """Reference layer / RMS / group normalisation and embedding ops."""

    # ----------------------------------------------------------------- layer / RMS norm
    def layer_norm_forward(self, x, weight, bias, eps: float, rms: bool = False):
        """``(y, mean, rstd)`` of the rows of the 2-D ``x``: ``y = (x − μ)·rstd·w + b`` with the row mean μ and
        biased variance (two passes here), or for RMS norm ``y = x·rstd·w``, rstd = 1/√(mean(x²) + eps) and
        mean None. ``weight``/``bias`` (length D) may be None."""
        xp = self.xp
        if rms:
            mean = None
            xc = x
            var = (x * x).mean(axis=1)
        else:
            mean = x.mean(axis=1)
            xc = x - mean[:, None]
            var = (xc * xc).mean(axis=1)
        rstd = (1 / xp.sqrt(var + eps)).astype(x.dtype, copy=False)
        y = xc * rstd[:, None]
        if weight is not None:
            y *= weight
        if bias is not None:
            y += bias
        return y, mean, rstd

    def layer_norm_backward(self, g, x, mean, rstd, weight, rms: bool, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        """``(dx, dw, db)`` (None where not needed): with x̂ = (x − μ)·rstd and gw = g·w,
        ``dx = rstd·(gw − mean(gw) − x̂·mean(gw·x̂))`` (RMS: without the mean(gw) term), ``dw = Σ_rows g·x̂``,
        ``db = Σ_rows g``. ``out``: an array shaped like ``x`` to write dx into (returned as dx)."""
        xhat = (x if rms else x - mean[:, None]) * rstd[:, None]
        dw = (g * xhat).sum(axis=0) if need_w else None
        db = g.sum(axis=0) if need_b else None
        dx = None
        if need_x:
            gw = g * weight if weight is not None else g
            dx = gw - xhat * (gw * xhat).mean(axis=1, keepdims=True)
            if not rms:
                dx -= gw.mean(axis=1, keepdims=True)
            dx *= rstd[:, None]
            if out is not None:
                out[...] = dx
                dx = out
        return dx, dw, db

    # ----------------------------------------------------------------- group norm
    def group_norm_forward(self, x, weight, bias, groups: int, eps: float):
        """``(y, mean, rstd)`` of ``x`` (N·G, C/G, S): statistics per row over (C/G, S), then the per-channel
        affine ``y = x̂·w[c] + b[c]`` (``weight``/``bias`` of length C, each may be None)."""
        rows, cg, s = x.shape
        y2, mean, rstd = self.layer_norm_forward(x.reshape(rows, cg * s), None, None, eps)
        y = y2.reshape(rows // groups, groups * cg, s)
        if weight is not None:
            y *= weight[:, None]
        if bias is not None:
            y += bias[:, None]
        return y.reshape(rows, cg, s), mean, rstd

    def group_norm_backward(self, g, x, mean, rstd, weight, groups: int, need_x: bool = True,
                            need_w: bool = True, need_b: bool = True, out=None):
        """``(dx, dw, db)`` of :meth:`group_norm_forward`: layer norm's dx per row with the per-channel weight,
        ``dw[c] = Σ g·x̂`` and ``db[c] = Σ g`` over the samples and positions of channel c. ``out``: as for
        :meth:`layer_norm_backward`."""
        rows, cg, s = x.shape
        n, c = rows // groups, groups * cg
        xhat = (x - mean[:, None, None]) * rstd[:, None, None]
        g3 = g.reshape(n, c, s)
        dw = (g3 * xhat.reshape(n, c, s)).sum(axis=(0, 2)) if need_w else None
        db = g3.sum(axis=(0, 2)) if need_b else None
        dx = None
        if need_x:
            gw = (g3 * weight[:, None] if weight is not None else g3).reshape(rows, cg * s)
            xh2 = xhat.reshape(rows, cg * s)
            dx = gw - gw.mean(axis=1, keepdims=True) - xh2 * (gw * xh2).mean(axis=1, keepdims=True)
            dx *= rstd[:, None]
            dx = dx.reshape(rows, cg, s)
            if out is not None:
                out[...] = dx
                dx = out
        return dx, dw, db

    # ----------------------------------------------------------------- embedding
    def embedding_forward(self, weight, idx):
        """``weight[idx]``: rows of the (V, D) ``weight`` for an integer ``idx`` of any shape (already checked to
        lie in [0, V))."""
        return self.xp.take(weight, idx, axis=0)

    def embedding_backward(self, g, idx, num_embeddings: int, padding_idx=None):
        """The (V, D) weight gradient of an embedding: ``dw[idx[i]] += g[i]`` for the rows of the 2-D ``g`` and
        the 1-D ``idx`` (repeated indices summed; row ``padding_idx`` stays zero)."""
        xp = self.xp
        dw = xp.zeros((num_embeddings, g.shape[1]), dtype=g.dtype)
        if padding_idx is not None:
            keep = idx != padding_idx
            idx, g = idx[keep], g[keep]
        self.scatter_add(dw, idx, g)
        return dw

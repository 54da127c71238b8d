"""Scaled dot-product attention as ONE Function: batched GEMMs for ``q kᵀ`` and ``p v``, the scaling, masking and
softmax of the scores fused in one pass forward and one backward (the backend's ``attn_softmax_forward`` /
``attn_softmax_backward``; references in :mod:`gpunet.backend._attn_ops`).

Forward:  s = q kᵀ,  p = softmax(s·scale + mask),  o = p v            (dropout: o = (p ⊙ m/(1 − p_drop)) v)
Backward: dv = pᵀ do,  dp = do vᵀ,  ds = p ⊙ (dp − Σ_j dp ⊙ p),  dq = ds k · scale,  dk = dsᵀ q · scale,
          d(mask) = ds (float masks).

:class:`PackedSelfAttention` is the same node reading q, k and v as head views of one packed in-projection
``(…, 3E)`` and writing the heads side by side ``(…, E)`` (what ``nn.MultiheadAttention`` feeds to ``out_proj``):
no transposed copies of q, k, v, the output or their gradients.
"""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor

__all__ = ["scaled_dot_product_attention", "ScaledDotProductAttention", "PackedSelfAttention", "MaskedSoftmax",
           "masked_softmax", "check_mask"]


def _swap(a):
    return a.swapaxes(-1, -2)


class _Attention(Function):
    """The calculus shared by both attention nodes, on (…, L, D) arrays of any layout; ``out``/``outs`` are views
    the results go into (None: fresh arrays)."""

    def _forward(self, xp, q, k, v, mask, scale, causal, dropout_p, safe, out=None):
        be = self.backend
        s = be.bmm(q, _swap(k))
        p = be.attn_softmax_forward(s, scale, mask, causal, safe)
        drop = None
        pd = p
        if dropout_p > 0:
            drop = (be.rand(p.shape, p.dtype) >= dropout_p).astype(p.dtype)
            drop *= p.dtype.type(1.0 / (1.0 - dropout_p)) if dropout_p < 1 else 0
            pd = p * drop
        o = be.bmm(pd, v, out)
        if any(self.needs_input_grad):
            self.q, self.k, self.v, self.p, self.drop, self.scale = q, k, v, p, drop, scale
            self.params_causal = causal
        return o

    def _backward(self, xp, g, need_q, need_k, need_v, need_mask, outs=(None, None, None)):
        be = self.backend
        q, k, v, p, drop, scale = self.q, self.k, self.v, self.p, self.drop, self.scale

        pd = p if drop is None else p * drop
        dv = be.bmm(_swap(pd), g, outs[2]) if need_v else None
        dq = dk = dmask = None
        if need_q or need_k or need_mask:
            dp = be.bmm(g, _swap(v))  # fresh: the fused backward writes ds over it
            if drop is not None:
                dp *= drop
            ds = be.attn_softmax_backward(p, dp, 1.0 if need_mask else scale)
            if need_q:
                dq = be.bmm(ds, k, outs[0])
            if need_k:
                dk = be.bmm(_swap(ds), q, outs[1])
            if need_mask:
                dmask = ds
                sc = ds.dtype.type(scale)
                for d in (dq, dk):
                    if d is not None:
                        d *= sc
        return dq, dk, dv, dmask


class ScaledDotProductAttention(_Attention):
    """``softmax(q kᵀ · scale + mask) v`` over (…, L, E), (…, S, E), (…, S, Ev) inputs (batch dims broadcast)."""
    arg_names = ("query", "key", "value", "attn_mask")

    def forward(self, xp, q, k, v, mask, scale=1.0, causal=False, dropout_p=0.0, safe=True):
        return self._forward(xp, q, k, v, mask, scale, causal, dropout_p, safe)

    def backward(self, xp, g):
        need_q, need_k, need_v, need_mask = self.needs_input_grad
        return self._backward(xp, g, need_q, need_k, need_v, need_mask)


def _head_views(a, heads, batch_first, parts):
    """(N, L, parts·E) or (L, N, parts·E) -> ``parts`` views (N, H, L, D) of its slices (a (parts, N, H, L, D)
    view)."""
    if batch_first:
        n, length, width = a.shape
        return a.reshape(n, length, parts, heads, width // (parts * heads)).transpose(2, 0, 3, 1, 4)
    length, n, width = a.shape
    return a.reshape(length, n, parts, heads, width // (parts * heads)).transpose(2, 1, 3, 0, 4)


class PackedSelfAttention(_Attention):
    """Multi-head self-attention on a packed in-projection ``qkv`` (N, L, 3E) (``batch_first``) or (L, N, 3E):
    output (N, L, E) / (L, N, E), head h in columns h·D … (h+1)·D; the mask broadcasts to (N, H, L, L)."""
    arg_names = ("qkv", "attn_mask")

    def forward(self, xp, qkv, mask, heads=1, batch_first=True, scale=1.0, causal=False, dropout_p=0.0,
                safe=True):
        t = _head_views(qkv, heads, batch_first, 3)
        self.heads, self.batch_first, self.shape = heads, batch_first, qkv.shape
        out = xp.empty(qkv.shape[:-1] + (qkv.shape[-1] // 3,), dtype=qkv.dtype)
        self._forward(xp, t[0], t[1], t[2], mask, scale, causal, dropout_p, safe,
                      out=_head_views(out, heads, batch_first, 1)[0])
        return out

    def backward(self, xp, g):
        need_qkv, need_mask = self.needs_input_grad
        g4 = _head_views(g, self.heads, self.batch_first, 1)[0]
        if not need_qkv:
            return None, self._backward(xp, g4, False, False, False, need_mask)[3]
        dqkv = xp.empty(self.shape, dtype=g.dtype)
        d = _head_views(dqkv, self.heads, self.batch_first, 3)
        dmask = self._backward(xp, g4, True, True, True, need_mask, outs=(d[0], d[1], d[2]))[3]
        return dqkv, dmask


class MaskedSoftmax(Function):
    """``softmax(s · scale + mask)`` over the last axis, fused (the attention weights, for callers that return
    them); a row with no key left is zeros (``safe``) or NaN."""
    arg_names = ("scores", "mask")

    def forward(self, xp, s, mask, scale=1.0, causal=False, safe=True):
        p = self.backend.attn_softmax_forward(xp.array(s, copy=True), scale, mask, causal, safe)
        if any(self.needs_input_grad):
            self.p, self.scale, self.params_causal = p, scale, causal
        return p

    def backward(self, xp, g):
        need_s, need_mask = self.needs_input_grad
        ds = self.backend.attn_softmax_backward(self.p, xp.array(g, dtype=self.p.dtype, copy=True), 1.0)
        dmask = ds if need_mask else None
        return (ds * ds.dtype.type(self.scale) if need_s else None), dmask


# ====================================================================== checks and public wrappers
def _shape(a):
    return tuple(a.shape)


def check_mask(op: str, mask, dtype, target, what: str = "attn_mask"):
    """``mask`` as an array or Tensor fit for the kernels: None, bool, or floating of ``dtype`` broadcastable to
    ``target`` (the scores' shape); raises a ValueError/TypeError saying what was expected otherwise."""
    if mask is None:
        return None
    dt = np.dtype(mask.dtype)
    if dt != np.bool_ and dt.kind != "f":
        raise TypeError(f"{op}: {what} must be a bool tensor (True: take part) or a float tensor added to the "
                        f"scores, got dtype {dt}; use mask.bool() / mask.astype(bool) or a float mask")
    if dt.kind == "f" and dt != np.dtype(dtype):
        raise TypeError(f"{op}: a float {what} must have the query's dtype {np.dtype(dtype)}, got {dt}; cast it "
                        f"with .astype({np.dtype(dtype).name})")
    shape = _shape(mask)
    try:
        full = np.broadcast_shapes(shape, target)
    except ValueError:
        full = None
    if full != tuple(target):
        raise ValueError(f"{op}: {what} of shape {shape} cannot be broadcast to the attention scores' shape "
                         f"{tuple(target)} (batch..., L, S); expected for instance ({target[-2]}, {target[-1]}) "
                         f"or {tuple(target)}")
    return mask


def _as_raw(x):
    return x.data if isinstance(x, Tensor) else x


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0, is_causal: bool = False,
                                 scale: float | None = None, enable_gqa: bool = False) -> Tensor:
    """Attention as ``torch.nn.functional.scaled_dot_product_attention``, ONE node of the graph.

    ``query`` (…, L, E), ``key`` (…, S, E), ``value`` (…, S, Ev) -> (…, L, Ev):
    ``softmax(q kᵀ · scale + bias) v`` with ``scale`` = 1/√E by default. ``attn_mask`` broadcasts to (…, L, S):
    bool (True: the key takes part) or float (added to the scaled scores; it gets a gradient). ``is_causal``:
    query i sees keys j ≤ i (top-left aligned; not together with ``attn_mask``). ``dropout_p`` is always applied
    (pass 0 in evaluation). ``enable_gqa``: key/value may have fewer heads (dim −3) than the query, each serving
    a group of query heads. A query row with no key left gives zeros (as PyTorch's CPU kernels; its gradient
    is zero too). Gradients: ds = p ⊙ (dp − Σ dp ⊙ p), dq = ds k · scale, dk = dsᵀ q · scale, dv = pᵀ do.
    """
    op = "scaled_dot_product_attention"
    for name, t in (("query", query), ("key", key), ("value", value)):
        if getattr(t, "ndim", 0) < 2:
            raise ValueError(f"{op}: {name} must have at least 2 dims (..., length, features), got shape "
                             f"{_shape(t) if hasattr(t, 'shape') else type(t).__name__}")
    q_shape, k_shape, v_shape = _shape(query), _shape(key), _shape(value)
    if q_shape[-1] != k_shape[-1]:
        raise ValueError(f"{op}: query and key must have the same feature size (last dim), got query "
                         f"{q_shape} and key {k_shape}")
    if k_shape[-2] != v_shape[-2]:
        raise ValueError(f"{op}: key and value must have the same length (dim -2), got key {k_shape} and value "
                         f"{v_shape}")
    for name, t in (("key", key), ("value", value)):
        if np.dtype(t.dtype) != np.dtype(query.dtype):
            raise TypeError(f"{op}: query, key and value must have one dtype, got query {np.dtype(query.dtype)} "
                            f"and {name} {np.dtype(t.dtype)}")
    if np.dtype(query.dtype).kind != "f":
        raise TypeError(f"{op}: expected floating query, key and value, got dtype {np.dtype(query.dtype)}")
    if enable_gqa and len(q_shape) >= 3 and k_shape[-3] != q_shape[-3]:
        hq, hk, hv = q_shape[-3], k_shape[-3], v_shape[-3]
        if hk != hv or hq % hk:
            raise ValueError(f"{op}: with enable_gqa the query's heads (dim -3, {hq}) must be a multiple of the "
                             f"key's and value's ({hk}, {hv}), which must be equal")
        from .rearrange import repeat_interleave

        key = repeat_interleave(key, hq // hk, dim=-3)
        value = repeat_interleave(value, hq // hk, dim=-3)
        k_shape, v_shape = _shape(key), _shape(value)
    try:
        batch = np.broadcast_shapes(q_shape[:-2], k_shape[:-2], v_shape[:-2])
    except ValueError:
        raise ValueError(f"{op}: the batch dims of query {q_shape}, key {k_shape} and value {v_shape} do not "
                         f"broadcast") from None
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: pass either attn_mask or is_causal=True, not both (an explicit attn_mask should "
                         f"not be set when is_causal=True); fold the causal mask into attn_mask instead")
    p = float(dropout_p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    check_mask(op, attn_mask, query.dtype, batch + (q_shape[-2], k_shape[-2]))
    sc = 1.0 / math.sqrt(q_shape[-1]) if scale is None else float(scale)
    return ScaledDotProductAttention.apply(query, key, value, attn_mask, scale=sc, causal=bool(is_causal),
                                           dropout_p=p, safe=True)


def masked_softmax(scores, mask=None, scale: float = 1.0, is_causal: bool = False, safe: bool = True) -> Tensor:
    """``softmax(scores · scale + mask)`` over the last axis in one fused pass (mask as in
    :func:`scaled_dot_product_attention`); a row with every key masked is zeros (``safe``) or NaN (as
    ``torch.softmax`` of an all ``-inf`` row)."""
    s = _shape(scores)
    check_mask("masked_softmax", mask, scores.dtype, s, "mask")
    return MaskedSoftmax.apply(scores, mask, scale=float(scale), causal=bool(is_causal), safe=bool(safe))

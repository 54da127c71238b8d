"""Multi-head attention, as ``torch.nn.MultiheadAttention`` (same arguments, parameter names, layouts and masks).

Self-attention without returned weights (what a transformer layer runs) is three graph nodes: the packed
in-projection (one GEMM), :class:`~gpunet.functional.attention.PackedSelfAttention` (all heads, reading q, k, v
as views of the projection and writing the heads side by side) and ``out_proj``. Other calls split the heads
with views and run :func:`~gpunet.functional.attention.scaled_dot_product_attention`, or, when the weights are
returned, the scores, a fused masked softmax and the product with v.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend as _backend
from .. import init
from ..autograd.tensor import Tensor
from ..functional import attention as FA
from ..functional.dropout import dropout as _dropout
from ..autograd.creation import zeros
from ..functional.linear import linear
from ..functional.math import cat
from ..functional.nn_misc import pad
from .linear import Linear
from .module import Module
from .parameter import Parameter, empty

__all__ = ["MultiheadAttention", "NonDynamicallyQuantizableLinear"]


class NonDynamicallyQuantizableLinear(Linear):
    """The Linear of ``MultiheadAttention.out_proj`` (PyTorch's name for it; a plain Linear here)."""


def _raw(m):
    return m.data if isinstance(m, Tensor) else m


def _grad_tensor(m) -> bool:
    return isinstance(m, Tensor) and m.requires_grad


def _keep(m):
    """A MultiheadAttention mask (bool True: masked out; float: added) in the kernels' terms (bool True: takes
    part)."""
    return ~_raw(m) if np.dtype(m.dtype) == np.bool_ else m


def _additive(m, dtype):
    """A bool mask as 0 / −inf of ``dtype`` (how PyTorch adds two masks); float masks unchanged."""
    if np.dtype(m.dtype) != np.bool_:
        return m
    r = _raw(m)
    xp = _backend.backend_of((r,)).xp
    return xp.where(r, -np.inf, 0.0).astype(dtype)


def _merge_masks(attn_mask, kpm, n, heads, length, src_len, dtype):
    """attn_mask (L, S) or (N·H, L, S) and key_padding_mask (N, S), PyTorch's meaning, as ONE mask
    broadcastable to (N, H, L, S) in the kernels' terms, or None."""
    a = None
    if attn_mask is not None:
        a = attn_mask.reshape((n, heads, length, src_len)) if attn_mask.ndim == 3 else attn_mask
    p = None if kpm is None else kpm.reshape((n, 1, 1, src_len))
    if a is None or p is None:
        m = a if p is None else p
        return None if m is None else _keep(m)
    if np.dtype(a.dtype) == np.bool_ and np.dtype(p.dtype) == np.bool_:
        return ~(_raw(a) | _raw(p))
    a, p = _additive(a, dtype), _additive(p, dtype)
    return a + p if _grad_tensor(a) or _grad_tensor(p) else _raw(a) + _raw(p)


def _pad_mask(m, extra: int):
    """A key_padding_mask / attn_mask with ``extra`` unmasked key positions appended (as torch pads them)."""
    if m is None:
        return None
    if isinstance(m, Tensor):
        return pad(m, (0, extra)) if np.dtype(m.dtype) != np.bool_ else Tensor._make(_pad_raw(m.data, extra), False,
                                                                                     None)
    return _pad_raw(m, extra)


def _pad_raw(a, extra):
    xp = _backend.backend_of((a,)).xp
    widths = [(0, 0)] * (a.ndim - 1) + [(0, extra)]
    return xp.pad(a, widths, mode="constant", constant_values=False if a.dtype == np.bool_ else 0)


def _split_heads(x, heads, batch_first):
    """(N, L, E) / (L, N, E) -> (N, H, L, D) views."""
    d0, d1, e = x.shape
    x = x.reshape((d0, d1, heads, e // heads))
    return x.permute(0, 2, 1, 3) if batch_first else x.permute(1, 2, 0, 3)


def _merge_heads(o, batch_first):
    """(N, H, L, D) -> (N, L, E) / (L, N, E)."""
    n, h, length, d = o.shape
    if batch_first:
        return o.permute(0, 2, 1, 3).reshape((n, length, h * d))
    return o.permute(2, 0, 1, 3).reshape((length, n, h * d))


class MultiheadAttention(Module):
    """``MultiHead(q, k, v) = Concat(head_1, …, head_H) W_oᵀ + b_o`` with
    ``head_h = softmax(q W_qhᵀ (k W_khᵀ)ᵀ / √D + mask) v W_vhᵀ`` (D = embed_dim / num_heads), as
    ``torch.nn.MultiheadAttention``.

    Parameters as torch: ``in_proj_weight`` (3E, E) (rows q, k, v; xavier_uniform_) and ``in_proj_bias`` (3E,)
    (zeros), or ``q_proj_weight`` (E, E), ``k_proj_weight`` (E, kdim), ``v_proj_weight`` (E, vdim) when kdim or
    vdim differ from embed_dim; ``out_proj`` a Linear(E, E) (bias zeroed). Inputs (L, N, E) or, with
    ``batch_first``, (N, L, E); unbatched (L, E). ``key_padding_mask`` (N, S) and ``attn_mask`` (L, S) or
    (N·num_heads, L, S): bool True means *masked out* (the inverse of ``scaled_dot_product_attention``), float is
    added. ``forward`` returns ``(output, weights)``: weights (N, L, S) averaged over heads, (N, H, L, S) with
    ``average_attn_weights=False``, None with ``need_weights=False``. A query with every key masked gives NaN when
    the weights are returned and zeros otherwise, as torch (training mode). ``add_bias_kv`` appends a learnt key
    and value (``bias_k``, ``bias_v``, (1, 1, E), xavier-normal) to every sequence, ``add_zero_attn`` a zero one
    after the heads are split; the masks get those positions unmasked, as torch.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim must be divisible by num_heads, got embed_dim="
                             f"{embed_dim} and num_heads={num_heads}; pick num_heads among the divisors of "
                             f"{embed_dim}")
        if not 0.0 <= dropout <= 1.0:
            raise ValueError(f"MultiheadAttention: dropout probability has to be between 0 and 1, got {dropout}")
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.kdim = int(kdim) if kdim is not None else self.embed_dim
        self.vdim = int(vdim) if vdim is not None else self.embed_dim
        self._qkv_same_embed_dim = self.kdim == self.embed_dim and self.vdim == self.embed_dim
        self.dropout, self.batch_first = float(dropout), bool(batch_first)
        self.head_dim = self.embed_dim // self.num_heads
        E = self.embed_dim
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(empty((E, E), device, dtype))
            self.k_proj_weight = Parameter(empty((E, self.kdim), device, dtype))
            self.v_proj_weight = Parameter(empty((E, self.vdim), device, dtype))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(empty((3 * E, E), device, dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(empty((3 * E,), device, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(E, E, bias=bias, device=device, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(empty((1, 1, E), device, dtype))
            self.bias_v = Parameter(empty((1, 1, E), device, dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = bool(add_zero_attn)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def extra_repr(self) -> str:
        s = f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if not self._qkv_same_embed_dim:
            s += f", kdim={self.kdim}, vdim={self.vdim}"
        return s + (", batch_first=True" if self.batch_first else "")

    # ----------------------------------------------------------------- forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights: bool = True, attn_mask=None,
                average_attn_weights: bool = True, is_causal: bool = False):
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        same = query is key and key is value
        kv_same = key is value
        bf = self.batch_first or not batched
        if not batched:  # (L, E) -> (1, L, E), batch first; identities kept for the packed path
            query = query.unsqueeze(0)
            key = query if same else key.unsqueeze(0)
            value = key if same or kv_same else value.unsqueeze(0)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.reshape((1,) + tuple(key_padding_mask.shape))
        n, length = (query.shape[0], query.shape[1]) if bf else (query.shape[1], query.shape[0])
        src_len = key.shape[1] if bf else key.shape[0]
        H = self.num_heads
        self._check_masks(key_padding_mask, attn_mask, n, length, src_len, query.dtype, batched)
        extra = (self.bias_k is not None) + self.add_zero_attn  # key/value positions appended to every sequence
        if extra:
            attn_mask, key_padding_mask = _pad_mask(attn_mask, extra), _pad_mask(key_padding_mask, extra)
            src_len += extra
        if is_causal and attn_mask is None:
            raise RuntimeError("MultiheadAttention: is_causal=True needs attn_mask (is_causal is a hint that "
                               "attn_mask is the causal mask); pass attn_mask=nn.Transformer."
                               "generate_square_subsequent_mask(L)")
        causal = False
        if is_causal and key_padding_mask is None and not need_weights:
            attn_mask, causal = None, True  # the hint: run the causal kernel instead of reading the mask
        mask = _merge_masks(attn_mask, key_padding_mask, n, H, length, src_len, query.dtype)
        p = self.dropout if self.training else 0.0
        scale = 1.0 / math.sqrt(self.head_dim)
        weights = None
        if same and self._qkv_same_embed_dim and not need_weights and not extra:
            qkv = linear(query, self.in_proj_weight, self.in_proj_bias)
            o = FA.PackedSelfAttention.apply(qkv, mask, heads=H, batch_first=bf, scale=scale, causal=causal,
                                             dropout_p=p, safe=True)
        else:
            q, k, v = self._in_projection(query, key, value, same, kv_same)
            if self.bias_k is not None:  # one learnt key and value appended to every sequence
                axis = 1 if bf else 0
                reps = (n, 1, 1) if bf else (1, n, 1)
                k = cat([k, self.bias_k.repeat(*reps)], dim=axis)
                v = cat([v, self.bias_v.repeat(*reps)], dim=axis)
            q, k, v = (_split_heads(t, H, bf) for t in (q, k, v))
            if self.add_zero_attn:  # and a zero key and value, after them
                z = zeros(n, H, 1, self.head_dim, dtype=k.dtype, device=k.device)
                k, v = cat([k, z], dim=2), cat([v, z], dim=2)
            if need_weights:
                s = q @ k.transpose(-1, -2)
                w = FA.masked_softmax(s, mask, scale=scale, safe=False)
                if p > 0:
                    w = _dropout(w, p, True)
                o4 = w @ v
                weights = w.mean(dim=1) if average_attn_weights else w
                if not batched:
                    weights = weights[0]
            else:
                o4 = FA.ScaledDotProductAttention.apply(q, k, v, mask, scale=scale, causal=causal, dropout_p=p,
                                                        safe=True)
            o = _merge_heads(o4, bf)
        W, b = self.out_proj.weight_and_bias()
        out = linear(o, W, b)
        return (out if batched else out[0]), weights

    def _in_projection(self, query, key, value, same, kv_same):
        E, b = self.embed_dim, self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:E], b[E:2 * E], b[2 * E:])
        if not self._qkv_same_embed_dim:
            return (linear(query, self.q_proj_weight, bq), linear(key, self.k_proj_weight, bk),
                    linear(value, self.v_proj_weight, bv))
        W = self.in_proj_weight
        if same:
            qkv = linear(query, W, b)
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        q = linear(query, W[:E], bq)
        if kv_same:
            kv = linear(key, W[E:], None if b is None else b[E:])
            return q, kv[..., :E], kv[..., E:]
        return q, linear(key, W[E:2 * E], bk), linear(value, W[2 * E:], bv)

    # ----------------------------------------------------------------- checks
    def _check(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        nd = getattr(query, "ndim", None)
        if nd not in (2, 3):
            raise ValueError(f"MultiheadAttention: query must be 3-D ({'(N, L, E)' if self.batch_first else '(L, N, E)'}"
                             f") or 2-D unbatched (L, E), got shape {tuple(getattr(query, 'shape', ()))}")
        for name, t in (("key", key), ("value", value)):
            if getattr(t, "ndim", None) != nd:
                raise ValueError(f"MultiheadAttention: for a {nd}-D query, {name} must be {nd}-D too, got shape "
                                 f"{tuple(getattr(t, 'shape', ()))}")
        for name, t, want in (("query", query, self.embed_dim), ("key", key, self.kdim),
                              ("value", value, self.vdim)):
            if t.shape[-1] != want:
                raise ValueError(f"MultiheadAttention: {name} must have {want} features (last dim; "
                                 f"{'embed_dim' if name == 'query' else name[0] + 'dim'}={want}), got shape "
                                 f"{tuple(t.shape)}")
        if tuple(key.shape[:-1]) != tuple(value.shape[:-1]):
            raise ValueError(f"MultiheadAttention: key and value must have the same length and batch, got key "
                             f"{tuple(key.shape)} and value {tuple(value.shape)}")
        if nd == 3:
            bdim = 0 if self.batch_first else 1
            if query.shape[bdim] != key.shape[bdim]:
                raise ValueError(f"MultiheadAttention: query and key must have the same batch size (dim {bdim}"
                                 f"{', batch_first' if self.batch_first else ''}), got query {tuple(query.shape)} "
                                 f"and key {tuple(key.shape)}")
        if np.dtype(query.dtype).kind != "f":
            raise TypeError(f"MultiheadAttention: expected a floating query, got dtype {np.dtype(query.dtype)}")
        return nd == 3

    def _check_masks(self, kpm, attn_mask, n, length, src_len, dtype, batched) -> None:
        op = "MultiheadAttention"
        for name, m in (("key_padding_mask", kpm), ("attn_mask", attn_mask)):
            if m is None:
                continue
            dt = np.dtype(m.dtype)
            if dt != np.bool_ and dt != np.dtype(dtype):
                raise TypeError(f"{op}: {name} must be bool (True: masked out) or a float mask of the query's "
                                f"dtype {np.dtype(dtype)}, got dtype {dt}")
        if kpm is not None and tuple(kpm.shape) != (n, src_len):
            want = f"({n}, {src_len}) (N, S)" if batched else f"({src_len},) (S,)"
            got = tuple(kpm.shape) if batched else tuple(kpm.shape[1:])
            raise ValueError(f"{op}: key_padding_mask must have shape {want}, got {got}")
        if attn_mask is not None:
            shapes = [(length, src_len), (n * self.num_heads if batched else self.num_heads, length, src_len)]
            if tuple(attn_mask.shape) not in shapes:
                raise ValueError(f"{op}: attn_mask must have shape {shapes[0]} (L, S) or {shapes[1]} "
                                 f"({'N·num_heads' if batched else 'num_heads'}, L, S), got "
                                 f"{tuple(attn_mask.shape)}")

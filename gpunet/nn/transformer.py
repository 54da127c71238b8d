"""Transformer encoder layers, as ``torch.nn.TransformerEncoderLayer`` / ``TransformerEncoder`` (same arguments,
submodule names and parameter layouts, so a PyTorch ``state_dict`` loads), and the causal mask of
``Transformer.generate_square_subsequent_mask`` (the decoder and ``Transformer``: :mod:`.transformer_decoder`)."""
from __future__ import annotations

import copy

import numpy as np

from .. import backend as _backend
from ..autograd.tensor import Tensor, get_default_dtype
from ..functional import activation as _act
from ..functional.linear import linear
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .layer_norm import LayerNorm
from .linear import Linear
from .module import Module

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
    """The (sz, sz) causal mask of PyTorch: 0 on and below the diagonal, −inf above (position i sees j ≤ i)."""
    be = _backend.current() if device is None else _backend.get(device)
    dt = np.dtype(dtype) if dtype is not None else get_default_dtype()
    host = np.triu(np.full((sz, sz), -np.inf, dtype=dt), k=1)
    return Tensor._make(be.asarray(host), False, None)


def _activation_code(activation):
    """(fused code for ``linear(activation=)`` or None, the callable stored as ``self.activation``)."""
    if isinstance(activation, str):
        if activation == "relu":
            return "relu", _act.relu
        if activation == "gelu":
            return "gelu", _act.gelu
        raise RuntimeError(f"TransformerEncoderLayer: activation should be relu/gelu, not {activation}")
    if not callable(activation):
        raise TypeError(f"TransformerEncoderLayer: activation must be 'relu', 'gelu' or a callable, got "
                        f"{type(activation).__name__}")
    if activation is _act.relu or isinstance(activation, ReLU):
        return "relu", activation
    if activation is _act.gelu or (isinstance(activation, GELU) and getattr(activation, "approximate", "none")
                                   == "none"):
        return "gelu", activation
    return None, activation


def self_attention(layer, x, attn_mask, key_padding_mask, is_causal):
    """``dropout1(self_attn(x, x, x)[0])`` of an encoder or decoder ``layer``."""
    x = layer.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False,
                        is_causal=is_causal)[0]
    return layer.dropout1(x)


def feed_forward(layer, x):
    """``linear2(dropout(activation(linear1(x))))`` of an encoder or decoder ``layer`` (the activation fused with
    linear1 when it is relu or gelu)."""
    W, b = layer.linear1.weight_and_bias()
    if layer._fused_act is not None:
        h = linear(x, W, b, activation=layer._fused_act)
    else:
        h = layer.activation(linear(x, W, b))
    W, b = layer.linear2.weight_and_bias()
    return linear(layer.dropout(h), W, b)


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and a LayerNorm, as
    ``torch.nn.TransformerEncoderLayer``.

    Post-norm (default): ``x = norm1(x + SA(x))``, ``x = norm2(x + FF(x))``; ``norm_first``:
    ``x = x + SA(norm1(x))``, ``x = x + FF(norm2(x))``, with ``SA(x) = dropout1(self_attn(x, x, x)[0])`` and
    ``FF(x) = dropout2(linear2(dropout(activation(linear1(x)))))``. ``activation``: "relu", "gelu" (both run
    fused with linear1) or a callable. Input (L, N, E), or (N, L, E) with ``batch_first``, or unbatched (L, E).
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation="relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first,
                                            **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = bool(norm_first)
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self._fused_act, self.activation = _activation_code(activation)
        self.activation_relu_or_gelu = {"relu": 1, "gelu": 2}.get(self._fused_act, 0)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        return self_attention(self, x, attn_mask, key_padding_mask, is_causal)

    def _ff_block(self, x):
        return self.dropout2(feed_forward(self, x))


def _seq_len(src, batch_first: bool):
    shape = tuple(src.shape)
    if len(shape) == 2:
        return shape[0]
    return shape[1 if batch_first else 0]


def _is_causal_mask(mask, size) -> bool:
    """Whether ``mask`` (bool True: masked out, or float) is exactly the (size, size) causal mask (reads it)."""
    if tuple(mask.shape) != (size, size):
        return False
    m = mask.data if isinstance(mask, Tensor) else mask
    host = _backend.backend_of((m,)).to_host(m)
    masked = host if host.dtype == np.bool_ else np.isneginf(host)
    if host.dtype != np.bool_ and not np.all(masked | (host == 0)):
        return False
    return bool(np.array_equal(masked, np.triu(np.ones((size, size), bool), k=1)))


def clones(who: str, arg: str, kind: str, layer, num_layers: int) -> ModuleList:
    """``num_layers`` deep copies of ``layer`` (the stack ``who``'s argument ``arg``, a Module: a ``kind``), as
    torch's ``_get_clones``."""
    if not isinstance(layer, Module):
        raise TypeError(f"{who}: {arg} must be a Module (a {kind}), got {type(layer).__name__}")
    return ModuleList([copy.deepcopy(layer) for _ in range(int(num_layers))])


def detect_causal(layers, x, mask, is_causal) -> bool:
    """``is_causal``, or when it is None whether ``mask`` is the causal mask of ``x``'s sequence length (the
    layout read from the first layer's ``self_attn.batch_first``)."""
    if is_causal is not None:
        return bool(is_causal)
    first = layers[0] if len(layers) else None
    batch_first = bool(getattr(getattr(first, "self_attn", None), "batch_first", False))
    return mask is not None and _is_causal_mask(mask, _seq_len(x, batch_first))


class TransformerEncoder(Module):
    """A stack of ``num_layers`` deep copies of ``encoder_layer`` (``layers.0`` …), then ``norm`` if given, as
    ``torch.nn.TransformerEncoder``. ``is_causal=None`` detects a causal ``mask`` (then run by the causal kernel,
    the mask unread); ``enable_nested_tensor`` and ``mask_check`` are accepted for compatibility (no nested
    tensors here)."""

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        super().__init__()
        self.layers = clones("TransformerEncoder", "encoder_layer", "TransformerEncoderLayer", encoder_layer,
                             num_layers)
        self.num_layers = int(num_layers)
        self.norm = norm
        self.enable_nested_tensor = self.use_nested_tensor = bool(enable_nested_tensor)
        self.mask_check = bool(mask_check)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool | None = None):
        for name, m in (("mask", mask), ("src_key_padding_mask", src_key_padding_mask)):
            if m is not None and np.dtype(m.dtype) != np.bool_ and np.dtype(m.dtype).kind != "f":
                raise TypeError(f"TransformerEncoder: only bool and floating types of {name} are supported, got "
                                f"{np.dtype(m.dtype)}")
        is_causal = detect_causal(self.layers, src, mask, is_causal)
        out = src
        for mod in self.layers:
            out = mod(out, src_mask=mask, is_causal=is_causal, src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            out = self.norm(out)
        return out

"""Recurrent networks (RNN tanh/ReLU, LSTM, GRU): stacked, optionally bidirectional, as ``torch.nn``.

Each layer-direction over the whole sequence is one :class:`~._rnn_layer.RecurrentLayer` node; this module checks
the input and the initial states with PyTorch's messages, runs the layers (time-major inside), joins the two
directions, applies dropout between layers in training, and assembles ``output, h_n`` (``output, (h_n, c_n)``).
Cells (one step) are the same node over a sequence of length 1.
"""
from __future__ import annotations

import numpy as np

from ..autograd.creation import as_tensor
from ..autograd.tensor import Tensor
from ._rnn_layer import GATES, RecurrentLayer
from .dropout import dropout as _dropout
from .shape import Concatenate, Stack

__all__ = ["check_input_tensor", "recurrent", "recurrent_cell", "stack_layers"]

_NAMES = {"rnn_tanh": "RNN", "rnn_relu": "RNN", "lstm": "LSTM", "gru": "GRU"}


def check_input_tensor(x, name: str, ref: Tensor) -> Tensor:
    """``x`` as a Tensor on ``ref``'s device (a NumPy/CuPy array is wrapped); a TypeError for anything else."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray) or hasattr(x, "__cuda_array_interface__"):
        t = as_tensor(x)
        return t if t.device == ref.device else t.to(ref.device)
    kind = type(x).__name__
    hint = (" For variable-length sequences pass a gpunet.nn.utils.rnn.PackedSequence (pack_padded_sequence)"
            if isinstance(x, tuple) else "")
    raise TypeError(f"{name}: expected the input as a Tensor, a NumPy/CuPy array or a PackedSequence, got "
                    f"{kind}.{hint}")


def _state(h, name: str, what: str, ref: Tensor) -> Tensor:
    if isinstance(h, Tensor):
        return h
    if isinstance(h, np.ndarray) or hasattr(h, "__cuda_array_interface__"):
        t = as_tensor(h, dtype=ref.dtype)
        return t if t.device == ref.device else t.to(ref.device)
    raise TypeError(f"{name}: expected {what} as a Tensor, got {type(h).__name__}")


def _check_hidden(h, expected, name, label, batch_first, x_shape):
    got = tuple(h.shape)
    if got != tuple(expected):
        hint = ""
        if len(got) == len(expected) and len(x_shape) == 3 and got[:1] + got[2:] == tuple(expected[:1]) + \
                tuple(expected[2:]) and got[1] == x_shape[0]:  # the state's batch is the input's time axis
            hint = (f"; the input looks {'time' if batch_first else 'batch'}-first: build the module with "
                    f"batch_first={not batch_first} or transpose the input")
        raise RuntimeError(f"{name}: Expected {label} size {tuple(expected)}, got {list(got)}{hint}")


def recurrent(mode: str, x, hx, weights, num_layers: int, bidirectional: bool, hidden_size: int,
              input_size: int, batch_first: bool = False, dropout: float = 0.0, training: bool = False,
              proj_size: int = 0):
    """Run a stacked recurrent network; ``weights`` is the flat list (w_ih, w_hh, b_ih, b_hh) per layer and
    direction in PyTorch's order (biases None without bias; with ``proj_size``, an LSTM's w_hr after them).
    Returns ``(output, h_n)`` or, for ``"lstm"``, ``(output, (h_n, c_n))``, shaped as torch's."""
    name = _NAMES[mode]
    ref = weights[0]
    from ..nn.utils.rnn import PackedSequence  # (gpunet.nn imports this module)

    packed = x if isinstance(x, PackedSequence) else None
    x = check_input_tensor(x if packed is None else packed.data, name, ref)
    if packed is not None and x.ndim != 2:
        raise ValueError(f"{name}: expected a PackedSequence's data to be 2-D (sum of lengths, H_in), got "
                         f"{x.ndim}-D")
    if x.ndim not in (2, 3):
        raise ValueError(f"{name}: Expected input to be 2D (L, H_in) or 3D ({'N, L' if batch_first else 'L, N'}, "
                         f"H_in), got {x.ndim}D instead")
    if x.shape[-1] != input_size:
        raise RuntimeError(f"{name}: input.size(-1) must be equal to input_size. Expected {input_size}, got "
                           f"{x.shape[-1]}")
    lstm = mode == "lstm"
    D = 2 if bidirectional else 1
    batched = x.ndim == 3 or packed is not None
    if packed is not None:
        batch_sizes = packed.batch_sizes
        L, N = len(batch_sizes), (int(batch_sizes[0].item()) if len(batch_sizes) else 0)
    else:
        if batched and batch_first:
            x = x.transpose(0, 1)
        if not batched:
            x = x.reshape(x.shape[0], 1, x.shape[1])
        L, N = x.shape[0], x.shape[1]
    out_size = proj_size or hidden_size  # the features of h (and of the output) per direction
    exp = (D * num_layers, N, out_size) if batched else (D * num_layers, out_size)
    exp_c = (D * num_layers, N, hidden_size) if batched else (D * num_layers, hidden_size)
    h0 = c0 = None
    if hx is not None:
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"LSTM: expected hx as a tuple (h_0, c_0), got {type(hx).__name__}")
            h0, c0 = (_state(h, name, w, ref) for h, w in zip(hx, ("h_0", "c_0")))
            states = ((h0, "hidden[0]"), (c0, "hidden[1]"))
        else:
            h0 = _state(hx, name, "h_0", ref)
            states = ((h0, "hidden"),)
        for h, label in states:
            if batched and h.ndim != 3:
                raise RuntimeError(f"{name}: For batched 3-D input, hx should also be 3-D but got {h.ndim}-D "
                                   f"tensor")
            if not batched and h.ndim != 2:
                raise RuntimeError(f"{name}: For unbatched 2-D input, hx should also be 2-D but got {h.ndim}-D "
                                   f"tensor")
            _check_hidden(h, exp_c if label == "hidden[1]" else exp, name, label, batch_first,
                          tuple(x.shape) if batched and packed is None else ())
        if not batched:
            h0 = h0.reshape(D * num_layers, 1, out_size)
            c0 = c0.reshape(D * num_layers, 1, hidden_size) if lstm else None
    if proj_size:
        if packed is not None:
            raise NotImplementedError("LSTM: proj_size > 0 with a PackedSequence input is not implemented; pad the "
                                      "batch (pad_packed_sequence) and pass the tensor")
        from . import _lstm_proj

        output, h_n, c_n = _lstm_proj.run(x, h0, c0, weights, num_layers, D, lambda: _zeros(ref, N, proj_size),
                                          lambda: _zeros(ref, N, hidden_size), dropout, training)
        if not batched:
            output = output.reshape(L, D * proj_size)
            h_n, c_n = h_n.reshape(D * num_layers, proj_size), c_n.reshape(D * num_layers, hidden_size)
        elif batch_first:
            output = output.transpose(0, 1)
        return output, (h_n, c_n)
    if packed is not None:
        from . import _rnn_packed

        data, h_n, c_n = _rnn_packed.run(mode, x, packed.batch_sizes.tolist(), packed.sorted_indices,
                                         packed.unsorted_indices, h0, c0, weights, num_layers, D, dropout, training,
                                         lambda n: _zeros(ref, n, hidden_size))
        out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        return (out, (h_n, c_n)) if lstm else (out, h_n)
    zero = _zeros(ref, N, hidden_size) if h0 is None else None

    def direction(inp, k, reverse):
        hk, ck = (zero, zero if lstm else None) if h0 is None else (h0[k], c0[k] if lstm else None)
        S = RecurrentLayer.apply(inp, hk, ck, *weights[4 * k:4 * k + 4], mode=mode, reverse=reverse)
        out, h = (S[0:L], S[0]) if reverse else (S[1:L + 1], S[L])
        return out, h, (S[L + 1] if lstm else None)
    output, hs, cs = stack_layers(x, num_layers, D, direction, dropout, training)
    h_n = hs[0].reshape(1, N, hidden_size) if len(hs) == 1 else Stack.apply(*hs, axis=0)
    c_n = None
    if lstm:
        c_n = cs[0].reshape(1, N, hidden_size) if len(cs) == 1 else Stack.apply(*cs, axis=0)
    if not batched:
        output = output.reshape(L, D * hidden_size)
        h_n = h_n.reshape(D * num_layers, hidden_size)
        c_n = c_n.reshape(D * num_layers, hidden_size) if lstm else None
    elif batch_first:
        output = output.transpose(0, 1)
    return (output, (h_n, c_n)) if lstm else (output, h_n)


def stack_layers(inp, num_layers: int, D: int, direction, dropout: float, training: bool):
    """``(output, [h_n], [c_n])`` of the stacked network: per layer the ``D`` directions' outputs of
    ``direction(inp, k, reverse) -> (out, h, c)`` (k = layer·D + d) joined along the last axis, dropout between
    layers in training; the final states in PyTorch's order."""
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            out, h, c = direction(inp, layer * D + d, d == 1)
            outs.append(out)
            hs.append(h)
            cs.append(c)
        inp = outs[0] if D == 1 else Concatenate.apply(*outs, axis=outs[0].ndim - 1)
        if training and dropout > 0 and layer < num_layers - 1:
            inp = _dropout(inp, dropout, True)
    return inp, hs, cs


def _zeros(ref: Tensor, n: int, h: int):
    from .. import backend as _backend

    return _backend.backend_of((ref.data,)).xp.zeros((n, h), dtype=ref.dtype)


def recurrent_cell(mode: str, x, hx, w_ih, w_hh, b_ih, b_hh, hidden_size: int, input_size: int, name: str):
    """One step of a cell: ``x`` (N, H_in) or (H_in,), ``hx`` None, h (N, H) or, for ``"lstm"``, (h, c).
    Returns h' (and c' for LSTM), shaped as the input (unbatched in, unbatched out)."""
    x = check_input_tensor(x, name, w_ih)
    if x.ndim not in (1, 2):
        raise ValueError(f"{name}: Expected input to be 1D or 2D, got {x.ndim}D instead")
    if x.shape[-1] != input_size:
        raise RuntimeError(f"{name}: input has inconsistent input_size: got {x.shape[-1]} expected {input_size}")
    batched = x.ndim == 2
    n = x.shape[0] if batched else 1
    lstm = mode == "lstm"
    if hx is None:
        z = _zeros(w_ih, n, hidden_size)
        h, c = z, (z if lstm else None)
    else:
        if lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"{name}: expected hx as a tuple (h_0, c_0), got {type(hx).__name__}")
            h, c = (_state(s, name, w, w_ih) for s, w in zip(hx, ("h_0", "c_0")))
            pairs = ((h, "hx[0]"), (c, "hx[1]"))
        else:
            h, c = _state(hx, name, "hx", w_ih), None
            pairs = ((h, "hx"),)
        exp = (n, hidden_size) if batched else (hidden_size,)
        for s, label in pairs:
            if tuple(s.shape) != exp:
                raise RuntimeError(f"{name}: Expected {label} of shape {exp} for input of shape "
                                   f"{tuple(x.shape)}, got {tuple(s.shape)}")
        if not batched:
            h = h.reshape(1, hidden_size)
            c = c.reshape(1, hidden_size) if lstm else None
    S = RecurrentLayer.apply(x.reshape(1, n, input_size), h, c, w_ih, w_hh, b_ih, b_hh, mode=mode, reverse=False)
    h1 = S[1] if batched else S[1, 0]
    if lstm:
        return h1, (S[2] if batched else S[2, 0])
    return h1


assert set(GATES) == set(_NAMES)

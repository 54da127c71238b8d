"""Recurrent layers shaped like ``torch.nn``: RNN (tanh / ReLU), LSTM, GRU; the cells are in :mod:`.rnn_cells`.

Parameters are named and registered in PyTorch's order (``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``,
``bias_hh_l{k}``, then the same with ``_reverse`` for the backward direction, layer by layer), with PyTorch's
layouts and gate orders (LSTM i, f, g, o; GRU r, z, n), so a torch ``state_dict`` loads and gives the same
numbers. Every parameter starts U(−1/√H, 1/√H).
"""
from __future__ import annotations

import math
import numbers
import warnings

from .. import init
from ..functional._rnn_layer import GATES
from ..functional.recurrent import recurrent
from .module import Module
from .parameter import Parameter, empty

__all__ = ["GRU", "LSTM", "RNN", "RNNBase"]


class RNNBase(Module):
    """The stacked recurrent network behind :class:`RNN`, :class:`LSTM` and :class:`GRU`."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__()
        name = type(self).__name__
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an "
                             "element being zeroed")
        for what, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if not isinstance(v, numbers.Integral) or isinstance(v, bool):
                raise TypeError(f"{name}: {what} should be of type int, got: {type(v).__name__}")
        if hidden_size <= 0:
            raise ValueError(f"{name}: hidden_size must be greater than zero, got {hidden_size}")
        if num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be greater than zero, got {num_layers}")
        if input_size < 0:
            raise ValueError(f"{name}: input_size must be non-negative, got {input_size}")
        if not isinstance(proj_size, numbers.Integral) or isinstance(proj_size, bool) or proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size and mode != "lstm":
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if proj_size and proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers="
                          f"{num_layers}", stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bool(bias), bool(batch_first), float(dropout)
        self.bidirectional, self.proj_size = bool(bidirectional), int(proj_size)
        D = 2 if bidirectional else 1
        G = GATES[mode] * hidden_size
        h_size = proj_size or hidden_size  # the recurrent state's features
        self._flat_weights_names = []
        for layer in range(num_layers):
            for d in range(D):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                in_size = input_size if layer == 0 else h_size * D
                shapes = [("weight_ih", (G, in_size)), ("weight_hh", (G, h_size))]
                if bias:
                    shapes += [("bias_ih", (G,)), ("bias_hh", (G,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                for base, shape in shapes:
                    setattr(self, base + sfx, Parameter(empty(shape, device, dtype)))
                    self._flat_weights_names.append(base + sfx)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """No-op (kept for PyTorch code that calls it: the weights are used in place)."""

    @property
    def all_weights(self):
        """Per layer-direction, its parameters ``[w_ih, w_hh, b_ih, b_hh(, w_hr)]`` (as torch)."""
        n = (4 if self.bias else 2) + (1 if self.proj_size else 0)
        ws = [getattr(self, k) for k in self._flat_weights_names]
        return [ws[i:i + n] for i in range(0, len(ws), n)]

    def _weights(self):
        p = self._parameters
        out = []
        for layer in range(self.num_layers):
            for d in range(2 if self.bidirectional else 1):
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                out += [p["weight_ih" + sfx], p["weight_hh" + sfx], p.get("bias_ih" + sfx), p.get("bias_hh" + sfx)]
                if self.proj_size:
                    out.append(p["weight_hr" + sfx])
        return out

    def forward(self, input, hx=None):
        return recurrent(self.mode, input, hx, self._weights(), self.num_layers, self.bidirectional,
                         self.hidden_size, self.input_size, self.batch_first, self.dropout, self.training,
                         self.proj_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        return s


class RNN(RNNBase):
    """Elman RNN: h_t = act(x_t W_ihᵀ + b_ih + h_{t−1} W_hhᵀ + b_hh), act ``nonlinearity`` "tanh" or "relu".

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)``; ``forward(input, h_0=None) -> (output, h_n)``: input (L, N, H_in)
    ((N, L, H_in) with batch_first, or unbatched (L, H_in)), h_0 and h_n (D·num_layers, N, H), output
    (L, N, D·H)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, 0, device, dtype)
        self.nonlinearity = nonlinearity

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(RNNBase):
    """LSTM with PyTorch's gate order (i, f, g, o): i, f, o = σ(·), g = tanh(·), c_t = f·c_{t−1} + i·g,
    h_t = o·tanh(c_t). ``forward(input, (h_0, c_0)=None) -> (output, (h_n, c_n))``. ``proj_size`` P > 0:
    h_t = W_hr·(o·tanh(c_t)) with ``weight_hr_l{k}`` (P, H); h_0, h_n and the output have P features per direction,
    c_0 and c_n H (it runs as the unrolled recurrence of ordinary ops, see :mod:`gpunet.functional._lstm_proj`)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(RNNBase):
    """GRU with PyTorch's gate order (r, z, n): r, z = σ(·), n = tanh(W_in x + b_in + r·(W_hn h + b_hn)),
    h_t = (1 − z)·n + z·h_{t−1}. ``forward(input, h_0=None) -> (output, h_n)``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         0, device, dtype)

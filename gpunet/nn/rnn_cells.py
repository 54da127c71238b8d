"""One-step recurrent cells shaped like ``torch.nn``: RNNCell, LSTMCell, GRUCell.

Parameters ``weight_ih`` (G·H, H_in), ``weight_hh`` (G·H, H), ``bias_ih``, ``bias_hh`` (G·H,) in PyTorch's
order and gate layout, all U(−1/√H, 1/√H). A step is one graph node (the recurrent layer over one time step):
two GEMMs and one fused gate kernel each way.
"""
from __future__ import annotations

import math

from .. import init
from ..functional._rnn_layer import GATES
from ..functional.recurrent import recurrent_cell
from .module import Module
from .parameter import Parameter, empty

__all__ = ["GRUCell", "LSTMCell", "RNNCell", "RNNCellBase"]


class RNNCellBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, bias: bool, device=None, dtype=None):
        super().__init__()
        if hidden_size <= 0:
            raise ValueError(f"{type(self).__name__}: hidden_size must be greater than zero, got {hidden_size}")
        self.mode = mode
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bool(bias)
        G = GATES[mode] * hidden_size
        self.weight_ih = Parameter(empty((G, input_size), device, dtype))
        self.weight_hh = Parameter(empty((G, hidden_size), device, dtype))
        if bias:
            self.bias_ih = Parameter(empty((G,), device, dtype))
            self.bias_hh = Parameter(empty((G,), device, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def forward(self, input, hx=None):
        p = self._parameters
        return recurrent_cell(self.mode, input, hx, p["weight_ih"], p["weight_hh"], p["bias_ih"], p["bias_hh"],
                              self.hidden_size, self.input_size, type(self).__name__)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        nl = getattr(self, "nonlinearity", "tanh")
        return s + (f", nonlinearity={nl!r}" if nl != "tanh" else "")


class RNNCell(RNNCellBase):
    """h' = act(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh), act "tanh" or "relu"; ``forward(input, hx=None) -> h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: Unknown nonlinearity: {nonlinearity!r}; select from 'tanh' or 'relu'")
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity


class LSTMCell(RNNCellBase):
    """One LSTM step (gates i, f, g, o); ``forward(input, (h, c)=None) -> (h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("lstm", input_size, hidden_size, bias, device, dtype)


class GRUCell(RNNCellBase):
    """One GRU step (gates r, z, n); ``forward(input, hx=None) -> h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None):
        super().__init__("gru", input_size, hidden_size, bias, device, dtype)

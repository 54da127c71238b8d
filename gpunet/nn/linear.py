"""Linear layer (with an optional fused activation), Identity and Flatten."""
from __future__ import annotations

import math

from .. import init
from ..functional.linear import linear, normalize_activation
from .module import Module
from .parameter import Parameter, empty

__all__ = ["Linear", "Identity", "Flatten"]


class Linear(Module):
    """``y = act(x Wᵀ + b)`` with ``weight`` (out_features, in_features) and ``bias`` (out_features,).

    PyTorch's default initialisation: W ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a = √5) and
    b ~ U(−1/√in, 1/√in), drawn from the host generator so one seed gives the same weights on CPU and GPU.
    ``activation``: None/"identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh" or "silu",
    run fused with the affine map in one op.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str | None = None,
                 device=None, dtype=None):
        super().__init__()
        act = normalize_activation(activation)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.activation = None if act == "identity" else act
        self.weight = Parameter(empty((out_features, in_features), device, dtype))
        if bias:
            self.bias = Parameter(empty((out_features,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        W, b = self.weight_and_bias()
        return linear(x, W, b, activation=self.activation)

    def weight_and_bias(self):
        """``(weight, bias)``, read from the parameter table directly where both are registered there:
        ``self.weight`` first fails the instance lookup (an AttributeError built and dropped) before
        ``Module.__getattr__`` finds it, which costs more than the rest of a small layer's bookkeeping."""
        p = self._parameters
        if "weight" in p and "bias" in p:
            return p["weight"], p["bias"]
        return self.weight, self.bias

    def extra_repr(self) -> str:
        s = f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
        return s + (f", activation={self.activation!r}" if self.activation is not None else "")


class Identity(Module):
    """``y = x`` (accepts and ignores any constructor arguments, as torch)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x


class Flatten(Module):
    """Flatten dims ``start_dim``..``end_dim`` into one: (N, C, L) -> (N, C·L) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

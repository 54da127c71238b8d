"""Activation modules: thin wrappers over :mod:`gpunet.functional.activation` (same arguments as PyTorch)."""
from __future__ import annotations

import importlib

from .module import Module

__all__ = ["ReLU", "Sigmoid", "Tanh", "LeakyReLU", "ELU", "Softmax", "LogSoftmax", "Step", "GELU", "SiLU",
           "Softplus", "Hardtanh", "Maxout", "ReLU6", "SELU", "Mish", "Hardswish", "LogSigmoid", "GLU", "PReLU"]

_ACT = None


def _F():
    """gpunet.functional.activation, imported on first use."""
    global _ACT
    if _ACT is None:
        _ACT = importlib.import_module("gpunet.functional.activation")
    return _ACT


class _Inplace(Module):
    """An activation with torch's ``inplace`` flag (the result written into the input: a recorded write)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class ReLU(_Inplace):
    """max(x, 0)."""

    def forward(self, x):
        return _F().relu(x, self.inplace)


class Sigmoid(Module):
    """1 / (1 + e^−x)."""

    def forward(self, x):
        return _F().sigmoid(x)


class Tanh(Module):
    """tanh(x)."""

    def forward(self, x):
        return _F().tanh(x)


class Step(Module):
    """Heaviside step: 1 where x > 0, else 0 (zero gradient)."""

    def forward(self, x):
        return _F().step(x)


class SiLU(_Inplace):
    """x · sigmoid(x)."""

    def forward(self, x):
        return _F().silu(x, self.inplace)


class LeakyReLU(Module):
    """x where x > 0, else negative_slope · x."""

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, bool(inplace)

    def forward(self, x):
        return _F().leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    """x where x > 0, else alpha · (e^x − 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, bool(inplace)

    def forward(self, x):
        return _F().elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    """x · Φ(x) (approximate='none', exact erf) or its tanh approximation (approximate='tanh')."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return _F().gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softmax(Module):
    """e^{x_i} / Σ_j e^{x_j} along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _F().softmax(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """x_i − log Σ_j e^{x_j} along ``dim``."""

    def forward(self, x):
        return _F().log_softmax(x, self.dim)


class Maxout(Module):
    """Maxout unit: a Linear to out_features·pieces, then the max over each group of ``pieces``.

    y_j = max_k (x Wᵀ + b)_{j·pieces + k}: the pre-activation (N, out·pieces) is viewed as (N, out, pieces).
    """

    def __init__(self, in_features: int, out_features: int, pieces: int, bias: bool = True):
        super().__init__()
        from .linear import Linear

        if pieces < 1:
            raise ValueError(f"Maxout: pieces must be at least 1, got {pieces}")
        self.in_features, self.out_features, self.pieces = in_features, out_features, pieces
        self.linear = Linear(in_features, out_features * pieces, bias=bias)

    def forward(self, x):
        return _F().maxout(self.linear(x), self.pieces)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, pieces={self.pieces}"


class Softplus(Module):
    """(1/β)·log(1 + e^{βx}) (x itself where βx > threshold)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return _F().softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """min(max(x, min_val), max_val)."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, bool(inplace)

    def forward(self, x):
        return _F().hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}" + (", inplace=True" if self.inplace else "")


def _X():
    return importlib.import_module("gpunet.functional.activation_extra")


class ReLU6(_Inplace):
    """min(max(x, 0), 6)."""

    def forward(self, x):
        return _X().relu6(x, self.inplace)


class SELU(_Inplace):
    """λ·(max(0, x) + min(0, α(eˣ − 1))) (self-normalising)."""

    def forward(self, x):
        return _X().selu(x, self.inplace)


class Mish(_Inplace):
    """x·tanh(softplus(x))."""

    def forward(self, x):
        return _X().mish(x, self.inplace)


class Hardswish(_Inplace):
    """x·relu6(x + 3)/6."""

    def forward(self, x):
        return _X().hardswish(x, self.inplace)


class LogSigmoid(Module):
    """log σ(x)."""

    def forward(self, x):
        return _X().logsigmoid(x)


class GLU(Module):
    """a ⊙ σ(b) for the two halves a, b of the input along ``dim``."""

    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return _X().glu(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class PReLU(Module):
    """x where x > 0, else a·x with a learnt slope ``a``: one (``num_parameters=1``) or one per channel (dim 1),
    initialised to ``init``; the parameter is ``weight``, as torch's."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        from .parameter import Parameter, empty

        if num_parameters < 1:
            raise ValueError(f"PReLU: num_parameters must be at least 1, got {num_parameters}")
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty((num_parameters,), device, dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        from .. import init as _init

        _init.constant_(self.weight, self.init)

    def forward(self, x):
        return _X().prelu(x, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softsign(Module):
    """x / (1 + |x|)."""

    def forward(self, x):
        return _X().softsign(x)


class Threshold(Module):
    """x where x > ``threshold``, else ``value``, as ``torch.nn.Threshold``."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x):
        return _X().threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class Softmax2d(Module):
    """Softmax over the channels (dim −3) of (N, C, H, W) or (C, H, W), as ``torch.nn.Softmax2d``."""

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ValueError(f"Softmax2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                             f"{tuple(x.shape)}")
        return _F().softmax(x, dim=-3)

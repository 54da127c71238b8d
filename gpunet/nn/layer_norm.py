"""LayerNorm, RMSNorm and GroupNorm, shaped like ``torch.nn`` (parameter names and shapes as PyTorch's, so a
PyTorch ``state_dict`` loads)."""
from __future__ import annotations

from .. import init
from ..functional.group_norm import group_norm
from ..functional.layer_norm import layer_norm, normalized_shape_tuple, rms_norm
from .module import Module
from .parameter import Parameter, empty

__all__ = ["LayerNorm", "RMSNorm", "GroupNorm"]


class LayerNorm(Module):
    """Layer normalisation over the last ``len(normalized_shape)`` dimensions, as ``torch.nn.LayerNorm``:
    y = (x − E[x]) / √(Var[x] + eps) · weight + bias (biased variance). ``weight`` (ones) and ``bias`` (zeros)
    have shape ``normalized_shape``; ``elementwise_affine=False`` has neither, ``bias=False`` no bias."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "LayerNorm")
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        _affine_parameters(self, self.normalized_shape, self.elementwise_affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """Root-mean-square normalisation over the last ``len(normalized_shape)`` dimensions, as
    ``torch.nn.RMSNorm``: y = x / √(mean(x²) + eps) · weight; ``eps=None`` is the machine epsilon of the input's
    dtype. ``weight`` (ones, shape ``normalized_shape``) unless ``elementwise_affine=False``."""

    def __init__(self, normalized_shape, eps: float | None = None, elementwise_affine: bool = True, device=None,
                 dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "RMSNorm")
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        _affine_parameters(self, self.normalized_shape, self.elementwise_affine, None, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x):
        return rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalisation, as ``torch.nn.GroupNorm``: the C channels of (N, C, *) input split into
    ``num_groups`` groups; each (sample, group) is normalised over its channels and positions, then
    y = x̂ · weight[c] + bias[c] per channel (``affine``: weight ones, bias zeros, shape (C,); ``bias=False``:
    the scale only)."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, device=None,
                 dtype=None, *, bias: bool = True):
        super().__init__()
        num_groups, num_channels = int(num_groups), int(num_channels)
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels={num_channels} must be divisible by num_groups={num_groups}"
                             f"; pick a number of groups that divides the channels (e.g. "
                             f"{_divisor_near(num_channels, num_groups)})")
        self.num_groups, self.num_channels, self.eps, self.affine = num_groups, num_channels, eps, bool(affine)
        _affine_parameters(self, (num_channels,), self.affine, bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, x):
        return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


def _affine_parameters(module, shape, affine: bool, bias, device, dtype) -> None:
    """Register ``module``'s ``weight`` (and, unless ``bias`` is None, its ``bias``) of ``shape``: Parameters when
    ``affine`` (and ``bias``) is true, else None as torch registers them; then initialise them."""
    module.register_parameter("weight", Parameter(empty(shape, device, dtype)) if affine else None)
    if bias is not None:
        module.register_parameter("bias", Parameter(empty(shape, device, dtype)) if affine and bias else None)
    module.reset_parameters()


def _reset_affine(module) -> None:
    """``weight`` ones and ``bias`` zeros (where they are Parameters), as torch's normalisation layers."""
    if module.weight is not None:
        init.ones_(module.weight)
    if getattr(module, "bias", None) is not None:
        init.zeros_(module.bias)


def _divisor_near(n: int, g: int) -> int:
    """The divisor of ``n`` closest to ``g`` (for an error message)."""
    if n <= 0:
        return 1
    return min((d for d in range(1, n + 1) if n % d == 0), key=lambda d: (abs(d - g), d))

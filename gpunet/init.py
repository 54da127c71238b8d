"""Weight initialisation, as ``torch.nn.init``: in place on a Tensor or Parameter, returning it.

Random values are drawn on the host from :func:`gpunet.backend.host_rng` (seeded by ``gn.manual_seed``) in
float64, cast to the tensor's dtype and copied to its device, so one seed gives the same weights on CPU and GPU.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import backend as _backend
from .autograd.inplace import bump
from .autograd.tensor import Tensor

__all__ = ["calculate_gain", "uniform_", "normal_", "constant_", "ones_", "zeros_", "xavier_uniform_",
           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "lecun_normal_", "trunc_normal_", "orthogonal_"]

_LINEAR_FNS = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
               "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for ``nonlinearity`` (as torch): linear/identity/conv/sigmoid 1, tanh 5/3,
    relu √2, leaky_relu √(2 / (1 + slope²)) (slope ``param``, default 0.01), selu 3/4."""
    if nonlinearity in _LINEAR_FNS:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, numbers.Number) and not isinstance(param, bool):
            slope = float(param)
        else:
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join(_LINEAR_FNS + ('tanh', 'relu', 'leaky_relu', 'selu'))}")


def _calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive field (receptive = Π shape[2:])."""
    shape = tuple(tensor.shape)
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out can not be computed for a tensor with fewer than 2 dimensions "
                         f"(got shape {shape})")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} is not supported; use 'fan_in' or 'fan_out'")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _check(tensor) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init: expected a gpunet Tensor or Parameter, got {type(tensor).__name__}")


def _fill_from_host(tensor: Tensor, host: np.ndarray) -> Tensor:
    """Copy host values into ``tensor``'s array in place (so optimizers holding it stay valid)."""
    be = _backend.backend_of((tensor.data,))
    tensor.data[...] = be.asarray(np.asarray(host).astype(tensor.dtype, copy=False))
    bump(tensor, False)  # an in-place write, as PyTorch counts it: a graph that saved the old values refuses
    return tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill with samples from U(a, b)."""
    _check(tensor)
    return _fill_from_host(tensor, _backend.host_rng().uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill with samples from N(mean, std²)."""
    _check(tensor)
    return _fill_from_host(tensor, _backend.host_rng().normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill with the value ``val``."""
    _check(tensor)
    tensor.data[...] = val
    bump(tensor, False)
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    """Fill with 1."""
    return constant_(tensor, 1)


def zeros_(tensor: Tensor) -> Tensor:
    """Fill with 0."""
    return constant_(tensor, 0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot uniform: U(−a, a) with a = gain·√(6 / (fan_in + fan_out))."""
    _check(tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot normal: N(0, std²) with std = gain·√(2 / (fan_in + fan_out))."""
    _check(tensor)
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def kaiming_uniform_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He uniform: U(−bound, bound) with bound = gain·√(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    _check(tensor)
    if tensor.numel() == 0:  # nothing to fill (torch warns and returns)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He normal: N(0, std²) with std = gain / √fan, gain = calculate_gain(nonlinearity, a)."""
    _check(tensor)
    if tensor.numel() == 0:  # nothing to fill (torch warns and returns)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def lecun_normal_(tensor: Tensor) -> Tensor:
    """LeCun normal: N(0, 1/fan_in)."""
    _check(tensor)
    fan_in, _ = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, 1.0 / math.sqrt(fan_in))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0) -> Tensor:
    """Samples of N(mean, std²) restricted to [a, b] (as ``torch.nn.init.trunc_normal_``; the bounds are
    absolute values, not multiples of std). Drawn by rejection: out-of-range draws are drawn again."""
    _check(tensor)
    if not a < b:
        raise ValueError(f"trunc_normal_: expected a < b, got a={a}, b={b}")
    if std <= 0:
        raise ValueError(f"trunc_normal_: std must be positive, got {std}")
    cdf = lambda x: 0.5 * (1 + math.erf((x - mean) / (std * math.sqrt(2))))  # noqa: E731
    mass = cdf(b) - cdf(a)
    if mass < 1e-3:
        raise ValueError(f"trunc_normal_: [{a}, {b}] holds only {mass:.1e} of N({mean}, {std}²): too far in the "
                         f"tail to sample by rejection; move the window towards the mean")
    rng = _backend.host_rng()
    out = rng.normal(mean, std, size=tensor.shape)
    bad = (out < a) | (out > b)
    while bad.any():
        out[bad] = rng.normal(mean, std, size=int(bad.sum()))
        bad = (out < a) | (out > b)
    return _fill_from_host(tensor, out)


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al.; as ``torch.nn.init.orthogonal_``): the QR
    factor of a Gaussian matrix, signs fixed by diag(R); dims after the first are flattened (rows = shape[0])."""
    _check(tensor)
    if tensor.ndim < 2:
        raise ValueError(f"orthogonal_: only tensors with 2 or more dimensions are supported, got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.size // rows
    flat = _backend.host_rng().normal(0.0, 1.0, size=(rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill_from_host(tensor, (q * gain).reshape(tensor.shape))

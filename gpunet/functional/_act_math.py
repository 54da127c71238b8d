"""Activation formulas shared by the activation ops and the fused linear+activation op.

``forward(xp, act, z, alpha)`` may overwrite ``z`` (it is a fresh pre-activation) and returns ``(y, saved)``;
``backward(xp, act, saved, grad, alpha)`` returns dL/dz. What is saved is the cheapest thing the derivative
needs: nothing (identity), a mask (ReLU, leaky ReLU), the output (sigmoid, tanh), or the input (GELU, SiLU).
"""
from __future__ import annotations

import math

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _erf(xp):
    if xp.__name__ == "numpy":
        try:
            from scipy.special import erf  # noqa: F401
            return erf
        except ImportError:
            return _np_erf
    import cupyx.scipy.special as sp

    return sp.erf


def _np_erf(x):
    """erf for NumPy without SciPy: math.erf vectorised (exact to double precision)."""
    import numpy as np

    return np.frompyfunc(math.erf, 1, 1)(x).astype(x.dtype)


def sigmoid(xp, z):
    """Numerically stable logistic: never exponentiates a positive number."""
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def forward(xp, act, z, alpha=0.01):
    if act == "identity" or act is None:
        return z, None
    if act == "relu":
        mask = z > 0
        return xp.maximum(z, 0), mask  # NaN stays NaN, as torch (maximum propagates it; where(z < 0, 0, z) was 18× slower)
    if act == "leaky_relu":
        mask = z > 0
        return xp.where(mask, z, z * alpha), mask
    if act == "sigmoid":
        y = sigmoid(xp, z)
        return y, y
    if act == "tanh":
        y = xp.tanh(z)
        return y, y
    if act == "gelu":
        cdf = 0.5 * (1 + _erf(xp)(z * _INV_SQRT2))
        return z * cdf, z
    if act == "gelu_tanh":
        inner = _SQRT_2_OVER_PI * (z + 0.044715 * z ** 3)
        return 0.5 * z * (1 + xp.tanh(inner)), z
    if act == "silu":
        return z * sigmoid(xp, z), z
    raise ValueError(f"unknown activation {act!r}")


def backward(xp, act, saved, g, alpha=0.01):
    if act == "identity" or act is None:
        return g
    if act == "relu":
        return g * saved
    if act == "leaky_relu":
        return xp.where(saved, g, g * alpha)
    if act == "sigmoid":
        return g * saved * (1 - saved)
    if act == "tanh":
        return g * (1 - saved * saved)
    if act == "gelu":
        z = saved
        cdf = 0.5 * (1 + _erf(xp)(z * _INV_SQRT2))
        pdf = xp.exp(-0.5 * z * z) * _INV_SQRT_2PI
        return g * (cdf + z * pdf)
    if act == "gelu_tanh":
        z = saved
        inner = _SQRT_2_OVER_PI * (z + 0.044715 * z ** 3)
        t = xp.tanh(inner)
        dinner = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z * z)
        return g * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * dinner)
    if act == "silu":
        s = sigmoid(xp, saved)
        return g * s * (1 + saved * (1 - s))
    raise ValueError(f"unknown activation {act!r}")

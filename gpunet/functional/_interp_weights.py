"""The resampling matrices of ``interpolate``'s separable modes, as PyTorch's CPU kernels compute their weights.

Each mode resizes one axis of length L to O as ``y = A · x`` with A of shape (O, L); a 2-D resize is
``A_h · x · A_wᵀ``. Rows hold 2 (linear), 4 (cubic) or ⌈L/O⌉ + 1 (area) non-zeros; the matrices are small and
dense, so forward and backward are batched GEMMs on every backend.

Source coordinates (``area_pixel_compute_source_index``): with ``align_corners`` ``src = o·(L − 1)/(O − 1)``;
without, ``src = (o + ½)·r − ½`` with r = 1/scale_factor when one is given (and not recomputed), L/O otherwise,
clamped at 0 for linear. Linear: the two neighbours ⌊src⌋ and min(⌊src⌋ + 1, L − 1) weighted 1 − t and t. Cubic:
Keys' kernel with A = −0.75 on ⌊src⌋ − 1 … ⌊src⌋ + 2, indices clamped to [0, L − 1]. Area: the mean over
[⌊o·L/O⌋, ⌈(o + 1)·L/O⌉), which is ``adaptive_avg_pool``. Weights are computed in the input's float type, as
PyTorch's ``opmath`` type for float32 and float64.
"""
from __future__ import annotations

import math

import numpy as np

CUBIC_A = -0.75


def _scale(size: int, out: int, align_corners: bool, scale, dt):
    if align_corners:
        return dt.type((size - 1) / (out - 1)) if out > 1 else dt.type(0)
    if scale is not None and scale > 0:
        return dt.type(1.0 / scale)
    return dt.type(size) / dt.type(out)


def _source(out: int, r, align_corners: bool, cubic: bool, dt):
    o = np.arange(out).astype(dt)
    if align_corners:
        return r * o
    src = r * (o + dt.type(0.5)) - dt.type(0.5)
    return src if cubic else np.maximum(src, dt.type(0))


def _cubic_weights(t, dt):
    A = dt.type(CUBIC_A)

    def conv1(x):
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def conv2(x):
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    one = dt.type(1)
    return np.stack([conv2(t + one), conv1(t), conv1(one - t), conv2(one - t + one)], axis=1)


def matrix(size: int, out: int, mode: str, align_corners: bool, scale, dtype) -> np.ndarray:
    """The (out, size) resampling matrix of ``mode`` ('linear', 'cubic' or 'area') along one axis."""
    dt = np.dtype(dtype)
    A = np.zeros((out, size), dtype=dt)
    rows = np.arange(out)
    if mode == "area":
        for o in range(out):
            start = (o * size) // out
            end = -(-((o + 1) * size) // out)
            A[o, start:end] = dt.type(1) / dt.type(end - start)
        return A
    if out == size:
        return np.eye(size, dtype=dt)
    r = _scale(size, out, align_corners, scale, dt)
    src = _source(out, r, align_corners, mode == "cubic", dt)
    i0 = np.minimum(np.floor(src).astype(np.int64), size - 1)  # guard_index_and_lambda
    t = np.clip(src - i0.astype(dt), 0, 1).astype(dt)
    if mode == "linear":
        i1 = np.minimum(i0 + 1, size - 1)
        np.add.at(A, (rows, i0), dt.type(1) - t)
        np.add.at(A, (rows, i1), t)
        return A
    w = _cubic_weights(t, dt)
    for k in range(4):
        np.add.at(A, (rows, np.clip(i0 - 1 + k, 0, size - 1)), w[:, k])
    return A


def out_size(size: int, scale: float) -> int:
    return int(math.floor(size * scale))

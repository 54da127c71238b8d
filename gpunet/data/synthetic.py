"""Tiny generated datasets for demos and tests: XOR and interleaved spirals."""
from __future__ import annotations

import numpy as np


def make_xor(n: int = 200, noise: float = 0.1, seed: int | None = 0, dtype=np.float32):
    """``(X, y)``: ``n`` points uniform in [−1, 1]², class ``y = 1`` where ``x₀·x₁ < 0`` (the XOR of the signs).

    Gaussian noise of standard deviation ``noise`` is added to ``X`` after labelling. ``X`` is (n, 2) of
    ``dtype``, ``y`` int64 (n,).
    """
    if n < 1 or noise < 0:
        raise ValueError(f"make_xor: need n >= 1 and noise >= 0, got n={n}, noise={noise}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = (X[:, 0] * X[:, 1] < 0).astype(np.int64)
    X += noise * rng.standard_normal(X.shape)
    return X.astype(dtype), y


def make_spiral(n_per_class: int = 100, classes: int = 3, noise: float = 0.2, seed: int | None = 0,
                dtype=np.float32):
    """``(X, y)``: ``classes`` interleaved spiral arms in the plane, ``n_per_class`` points each.

    Arm k: radius r = linspace(0, 1), angle θ = linspace(4k, 4(k+1)) + noise·N(0, 1), point r·(sin θ, cos θ).
    ``X`` is (n_per_class·classes, 2) of ``dtype``, ``y`` int64.
    """
    if n_per_class < 1 or classes < 2 or noise < 0:
        raise ValueError(f"make_spiral: need n_per_class >= 1, classes >= 2, noise >= 0; got "
                         f"n_per_class={n_per_class}, classes={classes}, noise={noise}")
    rng = np.random.default_rng(seed)
    r = np.tile(np.linspace(0.0, 1.0, n_per_class), classes)
    k = np.repeat(np.arange(classes), n_per_class)
    theta = np.concatenate([np.linspace(4.0 * c, 4.0 * (c + 1), n_per_class) for c in range(classes)])
    theta += noise * rng.standard_normal(theta.shape)
    X = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return X.astype(dtype), k.astype(np.int64)


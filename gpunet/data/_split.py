"""Train/test splitting and standardisation shared by the dataset loaders."""
from __future__ import annotations

import numpy as np


def check_test_size(test_size: float, where: str) -> float:
    test_size = float(test_size)
    if not 0.0 <= test_size < 1.0:
        raise ValueError(f"{where}: test_size must be a fraction in [0, 1), got {test_size}; "
                         f"e.g. test_size=0.2 keeps 20% of the samples for testing")
    return test_size


def split_indices(labels: np.ndarray, test_size: float, seed, stratify: bool = True):
    """``(train_idx, test_idx)``: a seeded shuffle, per class when ``stratify`` (each class keeps its share)."""
    rng = np.random.default_rng(seed)
    if not stratify:
        perm = rng.permutation(len(labels))
        n_test = int(round(test_size * len(labels)))
        return np.sort(perm[n_test:]), np.sort(perm[:n_test])
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = int(round(test_size * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def standardize(X_train: np.ndarray, X_test: np.ndarray):
    """``(X − μ) / σ`` with μ, σ per feature from the TRAIN split only (σ = 1 where a feature is constant)."""
    mu = X_train.mean(axis=0)
    sigma = X_train.std(axis=0)
    sigma[sigma == 0] = 1.0
    return (X_train - mu) / sigma, (X_test - mu) / sigma


def train_test_split(X: np.ndarray, y: np.ndarray, test_size: float = 0.2, seed: int | None = 0,
                     stratify: bool = True):
    """``(X_train, y_train, X_test, y_test)``: a seeded shuffle split, per class when ``stratify``."""
    test_size = check_test_size(test_size, "train_test_split")
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} samples but y has {len(y)}; they must match")
    train, test = split_indices(np.asarray(y), test_size, seed, stratify)
    return X[train], y[train], X[test], y[test]

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
    """``(train_idx, test_idx)``: a seeded shuffle with round(test_size · N) test samples.

    With ``stratify`` each class gives its proportional share (largest remainders get the rounding), so small
    classes are represented as evenly as the total allows.
    """
    rng = np.random.default_rng(seed)
    n_test = int(round(test_size * len(labels)))
    if not stratify:
        perm = rng.permutation(len(labels))
        return np.sort(perm[n_test:]), np.sort(perm[:n_test])
    classes, counts = np.unique(labels, return_counts=True)
    share = counts * (n_test / len(labels))
    take = np.floor(share).astype(int)
    extra = n_test - take.sum()
    take[np.argsort(-(share - take), kind="stable")[:extra]] += 1
    train, test = [], []
    for c, k in zip(classes, take):
        idx = rng.permutation(np.flatnonzero(labels == c))
        test.append(idx[:k])
        train.append(idx[k:])
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

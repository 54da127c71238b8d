"""The UCI 8×8 handwritten digits, shipped inside the package (no download).

1,797 grey-level images of the digits 0–9, 8×8 pixels with integer values 0..16, flattened to 64 features.
Source: the test set of "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository,
E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49, licensed under Creative Commons
Attribution 4.0 (CC BY 4.0). The file ``digits.npz`` was written from scikit-learn's copy by ``_make_digits.py``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _split

DIGITS_FILE = Path(__file__).with_name("digits.npz")


def digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 (1797, 64) with values 0..16 and int64 (1797,) with values 0..9."""
    if not DIGITS_FILE.exists():
        raise FileNotFoundError(f"the digits data file {DIGITS_FILE} is missing from the installed package; "
                                f"reinstall gpunet (pip install -e .) or regenerate it with "
                                f"python -m gpunet.data._make_digits (needs scikit-learn)")
    with np.load(DIGITS_FILE, allow_pickle=False) as f:
        return f["images"], f["labels"].astype(np.int64)


def load_digits(test_size: float = 0.2, seed: int = 0, standardize: bool = True, dtype=np.float32,
                stratify: bool = True):
    """The digits as ``(X_train, y_train, X_test, y_test)`` NumPy arrays.

    The split is a seeded shuffle, stratified by class (each digit keeps its share in both parts), and the same
    for the same ``seed``. With ``standardize`` each feature becomes ``(x − μ) / σ`` with μ and σ measured on the
    TRAIN split only (σ = 1 for pixels that never change); otherwise the raw values 0..16 are returned.
    ``X`` has ``dtype`` (float32 by default), ``y`` is int64.
    """
    test_size = _split.check_test_size(test_size, "load_digits")
    images, labels = digits_raw()
    train, test = _split.split_indices(labels, test_size, seed, stratify)
    X_train = images[train].astype(np.float64)
    X_test = images[test].astype(np.float64)
    if standardize:
        X_train, X_test = _split.standardize(X_train, X_test)
    return X_train.astype(dtype), labels[train], X_test.astype(dtype), labels[test]


"""One-off script that writes ``gpunet/data/digits.npz`` from scikit-learn's copy of the UCI digits.

Not imported at run time. Run it from the repository root (needs scikit-learn)::

    python -m gpunet.data._make_digits

Source: the test set of "Optical Recognition of Handwritten Digits", UCI Machine Learning Repository,
E. Alpaydin and C. Kaynak (1998), https://doi.org/10.24432/C50P49, licensed CC BY 4.0.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np


def main() -> Path:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.data.astype(np.uint8)
    if not np.array_equal(images, bunch.data) or images.max() > 16:
        raise SystemExit("unexpected pixel values in scikit-learn's digits (expected integers 0..16)")
    labels = bunch.target.astype(np.uint8)
    out = Path(__file__).with_name("digits.npz")
    np.savez_compressed(out, images=images, labels=labels)
    print(f"wrote {out} ({out.stat().st_size} bytes): images {images.shape} uint8, labels {labels.shape} uint8")
    return out


if __name__ == "__main__":
    main()

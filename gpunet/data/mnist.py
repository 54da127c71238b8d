"""MNIST from the four IDX files the user already has (raw or gzip); nothing is downloaded.

IDX layout (big-endian): two zero bytes, a type byte (0x08 = unsigned byte), a byte with the number of
dimensions, one 4-byte size per dimension, then the data. Images are ``idx3`` (N, 28, 28), labels ``idx1`` (N,).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from . import _split

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IDXFormatError(ValueError):
    """An IDX file is malformed: wrong magic number, wrong rank, or truncated data."""


def _find(folder: Path, stem: str) -> Path:
    """The file for ``stem`` in ``folder``: raw or ``.gz``, with '-idx' or '.idx' (both spellings circulate)."""
    alt = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    raise FileNotFoundError(f"load_mnist: {stem} (or {stem}.gz) is missing from {folder}; the folder must hold "
                            f"the four MNIST IDX files: {', '.join(FILES.values())} (raw or .gz)")


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """The uint8 array stored in IDX file ``path`` (raw or ``.gz``), checked against its header."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # a gzip stream cut short, or not gzip at all
        raise IDXFormatError(f"{path}: cannot read the file ({e}); it is damaged or not gzip-compressed. "
                             f"Download it again.") from e
    return _parse_idx(raw, path, ndim)


def _parse_idx(raw: bytes, path: Path, ndim: int | None) -> np.ndarray:
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        magic = raw[:4].hex() if raw else "empty file"
        raise IDXFormatError(f"{path}: bad magic number {magic}; expected 0000 08 0{ndim or 'N'} "
                             f"(an IDX file of unsigned bytes). Is this really an MNIST IDX file?")
    rank = raw[3]
    if ndim is not None and rank != ndim:
        raise IDXFormatError(f"{path}: the header says {rank} dimension(s) but this file should have {ndim} "
                             f"(images: 3, labels: 1); the images and labels files may be swapped")
    header = 4 + 4 * rank
    if len(raw) < header:
        raise IDXFormatError(f"{path}: truncated header ({len(raw)} bytes, need {header}); download it again")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=rank, offset=4))
    need = int(np.prod(shape, dtype=np.int64))
    have = len(raw) - header
    if have != need:
        what = "truncated" if have < need else "has trailing bytes"
        raise IDXFormatError(f"{path}: {what}: the header announces shape {shape} = {need} bytes of data but the "
                             f"file holds {have}; download it again")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _pair(folder: Path, images_key: str, labels_key: str):
    img_path, lab_path = _find(folder, FILES[images_key]), _find(folder, FILES[labels_key])
    images, labels = read_idx(img_path, 3), read_idx(lab_path, 1)
    if images.shape[0] != labels.shape[0]:
        raise IDXFormatError(f"{img_path} holds {images.shape[0]} images but {lab_path} holds {labels.shape[0]} "
                             f"labels; the two files must come from the same set")
    return images, labels


def load_mnist(path, flatten: bool = True, standardize: bool = True, dtype=np.float32):
    """MNIST from the folder ``path`` as ``(X_train, y_train, X_test, y_test)`` NumPy arrays.

    Pixels are scaled to [0, 1] (``x / 255``); with ``standardize`` each feature then becomes ``(x − μ) / σ`` with
    μ, σ from the TRAIN images only (σ = 1 for constant pixels). ``flatten`` gives (N, 784), otherwise (N, 28, 28).
    Labels are int64. Raises FileNotFoundError naming a missing file and IDXFormatError for a malformed one.
    """
    folder = Path(os.fspath(path)).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"load_mnist: {folder} is not a folder; pass the folder holding "
                                f"{', '.join(FILES.values())} (raw or .gz)")
    tr_x, tr_y = _pair(folder, "train_images", "train_labels")
    te_x, te_y = _pair(folder, "test_images", "test_labels")
    X_train = tr_x.reshape(len(tr_x), -1).astype(np.float64) / 255.0
    X_test = te_x.reshape(len(te_x), -1).astype(np.float64) / 255.0
    if standardize:
        X_train, X_test = _split.standardize(X_train, X_test)
    if not flatten:
        X_train, X_test = X_train.reshape(tr_x.shape), X_test.reshape(te_x.shape)
    return X_train.astype(dtype), tr_y.astype(np.int64), X_test.astype(dtype), te_y.astype(np.int64)

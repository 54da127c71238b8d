"""The CNN-on-MNIST and character-level LSTM examples run and learn (tiny settings)."""
from __future__ import annotations

import importlib.util
import math
import pathlib
import struct

import numpy as np

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gpunet_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _idx(a: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def _fake_mnist(folder: pathlib.Path, n: int, seed: int) -> None:
    """Learnable stand-in images: digit k is a bright 6×6 square at a class-specific place, plus noise."""
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", n), ("t10k", n // 2)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        images = rng.integers(0, 60, (count, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = 2 + 8 * (k // 4), 2 + 6 * (k % 4)
            images[i, r:r + 6, c:c + 6] = 250
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(images))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(labels))


def test_mnist_cnn_example_learns(tmp_path, capsys):
    _fake_mnist(tmp_path, 320, seed=0)
    res = _load("mnist_cnn").main(["--data", str(tmp_path), "--epochs", "2", "--batch-size", "32",
                                   "--backend", "numpy"])
    out = capsys.readouterr().out
    assert "epoch 2:" in out and "images/s" in out
    assert res["accuracy"] > 0.9


def test_char_lstm_example_learns_and_samples(capsys):
    ex = _load("char_lstm")
    res = ex.main(["--steps", "60", "--chars", "40000", "--heldout", "4000", "--window", "32",
                   "--batch-size", "16", "--hidden", "64", "--sample", "40", "--lr", "1e-2", "--backend", "numpy"])
    out = capsys.readouterr().out
    assert "bits per character" in out and "sample:" in out
    assert res["bits_per_char"] < math.log2(len(ex.ALPHABET)) - 1.5   # well below a uniform guess (6.6 bits)
    assert res["sample"].startswith("def ") and len(res["sample"]) == 44
    assert set(res["sample"]) <= set(ex.ALPHABET)

"""The inputs and outputs of ``gpunet train``: the data sets of ``--dataset``, the checkpoint of ``--resume``, the
folders of ``--save``/``--plot`` (checked before any training) and the loss/accuracy plot."""
from __future__ import annotations

import os

import numpy as np


class UsageError(Exception):
    """A bad option value found after parsing (reported like an argparse error: exit status 2)."""


def load_dataset(spec: str, seed: int, standardize: bool = True):
    """``(X_train, y_train, X_test, y_test, classes)`` for ``--dataset`` (digits: standardised per feature, or
    pixels scaled to [0, 1])."""
    from . import data

    if spec == "digits":
        X_tr, y_tr, X_te, y_te = data.load_digits(seed=seed, standardize=standardize)
        if not standardize:
            X_tr, X_te = X_tr / np.float32(16), X_te / np.float32(16)
    elif spec in ("xor", "spiral"):
        X, y = data.make_xor(n=1000, noise=0.1, seed=seed) if spec == "xor" else \
            data.make_spiral(n_per_class=300, classes=3, noise=0.2, seed=seed)
        X_tr, y_tr, X_te, y_te = data.train_test_split(X, y, test_size=0.2, seed=seed)
    elif spec.startswith("mnist:"):
        path = spec[len("mnist:"):]
        if not path:
            raise UsageError("--dataset mnist:PATH needs the folder holding the MNIST IDX files, e.g. "
                             "mnist:~/data/mnist")
        try:
            X_tr, y_tr, X_te, y_te = data.load_mnist(path, standardize=standardize)
        except (FileNotFoundError, data.IDXFormatError) as e:
            raise UsageError(f"--dataset {spec}: {e}") from None
    else:
        raise UsageError(f"--dataset: unknown dataset {spec!r}; choose digits, xor, spiral or mnist:PATH")
    classes = int(max(y_tr.max(), y_te.max())) + 1
    return X_tr, y_tr, X_te, y_te, classes


def _load_resume(path: str) -> dict:
    from .io import CheckpointError, load

    try:
        ckpt = load(path)
    except (CheckpointError, FileNotFoundError) as e:
        raise UsageError(f"--resume: {e}") from None
    if not isinstance(ckpt, dict) or "args" not in ckpt or "model" not in ckpt:
        raise UsageError(f"--resume: {path} is a gpunet checkpoint but not one written by 'gpunet train --save' "
                         f"(it has no run options); resume it from Python with gpunet.train.restore_checkpoint")
    return ckpt


def _check_output_folder(option: str, path: str | None) -> None:
    """Refuse, before any training, an output path whose folder is missing or not writable."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise UsageError(f"{option} {path}: the folder {folder} does not exist; create it first "
                         f"(mkdir -p {folder})")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{option} {path}: the folder {folder} is not writable")


def _check_plot(path: str | None) -> None:
    if path is None:
        return
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("--plot needs matplotlib, which is not installed: pip install 'gpunet[plot]' "
                         "(or drop --plot)") from None


def save_plot(history: dict, path: str) -> None:
    """Write a PNG with the loss (left) and accuracy (right) curves of ``history``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = range(1, len(history["loss"]) + 1)
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, ax in (("loss", ax_l), ("acc", ax_a)):
        for prefix, label in (("", "train"), ("val_", "validation")):
            values = history.get(prefix + key) or []
            if any(v is not None for v in values):
                ax.plot(epochs, [np.nan if v is None else v for v in values], label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy" if key == "acc" else "loss")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

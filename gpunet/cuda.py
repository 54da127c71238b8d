"""``gn.cuda`` and ``gn.device``: the bits of ``torch.cuda`` / ``torch.device`` training scripts ask about.

``gn.device("cuda:0")`` is a string (so every gpunet call that takes "cpu"/"cuda" takes it) with torch's
``.type`` and ``.index``; ``gn.cuda.is_available()`` says whether the CuPy backend can run here.
"""
from __future__ import annotations

from . import backend as _backend

__all__ = ["device", "is_available", "device_count", "current_device", "synchronize", "manual_seed",
           "manual_seed_all"]


class device(str):  # noqa: N801  (torch.device)
    """A device name, "cpu" or "cuda[:0]", with ``.type`` ("cpu" | "cuda") and ``.index`` (None or 0)."""

    def __new__(cls, type_or_name="cpu", index: int | None = None):
        name = str(type_or_name).lower()
        kind, _, idx = name.partition(":")
        if kind in ("gpu", "cupy"):
            kind = "cuda"
        elif kind in ("numpy",):
            kind = "cpu"
        if kind not in ("cpu", "cuda"):
            raise ValueError(f"device: expected 'cpu' or 'cuda[:N]', got {type_or_name!r}")
        if idx and index is not None:
            raise ValueError(f"device: the index is given twice ({type_or_name!r} and index={index})")
        if idx:
            index = int(idx)
        if kind == "cpu" and index not in (None, 0):
            raise ValueError(f"device: cpu has no index {index}")
        self = super().__new__(cls, kind if index is None else f"{kind}:{index}")
        self.type, self.index = kind, index
        return self

    def __repr__(self) -> str:
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")


def is_available() -> bool:
    """Whether a CUDA GPU is usable through CuPy (what ``gn.use("cuda")`` needs)."""
    return _backend.cupy_status()[0]


def device_count() -> int:
    return 1 if is_available() else 0


def current_device() -> int:
    if not is_available():
        raise RuntimeError(f"gn.cuda: no GPU ({_backend.cupy_status()[1]})")
    return 0


def synchronize() -> None:
    """Wait for the GPU's queued work (and read the pending device-side checks)."""
    if is_available():
        _backend.get("cuda").synchronize()


def manual_seed(seed: int) -> None:
    """Seed every random stream (as ``gn.manual_seed``: one seed drives the CPU and the GPU alike)."""
    _backend.manual_seed(seed)


manual_seed_all = manual_seed

"""Backends: the only package in gpunet that imports CuPy or knows the CPU from the GPU.

``use("auto" | "numpy" | "cupy")`` chooses where new tensors live; ops run on the backend of their arguments
(:func:`backend_of`), which must all be on one device.
"""
from __future__ import annotations

import os
import warnings

import numpy as np

from ._deferred import sync_checks
from ._determinism import are_deterministic_algorithms_enabled, use_deterministic_algorithms
from .base import Backend
from .numpy_backend import NumpyBackend

__all__ = ["sync_checks", "Backend", "DeviceMismatchError", "BackendUnavailableError", "current", "use", "get", "available",
           "backend_of", "cupy_status", "cpu_fallback_notice", "manual_seed", "host_rng",
           "use_deterministic_algorithms", "are_deterministic_algorithms_enabled"]


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine; the message says why."""


class DeviceMismatchError(RuntimeError):
    """The arguments of one op live on different devices."""


_NUMPY = NumpyBackend()
_CUPY: Backend | None = None
_cupy_ndarray = None          # cupy.ndarray once CuPy has been found usable
_cupy_checked: tuple[bool, str] | None = None
_current: Backend | None = None
_seed: int | None = None
_host_rng: np.random.Generator | None = None

_ALIASES = {"numpy": "numpy", "cpu": "numpy", "np": "numpy",
            "cupy": "cupy", "cuda": "cupy", "gpu": "cupy", "cp": "cupy"}


def cupy_status() -> tuple[bool, str]:
    """``(usable, reason)`` for CuPy on this machine. Never raises; CuPy's import warnings are silenced."""
    global _cupy_checked
    if _cupy_checked is not None:
        return _cupy_checked
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import cupy
    except ImportError as e:
        _cupy_checked = (False, f"CuPy is not installed ({e}); install the GPU extra: "
                                "pip install 'gpunet[gpu]' (CUDA 12) or 'gpunet[cuda13]' (CUDA 13)")
        return _cupy_checked
    except Exception as e:  # a broken install
        _cupy_checked = (False, f"CuPy failed to import: {type(e).__name__}: {e}")
        return _cupy_checked
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        _cupy_checked = (False, f"CuPy {cupy.__version__} is installed but no CUDA driver/device is usable: "
                                f"{type(e).__name__}: {e}")
        return _cupy_checked
    if n == 0:
        _cupy_checked = (False, f"CuPy {cupy.__version__} is installed but no CUDA device was found")
        return _cupy_checked
    try:
        cupy.zeros(1).sum().item()
    except Exception as e:
        _cupy_checked = (False, f"CuPy found {n} CUDA device(s) but could not run on them: "
                                f"{type(e).__name__}: {e}")
        return _cupy_checked
    _cupy_checked = (True, f"CuPy {cupy.__version__}, {n} CUDA device(s)")
    return _cupy_checked


def _cupy_backend() -> Backend:
    global _CUPY, _cupy_ndarray
    if _CUPY is None:
        ok, why = cupy_status()
        if not ok:
            raise BackendUnavailableError(f"backend 'cupy' is not usable: {why}. Use gn.use('numpy') or "
                                          f"gn.use('auto') to run on the CPU.")
        import cupy

        from .cupy_backend import CupyBackend

        _CUPY = CupyBackend(cupy)
        _cupy_ndarray = cupy.ndarray
        if _seed is not None:
            _CUPY.seed(_seed)
    return _CUPY


def get(name: str) -> Backend:
    """The backend called ``name``: "numpy"/"cpu" or "cupy"/"cuda"/"cuda:0" (raises if not usable)."""
    key = str(name).lower()
    if key.startswith("cuda:"):
        if key != "cuda:0":
            raise BackendUnavailableError(f"device {name!r}: only 'cuda:0' (the current device) is supported")
        key = "cuda"
    if key == "auto":
        return _CUPY or (_cupy_backend() if cupy_status()[0] else _NUMPY)
    kind = _ALIASES.get(key)
    if kind is None:
        raise ValueError(f"unknown backend or device {name!r}; expected one of 'auto', 'numpy' ('cpu'), "
                         f"'cupy' ('cuda', 'cuda:0')")
    return _NUMPY if kind == "numpy" else _cupy_backend()


def use(name: str = "auto") -> Backend:
    """Make ``name`` the backend where new tensors and modules are created; returns it.

    "auto" picks CuPy only when a GPU is really usable and otherwise NumPy, silently.
    """
    global _current
    _current = get(name)
    return _current


def current() -> Backend:
    """The backend new tensors go to (from ``GPUNET_BACKEND`` or "auto" until :func:`use` is called)."""
    global _current
    if _current is None:
        _current = get(os.environ.get("GPUNET_BACKEND", "auto"))
    return _current


def available() -> list[str]:
    """Names of the backends usable here, NumPy first."""
    return ["numpy", "cupy"] if cupy_status()[0] else ["numpy"]


_SCALARS = frozenset((int, float, bool, complex, str))  # skipped without probing for a CUDA array interface


def backend_of(arrays, op: str = "op", names=None) -> Backend:
    """The backend of an op's arguments, found from ALL of them.

    Scalars are neutral. A NumPy/CuPy mix raises :class:`DeviceMismatchError` naming the arguments.
    With no array among the arguments, the current backend.
    """
    found = None
    where = 0
    for i, a in enumerate(arrays):
        t = type(a)
        if t is np.ndarray:
            be = _NUMPY
        elif _cupy_ndarray is not None and t is _cupy_ndarray:
            be = _CUPY
        elif a is None or t in _SCALARS:
            continue
        elif isinstance(a, np.ndarray):
            be = _NUMPY
        elif hasattr(a, "__cuda_array_interface__"):
            be = _cupy_backend()
        else:
            continue
        if found is None:
            found, where = be, i
        elif be is not found:
            def label(k):
                return f"argument {k}" + (f" ({names[k]!r})" if names and k < len(names) else "")
            raise DeviceMismatchError(
                f"{op}: {label(i)} is on {be.device} but {label(where)} is on {found.device}; "
                f"all arguments of one op must be on one device. Move one of them, e.g. "
                f"x.to({found.device.split(':')[0]!r}) or model.to({found.device.split(':')[0]!r}).")
    return found if found is not None else current()


def cpu_fallback_notice() -> str | None:
    """One line for commands that chose "auto" and got the CPU although a GPU build of CuPy is installed (e.g. a
    container started without ``--gpus``); None where there is nothing to say."""
    ok, why = cupy_status()
    if ok or "not installed" in why:
        return None
    hint = ""
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"):
        hint = "; in a container, start it with --gpus all (NVIDIA Container Toolkit)"
    return f"gpunet: no GPU visible ({why}{hint}); running on the CPU"


def manual_seed(seed: int) -> None:
    """Seed every random stream gpunet uses (host NumPy generator, and each backend's device generator)."""
    global _seed, _host_rng
    _seed = int(seed)
    _host_rng = np.random.default_rng(_seed)
    _NUMPY.seed(_seed)
    if _CUPY is not None:
        _CUPY.seed(_seed)


def host_rng() -> np.random.Generator:
    """The host generator for weight initialisation (so a seed gives the same weights on CPU and GPU)."""
    global _host_rng
    if _host_rng is None:
        _host_rng = np.random.default_rng(_seed)
    return _host_rng

"""Switch the emulated GPU on for a test: the NumPy-backed CuPy in ``sys.modules``, gpunet's CuPy backend on it.

``emulated_gpu()`` is a re-entrant context: inside it, ``import cupy`` gives :mod:`.fakecupy`, so the unchanged
``CupyBackend`` runs, its kernels compiled and launched by :mod:`.emulator`. On leaving, the real modules and
gpunet's backend state come back, so tests outside see the machine as it is (no GPU: "auto" is NumPy). The
emulated backend object is kept between activations (its compiled kernels are cached anyway).
"""
from __future__ import annotations

import contextlib
import sys

from gpunet import backend as B

from . import emulator

_MODULES = ("cupy", "cupyx")
_depth = 0
_saved: dict = {}
_emulated_backend = None


def emulating() -> bool:
    """True where the gpu tests run on the emulator: no usable GPU, and the emulator can build here."""
    return not B.cupy_status()[0] and emulator.available()[0]


def _install() -> None:
    from . import fakecupy, fakecupyx

    # every cupy.* / cupyx.* entry goes (a real submodule imported earlier, e.g. by the NVRTC test, would
    # otherwise be found under the fake parent), and comes back on leaving
    _saved["modules"] = {k: sys.modules.pop(k) for k in list(sys.modules) if k.split(".")[0] in _MODULES}
    _saved["backend"] = (B._CUPY, B._cupy_checked, B._cupy_ndarray, B._current)
    sys.modules["cupy"], sys.modules["cupyx"] = fakecupy, fakecupyx
    B._cupy_checked = (True, f"CuPy {fakecupy.__version__} on the CUDA emulator (no GPU)")
    if _emulated_backend is not None:
        B._CUPY, B._cupy_ndarray = _emulated_backend, fakecupy.ndarray
    else:
        B._CUPY = B._cupy_ndarray = None


def _uninstall() -> None:
    global _emulated_backend
    if B._CUPY is not None:
        _emulated_backend = B._CUPY
    for k in [k for k in sys.modules if k.split(".")[0] in _MODULES]:
        del sys.modules[k]
    sys.modules.update(_saved.pop("modules"))
    cupy_be, checked, nd, current = _saved.pop("backend")
    B._CUPY, B._cupy_checked, B._cupy_ndarray = cupy_be, checked, nd
    B._current = current if current is not _emulated_backend else None


@contextlib.contextmanager
def emulated_gpu():
    """Run the body with gpunet's "cupy" backend on the emulator."""
    global _depth
    if _depth == 0:
        _install()
    _depth += 1
    try:
        yield B.get("cupy")
    finally:
        _depth -= 1
        if _depth == 0:
            _uninstall()

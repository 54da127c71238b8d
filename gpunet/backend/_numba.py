"""The compiled CPU kernels, if they can run here: Numba installed and importable, and not turned off.

``GPUNET_NUMBA=0`` turns them off; the NumPy backend then runs the plain-``xp`` reference ops of
:class:`~gpunet.backend.base.Backend` (same results, more passes over memory and more temporaries).
"""
from __future__ import annotations

import os

_kernels = None
_reason: str | None = None


def kernels():
    """The module :mod:`gpunet.backend._cpu_kernels`, or None (see :func:`status` for why)."""
    return _kernels if _kernels is not None or _reason is not None else _load()


def switched_off(var: str) -> bool:
    """Whether the environment switch ``var`` (GPUNET_NUMBA, GPUNET_WINOGRAD, …; on when unset) is 0 / false / no /
    off."""
    return os.environ.get(var, "1").strip().lower() in ("0", "false", "no", "off")


def _load():
    """Decide once (called by :func:`kernels` while neither the module nor a reason is set)."""
    global _kernels, _reason
    if switched_off("GPUNET_NUMBA"):
        _reason = "turned off by GPUNET_NUMBA=0"
    else:
        try:
            from . import _cpu_kernels
        except Exception as e:  # ImportError, or a Numba that does not support this NumPy/Python
            _reason = f"Numba unavailable ({type(e).__name__}: {e}); pip install numba"
        else:
            _kernels = _cpu_kernels
    return _kernels


def status() -> str:
    """One line: whether the compiled CPU kernels are in use, and why not."""
    k = kernels()
    if k is None:
        return f"plain NumPy ({_reason})"
    import numba

    return f"Numba {numba.__version__} kernels"

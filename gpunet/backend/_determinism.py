"""The one switch of :func:`use_deterministic_algorithms`, for the whole process (read by the GPU backend)."""
from __future__ import annotations

import os
import warnings

__all__ = ["use_deterministic_algorithms", "are_deterministic_algorithms_enabled"]

_ON = ("1", "true", "yes", "on")
_OFF = ("", "0", "false", "no", "off")


def _from_environment() -> bool:
    value = os.environ.get("GPUNET_DETERMINISTIC", "").strip().lower()
    if value in _ON:
        return True
    if value not in _OFF:
        warnings.warn(f"GPUNET_DETERMINISTIC={value!r} is not one of 1/0 (true/false, yes/no, on/off); "
                      f"deterministic algorithms stay off", RuntimeWarning, stacklevel=2)
    return False


_enabled: bool = _from_environment()  # the environment is read once, at import


def use_deterministic_algorithms(mode: bool) -> None:
    """Make GPU gradients bitwise reproducible from run to run (``mode=True``), or go back to the fast default.

    What differs is the float rounding of the CuPy backend's column reductions over the batch: the bias gradient of
    ``linear`` (``act_backward_bias_grad``) and the ``gamma``/``beta`` gradients of batch norm
    (``bn_backward_reduce``). By default every block of threads adds its partial sum into the result with a float
    ``atomicAdd``, in whatever order the blocks finish, so a float32 gradient of more than a few hundred rows can
    differ in its last bits between two identical runs (and training then drifts apart). In deterministic mode each
    block row stores its partial sums in a ``(blocks, features)`` workspace and a second small kernel adds them in
    a fixed order: the same bits on every run, at the cost of one more launch and the workspace. The numbers agree
    with the default to rounding; neither is the more accurate.

    The CPU (NumPy) backend is always deterministic (its per-thread partial sums are added in a fixed order; the
    split depends on ``GPUNET_NUM_THREADS`` only) and ignores the switch; GEMMs are cuBLAS's, which gives the
    same bits run to run on one GPU model and stream. Not covered: the gradient of indexing with repeated indices
    on the GPU (``cupyx.scatter_add``, atomic). As :func:`torch.use_deterministic_algorithms`; the environment
    variable ``GPUNET_DETERMINISTIC=1`` switches it on at import. The switch is read at each backward call, so it
    may be changed at any time.
    """
    global _enabled
    if not isinstance(mode, bool):
        raise TypeError(f"use_deterministic_algorithms expects a bool, got {type(mode).__name__}")
    _enabled = mode


def are_deterministic_algorithms_enabled() -> bool:
    """Whether :func:`use_deterministic_algorithms` is on (also from ``GPUNET_DETERMINISTIC=1``)."""
    return _enabled

"""Checks that run on the device and are read later, so a training step needs no host sync.

A loss that validates its input (class labels in range, BCE probabilities in [0, 1], Gaussian-NLL variances
>= 0) would have to read the answer back to raise at once, and that read makes the CPU wait for the whole queued
step. On the GPU the answer instead stays on the device: each check leaves a small device array and a ``report``
callable; :meth:`DeferredChecks.flush` reads all of them in one transfer and calls the first failing check's
``report`` (which raises). The GPU backend flushes at every host read (``Tensor.item()``, ``.numpy()``,
``float()``, ``synchronize()``: they wait anyway), so ``fit`` raises at its ``log_every`` reads, and after
:data:`LIMIT` pending checks so that the list stays short. ``GPUNET_SYNC_CHECKS=1`` (or
``gpunet.backend.sync_checks(True)``) reads each check at once instead: the error comes before the optimizer
step, at the price of a sync per check.
"""
from __future__ import annotations

import os

LIMIT = 256
_immediate = os.environ.get("GPUNET_SYNC_CHECKS", "0") not in ("", "0")


def sync_checks(immediate: bool | None = None) -> bool:
    """Whether device-side checks are read at once (a host sync each); set it with ``immediate``."""
    global _immediate
    if immediate is not None:
        _immediate = bool(immediate)
    return _immediate


class DeferredChecks:
    """Pending device-side checks of one backend: ``(value, fails, report)``; ``fails(v)`` on the host value
    says whether the check failed, ``report(v)`` raises."""

    def __init__(self, to_host, stack):
        self._to_host, self._stack = to_host, stack
        self._pending: list = []

    def add(self, value, fails, report) -> None:
        self._pending.append((value, fails, report))
        if _immediate or len(self._pending) >= LIMIT:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        values = self._to_host(self._stack([v for v, _, _ in pending]))  # the one sync
        for v, (_, fails, report) in zip(values.tolist(), pending):
            if fails(v):
                report(v)

    def __len__(self) -> int:
        return len(self._pending)

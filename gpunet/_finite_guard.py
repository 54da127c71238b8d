"""``fit``'s guard against a non-finite loss, and the host reads of device scalars it and the loop share.

The guard must act before the optimizer step, so that a NaN/inf batch leaves the weights as they were. On the
CPU (or with an optimizer whose update is not a fused kernel) it reads the loss each batch; on the GPU it keeps
the check on the device and makes the fused updates skip (see :class:`_FiniteGuard`)."""
from __future__ import annotations

import contextlib

import numpy as np

from .autograd import Tensor
from .backend import backend_of


class TrainingError(RuntimeError):
    """A batch could not be trained on (non-finite loss, or an exception in forward/loss); the optimizer step
    was NOT taken, so the parameters are those from before the bad batch."""


_NO_GUARD = contextlib.nullcontext()


class _FiniteGuard:
    """``fit``'s check that the loss is finite before the optimizer step, so a NaN/inf batch leaves the weights.

    Where reading the loss back costs a host sync (the GPU) and the optimizer is one of gpunet's with a fused
    update (those take a skip flag: SGD, Adam/AdamW, Adagrad, RMSprop, Adadelta), the check stays on the device: a sticky flag is set by the first non-finite loss,
    every later update of the epoch is a no-op on the device, and the flag is read with the ``log_every`` reads,
    where the error is raised. Elsewhere (the CPU, other optimizers) the loss is read at once, every batch."""

    def __init__(self, optimizer, epoch: int):
        self.optimizer, self.epoch = optimizer, epoch
        self.flag = None      # device int32 (1,): 1 from the first non-finite loss on
        self.first = None     # device int64 (1,): that batch's index
        self.unread = False   # a step since the last read

    def step(self, loss: Tensor, b: int, where: str):
        be = backend_of((loss.data,))
        if not (be.syncs_are_costly and _skips_on_device(self.optimizer, be)):
            if not _is_finite(loss):
                raise TrainingError(f"{where}: the loss is {_read(loss.data)} (not finite). No optimizer step "
                                    f"was taken for this batch, so the model keeps its previous weights. "
                                    f"{_NAN_HINT}")
            return _NO_GUARD
        xp = be.xp
        bad = (~xp.isfinite(loss.data)).astype(xp.int32).reshape(1)
        if self.flag is None:
            self.flag, self.first = bad, xp.where(bad > 0, b, -1).astype(xp.int64)
        else:
            self.first = xp.where((self.flag == 0) & (bad > 0), b, self.first)
            self.flag = xp.maximum(self.flag, bad)
        self.last, self.unread = b, True
        return be.skip_updates_if(self.flag)

    def read(self) -> None:
        if self.flag is None or not self.unread:
            return
        be = backend_of((self.flag,))
        xp = be.xp
        flag, first = be.to_host(xp.concatenate([self.flag.astype(xp.int64), self.first])).tolist()  # one read
        self.unread = False
        if flag:
            raise TrainingError(f"fit: epoch {self.epoch + 1}, batch {int(first)}: the loss is not finite. No "
                                f"optimizer step was taken from that batch on (the check ran on the GPU and was "
                                f"read at batch {self.last}), so the model keeps the weights it had before it. "
                                f"{_NAN_HINT}")


_NAN_HINT = "Lower the learning rate, check the inputs for NaN/inf, or clip gradients."


def _skips_on_device(optimizer, be) -> bool:
    """Whether ``optimizer``'s updates on ``be`` honour the device skip flag: gpunet's optimizers whose update
    is the backend's fused kernel (a subclass may override the update, so its own ``step`` must be gpunet's)."""
    from .optim import Optimizer

    cls = type(optimizer)
    return (isinstance(optimizer, Optimizer) and cls.__module__.startswith("gpunet.optim")
            and be.optimizer_kernel(getattr(cls, "_kernel_name", "")) is not None)


def _read(a) -> float:
    """A device scalar on the host; the backend's pending device-side checks (bad labels...) raise here."""
    if not hasattr(a, "dtype"):
        return float(a)
    return float(backend_of((a,)).to_host(a))


def _is_finite(loss: Tensor) -> bool:
    return bool(np.isfinite(_read(loss.data)))

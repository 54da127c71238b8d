"""The training loop: ``fit`` and ``evaluate``, with the callbacks of :mod:`gpunet.callbacks` (re-exported here).

Loss and correct-prediction counts are accumulated as device scalars and read back only every ``log_every``
batches (for the progress bar) and at the end of an epoch, so the loop does not wait for the device after each
batch. The finiteness check of the loss (``check_finite``) must act before the optimizer step: on a GPU, with
gpunet's optimizers, it stays on the device (a non-finite loss makes every later update of the epoch a no-op
there, and the flag is read with the ``log_every`` reads, where the error is raised); on the CPU, or with another
optimizer, it reads the loss every batch.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Iterable

import numpy as np

from .autograd import Tensor, no_grad
from ._finite_guard import _NO_GUARD, TrainingError, _FiniteGuard, _read
from .callbacks import (HISTORY_KEYS, Callback, EarlyStopping, FitState, ModelCheckpoint, ReseedEachEpoch,
                        checkpoint_state, restore_checkpoint)

__all__ = ["fit", "evaluate", "TrainingError", "Callback", "EarlyStopping", "ModelCheckpoint", "ReseedEachEpoch",
           "FitState", "checkpoint_state", "restore_checkpoint", "HISTORY_KEYS"]

METRICS = ("accuracy",)


# ----------------------------------------------------------------- per-batch pieces
def _as_batch(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) < 2:
        raise TypeError(f"fit/evaluate: each batch must be (inputs, targets), got {type(batch).__name__}"
                        + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else ""))
    return batch[0], batch[1]


def _correct(out: Tensor, y) -> Any:
    """Number of correct predictions as a device scalar (never read back here)."""
    o = out.data
    t = y.data if isinstance(y, Tensor) else y
    if o.ndim == 2 and o.shape[1] > 1:
        pred = o.argmax(axis=1)
        if t.ndim == 2:       # class probabilities / one-hot targets
            t = t.argmax(axis=1)
        return (pred == t).sum()
    o = o.reshape(-1)         # one output: a binary logit (threshold 0)
    return ((o > 0) == (t.reshape(-1) > 0.5)).sum()


def _forward(model, loss_fn, xb, yb, where: str):
    try:
        out = model(xb)
        loss = loss_fn(out, yb)
    except Exception as e:
        shapes = f"inputs {tuple(getattr(xb, 'shape', ()))}, targets {tuple(getattr(yb, 'shape', ()))}"
        raise TrainingError(f"{where}: the forward pass or the loss failed ({shapes}): {type(e).__name__}: {e}. "
                            f"No optimizer step was taken for this batch.") from e
    if not isinstance(loss, Tensor) or loss.data.size != 1:
        raise TrainingError(f"{where}: loss_fn must return a scalar Tensor, got "
                            f"{type(loss).__name__} {tuple(getattr(loss, 'shape', ()))}; use reduction='mean'")
    return out, loss


class _Meter:
    """Loss sum, correct count and sample count for one pass, kept on the device until :meth:`read`."""

    def __init__(self, with_acc: bool):
        self.with_acc = with_acc
        self.loss_sum = 0.0
        self.correct = 0
        self.n = 0

    def add(self, out: Tensor, loss: Tensor, yb) -> None:
        n = out.shape[0]
        self.loss_sum = self.loss_sum + loss.data.astype(np.float64) * n
        if self.with_acc:
            self.correct = self.correct + _correct(out, yb)
        self.n += n

    def read(self) -> tuple[float, float | None]:
        if self.n == 0:
            return math.nan, None
        loss = _read(self.loss_sum) / self.n
        acc = _read(self.correct) / self.n if self.with_acc else None
        return loss, acc


# ----------------------------------------------------------------- progress display
class _Progress:
    """A tqdm bar per epoch on stderr (when tqdm is installed and stderr is a terminal), and one plain summary
    line per epoch on stdout."""

    def __init__(self, enabled: bool, epochs: int):
        self.enabled, self.epochs, self.bar = enabled, epochs, None
        self._tqdm = None
        if enabled:
            try:
                from tqdm.auto import tqdm
                self._tqdm = tqdm
            except ImportError:
                pass

    def start(self, epoch: int, total: int) -> None:
        if self._tqdm is not None:
            self.bar = self._tqdm(total=total, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False,
                                  unit="batch", disable=None, file=sys.stderr)
            if self.bar.disable:     # not a terminal: no bar, and no read-backs for it
                self.bar = None

    def update(self, k: int, loss: float, acc, rate: float) -> None:
        if self.bar is not None:
            post = {"loss": f"{loss:.4f}", "samples/s": f"{rate:,.0f}"}
            if acc is not None:
                post["acc"] = f"{100 * acc:.2f}%"
            self.bar.set_postfix(post, refresh=False)
            self.bar.update(k)

    def end(self, epoch: int, logs: dict) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            print(format_epoch(epoch, self.epochs, logs), flush=True)


def format_epoch(epoch: int, epochs: int, logs: dict, val_name: str = "val") -> str:
    """One line of per-epoch metrics, e.g. ``epoch 3/20  loss 0.1234  acc 96.52%  ...  12,345 samples/s``."""
    parts = [f"epoch {epoch + 1:>{len(str(epochs))}}/{epochs}", f"loss {logs['loss']:.4f}"]
    if logs.get("acc") is not None:
        parts.append(f"acc {100 * logs['acc']:6.2f}%")
    if logs.get("val_loss") is not None:
        parts.append(f"{val_name}_loss {logs['val_loss']:.4f}")
    if logs.get("val_acc") is not None:
        parts.append(f"{val_name}_acc {100 * logs['val_acc']:6.2f}%")
    if logs.get("lr") is not None:
        parts.append(f"lr {logs['lr']:.3g}")
    parts.append(f"{logs['time']:.2f}s")
    parts.append(f"{logs['samples_per_s']:,.0f} samples/s")
    return "  ".join(parts)


# ----------------------------------------------------------------- evaluate / fit
def _check_metrics(metrics: Iterable[str]) -> bool:
    metrics = tuple(metrics)
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ValueError(f"unknown metric(s) {bad}; supported: {list(METRICS)} (or metrics=() for none)")
    return "accuracy" in metrics


def evaluate(model, loader, loss_fn, metrics: Iterable[str] = ("accuracy",)) -> dict:
    """Mean loss and accuracy of ``model`` over ``loader`` in evaluation mode, without gradients.

    loss = Σ_batches loss_b · n_b / Σ n_b (``loss_fn`` with reduction "mean"); acc = correct / N (argmax of the
    outputs for (N, C) outputs; sign of the logit for one output). Returns ``{"loss", "acc", "samples"}``; the
    model's previous train/eval mode is restored.
    """
    meter = _Meter(_check_metrics(metrics))
    was_training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            for b, batch in enumerate(loader):
                xb, yb = _as_batch(batch)
                out, loss = _forward(model, loss_fn, xb, yb, f"evaluate (batch {b})")
                meter.add(out, loss, yb)
    finally:
        model.train(was_training)
    loss, acc = meter.read()
    return {"loss": loss, "acc": acc, "samples": meter.n}


def _current_lr(optimizer):
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


def _train_epoch(model, loss_fn, optimizer, loader, epoch, with_acc, check_finite, log_every, progress):
    meter = _Meter(with_acc)
    model.train()
    t0 = time.perf_counter()
    pending = 0
    progress.start(epoch, len(loader) if hasattr(loader, "__len__") else None)
    guard = _FiniteGuard(optimizer, epoch) if check_finite else None
    for b, batch in enumerate(loader):
        where = f"fit: epoch {epoch + 1}, batch {b}"
        xb, yb = _as_batch(batch)
        optimizer.zero_grad()
        out, loss = _forward(model, loss_fn, xb, yb, where)
        with guard.step(loss, b, where) if guard is not None else _NO_GUARD:
            loss.backward()
            optimizer.step()
        meter.add(out, loss, yb)
        pending += 1
        if pending >= log_every:
            if guard is not None:
                guard.read()
            if progress.bar is not None:
                lo, acc = meter.read()
                progress.update(pending, lo, acc, meter.n / max(time.perf_counter() - t0, 1e-9))
            pending = 0
    if guard is not None:
        guard.read()
    loss, acc = meter.read()           # reads back the device scalars: waits for the epoch's work
    seconds = time.perf_counter() - t0
    return loss, acc, meter.n, seconds


def _step_scheduler(scheduler, logs: dict) -> None:
    if scheduler is None:
        return
    if type(scheduler).__name__ == "ReduceLROnPlateau":
        scheduler.step(logs["val_loss"] if logs.get("val_loss") is not None else logs["loss"])
    else:
        scheduler.step()


def fit(model, loss_fn, optimizer, train_loader, epochs: int, val_loader=None, scheduler=None,
        callbacks: Iterable[Callback] = (), metrics: Iterable[str] = ("accuracy",), progress: bool = True,
        log_every: int = 10, initial_epoch: int = 0, history: dict | None = None,
        check_finite: bool = True) -> dict:
    """Train ``model`` for epochs ``initial_epoch .. epochs − 1``; returns the history, a dict of lists.

    Each epoch: ``model.train()``; for every batch ``(x, y)``: ``optimizer.zero_grad()``, ``loss =
    loss_fn(model(x), y)``, (finiteness check), ``loss.backward()``, ``optimizer.step()``; then
    :func:`evaluate` on ``val_loader``, ``scheduler.step()`` (``step(val_loss)`` for ReduceLROnPlateau) and the
    callbacks. History keys: loss, acc, val_loss, val_acc, lr (used during the epoch), time (s),
    samples_per_s (training samples per second of the training phase); None where not measured.

    A batch whose forward or loss raises, or whose loss is NaN/inf, raises :class:`TrainingError` BEFORE the
    optimizer step. Pass the ``history`` and ``initial_epoch`` of a checkpoint to continue a run.
    """
    with_acc = _check_metrics(metrics)
    if log_every < 1:
        raise ValueError(f"fit: log_every must be >= 1, got {log_every}")
    history = {k: list(history.get(k, [])) if history else [] for k in HISTORY_KEYS}
    state = FitState(model, optimizer, train_loader, val_loader, scheduler, history, int(initial_epoch))
    callbacks = list(callbacks)
    bar = _Progress(progress, epochs)
    for cb in callbacks:
        cb.on_train_begin(state)
    for epoch in range(int(initial_epoch), int(epochs)):
        t0 = time.perf_counter()
        for cb in callbacks:
            cb.on_epoch_begin(epoch, state)
        lr = _current_lr(optimizer)
        loss, acc, n, train_s = _train_epoch(model, loss_fn, optimizer, train_loader, epoch, with_acc,
                                             check_finite, log_every, bar)
        val = evaluate(model, val_loader, loss_fn, metrics) if val_loader is not None else {}
        logs = {"loss": loss, "acc": acc, "val_loss": val.get("loss"), "val_acc": val.get("acc"), "lr": lr,
                "time": time.perf_counter() - t0, "samples_per_s": n / max(train_s, 1e-9)}
        for k in HISTORY_KEYS:
            history[k].append(logs[k])
        _step_scheduler(scheduler, logs)
        state.epoch = epoch + 1
        bar.end(epoch, logs)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs, state)
        if state.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end(state)
    return history

"""Callbacks of :func:`gpunet.train.fit` (re-exported there): the :class:`FitState` they see, the
:class:`Callback` base, :class:`EarlyStopping`, :class:`ModelCheckpoint` (resumable checkpoints:
:func:`checkpoint_state` / :func:`restore_checkpoint`) and :class:`ReseedEachEpoch`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import backend as _backend

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ReseedEachEpoch", "FitState", "checkpoint_state",
           "restore_checkpoint", "HISTORY_KEYS"]

# the per-epoch history entries fit() records, which callbacks may monitor
HISTORY_KEYS = ("loss", "acc", "val_loss", "val_acc", "lr", "time", "samples_per_s")


@dataclass
class FitState:
    """What callbacks see: the objects being trained, the history so far, and a flag to stop."""
    model: Any
    optimizer: Any
    train_loader: Any
    val_loader: Any = None
    scheduler: Any = None
    history: dict = field(default_factory=dict)
    epoch: int = 0                  # epochs completed
    stop_training: bool = False


class Callback:
    """Hooks called by :func:`fit`; override the ones you need. ``logs`` holds this epoch's history values."""

    def on_train_begin(self, state: FitState) -> None:
        pass

    def on_epoch_begin(self, epoch: int, state: FitState) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict, state: FitState) -> None:
        pass

    def on_train_end(self, state: FitState) -> None:
        pass


# ----------------------------------------------------------------- monitoring helpers
def _mode_for(monitor: str, mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode != "auto":
        return mode
    return "max" if "acc" in monitor else "min"


def _check_monitor(who: str, monitor: str, state: FitState) -> None:
    if monitor not in HISTORY_KEYS:
        raise ValueError(f"{who}: unknown monitor {monitor!r}; choose one of {', '.join(HISTORY_KEYS)}")
    if monitor.startswith("val_") and state.val_loader is None:
        raise ValueError(f"{who} monitors {monitor!r} but fit() got no val_loader; pass val_loader=... or "
                         f"monitor={monitor[4:]!r}")


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs (as Keras).

    ``mode`` "min"/"max"/"auto" (max for accuracies, min otherwise). ``best`` and ``stopped_epoch`` record the
    outcome (``stopped_epoch`` is 1-based, 0 if training ran to the end).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0, mode: str = "auto"):
        self.monitor, self.patience, self.min_delta = monitor, int(patience), abs(float(min_delta))
        self.mode = _mode_for(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.wait = 0
        self.stopped_epoch = 0

    def on_train_begin(self, state: FitState) -> None:
        _check_monitor("EarlyStopping", self.monitor, state)

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch: int, logs: dict, state: FitState) -> None:
        value = logs.get(self.monitor)
        if value is None:
            return
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            state.stop_training = True
            self.stopped_epoch = epoch + 1


def checkpoint_state(state: FitState) -> dict:
    """Everything needed to resume: model, optimizer, scheduler and data-loader states, epoch, history."""
    ckpt = {"epoch": state.epoch, "model": state.model.state_dict(),
            "optimizer": state.optimizer.state_dict(), "history": state.history}
    if state.scheduler is not None and hasattr(state.scheduler, "state_dict"):
        ckpt["scheduler"] = state.scheduler.state_dict()
    if hasattr(state.train_loader, "state_dict"):
        ckpt["train_loader"] = state.train_loader.state_dict()
    return ckpt


def restore_checkpoint(ckpt, model, optimizer=None, scheduler=None, train_loader=None) -> dict:
    """Load a :func:`checkpoint_state` dict (or the path of a saved one) into the given objects.

    Returns the checkpoint dict; ``fit(..., initial_epoch=ckpt["epoch"], history=ckpt["history"])`` continues.
    """
    if not isinstance(ckpt, dict):
        from .io import load

        ckpt = load(ckpt)
    missing = [k for k in ("epoch", "model") if k not in ckpt]
    if missing:
        raise ValueError(f"restore_checkpoint: the checkpoint has no {missing} entries; it was not written by "
                         f"ModelCheckpoint / checkpoint_state (found keys: {sorted(ckpt)})")
    model.load_state_dict(ckpt["model"])
    for obj, key in ((optimizer, "optimizer"), (scheduler, "scheduler"), (train_loader, "train_loader")):
        if obj is not None and key in ckpt:
            obj.load_state_dict(ckpt[key])
    return ckpt


class ModelCheckpoint(Callback):
    """Save a resumable checkpoint (:func:`checkpoint_state` plus ``extra``) to ``path`` after each epoch.

    With ``save_best_only`` only when ``monitor`` improved. ``path`` may contain ``{epoch}`` (1-based) and any
    history key, e.g. ``"ck-{epoch:03d}.npz"``. Writes are atomic (:func:`gpunet.save`).
    """

    def __init__(self, path, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto",
                 extra: dict | None = None):
        self.path, self.monitor, self.save_best_only = str(path), monitor, bool(save_best_only)
        self.mode = _mode_for(monitor, mode)
        self.best = math.inf if self.mode == "min" else -math.inf
        self.extra = dict(extra or {})
        self.last_path: str | None = None

    def on_train_begin(self, state: FitState) -> None:
        if self.save_best_only:
            _check_monitor("ModelCheckpoint", self.monitor, state)

    def on_epoch_end(self, epoch: int, logs: dict, state: FitState) -> None:
        from .io import save

        value = logs.get(self.monitor)
        if self.save_best_only:
            if value is None or not (value < self.best if self.mode == "min" else value > self.best):
                return
            self.best = value
        path = self.path.format(epoch=epoch + 1, **{k: v for k, v in logs.items() if v is not None})
        save({**checkpoint_state(state), **self.extra}, path)
        self.last_path = path


class ReseedEachEpoch(Callback):
    """Reseed the device generator (dropout masks) from ``(seed, epoch)`` at the start of every epoch.

    Generator states of every backend cannot be saved, but a seed can: with this callback a run resumed from a
    checkpoint draws exactly the dropout masks the uninterrupted run would have drawn.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_epoch_begin(self, epoch: int, state: FitState) -> None:
        ss = np.random.SeedSequence([self.seed, epoch])
        _backend.current().seed(int(ss.generate_state(1, np.uint32)[0]))

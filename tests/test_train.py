"""gpunet.train: fit / evaluate, callbacks, bad batches, resumable checkpoints."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.nn as nn
import gpunet.optim as optim
from gpunet import train as T
from gpunet.data import DataLoader, TensorDataset, make_spiral, train_test_split
from gpunet.train import (EarlyStopping, ModelCheckpoint, ReseedEachEpoch, TrainingError, evaluate, fit,
                          restore_checkpoint)

from conftest import to_numpy


def _data(seed=0):
    X, y = make_spiral(n_per_class=60, classes=3, noise=0.1, seed=seed)
    return train_test_split(X, y, test_size=0.25, seed=seed)


def _setup(seed=0, dropout=0.1, lr=1e-2, opt="adam"):
    gn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Dropout(dropout),
                          nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    optimizer = optim.Adam(model.parameters(), lr=lr) if opt == "adam" else optim.SGD(model.parameters(), lr=lr)
    X_tr, y_tr, X_te, y_te = _data()
    train = DataLoader(TensorDataset(X_tr, y_tr), batch_size=16, shuffle=True, seed=seed)
    val = DataLoader(TensorDataset(X_te, y_te), batch_size=64, shuffle=False)
    return model, optimizer, train, val


def _weights(model):
    return {k: v.copy() for k, v in model.state_dict().items()}


def test_fit_learns_and_records_history(backend):
    model, optimizer, train, val = _setup()
    hist = fit(model, nn.CrossEntropyLoss(), optimizer, train, 15, val_loader=val, progress=False)
    assert set(hist) == set(T.HISTORY_KEYS)
    assert all(len(v) == 15 for v in hist.values())
    assert hist["loss"][-1] < hist["loss"][0] * 0.7
    assert hist["val_acc"][-1] > 0.7 and hist["acc"][-1] > 0.7  # chance is 1/3
    assert hist["lr"] == [1e-2] * 15 and all(r > 0 for r in hist["samples_per_s"])
    assert all(t > 0 for t in hist["time"])


def test_fit_without_val_or_metrics():
    model, optimizer, train, _ = _setup()
    hist = fit(model, nn.CrossEntropyLoss(), optimizer, train, 2, metrics=(), progress=False)
    assert hist["acc"] == [None, None] and hist["val_loss"] == [None, None]
    with pytest.raises(ValueError, match="unknown metric"):
        fit(model, nn.CrossEntropyLoss(), optimizer, train, 1, metrics=("f1",), progress=False)


def test_evaluate_matches_numpy_and_restores_mode():
    model, _, _, val = _setup()
    X, y = val.dataset.arrays
    model.train()
    res = evaluate(model, val, nn.CrossEntropyLoss())
    assert model.training  # previous mode restored
    model.eval()
    with gn.no_grad():
        logits = to_numpy(model(X))
    m = logits.max(1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))
    assert res["loss"] == pytest.approx(-logp[np.arange(len(y)), y].mean(), rel=1e-5)
    assert res["acc"] == pytest.approx((logits.argmax(1) == y).mean())
    assert res["samples"] == len(y)


def test_fit_switches_train_and_eval_modes():
    modes = []

    class Spy(nn.Module):
        def forward(self, x):
            modes.append(self.training)
            return x

    model, optimizer, train, val = _setup()
    model.append(Spy())
    fit(model, nn.CrossEntropyLoss(), optimizer, train, 1, val_loader=val, progress=False)
    assert modes[:len(train)] == [True] * len(train) and modes[len(train):] == [False] * len(val)


def test_metrics_are_read_back_once_per_pass(monkeypatch):
    reads = []
    real = T._Meter.read
    monkeypatch.setattr(T._Meter, "read", lambda self: (reads.append(1), real(self))[1])
    model, optimizer, train, val = _setup()
    fit(model, nn.CrossEntropyLoss(), optimizer, train, 3, val_loader=val, progress=False, check_finite=False)
    assert len(reads) == 3 * 2  # one read-back per training epoch and one per validation pass, not per batch


def test_nan_loss_raises_before_the_optimizer_step():
    _, _, train, _ = _setup()
    model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 3))
    optimizer = optim.Adam(model.parameters(), lr=1e-2)
    X, y = train.dataset.arrays
    X = X.copy()
    X[5] = np.nan
    bad = DataLoader(TensorDataset(X, y), batch_size=len(X), shuffle=True, seed=0)
    fit(model, nn.CrossEntropyLoss(), optimizer, train, 1, progress=False)  # some state in Adam
    before, opt_before = _weights(model), optimizer.state_dict()
    with pytest.raises(TrainingError, match=r"epoch 1, batch 0.*not finite.*No optimizer step"):
        fit(model, nn.CrossEntropyLoss(), optimizer, bad, 1, progress=False)
    after = model.state_dict()
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)
    st = optimizer.state_dict()["state"]
    assert all(st[i]["step"] == opt_before["state"][i]["step"] for i in st)


def test_exception_in_forward_is_reported_with_the_batch_and_model_is_untouched():
    class Boom(nn.Module):
        calls = 0

        def forward(self, x):
            Boom.calls += 1
            if Boom.calls == 3:
                raise ValueError("shape trouble")
            return x

    model, optimizer, train, _ = _setup(dropout=0.0)
    model.append(Boom())
    snapshots = []

    orig_step = optimizer.step

    def step(*a, **k):
        orig_step(*a, **k)
        snapshots.append(_weights(model))

    optimizer.step = step
    with pytest.raises(TrainingError, match=r"epoch 1, batch 2.*ValueError: shape trouble") as info:
        fit(model, nn.CrossEntropyLoss(), optimizer, train, 1, progress=False)
    assert isinstance(info.value.__cause__, ValueError)
    assert len(snapshots) == 2
    now = model.state_dict()
    np.testing.assert_array_equal(now["0.weight"], snapshots[-1]["0.weight"])


def test_bad_batch_shape_message():
    model, optimizer, _, _ = _setup()
    loader = DataLoader(TensorDataset(np.zeros((4, 2), np.float32)), batch_size=2, shuffle=True)
    with pytest.raises(TypeError, match=r"\(inputs, targets\)"):
        fit(model, nn.CrossEntropyLoss(), optimizer, loader, 1, progress=False)


def test_early_stopping_logic():
    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.1)
    state = T.FitState(None, None, None, val_loader=object())
    es.on_train_begin(state)
    for epoch, v in enumerate([1.0, 0.95, 0.85, 0.8, 0.79]):
        es.on_epoch_end(epoch, {"val_loss": v}, state)
        if state.stop_training:
            break
    assert es.best == 0.85 and es.stopped_epoch == 5 and state.stop_training
    es = EarlyStopping(monitor="val_acc", patience=1)
    assert es.mode == "max"


def test_early_stopping_stops_fit_and_needs_val_loader():
    model, optimizer, train, val = _setup(dropout=0.0, lr=0.0, opt="sgd")  # nothing changes: val_loss is flat
    es = EarlyStopping(monitor="val_loss", patience=2)
    hist = fit(model, nn.CrossEntropyLoss(), optimizer, train, 10, val_loader=val, callbacks=[es], progress=False)
    assert len(hist["loss"]) == 3 and es.stopped_epoch == 3
    with pytest.raises(ValueError, match="no val_loader"):
        fit(model, nn.CrossEntropyLoss(), optimizer, train, 1, callbacks=[EarlyStopping()], progress=False)


def test_model_checkpoint_best_only_and_format(tmp_path):
    model, optimizer, train, val = _setup()
    cb = ModelCheckpoint(tmp_path / "ck-{epoch:02d}.npz", monitor="val_acc", save_best_only=True)
    hist = fit(model, nn.CrossEntropyLoss(), optimizer, train, 4, val_loader=val, callbacks=[cb], progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    best = [i for i, a in enumerate(hist["val_acc"]) if a == max(hist["val_acc"][: i + 1])
            and (i == 0 or a > max(hist["val_acc"][:i]))]
    assert files == [f"ck-{i + 1:02d}.npz" for i in best]
    ck = gn.load(cb.last_path)
    assert ck["epoch"] == best[-1] + 1 and set(ck) >= {"model", "optimizer", "history", "train_loader"}


def test_scheduler_is_stepped_per_epoch():
    model, optimizer, train, _ = _setup()
    sched = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    hist = fit(model, nn.CrossEntropyLoss(), optimizer, train, 3, scheduler=sched, progress=False)
    assert hist["lr"] == pytest.approx([1e-2, 5e-3, 2.5e-3])


def test_resume_from_checkpoint_is_bit_exact(tmp_path):
    loss_fn = nn.CrossEntropyLoss()
    model, optimizer, train, val = _setup()
    full = fit(model, loss_fn, optimizer, train, 4, val_loader=val, callbacks=[ReseedEachEpoch(0)],
               progress=False)
    ref = _weights(model)

    model, optimizer, train, val = _setup()
    cb = ModelCheckpoint(tmp_path / "ck.npz")
    fit(model, loss_fn, optimizer, train, 2, val_loader=val, callbacks=[ReseedEachEpoch(0), cb], progress=False)

    model, optimizer, train, val = _setup(seed=123)  # different init and shuffling: all overwritten
    ck = restore_checkpoint(tmp_path / "ck.npz", model, optimizer, train_loader=train)
    hist = fit(model, loss_fn, optimizer, train, 4, val_loader=val, callbacks=[ReseedEachEpoch(0)],
               progress=False, initial_epoch=ck["epoch"], history=ck["history"])
    for k, v in _weights(model).items():
        np.testing.assert_array_equal(v, ref[k], err_msg=k)
    assert hist["loss"] == full["loss"] and hist["val_acc"] == full["val_acc"]
    with pytest.raises(ValueError, match="not written by ModelCheckpoint"):
        restore_checkpoint({"weights": 1}, model)


def test_progress_prints_one_line_per_epoch(capsys):
    model, optimizer, train, val = _setup()
    fit(model, nn.CrossEntropyLoss(), optimizer, train, 2, val_loader=val, progress=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2") and "samples/s" in lines[1]
    assert "val_acc" in lines[0]

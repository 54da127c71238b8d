"""gpunet train --model cnn / lstm / transformer: the digits read as images or row sequences, checkpoints and
exact resume, per-model defaults, errors; and (slow) the accuracy each reaches with its defaults."""
from __future__ import annotations

import json

import numpy as np
import pytest

import gpunet as gn
from gpunet import cli, models


def run(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as e:
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(argv, capsys):
    rc, out, err = run(argv + ["--json"], capsys)
    assert rc == 0, err
    return json.loads(out)


@pytest.mark.parametrize("model", ["cnn", "lstm", "transformer"])
def test_each_model_trains_an_epoch_with_its_defaults(model, capsys):
    res = run_json(["train", "--model", model, "--epochs", "1", "--backend", "numpy"], capsys)
    cfg = res["config"]
    assert cfg["model"] == model and cfg["schedule"] == "cosine"
    assert cfg["lr"] == models.MODELS[model][1]["lr"]
    assert 0.3 < res["test_acc"] <= 1 and res["samples_per_s"] > 0


def test_model_layouts_and_builders():
    assert models.input_shape("cnn", 64) == (1, 8, 8)
    assert models.input_shape("lstm", 64) == (8, 8)
    assert models.input_shape("mlp", 64) == (64,)
    with pytest.raises(ValueError, match="square image"):
        models.input_shape("cnn", 2)
    x = gn.tensor(np.zeros((3, 8, 8), np.float32))
    for name in ("lstm", "transformer"):
        m = getattr(models, f"build_{name}")(8, 10)
        m.eval()
        assert m(x).shape == (3, 10)
    cnn = models.build_cnn(8, 10)
    cnn.eval()
    assert cnn(x.reshape(3, 1, 8, 8)).shape == (3, 10)


def test_cnn_checkpoint_resume_is_exact(tmp_path, capsys):
    """1 + 1 epochs give the weights of 2 (no schedule: a cosine schedule spans a fixed number of epochs)."""
    ck, full = tmp_path / "a.npz", tmp_path / "b.npz"
    base = ["train", "--model", "cnn", "--backend", "numpy", "--quiet", "--schedule", "none"]
    assert run(base + ["--epochs", "1", "--save", str(ck)], capsys)[0] == 0
    assert run(["train", "--resume", str(ck), "--epochs", "2", "--quiet", "--backend", "numpy"], capsys)[0] == 0
    assert run(base + ["--epochs", "2", "--save", str(full)], capsys)[0] == 0
    a, b = gn.load(str(ck)), gn.load(str(full))
    assert a["args"]["model"] == "cnn" and a["epoch"] == b["epoch"] == 2
    for k in b["model"]:
        np.testing.assert_array_equal(np.asarray(a["model"][k]), np.asarray(b["model"][k]), err_msg=k)


def test_cosine_run_resumes_only_to_its_own_length(tmp_path, capsys):
    ck = tmp_path / "c.npz"
    assert run(["train", "--model", "lstm", "--epochs", "1", "--backend", "numpy", "--quiet", "--save", str(ck)],
               capsys)[0] == 0
    rc, _, err = run(["train", "--resume", str(ck), "--epochs", "3", "--backend", "numpy"], capsys)
    assert rc == 2 and "cosine schedule spans its 1 epochs" in err


def test_model_plot_and_resume_refuses_another_model(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    ck, png = tmp_path / "r.npz", tmp_path / "c.png"
    rc, out, err = run(["train", "--model", "lstm", "--epochs", "1", "--backend", "numpy", "--save", str(ck),
                        "--plot", str(png)], capsys)
    assert rc == 0, err and png.stat().st_size > 0
    assert "LSTM (" in out and "test accuracy" in out
    rc, _, err = run(["train", "--resume", str(ck), "--model", "cnn"], capsys)
    assert rc == 2 and "--model cnn differs from the checkpoint's lstm" in err


@pytest.mark.parametrize("argv, message", [
    (["--model", "cnn", "--hidden", "32"], "--hidden sets the MLP's layers"),
    (["--model", "cnn", "--dataset", "xor"], "square image"),
    (["--model", "rnn"], "invalid choice"),
    (["--schedule", "cosine", "--lr-decay", "0.9"], "choose one"),
])
def test_model_usage_errors(argv, message, capsys):
    rc, _, err = run(["train", "--backend", "numpy", "--epochs", "1"] + argv, capsys)
    assert rc == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
@pytest.mark.parametrize("model, target", [("cnn", 0.985), ("lstm", 0.97), ("transformer", 0.97)])
def test_defaults_reach_the_documented_accuracy(model, target, capsys):
    res = run_json(["train", "--model", model, "--backend", "numpy"], capsys)
    assert res["test_acc"] >= target, res

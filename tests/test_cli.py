"""The gpunet command: train (defaults, options, checkpoints, exact resume), info, bench, usage errors."""
from __future__ import annotations

import json
import struct
import subprocess
import sys

import numpy as np
import pytest

import gpunet as gn
from gpunet import cli


def run(argv, capsys):
    """``(exit status, stdout, stderr)`` of ``gpunet <argv>`` run in-process."""
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse errors
        rc = e.code
    out, err = capsys.readouterr()
    return rc, out, err


def run_json(argv, capsys):
    rc, out, err = run(argv + ["--json"], capsys)
    assert rc == 0, err
    return json.loads(out)


QUICK = ["train", "--dataset", "xor", "--hidden", "16", "--batch-size", "50", "--backend", "numpy"]


def test_train_json_reports_final_metrics(capsys):
    res = run_json(QUICK + ["--epochs", "3"], capsys)
    assert res["dataset"] == "xor" and res["backend"] == "numpy" and res["epochs"] == 3
    assert 0 <= res["test_acc"] <= 1 and res["samples_per_s"] > 0 and res["time_s"] > 0
    assert res["config"]["hidden"] == "16"


def test_train_prints_epochs_and_summary(capsys):
    rc, out, err = run(QUICK + ["--epochs", "2", "--optimizer", "nesterov", "--activation", "tanh"], capsys)
    assert rc == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("gpunet ") and "MLP 2-16-2" in lines[0] and "nesterov lr 0.05" in lines[0]
    assert lines[1].startswith("epoch 1/2") and lines[2].startswith("epoch 2/2")
    assert lines[-1].startswith("test accuracy") and "samples/s" in lines[-1]
    rc, out, _ = run(QUICK + ["--epochs", "1", "--quiet"], capsys)
    assert rc == 0 and len(out.strip().splitlines()) == 1


@pytest.mark.parametrize("opt", list(cli.OPTIMIZERS))
def test_every_optimizer_runs(opt, capsys):
    res = run_json(QUICK + ["--epochs", "1", "--optimizer", opt, "--dataset", "spiral"], capsys)
    assert np.isfinite(res["test_loss"])


@pytest.mark.slow
def test_defaults_reach_97_percent_on_digits(capsys):
    res = run_json(["train"], capsys)
    assert res["dataset"] == "digits" and res["epochs"] == cli.EPOCHS_DEFAULT
    assert res["test_acc"] >= 0.97


def test_default_model_architecture():
    model = cli.build_mlp(64, [128, 128], 10, "relu", 0.1)
    names = [type(m).__name__ for m in model]
    assert names == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert model[0].weight.shape == (128, 64) and model[-1].weight.shape == (10, 128)


def test_resume_equals_uninterrupted_run_bit_for_bit(tmp_path, capsys):
    args = ["train", "--dataset", "digits", "--backend", "numpy", "--hidden", "32,32", "--seed", "3"]
    full, half, resumed = tmp_path / "full.npz", tmp_path / "half.npz", tmp_path / "resumed.npz"
    run_json(args + ["--epochs", "4", "--save", str(full)], capsys)
    run_json(args + ["--epochs", "2", "--save", str(half)], capsys)
    assert gn.load(half)["epoch"] == 2
    # the backend is a choice of each run, not a saved option (a CPU run may resume on a GPU): name it again,
    # or on a machine with a GPU the resumed half would run there and differ in the last bits
    res = run_json(["train", "--resume", str(half), "--epochs", "4", "--save", str(resumed), "--backend", "numpy"],
                   capsys)
    assert res["epochs"] == 4
    a, b = gn.load(full), gn.load(resumed)
    assert a["epoch"] == b["epoch"] == 4
    for k, v in a["model"].items():
        np.testing.assert_array_equal(b["model"][k], v, err_msg=k)
    for i, st in a["optimizer"]["state"].items():
        for name, v in st.items():
            np.testing.assert_array_equal(b["optimizer"]["state"][i][name], v)
    assert a["history"]["loss"] == b["history"]["loss"]
    assert a["history"]["val_acc"] == b["history"]["val_acc"]
    assert a["train_loader"]["rng_state"] == b["train_loader"]["rng_state"]


def test_resume_refuses_changed_options_and_bad_files(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    run_json(QUICK + ["--epochs", "1", "--save", str(ck)], capsys)
    rc, _, err = run(["train", "--resume", str(ck), "--hidden", "32"], capsys)
    assert rc == 2 and "--hidden 32 differs from the checkpoint's 16" in err and "Traceback" not in err
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])
    rc, _, err = run(["train", "--resume", str(ck)], capsys)
    assert rc == 2 and "truncated or corrupt" in err and "Traceback" not in err
    other = tmp_path / "other.npz"
    gn.save({"w": np.zeros(2)}, other)
    rc, _, err = run(["train", "--resume", str(other)], capsys)
    assert rc == 2 and "not one written by 'gpunet train --save'" in err


def test_resume_keeps_saving_and_stops_at_epochs(tmp_path, capsys):
    ck = tmp_path / "ck.npz"
    run_json(QUICK + ["--epochs", "1", "--save", str(ck)], capsys)
    res = run_json(["train", "--resume", str(ck), "--epochs", "2"], capsys)
    assert res["epochs"] == 2 and gn.load(ck)["epoch"] == 2
    rc, out, err = run(["train", "--resume", str(ck), "--epochs", "2"], capsys)  # nothing left to do
    assert rc == 0 and "no epochs run" in out and gn.load(ck)["epoch"] == 2


@pytest.mark.skipif(gn.backend.cupy_status()[0], reason="a GPU is usable here")
def test_unusable_gpu_backend_is_a_usage_error(capsys):
    rc, _, err = run(QUICK + ["--backend", "cupy"], capsys)
    assert rc == 2 and "--backend cupy" in err and "not usable" in err and "Traceback" not in err


@pytest.mark.parametrize("argv,message", [
    (["train", "--hidden", "12,x"], "--hidden: expected comma-separated positive layer widths"),
    (["train", "--hidden", "0"], "--hidden"),
    (["train", "--dataset", "cifar"], "unknown dataset 'cifar'"),
    (["train", "--dataset", "mnist:"], "needs the folder"),
    (["train", "--dataset", "mnist:/no/such/folder"], "not a folder"),
    (["train", "--epochs", "0"], "--epochs: expected a positive integer"),
    (["train", "--lr", "-1"], "--lr: expected a positive number"),
    (["train", "--dropout", "1.5"], "--dropout"),
    (["train", "--optimizer", "lbfgs"], "invalid choice"),
    (["train", "--backend", "tpu"], "unknown backend"),
    (["train", "--resume", "/no/such/ck.npz"], "no checkpoint at"),
    (["train", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    (["fly"], "invalid choice"),
    ([], "choose a command"),
])
def test_bad_arguments_exit_2_without_traceback(argv, message, capsys):
    rc, out, err = run(argv, capsys)
    assert rc == 2
    assert message in err and "Traceback" not in err


def _idx(a: np.ndarray) -> bytes:
    return bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape) + a.tobytes()


def test_train_on_local_mnist_files(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        (tmp_path / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28), np.uint8)))
        (tmp_path / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n, dtype=np.uint8) % 10))
    res = run_json(["train", "--dataset", f"mnist:{tmp_path}", "--epochs", "1", "--hidden", "8",
                    "--batch-size", "16"], capsys)
    assert res["dataset"].startswith("mnist:")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x03\x04")
    rc, _, err = run(["train", "--dataset", f"mnist:{tmp_path}"], capsys)
    assert rc == 2 and "bad magic number" in err


def test_plot_writes_png(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "curves.png"
    rc, _, err = run(QUICK + ["--epochs", "2", "--quiet", "--plot", str(png)], capsys)
    assert rc == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    rc, _, err = run(QUICK + ["--plot", str(tmp_path / "x.png")], capsys)
    assert rc == 2 and "--plot needs matplotlib" in err and not (tmp_path / "x.png").exists()


def test_training_failure_exits_1(capsys, monkeypatch):
    from gpunet.train import TrainingError

    def boom(*a, **k):
        raise TrainingError("fit: epoch 1, batch 0: the loss is nan (not finite)")

    monkeypatch.setattr("gpunet.train.fit", boom)
    rc, _, err = run(QUICK, capsys)
    assert rc == 1 and "training failed" in err and "Traceback" not in err


def test_info(capsys):
    rc, out, err = run(["info"], capsys)
    assert rc == 0, err
    assert out.startswith(f"gpunet {gn.__version__}") and "NumPy" in out and "BLAS" in out
    assert "numpy  usable" in out and "cupy" in out
    d = run_json(["info"], capsys)
    assert d["backends"]["numpy"]["usable"] is True
    assert d["backends"]["cupy"]["usable"] == gn.backend.cupy_status()[0]
    assert d["numpy"] == np.__version__ and "threads" in d["blas"]


def test_bench_forwards_arguments(capsys, monkeypatch):
    import gpunet._bench as bench

    seen = []
    monkeypatch.setattr(bench, "main", lambda argv: seen.append(argv) or 0)
    rc, _, _ = run(["bench", "--json", "--models", "mlp", "--rounds", "1"], capsys)
    assert rc == 0 and seen == [["--json", "--models", "mlp", "--rounds", "1"]]


def test_bench_without_runner(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "gpunet._bench", None)
    rc, _, err = run(["bench"], capsys)
    assert rc == 2 and "benchmarks need the source checkout: python -m bench" in err


def test_console_entry_point_usage_error_in_a_subprocess():
    p = subprocess.run([sys.executable, "-m", "gpunet.cli", "train", "--hidden", "abc"], capture_output=True,
                       text=True)
    assert p.returncode == 2 and "--hidden" in p.stderr and "Traceback" not in p.stderr


def test_auto_backend_without_gpu_says_so_in_one_line(monkeypatch, capsys):
    """A GPU build run where no GPU is passed in (docker run without --gpus) notes the CPU fallback once."""
    from gpunet import backend

    monkeypatch.setattr(backend, "_cupy_checked", (False, "CuPy is installed but no CUDA driver/device is usable"))
    monkeypatch.setattr(backend, "_current", None)
    assert cli.main(["train", "--epochs", "1", "--quiet", "--backend", "auto"]) == 0
    err = capsys.readouterr().err
    assert err.count("no GPU visible") == 1 and "running on the CPU" in err


def test_save_into_a_missing_folder_fails_before_training(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "run.npz"
    rc, out, err = run(QUICK + ["--epochs", "50", "--save", str(target)], capsys)
    assert rc == 2 and "Traceback" not in err and out == ""     # nothing trained, nothing printed
    assert f"--save {target}: the folder {target.parent} does not exist; create it first" in err
    assert not target.parent.exists()


@pytest.mark.parametrize("args,what", [(["--rounds", "0"], "--rounds"), (["--rounds", "x"], "--rounds"),
                                       (["--min-time", "-1"], "--min-time"), (["--min-time", "inf"], "--min-time"),
                                       (["--models", "huge"], "unknown model")])
def test_bench_refuses_bad_values_in_one_line(capsys, args, what):
    rc, out, err = run(["bench"] + args, capsys)
    assert rc == 2 and what in err and "Traceback" not in err and out == ""

"""The perceptron, XOR-MLP and optimizer-path examples run, do what they claim, and are reproducible by seed."""
from __future__ import annotations

import importlib.util
import pathlib
import sys

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"gpunet_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def perceptron():
    return _load("perceptron")


@pytest.fixture(scope="module")
def xor_mlp():
    return _load("xor_mlp")


@pytest.fixture(scope="module")
def paths():
    return _load("optimizer_paths")


def test_perceptron_learns_and_or_not_xor(backend, perceptron, capsys):
    results = perceptron.main(["--epochs", "60"])
    for gate in ("AND", "OR"):
        r = results[gate]
        assert r["converged"] and r["predictions"] == r["targets"], r
        assert r["epochs"] < 20
    xor = results["XOR"]
    assert not xor["converged"] and xor["epochs"] == 60
    assert min(xor["errors_per_epoch"]) >= 1  # some point is misclassified in every epoch
    assert xor["predictions"] != xor["targets"]
    assert "not linearly separable" in capsys.readouterr().out


def test_perceptron_delta_rule_by_hand(perceptron):
    """One update w ← w + α(d − y)x, b ← b + α(d − y) from zero weights on a misclassified negative sample
    (step(0) = 1, so zero weights call every sample positive)."""
    import gpunet as gn

    p = perceptron.Perceptron(2, lr=0.5)
    assert not p.update(gn.tensor([1.0, 2.0]), 1.0)  # w·x + b = 0: step(0) = 1, right already
    assert p.update(gn.tensor([1.0, 2.0]), 0.0)
    np.testing.assert_allclose(p.w.numpy(), [-0.5, -1.0])
    assert p.b.item() == pytest.approx(-0.5)
    assert not p.update(gn.tensor([1.0, 2.0]), 0.0)  # now classified right: no change


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_xor_mlp_learns_xor(backend, xor_mlp, optimizer):
    r = xor_mlp.train(epochs=300, optimizer=optimizer, seed=0)
    assert r["accuracy"] == 1.0, r["outputs"]
    assert r["losses"][-1] < 0.1 * r["losses"][0]


def test_xor_mlp_is_reproducible_by_seed(xor_mlp):
    a = xor_mlp.train(epochs=50, seed=3)
    b = xor_mlp.train(epochs=50, seed=3)
    c = xor_mlp.train(epochs=50, seed=4)
    assert a["losses"] == b["losses"]
    assert a["losses"] != c["losses"]


def test_xor_mlp_main_prints_table(xor_mlp, capsys):
    r = xor_mlp.main(["--epochs", "200", "--loss", "mse", "--optimizer", "adam", "--lr", "0.1"])
    out = capsys.readouterr().out
    assert "target" in out and "accuracy" in out
    assert r["losses"][-1] < r["losses"][0]


@pytest.mark.parametrize("surface", ["quadratic", "beale"])
def test_optimizer_paths_draws_and_every_loss_falls(paths, surface, tmp_path):
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (optional, for the picture)")
    out = tmp_path / "paths.png"
    results = paths.main(["--surface", surface, "--steps", "30", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(results) == {"GD", "SGD", "Momentum", "Nesterov", "Adagrad", "RMSprop", "Adadelta", "Adam"}
    for name, r in results.items():
        assert r["path"].shape == (31, 2) and np.isfinite(r["path"]).all(), name
        assert r["losses"][-1] < r["losses"][0], f"{name}: loss did not fall ({r['losses'][0]} -> {r['losses'][-1]})"


def test_optimizer_paths_reproducible_by_seed(paths):
    a = paths.run("quadratic", "SGD", 20, seed=1)
    b = paths.run("quadratic", "SGD", 20, seed=1)
    c = paths.run("quadratic", "SGD", 20, seed=2)
    np.testing.assert_array_equal(a["path"], b["path"])
    assert not np.array_equal(a["path"], c["path"])


def test_optimizer_paths_without_matplotlib(paths, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    out = tmp_path / "none.png"
    results = paths.main(["--steps", "5", "--out", str(out)])
    assert not out.exists() and len(results) == 8
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_the_pytorch_script_runs_with_only_its_imports_changed():
    """examples/pytorch_script.py: warm-up + cosine, clipping, a forward and a tensor hook, a DLPack hand-off."""
    source = (EXAMPLES / "pytorch_script.py").read_text()
    code = source.split('"""', 2)[2]                      # after the module docstring
    for line in code.splitlines():
        if "gpunet" in line:
            assert line.startswith(("import gpunet", "from gpunet")), line   # only the imports name gpunet
    script = _load("pytorch_script")
    r = script.main(epochs=8, verbose=False)
    assert r["accuracy"] > 0.9
    assert r["activations"] > 0 and len(r["grad_norms"]) > 0 and all(np.isfinite(r["grad_norms"]))
    assert r["lr"] == pytest.approx(1e-5)                 # the cosine schedule ran to its end

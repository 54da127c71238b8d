"""Host syncs per training step on the GPU backend: none, counted exactly with the emulator's CuPy.

Every device-to-host read (``float(x)``, ``bool(x.any())``, ``.get()``, a stream synchronisation) makes the CPU
wait for the queued step. The label check of cross-entropy / NLL, BatchNorm's ``momentum=None`` counter and the
BCE / Gaussian-NLL range checks each read one back every step before; they now run on the device and are read at
the next host read the user makes (where a failed one raises). On a real GPU, ``python -m bench.host_syncs``
checks the same by capturing the step as a CUDA graph.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from gpunet import nn, optim

pytestmark = pytest.mark.gpu

try:
    from cuda_emulator import fakecupy
    from cuda_emulator.activate import emulating
    _COUNTS = emulating()
except ImportError:
    _COUNTS = False


@pytest.fixture(autouse=True)
def _needs_the_counter():
    if not _COUNTS:
        pytest.skip("sync counts come from the CUDA emulator's CuPy (on a GPU: python -m bench.host_syncs)")
    gn.use("cupy")
    gn.manual_seed(0)
    yield
    gn.use("numpy")


def syncs_per_step(step, steps: int = 3) -> float:
    step()
    step()  # warm-up: optimizer state made, kernels built
    fakecupy.reset_syncs()
    for _ in range(steps):
        step()
    return fakecupy.syncs() / steps


def _train_step(model, loss_fn, x, y, opt_cls=optim.Adam):
    opt = opt_cls(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


@pytest.mark.parametrize("target_dtype", [np.int64, np.int32])
@pytest.mark.parametrize("ignore_index", [-100, 3])
def test_cross_entropy_mlp_step_has_no_host_sync(target_dtype, ignore_index):
    x = gn.randn(32, 8)
    y = gn.tensor(np.arange(32) % 5, dtype=target_dtype)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 5))
    loss_fn = nn.CrossEntropyLoss(ignore_index=ignore_index)
    assert syncs_per_step(_train_step(model, loss_fn, x, y)) == 0   # was 3: t == ignore, t.min(), t.max()


def test_batchnorm_cumulative_average_has_no_host_sync():
    x = gn.randn(32, 8)
    y = gn.tensor(np.arange(32) % 4)
    model = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16, momentum=None), nn.ReLU(), nn.Linear(16, 4))
    assert syncs_per_step(_train_step(model, nn.CrossEntropyLoss(), x, y, optim.SGD)) == 0  # was 1 more
    bn = model[1]
    assert int(bn.num_batches_tracked.item()) == 5
    ref = gn.randn(32, 16)  # the momentum=None average is right, and follows a load_state_dict
    state = {k: gn.backend.current().to_host(v) for k, v in bn.state_dict().items()}
    state["num_batches_tracked"] = np.array(1)
    bn.load_state_dict(state)
    before = bn.running_mean.numpy().copy()
    bn.train()
    bn(ref)
    np.testing.assert_allclose(bn.running_mean.numpy(), (before + ref.numpy().mean(0)) / 2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss", ["bce", "nll", "gaussian_nll", "mse"])
def test_other_losses_have_no_host_sync(loss):
    x = gn.randn(16, 4)
    model = nn.Linear(4, 4)
    if loss == "bce":
        y = gn.rand(16, 4)
        fn = lambda out, t: F.binary_cross_entropy(out.sigmoid(), t)  # noqa: E731
    elif loss == "nll":
        y = gn.tensor(np.arange(16) % 4)
        fn = lambda out, t: F.nll_loss(F.log_softmax(out, 1), t)  # noqa: E731
    elif loss == "gaussian_nll":
        y = gn.randn(16, 4)
        fn = lambda out, t: F.gaussian_nll_loss(out, t, gn.ones(16, 4))  # noqa: E731
    else:
        y = gn.randn(16, 4)
        fn = F.mse_loss
    assert syncs_per_step(_train_step(model, fn, x, y)) == 0


@pytest.mark.filterwarnings("ignore:invalid value encountered")  # the bad BCE input's log: NaN, as intended
def test_a_bad_label_on_the_gpu_raises_at_the_next_host_read():
    logits = gn.randn(4, 3, requires_grad=True)
    bad = gn.tensor(np.array([0, 1, 7, 2]))
    fakecupy.reset_syncs()
    loss = F.cross_entropy(logits, bad)          # no sync: the check runs on the device
    assert fakecupy.syncs() == 0
    with pytest.raises(IndexError, match=r"target value 7 at position \(2,\) is out of range.*first host read"):
        loss.item()
    assert np.isfinite(F.cross_entropy(logits, gn.tensor(np.array([0, 1, 2, 2]))).item())  # nothing left over
    F.cross_entropy(logits, bad)
    with pytest.raises(IndexError, match="target value 7"):
        gn.backend.current().synchronize()
    with pytest.raises(ValueError, match="probabilities in"):
        F.binary_cross_entropy(gn.tensor([0.5, 1.5]), gn.tensor([1.0, 0.0])).numpy()
    with pytest.raises(ValueError, match="negative entries"):
        float(F.gaussian_nll_loss(gn.zeros(2), gn.zeros(2), gn.tensor([1.0, -1.0])))


def test_sync_checks_raise_in_the_call_itself(monkeypatch):
    from gpunet.backend import _deferred

    monkeypatch.setattr(_deferred, "_immediate", True)
    with pytest.raises(IndexError, match="target value -2"):
        F.cross_entropy(gn.randn(2, 3), gn.tensor(np.array([0, -2])))


def test_fit_reads_back_only_every_log_every_batches():
    from gpunet.data import DataLoader, TensorDataset
    from gpunet.train import fit

    X = np.random.default_rng(0).standard_normal((320, 8)).astype(np.float32)
    y = np.arange(320) % 3
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    loader = DataLoader(TensorDataset(X, y), batch_size=32)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for check_finite in (False, True):
        fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, check_finite=check_finite, log_every=5)  # warm
        fakecupy.reset_syncs()
        fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, check_finite=check_finite, log_every=5)
        # 10 batches: the epoch's reads (and the finite guard's at each log_every), not one per batch
        assert fakecupy.syncs() <= (4 if not check_finite else 6), fakecupy.SYNC_KINDS


@pytest.mark.parametrize("opt_name", ["SGD", "Adam", "NAdam"])  # NAdam: no fused kernel, read per batch
def test_fit_keeps_the_weights_of_a_non_finite_batch_without_reading_each_loss(opt_name):
    from gpunet.data import DataLoader, TensorDataset
    from gpunet.train import TrainingError, fit

    X = np.random.default_rng(0).standard_normal((128, 4)).astype(np.float32)
    X[70] = np.nan                                       # batch 4 of 8 (batch_size 16)
    y = np.arange(128) % 2
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    opt = getattr(optim, opt_name)(model.parameters(), lr=0.1)
    clean = DataLoader(TensorDataset(X[:64], y[:64]), batch_size=16)
    fit(model, nn.CrossEntropyLoss(), opt, clean, epochs=1)
    after_clean = [p.numpy().copy() for p in model.parameters()]
    loader = DataLoader(TensorDataset(X[64:], y[64:]), batch_size=16)   # batch 0 of this loader has the NaN
    with pytest.raises(TrainingError, match=r"batch 0: the loss is .*not finite.*keeps (its|the)"):
        fit(model, nn.CrossEntropyLoss(), opt, loader, epochs=1, log_every=3)
    for a, p in zip(after_clean, model.parameters()):
        np.testing.assert_array_equal(p.numpy(), a)     # no step taken from the bad batch on

"""gpunet.distributed: 2-process jobs under mpiexec (tests/test_distributed_worker.py), and the pieces that need
no MPI (the sampler against torch's split, the engine's post-accumulate hooks and callbacks, error messages)."""
from __future__ import annotations

import importlib.util
import math
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import gpunet as gn
from gpunet.autograd import hooks

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "test_distributed_worker.py")


def _mpiexec():
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'gpunet[dist]')")
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    exe = here if os.access(here, os.X_OK) else shutil.which("mpiexec")
    if exe is None:
        pytest.skip("no mpiexec launcher found (pip install mpich)")
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    extra = ["--oversubscribe"] if "Open MPI" in version or "OpenRTE" in version else []
    if extra and hasattr(os, "geteuid") and os.geteuid() == 0:
        extra.append("--allow-run-as-root")
    return [exe, *extra]


def _launch(args, n=2, timeout=240, module=True):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")])
    env.pop("GPUNET_NUM_THREADS", None)
    cmd = _mpiexec() + ["-n", str(n), sys.executable] + (["-m", "mpi4py"] if module else []) + args
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=HERE, env=env)


@pytest.fixture(scope="module")
def job():
    """One 2-rank job running every check; its output."""
    r = _launch([WORKER, "main"])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    return out


CHECKS = ["train_sgd_momentum", "train_adam", "without_sync_differs", "several_buckets",
          "no_sync_accumulates_and_state_dict", "sync_batchnorm", "distributed_sampler_loader",
          "collectives_and_ranks", "nccl_path_on_mpi_communicator"]


@pytest.mark.parametrize("name", CHECKS)
def test_two_ranks(job, name):
    """Training 20 steps (SGD-momentum, Adam) equals the 1-process run (bitwise against the averaged shards'
    gradients), no sync makes it fail, broadcast, buckets, no_sync, SyncBatchNorm, the sampler in a DataLoader,
    the collectives, and the NCCL path with its communicator swapped for MPI's."""
    fails = re.findall(rf"CHECK {name} FAIL.*", job)
    assert not fails, "\n".join(fails) + "\n" + job[-3000:]
    assert f"CHECK {name} ok" in job, job[-3000:]


@pytest.mark.parametrize("module", [True, False], ids=["python -m mpi4py", "plain python"])
def test_a_raising_rank_aborts_the_job(module):
    r = _launch([WORKER, "raise"], timeout=60, module=module)
    if not (r.stdout + r.stderr).strip():  # the launcher once came back with no output at all: a second launch
        r = _launch([WORKER, "raise"], timeout=60, module=module)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out[-2000:]
    assert "rank 1 fails on purpose" in out and "UNREACHED" not in out, f"exit status {r.returncode}: {out[-2000:]}"


def test_a_rank_that_never_joins_times_out():
    r = _launch([WORKER, "late"], timeout=60)
    out = r.stdout + r.stderr
    assert r.returncode != 0 and "UNREACHED" not in out
    assert "waited 1 s for the other ranks" in out and "mpiexec -n N python -m mpi4py" in out, out[-2000:]


def test_cli_train_distributed():
    r = _launch(["-m", "gpunet.cli", "train", "--distributed", "--dataset", "xor", "--epochs", "2", "--hidden", "32",
                 "--lr", "0.02", "--json"],
                timeout=120)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-3000:]
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, out          # only rank 0 reports
    import json

    d = json.loads(lines[0])
    assert d["config"]["distributed"]["world_size"] == 2 and d["test_acc"] > 0.5, d


@pytest.mark.device
def test_real_nccl_on_the_gpus():
    """NCCL for real (one rank per GPU, at most 2): runs where a GPU is lent (the device script)."""
    from gpunet import backend
    from gpunet.distributed._comm import nccl_status

    if not backend.cupy_status()[0]:
        pytest.skip("no usable GPU")
    ok, why = nccl_status()
    if not ok:
        pytest.skip(why)
    import cupy

    n = min(2, cupy.cuda.runtime.getDeviceCount())
    r = _launch([WORKER, "nccl"], n=n, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0 and f"NCCL OK world={n}" in out, out[-3000:]


# ---------------------------------------------------------------------- no MPI needed
@pytest.mark.parametrize("n,replicas", [(10, 3), (11, 4), (3, 5), (12, 4), (7, 2), (1, 3)])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_splits_like_torch(n, replicas, drop_last):
    from gpunet.distributed import DistributedSampler

    ds = list(range(n))
    torch = pytest.importorskip("torch", reason="PyTorch is not installed (optional reference)")
    from torch.utils.data import DistributedSampler as TorchSampler

    for rank in range(replicas):
        if drop_last and n < replicas:
            continue
        ours = DistributedSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        theirs = TorchSampler(ds, num_replicas=replicas, rank=rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
    del torch


def test_sampler_shuffles_per_epoch_and_pads():
    from gpunet.distributed import DistributedSampler

    ss = [DistributedSampler(range(10), num_replicas=3, rank=r, seed=5) for r in range(3)]
    first = [list(s) for s in ss]
    perm = np.random.default_rng(5).permutation(10).tolist()        # seed + epoch 0 (NumPy's generator)
    padded = perm + perm[:2]                                          # torch pads by repeating the start
    assert first == [padded[r::3] for r in range(3)]
    for s in ss:
        s.set_epoch(1)
    second = [list(s) for s in ss]
    assert second != first and set(sum(second, [])) == set(range(10))
    assert [list(s) for s in ss] == second           # the same epoch: the same order
    loader = gn.data.DataLoader(gn.data.TensorDataset(np.arange(10.0)[:, None], np.arange(10)), batch_size=3,
                                sampler=ss[0])
    assert len(loader) == 2 and sum(len(b[1]) for b in loader) == 4


def test_sampler_errors():
    from gpunet.distributed import DistributedSampler

    with pytest.raises(ValueError, match=r"Invalid rank 3, rank should be in the interval \[0, 2\]"):
        DistributedSampler(range(4), num_replicas=3, rank=3)
    with pytest.raises(RuntimeError, match="init_process_group"):
        DistributedSampler(range(4))
    assert len(DistributedSampler(range(10), num_replicas=4, rank=0, drop_last=True)) == math.floor(10 / 4)


def test_missing_mpi4py_says_how_to_install(monkeypatch):
    from gpunet.distributed import _comm

    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"pip install 'gpunet\[dist\]'"):
        _comm.mpi()


def test_without_a_process_group():
    import gpunet.distributed as dist

    assert not dist.is_initialized() and dist.get_rank() == 0 and dist.get_world_size() == 1
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.all_reduce(gn.tensor(np.ones(2)))
    with pytest.raises(RuntimeError, match="init_process_group"):
        dist.DistributedDataParallel(gn.nn.Linear(2, 2))
    bn = dist.SyncBatchNorm(3)                    # no process group: plain batch norm
    x = np.random.default_rng(0).standard_normal((6, 3, 2)).astype(np.float32)
    ref = gn.nn.BatchNorm1d(3)
    np.testing.assert_allclose(bn(x).numpy(), ref(x).numpy(), rtol=1e-6, atol=1e-6)


def test_info_lists_the_engines():
    from gpunet.cli import info_dict

    d = info_dict()["distributed"]
    assert set(d) == {"mpi", "nccl"} and all("usable" in v and v["why"] for v in d.values())


# ---------------------------------------------------------------------- the engine's hooks
def test_post_accumulate_hook_runs_once_with_the_whole_gradient():
    w = gn.tensor(np.ones(3, np.float32), requires_grad=True)
    seen, order = [], []
    h = hooks.register_post_accumulate(w, lambda t: seen.append(t.grad.numpy().copy()))
    h2 = hooks.register_post_accumulate(w, lambda t: hooks.queue_callback(lambda: order.append("end")))
    try:
        ((w * 2).sum() + (w * 3).sum()).backward()
        assert len(seen) == 1 and np.array_equal(seen[0], [5, 5, 5]) and order == ["end"]
        w.register_hook(lambda g: g * 2)             # with a tensor hook too: after it, still once
        (w * 1).sum().backward()
        assert len(seen) == 2 and np.array_equal(seen[1], [7, 7, 7]) and order == ["end", "end"]
    finally:
        h.remove()
        h2.remove()
    assert id(w) not in hooks.POST_ACC
    (w * 1).sum().backward()
    assert len(seen) == 2


def test_queue_callback_outside_backward_raises():
    with pytest.raises(RuntimeError, match="no backward pass is running"):
        hooks.queue_callback(lambda: None)
    x = gn.tensor(np.ones(2), requires_grad=False)
    with pytest.raises(RuntimeError, match="leaf tensors that require grad"):
        hooks.register_post_accumulate(x, lambda t: None)

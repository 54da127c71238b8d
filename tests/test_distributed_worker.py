"""The script tests/test_distributed.py launches under ``mpiexec -n 2`` (no tests of its own for pytest).

``python tests/test_distributed_worker.py main`` runs every check of the data-parallel stack in one job and
prints ``CHECK <name> ok`` (or ``CHECK <name> FAIL <why>``) on rank 0; ``raise`` / ``late`` are the fault
scenarios (one rank raising; one rank joining too late).
"""
from __future__ import annotations

import sys
import time
import traceback

import numpy as np

SIZES = [8, 16, 16, 4]
STEPS = 20
BATCH = 16


def _mlp(gn, seed, bn=False):
    gn.manual_seed(seed)
    layers = []
    for a, b in zip(SIZES[:-2], SIZES[1:-1]):
        layers += [gn.nn.Linear(a, b)] + ([gn.nn.BatchNorm1d(b)] if bn else []) + [gn.nn.ReLU()]
    layers.append(gn.nn.Linear(SIZES[-2], SIZES[-1]))
    return gn.nn.Sequential(*layers)


def _data(step):
    r = np.random.default_rng(100 + step)
    return r.standard_normal((BATCH, SIZES[0])).astype(np.float32), r.integers(0, SIZES[-1], BATCH)


def _opt(gn, kind, params):
    if kind == "sgd":
        return gn.optim.SGD(params, lr=0.1, momentum=0.9)
    return gn.optim.Adam(params, lr=0.01)


def _flat(model):
    return np.concatenate([p.numpy().ravel() for p in model.parameters()])


def _train_ddp(gn, dist, kind, sync=True, **ddp_kw):
    rank, world = dist.get_rank(), dist.get_world_size()
    model = _mlp(gn, seed=10 + rank)                     # different initial weights per rank
    ddp = dist.DistributedDataParallel(model, **ddp_kw)
    init = _flat(model)
    opt = _opt(gn, kind, ddp.parameters())
    loss_fn = gn.nn.CrossEntropyLoss()
    shard = BATCH // world
    for step in range(STEPS):
        x, y = _data(step)
        xs, ys = x[rank * shard:(rank + 1) * shard], y[rank * shard:(rank + 1) * shard]
        opt.zero_grad()
        if sync:
            loss_fn(ddp(xs), gn.tensor(ys)).backward()
        else:
            with ddp.no_sync():
                loss_fn(ddp(xs), gn.tensor(ys)).backward()
        opt.step()
    return ddp, init, _flat(model)


def _reference(gn, kind, init_seed, averaged: bool, world=2):
    """One process: the concatenated batch (``averaged=False``), or the shards' gradients summed and scaled by
    1/world as the all-reduce does (``averaged=True``)."""
    model = _mlp(gn, seed=init_seed)
    opt = _opt(gn, kind, model.parameters())
    loss_fn = gn.nn.CrossEntropyLoss()
    shard = BATCH // world
    params = list(model.parameters())
    for step in range(STEPS):
        x, y = _data(step)
        opt.zero_grad()
        if not averaged:
            loss_fn(model(x), gn.tensor(y)).backward()
        else:
            total = None
            for r in range(world):
                for p in params:
                    p.grad = None
                loss_fn(model(x[r * shard:(r + 1) * shard]), gn.tensor(y[r * shard:(r + 1) * shard])).backward()
                gs = [p.grad.data.copy() for p in params]
                total = gs if total is None else [a + b for a, b in zip(total, gs)]
            for p, g in zip(params, total):
                p.grad.data[...] = g * g.dtype.type(1.0 / world)
        opt.step()
    return _flat(model)


class Checks:
    def __init__(self, rank):
        self.rank = rank
        self.failed = 0

    def run(self, name, fn):
        t0 = time.perf_counter()
        try:
            fn()
            if self.rank == 0:
                print(f"CHECK {name} ok {time.perf_counter() - t0:.2f}s", flush=True)
        except Exception as e:  # reported, then the next check
            self.failed += 1
            print(f"CHECK {name} FAIL rank {self.rank}: {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()


def main():
    import gpunet as gn
    import gpunet.distributed as dist

    dist.init_process_group(timeout=30)
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == 2, world
    c = Checks(rank)
    gathered = {}

    def same_on_all(a):
        t = gn.tensor(a)
        out = [gn.tensor(np.zeros_like(a)) for _ in range(world)]
        dist.all_gather(out, t)
        return all(np.array_equal(o.numpy(), out[0].numpy()) for o in out)

    def train(kind):
        def check():
            ddp, init, final = _train_ddp(gn, dist, kind)
            assert same_on_all(final), "weights differ across ranks"
            init0 = _flat(_mlp(gn, seed=10))
            assert np.array_equal(init, init0), "rank 0's initial weights were not broadcast"
            gathered[kind] = final
            if rank == 0:
                avg = _reference(gn, kind, 10, averaged=True)
                cat = _reference(gn, kind, 10, averaged=False)
                assert np.array_equal(final, avg), f"not bitwise equal to the averaged run: max diff " \
                                                   f"{np.abs(final - avg).max()}"
                np.testing.assert_allclose(final, cat, rtol=1e-4, atol=1e-5)
                assert not np.allclose(final, init0), "training did not move the weights"
        return check
    c.run("train_sgd_momentum", train("sgd"))
    c.run("train_adam", train("adam"))

    def nosync():
        _, _, final = _train_ddp(gn, dist, "sgd", sync=False)
        assert not same_on_all(final), "without the all-reduce the ranks still agree"
        if rank == 0:
            cat = _reference(gn, "sgd", 10, averaged=False)
            assert not np.allclose(final, cat, rtol=1e-4, atol=1e-5), "without sync the check would still pass"
    c.run("without_sync_differs", nosync)

    def buckets():
        ddp, _, final = _train_ddp(gn, dist, "sgd", bucket_cap_mb=300 / 2**20)
        assert len(ddp._buckets) > 2, len(ddp._buckets)
        assert np.array_equal(final, gathered["sgd"])
        started = []                       # buckets already started when backward's last callback runs
        finish = ddp._finish
        ddp.__dict__["_finish"] = lambda: (started.append(ddp._next), finish())
        x, y = _data(0)
        gn.nn.CrossEntropyLoss()(ddp(x[:8]), gn.tensor(y[:8])).backward()
        assert started and started[0] >= len(ddp._buckets) - 1, (started, len(ddp._buckets))
        del ddp.__dict__["_finish"]
        ddp, _, final = _train_ddp(gn, dist, "sgd", bucket_cap_mb=300 / 2**20, overlap=False)
        assert np.array_equal(final, gathered["sgd"])
    c.run("several_buckets", buckets)

    def accumulate():
        model = _mlp(gn, seed=3)
        ddp = dist.DistributedDataParallel(model)
        loss_fn = gn.nn.CrossEntropyLoss()
        x, y = _data(0)
        half = BATCH // 4
        parts = [(x[i * half:(i + 1) * half], y[i * half:(i + 1) * half]) for i in range(4)]
        mine = parts[2 * rank:2 * rank + 2]
        with ddp.no_sync():
            loss_fn(ddp(mine[0][0]), gn.tensor(mine[0][1])).backward()
        loss_fn(ddp(mine[1][0]), gn.tensor(mine[1][1])).backward()
        got = np.concatenate([p.grad.numpy().ravel() for p in model.parameters()])
        ref = _mlp(gn, seed=3)
        total = None
        for xs, ys in parts:
            ref.zero_grad()
            loss_fn(ref(xs), gn.tensor(ys)).backward()
            g = np.concatenate([p.grad.numpy().ravel() for p in ref.parameters()])
            total = g if total is None else total + g
        np.testing.assert_allclose(got, total / 2, rtol=1e-5, atol=1e-6)
        class Partly(gn.nn.Module):          # one layer unused by forward: its gradient is zero everywhere
            def __init__(self):
                super().__init__()
                self.used, self.unused = gn.nn.Linear(8, 4), gn.nn.Linear(8, 4)

            def forward(self, x):
                return self.used(x)
        part = dist.DistributedDataParallel(Partly())
        loss_fn(part(x[:4]), gn.tensor(y[:4])).backward()
        assert np.array_equal(part.module.unused.weight.grad.numpy(), np.zeros((4, 8), np.float32))
        assert same_on_all(part.module.used.weight.grad.numpy())
        keys = list(ddp.state_dict())
        assert keys[0].startswith("module.") and all(k.startswith("module.") for k in keys), keys[:3]
        assert ddp.module is model
    c.run("no_sync_accumulates_and_state_dict", accumulate)

    def syncbn():
        rng = np.random.default_rng(7)
        for shape in ((12, 3), (12, 3, 5)):
            X = rng.standard_normal(shape) * 3 + 1
            G = rng.standard_normal(shape)
            n = shape[0] // world
            sl = slice(rank * n, (rank + 1) * n)
            bn = gn.nn.BatchNorm1d(3, dtype=np.float64)
            gn.init.normal_(bn.weight)
            sbn = dist.SyncBatchNorm.convert_sync_batchnorm(gn.nn.Sequential(bn))[0]
            assert isinstance(sbn, dist.SyncBatchNorm) and sbn.weight is bn.weight
            ref = gn.nn.BatchNorm1d(3, dtype=np.float64)
            ref.weight.data[...] = bn.weight.data
            x = gn.tensor(X[sl], requires_grad=True)
            xr = gn.tensor(X, requires_grad=True)
            for _ in range(2):
                y = sbn(x)
                yr = ref(xr)
            np.testing.assert_allclose(y.numpy(), yr.numpy()[sl], rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(sbn.running_mean.numpy(), ref.running_mean.numpy(), rtol=1e-12)
            np.testing.assert_allclose(sbn.running_var.numpy(), ref.running_var.numpy(), rtol=1e-12)
            (y * gn.tensor(G[sl])).sum().backward()
            (yr * gn.tensor(G)).sum().backward()
            np.testing.assert_allclose(x.grad.numpy(), xr.grad.numpy()[sl], rtol=1e-9, atol=1e-11)
            gw = sbn.weight.grad.detach().clone() if hasattr(sbn.weight.grad, "clone") else sbn.weight.grad
            dist.all_reduce(gw)
            np.testing.assert_allclose(gw.numpy(), ref.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
            sbn.eval()
            np.testing.assert_allclose(sbn(x).numpy(), ref.eval()(xr).numpy()[sl], rtol=1e-10, atol=1e-12)
    c.run("sync_batchnorm", syncbn)

    def sampler():
        ds = gn.data.TensorDataset(np.arange(11, dtype=np.float32)[:, None], np.arange(11))
        s = dist.DistributedSampler(ds, shuffle=True, seed=3)
        loader = gn.data.DataLoader(ds, batch_size=4, sampler=s)
        seen = []
        for epoch in range(2):
            s.set_epoch(epoch)
            mine = np.concatenate([yb.numpy() if hasattr(yb, "numpy") else np.asarray(yb) for _, yb in loader])
            assert len(mine) == 6, len(mine)
            seen.append(mine)
        t = gn.tensor(np.stack(seen).astype(np.int64))
        out = [gn.tensor(np.zeros_like(t.numpy())) for _ in range(world)]
        dist.all_gather(out, t)
        for e in range(2):
            both = np.concatenate([o.numpy()[e] for o in out])
            assert set(both.tolist()) == set(range(11)), both     # 12 = 11 + 1 repeated
        assert not np.array_equal(out[0].numpy()[0], out[0].numpy()[1]), "set_epoch did not reshuffle"
    c.run("distributed_sampler_loader", sampler)

    def collectives():
        t = gn.tensor(np.full(3, rank + 1.0, np.float32))
        dist.all_reduce(t)
        assert np.array_equal(t.numpy(), [3, 3, 3])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        t = gn.tensor(np.full((2, 2), float(rank)))
        dist.broadcast(t, src=1)
        assert np.array_equal(t.numpy(), np.ones((2, 2)))
        t = gn.tensor(np.full((2, 4), float(rank)))[:, ::2]     # non-contiguous
        dist.all_reduce(t, op=dist.ReduceOp.AVG)
        assert np.allclose(t.numpy(), 0.5)
        bad = gn.tensor(np.zeros(3 + rank, np.float32))
        try:
            dist.all_reduce(bad)
        except ValueError as e:
            assert "differ across ranks" in str(e) and "rank 1" in str(e), e
        else:
            raise AssertionError("a shape mismatch was not reported")
        dist.barrier()
        assert dist.get_backend() == "mpi" and dist.get_local_rank() == rank
        import os
        assert os.environ.get("GPUNET_NUM_THREADS"), "GPUNET_NUM_THREADS not set per rank"
        from gpunet.backend import _parallel
        assert _parallel.NUM_THREADS == int(os.environ["GPUNET_NUM_THREADS"])
        dist.DistributedDataParallel(_mlp(gn, seed=0))   # the same seed on every rank, then the wrapper
        a = gn.backend.get("numpy").rand((1000,), np.float32)
        assert not same_on_all(a), "dropout streams are the same on every rank"
    c.run("collectives_and_ranks", collectives)

    def nccl_path():
        sys.path.insert(0, __file__.rsplit("/", 1)[0])
        from cuda_emulator.activate import emulated_gpu

        from gpunet.distributed import _comm

        dist.destroy_process_group()
        real = _comm.make_nccl
        _comm.make_nccl = lambda mpi_comm, local_rank: mpi_comm     # the communicator swapped for MPI's
        try:
            with emulated_gpu():
                gn.use("cupy")
                dist.init_process_group("nccl")
                assert dist.get_backend() == "nccl"
                model = _mlp(gn, seed=10 + rank)
                ddp = dist.DistributedDataParallel(model, bucket_cap_mb=300 / 2**20)
                opt = _opt(gn, "sgd", ddp.parameters())
                loss_fn = gn.nn.CrossEntropyLoss()
                shard = BATCH // world
                for step in range(3):
                    x, y = _data(step)
                    opt.zero_grad()
                    loss_fn(ddp(x[rank * shard:(rank + 1) * shard]),
                            gn.tensor(y[rank * shard:(rank + 1) * shard])).backward()
                    opt.step()
                final = _flat(model)
                gn.use("numpy")
            dist.destroy_process_group()
            dist.init_process_group("mpi")
            assert same_on_all(final)
            if rank == 0:
                global STEPS
                steps, STEPS = STEPS, 3
                try:
                    ref = _reference(gn, "sgd", 10, averaged=True)
                finally:
                    STEPS = steps
                np.testing.assert_allclose(final, ref, rtol=1e-5, atol=1e-6)
        finally:
            _comm.make_nccl = real
            gn.use("numpy")
            if not dist.is_initialized():
                dist.init_process_group("mpi")
    c.run("nccl_path_on_mpi_communicator", nccl_path)

    dist.barrier()
    if rank == 0:
        print(f"DONE failed={c.failed}", flush=True)


def raise_on_one():
    import gpunet.distributed as dist

    dist.init_process_group(timeout=30)
    if dist.get_rank() == 1:
        raise RuntimeError("rank 1 fails on purpose")
    dist.barrier()            # rank 0 would wait here forever without the abort
    print("UNREACHED", flush=True)


def late():
    from mpi4py import MPI

    import gpunet.distributed as dist

    if MPI.COMM_WORLD.Get_rank() == 1:
        time.sleep(20)
    dist.init_process_group(timeout=1.0)
    print("UNREACHED", flush=True)


def real_nccl():
    """On real GPUs (one rank per GPU): the collectives and a few DDP steps through NCCL, against MPI."""
    import gpunet as gn
    import gpunet.distributed as dist

    gn.use("cuda")
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert dist.get_backend() == "nccl" and type(dist._group._S.comm).__name__ == "NCCLComm"
    t = gn.tensor(np.full(5, rank + 1.0, np.float32), device="cuda")
    dist.all_reduce(t)
    assert np.array_equal(t.numpy(), np.full(5, world * (world + 1) / 2))
    t = gn.tensor(np.full((2, 3), float(rank)), device="cuda")
    dist.broadcast(t, src=world - 1)
    assert np.array_equal(t.numpy(), np.full((2, 3), world - 1.0))
    out = [gn.tensor(np.zeros(3, np.float32), device="cuda") for _ in range(world)]
    dist.all_gather(out, gn.tensor(np.full(3, float(rank), np.float32), device="cuda"))
    assert [o.numpy()[0] for o in out] == list(range(world))
    dist.barrier()
    model = _mlp(gn, seed=10 + rank)
    ddp = dist.DistributedDataParallel(model, bucket_cap_mb=300 / 2**20)
    opt = _opt(gn, "sgd", ddp.parameters())
    loss_fn = gn.nn.CrossEntropyLoss()
    shard = BATCH // world
    for step in range(STEPS):
        x, y = _data(step)
        opt.zero_grad()
        loss_fn(ddp(x[rank * shard:(rank + 1) * shard]), gn.tensor(y[rank * shard:(rank + 1) * shard])).backward()
        opt.step()
    final = _flat(model)
    gn.use("numpy")
    if rank == 0:
        ref = _reference(gn, "sgd", 10, averaged=True, world=world)
        np.testing.assert_allclose(final, ref, rtol=1e-4, atol=1e-5)
        print(f"NCCL OK world={world}", flush=True)


if __name__ == "__main__":
    {"main": main, "raise": raise_on_one, "late": late, "nccl": real_nccl}[sys.argv[1]]()

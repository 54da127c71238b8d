"""1 -> N process scaling of data-parallel training on the CPU for the medium MLP ([784, 512, 512, 10]).

    mpiexec -n 2 python -m gpunet.distributed._bench [--steps 30] [--batch 256] [--json]

Rank 0 first times one process alone (the other ranks sleep, the process gets every core), then every rank
trains with DistributedDataParallel (each rank its share of the cores), for a per-rank batch of ``--batch``
(weak scaling: the global batch grows) and for the global batch ``--batch`` split over the ranks (strong
scaling), with the bucket all-reduces overlapped with backward (1 MiB buckets) and all at the end of backward.
Reports samples/s over all ranks and the share of the step spent packing, all-reducing and unpacking gradients
(and, of that, waiting at the end of backward, which includes waiting for a slower rank); ``weak_no_allreduce``
runs the ranks side by side without any communication, which shows what the cores themselves give. One float32 step: forward, cross-entropy, backward, Adam.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

SIZES = [784, 512, 512, 10]


def _model(gn):
    gn.manual_seed(0)
    nn = gn.nn
    return nn.Sequential(nn.Linear(SIZES[0], SIZES[1]), nn.ReLU(), nn.Linear(SIZES[1], SIZES[2]), nn.ReLU(),
                         nn.Linear(SIZES[2], SIZES[3]))


def _time_steps(gn, model, batch: int, steps: int, barrier=None) -> float:
    """Seconds per step (median of ``steps`` after 5 warm-up steps)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, SIZES[0])).astype(np.float32)
    y = gn.tensor(rng.integers(0, SIZES[-1], batch))
    opt = gn.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = gn.nn.CrossEntropyLoss()
    times = []
    for i in range(steps + 5):
        if barrier is not None:
            barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        if i >= 5:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _all_cores(n: int):
    from ..backend import _parallel

    _parallel.NUM_THREADS = n
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n, user_api="blas")
    except ImportError:
        return None


def scaling(steps: int = 30, batch: int = 256) -> dict | None:
    """Run under mpiexec (any number of ranks); the figures on rank 0, None on the others."""
    import gpunet as gn
    import gpunet.distributed as dist

    from ..backend import _parallel

    gn.use("numpy")
    dist.init_process_group("mpi")
    rank, world = dist.get_rank(), dist.get_world_size()
    comm = dist._group._S.mpi.comm
    per_rank_threads = _parallel.NUM_THREADS
    out = {"world_size": world, "batch": batch, "steps": steps, "threads_per_rank": per_rank_threads,
           "cpu_count": os.cpu_count()}
    if rank == 0:  # one process alone, every core
        limit = _all_cores(os.cpu_count() or 1)
        s = _time_steps(gn, _model(gn), batch, steps)
        out["one_process"] = {"step_ms": 1e3 * s, "samples_per_s": batch / s}
        if limit is not None:
            limit.restore_original_settings()
        _all_cores(per_rank_threads)
    req = comm.Ibarrier()
    while not req.Test():  # the others sleep meanwhile (a blocking barrier would spin on a core)
        time.sleep(0.005)
    runs = {}
    half = max(1, batch // world)
    s = _time_steps(gn, _model(gn), batch, steps, barrier=comm.Barrier)   # every rank alone: no all-reduce
    local = comm.gather(s, root=0)
    if rank == 0:
        s = max(local)
        runs["weak_no_allreduce"] = {"batch_per_rank": batch, "buckets": 0, "step_ms": 1e3 * s,
                                     "samples_per_s": batch * world / s, "allreduce_share": 0.0,
                                     "end_wait_share": 0.0}
    for label, per_rank, cap, overlap in (("weak_overlap_1MiB", batch, 1, True), ("weak_end_1MiB", batch, 1, False),
                                          ("weak_end_25MiB", batch, 25, False),
                                          ("strong_overlap_1MiB", half, 1, True), ("strong_end_25MiB", half, 25, False)):
        ddp = dist.DistributedDataParallel(_model(gn), bucket_cap_mb=cap, overlap=overlap)
        s = _time_steps(gn, ddp, per_rank, steps, barrier=comm.Barrier)
        n = steps + 5
        share = ddp.comm_seconds / n / s
        wait = ddp.wait_seconds / n / s
        shares = comm.gather((s, share, wait), root=0)
        if rank == 0:
            s = max(x[0] for x in shares)
            runs[label] = {"batch_per_rank": per_rank, "buckets": len(ddp._buckets), "step_ms": 1e3 * s,
                           "samples_per_s": per_rank * world / s,
                           "allreduce_share": float(np.mean([x[1] for x in shares])),
                           "end_wait_share": float(np.mean([x[2] for x in shares]))}
    n_params = sum(int(p.data.size) for p in _model(gn).parameters())
    buf = np.ones(n_params, np.float32)
    alone = []
    for _ in range(20):
        comm.Barrier()
        t0 = time.perf_counter()
        comm.Allreduce(dist._group._S.mpi.MPI.IN_PLACE, buf)
        alone.append(time.perf_counter() - t0)
    if rank != 0:
        return None
    out["allreduce_alone_ms"] = 1e3 * float(np.median(alone))   # all gradients in one buffer, ranks in step
    out["gradient_mb"] = n_params * 4 / 2**20
    out["data_parallel"] = runs
    base = out["one_process"]["samples_per_s"]
    for r in runs.values():
        r["speedup"] = r["samples_per_s"] / base
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gpunet.distributed._bench", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    res = scaling(a.steps, a.batch)
    if res is None:
        return 0
    if a.json:
        print(json.dumps(res))
        return 0
    one = res["one_process"]
    print(f"medium MLP {'-'.join(map(str, SIZES))}, Adam, float32, {res['cpu_count']} CPU(s), "
          f"{res['threads_per_rank']} thread(s) per rank")
    print(f"  1 process, batch {res['batch']}: {one['samples_per_s']:,.0f} samples/s ({one['step_ms']:.2f} ms/step)")
    print(f"  all-reduce of the {res['gradient_mb']:.2f} MiB of gradients alone (ranks in step): "
          f"{res['allreduce_alone_ms']:.2f} ms")
    for label, r in res["data_parallel"].items():
        print(f"  {res['world_size']} ranks {label:19s} batch {r['batch_per_rank']}/rank, {r['buckets']} bucket(s): "
              f"{r['samples_per_s']:,.0f} samples/s ({r['step_ms']:.2f} ms/step, x{r['speedup']:.2f}), all-reduce "
              f"{100 * r['allreduce_share']:.0f}% of the step (waiting at the end {100 * r['end_wait_share']:.0f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CPU-vs-GPU throughput benchmark (``gpunet bench`` / ``python -m bench``).

One training step (forward, cross-entropy loss, backward, Adam) of four MLPs, on each usable backend, next to the
same work in PyTorch on the same device where PyTorch is installed, and next to a GEMM-only floor (the step's
matrix products alone, on preallocated arrays). Results are samples/s; ratios make the table readable:
GPU/CPU speed-up, gpunet/PyTorch on each device, and the step's time over the GEMM floor.

The workloads here are the single definition used by ``bench/`` (pytest-benchmark) too.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

from .backend import _numba

MODELS = {
    "tiny": ([2, 8, 2], 4),
    "small": ([64, 128, 10], 64),
    "medium": ([784, 512, 512, 10], 256),
    "large": ([1024, 2048, 2048, 1024], 1024),
}


# ---------------------------------------------------------------------------------------------- workloads
def _data(sizes, batch, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], size=batch).astype(np.int64)
    return x, y


def gpunet_step(sizes, batch, backend="numpy", lr=1e-3):
    """A closure running one gpunet training step, and a sync function for timing."""
    import gpunet as gn
    import gpunet.functional as F
    from gpunet import nn, optim

    be = gn.use(backend)
    gn.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    model = nn.Sequential(*layers)
    opt = optim.Adam(model.parameters(), lr=lr)
    xh, yh = _data(sizes, batch)
    x, y = gn.tensor(xh), gn.tensor(yh)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, be.synchronize


def torch_step(sizes, batch, device="cpu", lr=1e-3):
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xh, yh = _data(sizes, batch)
    x, y = torch.from_numpy(xh).to(device), torch.from_numpy(yh).to(device)
    lossf = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    return step, sync


def gemm_floor_step(sizes, batch, backend="numpy"):
    """The step's matrix products alone (forward, and dX / dW backward; no dX for the first layer), on
    preallocated outputs: the floor any implementation of the step sits on."""
    import gpunet as gn

    be = gn.backend.get(backend)
    xp = be.xp
    rng = np.random.default_rng(0)
    acts = [xp.asarray(rng.standard_normal((batch, s)).astype(np.float32)) for s in sizes]
    Ws = [xp.asarray(rng.standard_normal((b, a)).astype(np.float32)) for a, b in zip(sizes[:-1], sizes[1:])]
    outs = [xp.empty((batch, s), dtype=np.float32) for s in sizes]
    dWs = [xp.empty_like(W) for W in Ws]

    def step():
        for i, W in enumerate(Ws):
            xp.matmul(acts[i], W.T, out=outs[i + 1])
        for i in range(len(Ws) - 1, -1, -1):
            if i > 0:
                xp.matmul(acts[i + 1], Ws[i], out=outs[i])
            xp.matmul(acts[i + 1].T, acts[i], out=dWs[i])

    return step, be.synchronize


# ---------------------------------------------------------------------------------------------- timing
def _calls_per_round(step, sync, min_time, warmup=3):
    """Warm ``step`` up, then how many calls make a round of at least ``min_time`` seconds."""
    for _ in range(warmup):
        step()
    sync()
    t0 = time.perf_counter()
    step()
    sync()
    one = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_time / one))


def _round(step, sync, n):
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    sync()
    return (time.perf_counter() - t0) / n


def time_interleaved(steps, min_time=0.3, rounds=5, warmup=3):
    """Median seconds per call of each ``(step, sync)`` in ``steps``, their rounds interleaved (round 1 of
    each, then round 2 of each, ...), so a change in the machine's load during the run hits all of them alike.

    Each timed round follows an untimed one of the same step: BLAS and OpenMP worker threads keep spinning for
    a while after their last call (OpenBLAS ~0.1 s) and sleep when idle, so a round that starts right after
    another library's work runs against those threads, and one that starts after a pause wakes its own. Measured
    on the 2-vCPU benchmark machine: PyTorch's small-MLP step ran at 57 k samples/s right after NumPy GEMMs and
    74 k after a 0.25 s pause, against 90 k with no switch at all."""
    ns = [_calls_per_round(step, sync, min_time, warmup) for step, sync in steps]
    times = [[] for _ in steps]
    for _ in range(rounds):
        for (step, sync), n, t in zip(steps, ns, times):
            _round(step, sync, n)
            t.append(_round(step, sync, n))
    return [statistics.median(t) for t in times]


def _torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def _torch_cuda():
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


def measure(models, devices, with_torch=True, min_time=0.3, rounds=5, log=None):
    """Rows of ``{model, device, impl, seconds, samples_per_s}`` for impl in gpunet / torch / gemm_floor (the
    MLPs' GEMM-only floor); ``models`` are names of :func:`gpunet._bench_registry.names`."""
    from . import _bench_registry as R

    rows = []
    for name in models:
        batch = R.batch(name)
        for dev in devices:
            impls = ["gpunet"] + (["gemm_floor"] if name in MODELS else [])
            if with_torch and _torch_available() and (dev == "cpu" or _torch_cuda()):
                impls.append("torch")
            built = [(impl, R.make(name, impl, dev)) for impl in impls]
            built = [(impl, b) for impl, b in built if b is not None]
            secs = time_interleaved([b for _, b in built], min_time=min_time, rounds=rounds)
            for (impl, _), s in zip(built, secs):
                rows.append({"model": name, "device": dev, "impl": impl, "batch": batch,
                             "seconds": s, "samples_per_s": batch / s})
                if log:
                    log(f"  {name:11s} {dev:4s} {impl:10s} {s * 1e3:9.3f} ms/step  {batch / s:12.0f} samples/s")
    return rows


def peak_memory(model, impl, device, steps=20):
    """Peak RSS (MiB) of a fresh process that runs ``steps`` training steps, or GPU pool peak on 'gpu'."""
    code = (f"import gpunet._bench as b, gpunet._bench_registry as R, json\n"
            f"dev = {device!r}\n"
            f"step, sync = R.make({model!r}, {impl!r}, dev)\n"
            f"for _ in range({steps}): step()\n"
            f"sync()\n"
            f"gpu = b._gpu_peak({impl!r}) if dev != 'cpu' else None\n"
            f"print(json.dumps({{'rss_mib': b._peak_rss_mib(), 'gpu_mib': gpu}}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"rss_mib": None, "gpu_mib": None, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_rss_mib():
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a
    child started from a big parent would report the parent's peak."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _gpu_peak(impl):
    if impl == "torch":
        import torch
        return torch.cuda.max_memory_allocated() / 2 ** 20
    import cupy
    return cupy.get_default_memory_pool().total_bytes() / 2 ** 20


# ---------------------------------------------------------------------------------------------- report
def environment():
    import gpunet as gn

    env = {"date": time.strftime("%Y-%m-%d"), "python": platform.python_version(), "numpy": np.__version__,
           "gpunet": gn.__version__, "cpu": platform.processor() or platform.machine(),
           "cpu_threads": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
           "cpu_kernels": _numba.status()}
    if _torch_available():
        import torch
        env["torch"] = torch.__version__
    ok, why = gn.backend.cupy_status()
    if ok:
        import cupy
        props = cupy.cuda.runtime.getDeviceProperties(0)
        env["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        env["cupy"] = cupy.__version__
        env["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    else:
        env["gpu"] = f"none ({why})"
    return env


def table(rows, memory=None) -> str:
    """A markdown table: samples/s per device, speed-ups and ratios."""
    from . import _bench_registry as R

    by = {(r["model"], r["device"], r["impl"]): r["samples_per_s"] for r in rows}
    models = list(dict.fromkeys(r["model"] for r in rows))
    devices = list(dict.fromkeys(r["device"] for r in rows))
    head = ["model", "batch"]
    for d in devices:
        head += [f"{d} gpunet", f"{d} torch", f"{d} gpunet/torch", f"{d} floor/gpunet"]
    if "cpu" in devices and "gpu" in devices:
        head.append("GPU/CPU (gpunet)")
    if memory:
        head += ["peak RSS gpunet MiB", "peak RSS torch MiB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def fmt(v, ratio=False):
        if v is None:
            return "–"
        return f"{v:.2f}×" if ratio else f"{v:,.0f}"

    for m in models:
        cells = [m, str(R.batch(m))]
        for d in devices:
            g, t, f = by.get((m, d, "gpunet")), by.get((m, d, "torch")), by.get((m, d, "gemm_floor"))
            cells += [fmt(g), fmt(t), fmt(g / t if g and t else None, True),
                      fmt(f / g if g and f else None, True)]
        if "cpu" in devices and "gpu" in devices:
            g, c = by.get((m, "gpu", "gpunet")), by.get((m, "cpu", "gpunet"))
            cells.append(fmt(g / c if g and c else None, True))
        if memory:
            mm = memory.get(m, {})
            cells += [fmt(mm.get("gpunet")), fmt(mm.get("torch"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(rows, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("--plot needs matplotlib: pip install 'gpunet[plot]'")
    models = list(dict.fromkeys(r["model"] for r in rows))
    series = sorted({(r["device"], r["impl"]) for r in rows if r["impl"] != "gemm_floor"})
    fig, ax = plt.subplots(figsize=(8, 4))
    w = 0.8 / max(len(series), 1)
    by = {(r["model"], r["device"], r["impl"]): r["samples_per_s"] for r in rows}
    for k, (d, impl) in enumerate(series):
        ax.bar([i + k * w for i in range(len(models))], [by.get((m, d, impl), 0) for m in models], w,
               label=f"{impl} ({d})")
    ax.set_xticks([i + w * (len(series) - 1) / 2 for i in range(len(models))], models)
    ax.set_yscale("log")
    ax.set_ylabel("samples/s (training step)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    from .cli import _positive_float, _positive_int  # the CLI's argument checks (one place)

    p = argparse.ArgumentParser(prog="gpunet bench", description=__doc__.split("\n\n")[0])
    from . import _bench_registry as R

    every = R.names()
    p.add_argument("--models", default=",".join(every), help="comma list of " + ", ".join(every))
    p.add_argument("--device", choices=["auto", "cpu", "gpu", "both"], default="auto",
                   help="auto: CPU, plus GPU when one is usable")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch reference")
    p.add_argument("--memory", action="store_true", help="also measure peak memory (one process per run)")
    p.add_argument("--min-time", type=_positive_float, default=0.3, help="seconds per timing round")
    p.add_argument("--rounds", type=_positive_int, default=5, help="timed rounds per measurement (>= 1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--plot", metavar="PNG", help="bar chart of samples/s")
    p.add_argument("--scaling", type=_positive_int, metavar="N", help="instead: data-parallel scaling of the "
                   "medium MLP from 1 to N processes on the CPU (mpiexec; needs gpunet[dist])")
    a = p.parse_args(argv)
    if a.scaling:
        return _scaling(a.scaling, a.json)
    import gpunet as gn

    models = [m.strip() for m in a.models.split(",") if m.strip()]
    bad = [m for m in models if m not in every]
    if bad:
        p.error(f"unknown model(s) {bad}; choose from {every}")
    gpu_ok, why = gn.backend.cupy_status()
    if a.device in ("gpu",) and not gpu_ok:
        p.error(f"--device gpu: {why}")
    devices = {"cpu": ["cpu"], "gpu": ["gpu"], "both": ["cpu", "gpu"],
               "auto": ["cpu"] + (["gpu"] if gpu_ok else [])}[a.device]
    notice = gn.backend.cpu_fallback_notice() if a.device == "auto" else None
    if notice:
        print(notice, file=sys.stderr)
    log = None if a.json else (lambda s: print(s, file=sys.stderr, flush=True))
    rows = measure(models, devices, with_torch=not a.no_torch, min_time=a.min_time, rounds=a.rounds, log=log)
    memory = None
    if a.memory:
        memory = {}
        for m in models:
            for impl in ("gpunet", "torch"):
                if impl == "torch" and (a.no_torch or not _torch_available()):
                    continue
                r = peak_memory(m, impl, devices[-1])
                memory.setdefault(m, {})[impl] = r.get("gpu_mib") or r.get("rss_mib")
    env = environment()
    if a.json:
        print(json.dumps({"environment": env, "rows": rows, "memory_mib": memory}, indent=1))
    else:
        print(f"gpunet {env['gpunet']} · numpy {env['numpy']} · torch {env.get('torch', 'not installed')} · "
              f"CPU threads {env['cpu_threads']} · CPU kernels: {env['cpu_kernels']} · GPU {env['gpu']} · {env['date']}")
        print("training step (forward, cross-entropy, backward, Adam), float32; samples/s, higher is better;")
        print("floor/gpunet = GEMM-only floor throughput over gpunet's (1.00× = no overhead above the matmuls)")
        print(table(rows, memory))
    if a.plot:
        plot(rows, a.plot)
    return 0


def _scaling(n: int, as_json: bool) -> int:
    """Run ``gpunet.distributed._bench`` on ``n`` ranks under mpiexec and pass its report through."""
    from .distributed._info import _launcher

    exe = _launcher()
    if exe is None or importlib.util.find_spec("mpi4py") is None:
        print("gpunet bench --scaling: needs mpi4py and an mpiexec launcher: pip install 'gpunet[dist]'",
              file=sys.stderr)
        return 2
    cmd = [exe, "-n", str(n), sys.executable, "-m", "mpi4py", "-m", "gpunet.distributed._bench"]
    return subprocess.run(cmd + (["--json"] if as_json else [])).returncode


if __name__ == "__main__":
    sys.exit(main())

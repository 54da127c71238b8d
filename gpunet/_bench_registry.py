"""Every workload of ``gpunet bench`` in one table: the four MLPs of :mod:`gpunet._bench` and the layer-family
workloads that ``gpunet/_bench_<family>.py`` modules define (CNN, residual block, LSTM, GRU, transformer layer,
LayerNorm, Embedding).

A family module exposes ``WORKLOADS = {name: {"batch": int, "describe": str, "gpunet": make(backend),
"torch": make(device)}}`` where each ``make`` returns ``(step, sync)``: ``step()`` runs one float32 training step
(forward, loss, backward, Adam) and ``sync()`` waits for the device.
"""
from __future__ import annotations

import functools
import importlib

FAMILIES = ("_bench_conv", "_bench_rnn", "_bench_attn", "_bench_norm")


@functools.lru_cache(maxsize=None)
def family_workloads() -> dict:
    """The workloads of the family modules, in :data:`FAMILIES` order."""
    out: dict = {}
    for mod in FAMILIES:
        try:
            m = importlib.import_module(f"gpunet.{mod}")
        except ModuleNotFoundError as e:
            if e.name != f"gpunet.{mod}":
                raise
            continue
        out.update(m.WORKLOADS)
    return out


def names() -> list[str]:
    from ._bench import MODELS

    return list(MODELS) + list(family_workloads())


def batch(name: str) -> int:
    from ._bench import MODELS

    return MODELS[name][1] if name in MODELS else family_workloads()[name]["batch"]


def describe(name: str) -> str:
    from ._bench import MODELS

    if name in MODELS:
        return "MLP " + "-".join(str(s) for s in MODELS[name][0])
    return family_workloads()[name]["describe"]


def make(name: str, impl: str, device: str):
    """``(step, sync)`` of workload ``name`` for ``impl`` in gpunet / torch / gemm_floor (MLPs only) on
    ``device`` in cpu / gpu; None where the workload has no such implementation."""
    from . import _bench as b

    backend = "numpy" if device == "cpu" else "cupy"
    tdev = "cpu" if device == "cpu" else "cuda"
    if name in b.MODELS:
        sizes, n = b.MODELS[name]
        if impl == "gpunet":
            return b.gpunet_step(sizes, n, backend)
        if impl == "torch":
            return b.torch_step(sizes, n, tdev)
        return b.gemm_floor_step(sizes, n, backend)
    w = family_workloads()[name]
    if impl not in w:
        return None
    return w[impl](backend if impl == "gpunet" else tdev)


def family_main(workloads: dict, argv=None) -> None:
    """``python -m gpunet._bench_<family> [NAME ...] [--rounds N]``: each named workload (all by default), gpunet
    next to PyTorch on the CPU, timed by :func:`gpunet._bench.time_interleaved` (the family modules' one runner)."""
    import argparse

    from ._bench import time_interleaved

    p = argparse.ArgumentParser(description=family_main.__doc__.split(":")[0])
    p.add_argument("names", nargs="*", help=", ".join(workloads))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.3)
    a = p.parse_args(argv)
    bad = [n for n in a.names if n not in workloads]
    if bad:
        p.error(f"unknown workload(s) {bad}; choose from {list(workloads)}")
    for name in a.names or list(workloads):
        w = workloads[name]
        g, t = time_interleaved([w["gpunet"]("numpy"), w["torch"]("cpu")], min_time=a.min_time, rounds=a.rounds)
        print(f"{name:11s} gpunet {g * 1e3:9.2f} ms  torch {t * 1e3:9.2f} ms  gpunet/torch {t / g:5.2f}x  "
              f"({w['describe']})", flush=True)

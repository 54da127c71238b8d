"""``gpunet info``: versions, the usable backends (and why not), the GPU, the BLAS library and its threads."""
from __future__ import annotations

import json
import os
import platform

import numpy as np


def _dist_version(module: str) -> str | None:
    from importlib import metadata

    names = metadata.packages_distributions().get(module, [])
    for name in names:
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def _blas() -> dict:
    info: dict = {}
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        info = {"name": blas.get("name"), "version": blas.get("version")}
    except Exception:  # older NumPy: no dict mode
        pass
    try:
        from threadpoolctl import threadpool_info

        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            info.setdefault("name", pools[0].get("internal_api"))
            info["threads"] = pools[0].get("num_threads")
    except ImportError:
        info["threads"] = None
        info["threads_note"] = "install threadpoolctl to see the BLAS thread count"
    return info


def _gpu_info(be) -> dict:
    """Name, memory and CUDA versions of the current device of the CuPy backend ``be``."""
    rt = be.xp.cuda.runtime
    dev = be.xp.cuda.Device()
    props = rt.getDeviceProperties(dev.id)
    free, total = dev.mem_info
    name = props["name"]
    return {"name": name.decode() if isinstance(name, bytes) else str(name), "device": be.device,
            "memory_total_mib": total // 2**20, "memory_free_mib": free // 2**20,
            "compute_capability": f"{props['major']}.{props['minor']}",
            "cuda_runtime": rt.runtimeGetVersion(), "cuda_driver": rt.driverGetVersion()}


def info_dict() -> dict:
    from . import __version__, backend
    from .backend import _numba, _parallel

    ok, why = backend.cupy_status()
    out = {"gpunet": __version__, "python": f"{platform.python_version()} ({platform.python_implementation()})",
           "platform": f"{platform.system()} {platform.machine()}", "numpy": np.__version__,
           "blas": _blas(), "cpu_count": os.cpu_count(),
           "backends": {"numpy": {"usable": True, "why": f"NumPy (CPU); fused ops: {_numba.status()}, "
                                                      f"{_parallel.NUM_THREADS} thread(s) (GPUNET_NUM_THREADS)"},
                        "cupy": {"usable": ok, "why": why}},
           "cupy": _dist_version("cupy"), "gpu": None}
    from .distributed import engines
    out["distributed"] = engines()  # mpi / nccl: usable, and why not
    if ok:
        try:
            out["gpu"] = _gpu_info(backend.get("cupy"))
        except Exception as e:  # a driver problem must not break `gpunet info`
            out["gpu"] = {"error": f"{type(e).__name__}: {e}"}
    choice = os.environ.get("GPUNET_BACKEND", "auto")
    try:
        out["default_backend"] = backend.get(choice).name
    except Exception as e:
        out["default_backend"] = f"none: GPUNET_BACKEND={choice!r} is not usable ({e})"
    return out


def cmd_info(args) -> int:
    d = info_dict()
    if args.json:
        print(json.dumps(d))
        return 0
    blas = d["blas"]
    print(f"gpunet {d['gpunet']} · Python {d['python']} · {d['platform']} · {d['cpu_count']} CPU(s)")
    print(f"NumPy {d['numpy']} · BLAS {blas.get('name') or 'unknown'} {blas.get('version') or ''}".rstrip()
          + f" · BLAS threads {blas.get('threads') if blas.get('threads') is not None else 'unknown'}")
    print(f"CuPy: {d['cupy'] or 'not installed'}")
    print("backends:")
    for name, b in d["backends"].items():
        print(f"  {name:6s} {'usable' if b['usable'] else 'not usable'}: {b['why']}")
    for name, b in d.get("distributed", {}).items():
        print(f"distributed {name}: {'usable' if b['usable'] else 'not usable'}: {b['why']}")
    gpu = d["gpu"]
    if gpu is None:
        print("GPU: none usable")
    elif "error" in gpu:
        print(f"GPU: could not query the device: {gpu['error']}")
    else:
        print(f"GPU: {gpu['name']} ({gpu['device']}, compute {gpu['compute_capability']}) · memory "
              f"{gpu['memory_free_mib']:,} MiB free of {gpu['memory_total_mib']:,} MiB · CUDA runtime "
              f"{gpu['cuda_runtime']} · driver {gpu['cuda_driver']}")
    print(f"default backend ('auto' or GPUNET_BACKEND): {d['default_backend']}")
    return 0

"""What ``gpunet info`` says about the distributed engines (MPI is not started)."""
from __future__ import annotations

import os
import shutil
import sys


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _launcher() -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return here if os.access(here, os.X_OK) else shutil.which("mpiexec")


def engines() -> dict:
    import importlib.util

    from ._comm import nccl_status

    out = {}
    if importlib.util.find_spec("mpi4py") is None:
        out["mpi"] = {"usable": False, "why": "mpi4py is not installed: pip install 'gpunet[dist]'"}
    else:
        lib = "mpich " + _version("mpich") if _version("mpich") else "the system MPI"
        run = _launcher()
        out["mpi"] = {"usable": True, "why": f"mpi4py {_version('mpi4py')} over {lib}; launcher "
                                             f"{run or 'mpiexec not found on PATH'}"}
    ok, why = nccl_status()
    out["nccl"] = {"usable": ok and out["mpi"]["usable"],
                   "why": why if not ok or out["mpi"]["usable"] else f"{why}, but it is bootstrapped over MPI, "
                                                                       f"which is not usable"}
    return out

"""The process group: ``init_process_group`` and the torch-shaped collectives on tensors."""
from __future__ import annotations

import datetime
import os
import sys
import time

import numpy as np

from . import _comm

__all__ = ["ReduceOp", "init_process_group", "is_initialized", "is_available", "get_rank", "get_world_size",
           "get_local_rank", "get_backend", "all_reduce", "broadcast", "all_gather", "barrier",
           "destroy_process_group"]

LAUNCH = "mpiexec -n N python -m mpi4py your_script.py"


class ReduceOp:
    """Reduction operations of :func:`all_reduce` (as ``torch.distributed.ReduceOp``). ``AVG`` is a SUM
    followed by a division by the world size."""

    SUM = "sum"
    PRODUCT = "prod"
    MAX = "max"
    MIN = "min"
    AVG = "avg"


class _State:
    comm = None          # the communicator collectives go through (MPIComm or NCCLComm)
    mpi = None           # the MPI communicator (bootstrap, host objects)
    backend = None       # "mpi" | "nccl"
    blas_limit = None    # threadpoolctl limiter kept alive


_S = _State()


def is_available() -> bool:
    """True where mpi4py can be imported (MPI is not initialised by this check)."""
    import importlib.util

    return importlib.util.find_spec("mpi4py") is not None


def is_initialized() -> bool:
    return _S.comm is not None


def _require(what: str):
    if _S.comm is None:
        raise RuntimeError(f"{what}: the default process group has not been initialized; call "
                           f"gpunet.distributed.init_process_group() first (and launch with {LAUNCH})")
    return _S.comm


def _seconds(timeout) -> float:
    if timeout is None:
        return 120.0
    if isinstance(timeout, datetime.timedelta):
        return timeout.total_seconds()
    return float(timeout)


def _wait_for_all(mpi_comm, timeout: float) -> None:
    """A barrier that gives up after ``timeout`` seconds with a message naming the launcher."""
    if mpi_comm.size == 1:
        return
    req = mpi_comm.comm.Ibarrier()
    t0 = time.monotonic()
    pause = 1e-4
    while not req.Test():
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(
                f"init_process_group: rank {mpi_comm.rank} of {mpi_comm.size} waited {timeout:g} s for the other "
                f"ranks to call init_process_group and some never did. Start every rank with the same script "
                f"through the MPI launcher ({LAUNCH}; on several machines add -hosts a,b or -f hostfile), check "
                f"that no rank failed or is stuck before init_process_group, or raise timeout=")
        time.sleep(pause)
        pause = min(pause * 2, 0.01)


def _abort_on_uncaught(comm) -> None:
    """An uncaught exception on one rank aborts the whole job (what ``python -m mpi4py`` does), instead of
    leaving the other ranks waiting in a collective forever."""
    previous = sys.excepthook
    if getattr(previous, "_gpunet_abort", False):
        return

    def hook(kind, value, tb):
        try:
            previous(kind, value, tb)
            sys.stderr.flush()
        finally:
            if _S.comm is not None and _S.mpi.size > 1:
                _S.mpi.abort(1)

    hook._gpunet_abort = True
    sys.excepthook = hook


def _share_cpus(local_size: int) -> None:
    """``GPUNET_NUM_THREADS`` (and the BLAS pool) default to this rank's share of the node's cores."""
    if os.environ.get("GPUNET_NUM_THREADS"):
        return
    from ..backend import _parallel

    n = _comm.cpu_share(local_size)
    if n == _parallel.NUM_THREADS:
        return
    _parallel.NUM_THREADS = n
    os.environ["GPUNET_NUM_THREADS"] = str(n)
    try:
        from threadpoolctl import threadpool_limits

        _S.blas_limit = threadpool_limits(n, user_api="blas")
    except ImportError:
        pass


def _seed_per_rank(rank: int) -> None:
    """Give each rank its own device random stream (dropout masks) derived from the last ``manual_seed``."""
    from .. import backend

    seed = backend._seed if backend._seed is not None else 0
    s = int(np.random.SeedSequence([seed, rank]).generate_state(1, np.uint32)[0])
    backend._NUMPY.seed(s)
    if backend._CUPY is not None:
        backend._CUPY.seed(s)


def init_process_group(backend: str = "auto", init_method=None, timeout=None, world_size: int = -1,
                       rank: int = -1, **kwargs) -> None:
    """Join the job's process group: every rank started by the MPI launcher calls this once.

    ``backend``: "mpi" (host tensors; device tensors are staged through the host), "nccl" (device tensors on
    NCCL through CuPy, bootstrapped over MPI; host tensors still go over MPI), or "auto": "nccl" when the
    current gpunet backend is CuPy and NCCL is usable, else "mpi". Ranks and the world size come from
    ``MPI.COMM_WORLD`` (``world_size``/``rank``, when given, must agree). ``timeout`` (seconds or a timedelta,
    default 120) bounds the wait for every rank to join. With NCCL the rank uses GPU ``local_rank % devices``:
    call this before creating device tensors. Also sets ``GPUNET_NUM_THREADS`` to this rank's share of the cores
    (unless set), gives each rank its own dropout stream, and makes an uncaught exception abort the job."""
    if _S.comm is not None:
        raise RuntimeError("init_process_group: the default process group is already initialized; call "
                           "destroy_process_group() first")
    name = str(backend).lower()
    if name not in ("auto", "mpi", "nccl"):
        raise ValueError(f"init_process_group: unknown backend {backend!r}; expected 'auto', 'mpi' or 'nccl'")
    mpi_comm = _comm.MPIComm()
    for what, given, real in (("world_size", world_size, mpi_comm.size), ("rank", rank, mpi_comm.rank)):
        if given not in (-1, None) and int(given) != real:
            raise ValueError(f"init_process_group: {what}={given} but the MPI launcher started this process "
                             f"with {what} {real}; drop the argument (ranks come from {LAUNCH})")
    if name == "auto":
        from .. import backend as _backend

        cur = _backend._current
        name = "nccl" if cur is not None and cur.name == "cupy" and _comm.nccl_status()[0] else "mpi"
    _abort_on_uncaught(mpi_comm)
    _S.mpi, _S.comm, _S.backend = mpi_comm, mpi_comm, name   # set now: a timeout below aborts the job
    try:
        _wait_for_all(mpi_comm, _seconds(timeout))
        if name == "nccl":
            _S.comm = _comm.make_nccl(mpi_comm, get_local_rank())
    except BaseException:
        if mpi_comm.size == 1:
            _S.comm = _S.mpi = _S.backend = None
        raise
    _share_cpus(mpi_comm.local()[1])
    if mpi_comm.size > 1:
        _seed_per_rank(mpi_comm.rank)


def destroy_process_group(group=None) -> None:
    """Leave the process group (MPI itself is finalised at exit)."""
    if _S.comm is not None and _S.comm is not _S.mpi:
        _S.comm.close()
    _S.comm = _S.mpi = _S.backend = None


def get_backend(group=None) -> str:
    _require("get_backend")
    return _S.backend


def get_rank(group=None) -> int:
    """This process's rank (0 when no process group is initialized, as a one-process job)."""
    return 0 if _S.comm is None else _S.comm.rank


def get_world_size(group=None) -> int:
    """The number of ranks (1 when no process group is initialized)."""
    return 1 if _S.comm is None else _S.comm.size


def get_local_rank() -> int:
    """This rank's index among the ranks on its node: ``LOCAL_RANK`` if set, else the launcher's (MPICH's
    ``MPI_LOCALRANKID``, Open MPI's ``OMPI_COMM_WORLD_LOCAL_RANK``), else MPI's shared-memory split."""
    for var in ("LOCAL_RANK", "MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK"):
        v = os.environ.get(var)
        if v not in (None, ""):
            return int(v)
    if _S.mpi is None:
        return 0
    return _S.mpi.local()[0]


def _check_same(comm, arrays, what: str) -> None:
    """Raise the same clear error on every rank when the ranks' arrays differ in shape or dtype (one small
    object allgather over MPI: tens of microseconds)."""
    sig = [(tuple(a.shape), a.dtype.str) for a in arrays]
    sigs = comm.allgather_obj(sig)
    for r, s in enumerate(sigs):
        if s != sigs[0]:
            raise ValueError(f"{what}: the tensors differ across ranks: rank 0 has "
                             f"{', '.join(f'shape {list(x[0])} {x[1]}' for x in sigs[0])} but rank {r} has "
                             f"{', '.join(f'shape {list(x[0])} {x[1]}' for x in s)}; every rank must pass "
                             f"tensors of the same shape and dtype")


def _inplace(t, fn) -> None:
    """Run ``fn(array)`` on ``t``'s data in place (through a contiguous copy where needed); bump its version."""
    from ..autograd import inplace

    a = t.data
    if a.flags.c_contiguous:
        fn(a)
    else:
        b = a.copy()
        fn(b)
        a[...] = b
    inplace.bump(t, False)


class _Work:
    def wait(self, timeout=None) -> bool:
        return True

    def is_completed(self) -> bool:
        return True


def all_reduce(tensor, op: str = ReduceOp.SUM, group=None, async_op: bool = False):
    """Reduce ``tensor`` over all ranks in place (every rank gets the result), as torch."""
    comm = _require("all_reduce")
    _check_same(comm, [tensor.data], "all_reduce")
    key = "sum" if op == ReduceOp.AVG else op
    if key not in _comm.OPS:
        raise ValueError(f"all_reduce: unknown op {op!r}; use ReduceOp.SUM, PRODUCT, MAX, MIN or AVG")

    def run(a):
        comm.allreduce(a, key)
        if op == ReduceOp.AVG:
            a *= a.dtype.type(1.0 / comm.size) if a.dtype.kind == "f" else 1
    _inplace(tensor, run)
    return _Work() if async_op else None


def broadcast(tensor, src: int = 0, group=None, async_op: bool = False):
    """Overwrite ``tensor`` on every rank with rank ``src``'s, in place."""
    comm = _require("broadcast")
    if not 0 <= int(src) < comm.size:
        raise ValueError(f"broadcast: src={src} is not a rank of this job (0..{comm.size - 1})")
    _check_same(comm, [tensor.data], "broadcast")
    _inplace(tensor, lambda a: comm.bcast(a, int(src)))
    return _Work() if async_op else None


def all_gather(tensor_list: list, tensor, group=None, async_op: bool = False):
    """Fill ``tensor_list`` (one tensor per rank, shaped like ``tensor``) with every rank's ``tensor``."""
    from ..autograd import inplace

    comm = _require("all_gather")
    if len(tensor_list) != comm.size:
        raise ValueError(f"all_gather: tensor_list has {len(tensor_list)} tensors but the world size is "
                         f"{comm.size}; pass one tensor per rank")
    _check_same(comm, [tensor.data], "all_gather")
    a = tensor.data
    out = comm.allgather(a if a.flags.c_contiguous else a.copy())
    for r, t in enumerate(tensor_list):
        if tuple(t.shape) != tuple(a.shape):
            raise ValueError(f"all_gather: tensor_list[{r}] has shape {list(t.shape)}, expected {list(a.shape)}")
        t.data[...] = out[r]
        inplace.bump(t, False)
    return _Work() if async_op else None


def barrier(group=None, async_op: bool = False):
    """Wait until every rank has reached this call (and, with NCCL, its queued device work has finished)."""
    _require("barrier").barrier()
    return _Work() if async_op else None

"""Communicators: the one interface everything in :mod:`gpunet.distributed` moves arrays through.

``MPIComm`` runs over mpi4py (host arrays directly; device arrays staged through the host), ``NCCLComm`` over
``cupy.cuda.nccl`` for device arrays (its unique id goes from rank 0 to the others by an MPI broadcast; it keeps
the MPI communicator for small host-side objects and the barrier). Both take and fill arrays in place:

    allreduce(a, op)     a <- op over the ranks of a             (blocking)
    iallreduce(a, op)    the same, started; returns a handle whose wait() completes it
    bcast(a, root)       a <- root's a
    allgather(a)         (world, *a.shape) array of every rank's a
    allgather_obj(obj)   list of every rank's small picklable object (always over MPI)
    barrier(), abort(code)

Contiguous arrays only (the callers pass their own flat buffers or contiguous copies).
"""
from __future__ import annotations

import os

import numpy as np

OPS = ("sum", "prod", "max", "min")

_INSTALL = ("gpunet.distributed needs mpi4py and an MPI library: pip install 'gpunet[dist]' (mpi4py and "
            "mpich wheels), or pip install mpi4py over your cluster's MPI")


def mpi():
    """The ``mpi4py.MPI`` module (initialises MPI on first use), or a clear ImportError."""
    try:
        from mpi4py import MPI
    except (ImportError, RuntimeError, OSError) as e:  # not installed, or no MPI library it can load
        raise ImportError(f"{_INSTALL} ({type(e).__name__}: {e})") from None
    return MPI


def _backend(a):
    from .. import backend

    return backend.backend_of((a,))


class _Done:
    """Handle of a collective that already finished."""

    def wait(self) -> None:
        pass

    def test(self) -> bool:
        return True


class _MPIRequest:
    __slots__ = ("req",)

    def __init__(self, req) -> None:
        self.req = req

    def wait(self) -> None:
        self.req.Wait()

    def test(self) -> bool:
        return bool(self.req.Test())


class MPIComm:
    """Collectives over an mpi4py communicator (``MPI.COMM_WORLD`` by default)."""

    name = "mpi"

    def __init__(self, comm=None) -> None:
        MPI = mpi()
        self.MPI = MPI
        self.comm = MPI.COMM_WORLD if comm is None else comm
        self.rank = self.comm.Get_rank()
        self.size = self.comm.Get_size()
        self._local = None
        self._ops = {"sum": MPI.SUM, "prod": MPI.PROD, "max": MPI.MAX, "min": MPI.MIN}

    # ------------------------------------------------------------------ where this rank runs
    def local(self) -> tuple[int, int]:
        """``(rank, size)`` among the ranks on this node (MPI's shared-memory split)."""
        if self._local is None:
            sub = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
            self._local = (sub.Get_rank(), sub.Get_size())
            sub.Free()
        return self._local

    # ------------------------------------------------------------------ collectives
    def _host(self, a):
        """``(host array, writer)``: a host view of ``a`` and how to put the result back (device arrays are
        staged through a host copy)."""
        be = _backend(a)
        if be.name == "numpy":
            return a, None
        h = np.ascontiguousarray(be.to_host(a))

        def put(host):
            a[...] = be.asarray(host)
        return h, put

    def allreduce(self, a, op: str = "sum") -> None:
        h, put = self._host(a)
        self.comm.Allreduce(self.MPI.IN_PLACE, h, op=self._ops[op])
        if put is not None:
            put(h)

    def iallreduce(self, a, op: str = "sum"):
        h, put = self._host(a)
        if put is not None:  # a staged device array: done now
            self.comm.Allreduce(self.MPI.IN_PLACE, h, op=self._ops[op])
            put(h)
            return _Done()
        return _MPIRequest(self.comm.Iallreduce(self.MPI.IN_PLACE, h, op=self._ops[op]))

    def bcast(self, a, root: int = 0) -> None:
        h, put = self._host(a)
        self.comm.Bcast(h, root=root)
        if put is not None:
            put(h)

    def allgather(self, a):
        h, _ = self._host(a)
        out = np.empty((self.size,) + h.shape, dtype=h.dtype)
        self.comm.Allgather(h, out)
        be = _backend(a)
        return out if be.name == "numpy" else be.asarray(out)

    def allgather_obj(self, obj) -> list:
        return self.comm.allgather(obj)

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self, code: int = 1) -> None:
        self.comm.Abort(code)

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- NCCL
_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
               "int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "int32": "NCCL_INT32", "int64": "NCCL_INT64",
               "uint64": "NCCL_UINT64", "bfloat16": "NCCL_BFLOAT16"}
_NCCL_OPS = {"sum": "NCCL_SUM", "prod": "NCCL_PROD", "max": "NCCL_MAX", "min": "NCCL_MIN"}


def nccl_status() -> tuple[bool, str]:
    """``(usable, reason)`` for NCCL through CuPy; never raises."""
    from .. import backend

    ok, why = backend.cupy_status()
    if not ok:
        return False, f"needs a usable CuPy: {why}"
    try:
        from cupy.cuda import nccl
    except Exception as e:
        return False, f"cupy.cuda.nccl is not available ({type(e).__name__}: {e}); pip install nvidia-nccl-cu12"
    if not getattr(nccl, "available", True):
        return False, "CuPy found no NCCL library; pip install nvidia-nccl-cu12 (or nvidia-nccl-cu13)"
    try:
        v = nccl.get_version()
    except Exception as e:
        return False, f"NCCL failed to load ({type(e).__name__}: {e})"
    return True, f"NCCL {v // 10000}.{v // 100 % 100}.{v % 100} through CuPy"


class _NCCLEvent:
    __slots__ = ("event",)

    def __init__(self, event) -> None:
        self.event = event

    def wait(self) -> None:
        import cupy

        cupy.cuda.get_current_stream().wait_event(self.event)

    def test(self) -> bool:
        return self.event.done


class NCCLComm:
    """Collectives over an NCCL communicator for device (CuPy) arrays, on its own stream.

    Each collective first makes the NCCL stream wait for the work queued so far on the current stream, and each
    handle's ``wait()`` makes the current stream wait for the collective (no host synchronisation)."""

    name = "nccl"

    def __init__(self, mpi_comm: MPIComm, device_id: int) -> None:
        import cupy
        from cupy.cuda import nccl

        self.cupy, self.nccl, self.mpi = cupy, nccl, mpi_comm
        self.rank, self.size = mpi_comm.rank, mpi_comm.size
        cupy.cuda.Device(device_id).use()
        uid = nccl.get_unique_id() if self.rank == 0 else None
        uid = mpi_comm.comm.bcast(uid, root=0)
        self.comm = nccl.NcclCommunicator(self.size, uid, self.rank)
        self.stream = cupy.cuda.Stream(non_blocking=True)

    def local(self) -> tuple[int, int]:
        return self.mpi.local()

    def _args(self, a, op=None):
        if not a.flags.c_contiguous:
            raise ValueError("NCCL collectives need contiguous arrays")
        kind = _NCCL_TYPES.get(a.dtype.name)
        if kind is None:
            raise TypeError(f"NCCL has no type for {a.dtype}; use float16/32/64 or integer arrays")
        return getattr(self.nccl, kind), (None if op is None else getattr(self.nccl, _NCCL_OPS[op]))

    def _begin(self):
        ev = self.cupy.cuda.Event(disable_timing=True)
        ev.record(self.cupy.cuda.get_current_stream())
        self.stream.wait_event(ev)

    def _end(self):
        ev = self.cupy.cuda.Event(disable_timing=True)
        ev.record(self.stream)
        return _NCCLEvent(ev)

    def iallreduce(self, a, op: str = "sum"):
        if _backend(a).name == "numpy":
            self.mpi.allreduce(a, op)
            return _Done()
        dt, nop = self._args(a, op)
        self._begin()
        self.comm.allReduce(a.data.ptr, a.data.ptr, a.size, dt, nop, self.stream.ptr)
        return self._end()

    def allreduce(self, a, op: str = "sum") -> None:
        self.iallreduce(a, op).wait()

    def bcast(self, a, root: int = 0) -> None:
        if _backend(a).name == "numpy":
            self.mpi.bcast(a, root)
            return
        dt, _ = self._args(a)
        self._begin()
        self.comm.bcast(a.data.ptr, a.size, dt, root, self.stream.ptr)
        self._end().wait()

    def allgather(self, a):
        if _backend(a).name == "numpy":
            return self.mpi.allgather(a)
        dt, _ = self._args(a)
        out = self.cupy.empty((self.size,) + a.shape, dtype=a.dtype)
        self._begin()
        self.comm.allGather(a.data.ptr, out.data.ptr, a.size, dt, self.stream.ptr)
        self._end().wait()
        return out

    def allgather_obj(self, obj) -> list:
        return self.mpi.allgather_obj(obj)

    def barrier(self) -> None:
        self.stream.synchronize()
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()

    def abort(self, code: int = 1) -> None:
        try:
            self.comm.abort()
        finally:
            self.mpi.abort(code)

    def close(self) -> None:
        self.stream.synchronize()
        self.comm.destroy()


def make_nccl(mpi_comm: MPIComm, local_rank: int):
    """The NCCL communicator for this rank, on GPU ``local_rank % devices`` (the tests swap this function for
    one returning ``mpi_comm``: everything above the communicator is shared)."""
    ok, why = nccl_status()
    if not ok:
        raise RuntimeError(f"init_process_group(backend='nccl'): NCCL is not usable: {why}; use backend='mpi' "
                           f"(device tensors are then staged through the host)")
    import cupy

    return NCCLComm(mpi_comm, local_rank % max(1, cupy.cuda.runtime.getDeviceCount()))


def cpu_share(local_size: int) -> int:
    """Cores for one of ``local_size`` ranks on this node: those it may run on, split evenly when the launcher
    did not bind the ranks (every rank sees every core)."""
    try:
        mine = len(os.sched_getaffinity(0))
    except AttributeError:
        mine = os.cpu_count() or 1
    total = os.cpu_count() or mine
    if mine >= total and local_size > 1:  # not bound: share the node's cores
        return max(1, total // local_size)
    return max(1, mine)

"""Data-parallel training across processes and machines (MPI through mpi4py) and GPUs (NCCL through CuPy),
PyTorch-shaped (``torch.distributed``)::

    import gpunet.distributed as dist
    dist.init_process_group()                       # "auto": nccl for CUDA tensors, mpi for CPU tensors
    model = dist.DistributedDataParallel(model)     # rank 0's parameters and buffers broadcast to all
    loader = DataLoader(ds, batch_size=64, sampler=dist.DistributedSampler(ds, shuffle=True, seed=0))

Launch every rank with ``mpiexec -n N python -m mpi4py train.py``. Needs ``pip install 'gpunet[dist]'``
(mpi4py and MPICH wheels; mpi4py also runs over a system Open MPI or MPICH). Importing this package does not
import mpi4py or start MPI; :func:`init_process_group` does.
"""
from __future__ import annotations

from ._group import (
    ReduceOp,
    all_gather,
    all_reduce,
    barrier,
    broadcast,
    destroy_process_group,
    get_backend,
    get_local_rank,
    get_rank,
    get_world_size,
    init_process_group,
    is_available,
    is_initialized,
)
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler
from .sync_batchnorm import SyncBatchNorm

__all__ = ["ReduceOp", "init_process_group", "is_initialized", "is_available", "get_rank", "get_world_size",
           "get_local_rank", "get_backend", "all_reduce", "broadcast", "all_gather", "barrier",
           "destroy_process_group", "DistributedDataParallel", "DistributedSampler", "SyncBatchNorm",
           "engines"]


def engines() -> dict:
    """Which communication engines are usable here: ``{"mpi": {"usable", "why"}, "nccl": {...}}`` (MPI is
    not started by this check)."""
    from ._info import engines as _engines

    return _engines()

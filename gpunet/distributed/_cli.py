"""``gpunet train --distributed``: the main training job, data-parallel over the ranks of an MPI launch."""
from __future__ import annotations

import os
import sys

from . import _group
from .ddp import DistributedDataParallel
from .sampler import DistributedSampler

_GPU = ("cupy", "cuda", "cuda:0", "gpu", "cp")


def start(args) -> None:
    """Join the process group before any tensor exists (with NCCL this picks the rank's GPU). Refuses the
    options a data-parallel run does not support yet."""
    from ..cli import UsageError

    for flag, value in (("--resume", args.resume), ("--save", args.save)):
        if value:
            raise UsageError(f"{flag} is not supported with --distributed yet; drop it (the ranks would write "
                             f"one checkpoint file together)")
    try:
        import importlib.util

        if importlib.util.find_spec("mpi4py") is None:
            raise ImportError
    except ImportError:
        raise UsageError("--distributed needs mpi4py: pip install 'gpunet[dist]', then launch with "
                         "mpiexec -n N gpunet train --distributed ...") from None
    from .. import backend

    name = str(args.backend).lower()
    gpu = name in _GPU or (name == "auto" and backend.cupy_status()[0])
    _group.init_process_group("nccl" if gpu and _nccl_ok() else "mpi")
    if _group.get_rank() != 0:  # one report: rank 0's
        sys.stdout = open(os.devnull, "w")


def _nccl_ok() -> bool:
    from ._comm import nccl_status

    return nccl_status()[0]


class _EpochSampler:
    """A DistributedSampler that moves to the next epoch on each pass (``fit`` does not call set_epoch)."""

    def __init__(self, sampler: DistributedSampler) -> None:
        self.sampler = sampler
        self.passes = 0

    def __iter__(self):
        self.sampler.set_epoch(self.passes)
        self.passes += 1
        return iter(self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


def wrap(args, cfg: dict, model, train):
    """``(DDP model, training loader over this rank's share)``; records the layout in ``cfg["distributed"]``
    and says it on rank 0. The batch size is per rank, as torch's."""
    from ..data import DataLoader

    world = _group.get_world_size()
    ddp = DistributedDataParallel(model)
    sampler = _EpochSampler(DistributedSampler(train.dataset, shuffle=True, seed=cfg["seed"]))
    loader = DataLoader(train.dataset, batch_size=train.batch_size, sampler=sampler, seed=cfg["seed"])
    cfg["distributed"] = {"backend": _group.get_backend(), "world_size": world, "batch_per_rank": train.batch_size}
    if not (args.quiet or args.json):
        print(f"data-parallel over {world} rank(s) ({_group.get_backend()}) · batch {train.batch_size} per rank, "
              f"{train.batch_size * world} in all · samples/s below are per rank", flush=True)
    return ddp, loader

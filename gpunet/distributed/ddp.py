"""DistributedDataParallel: gradients averaged over the ranks inside ``backward()``, in flat buckets."""
from __future__ import annotations

import contextlib
import time
import weakref

from ..autograd import hooks as _hooks
from ..autograd.tensor import Tensor
from ..nn.module import Module
from . import _group

__all__ = ["DistributedDataParallel"]


class _Bucket:
    """A flat buffer holding the gradients of ``params`` (one dtype, one device) end to end."""

    __slots__ = ("params", "slots", "buffer", "ready", "handle")

    def __init__(self, params, xp, dtype) -> None:
        self.params = params
        self.slots = []
        off = 0
        for p in params:
            n = int(p.data.size)
            self.slots.append((p, off, n))
            off += n
        self.buffer = xp.zeros(off, dtype=dtype)
        self.ready = 0
        self.handle = None


def _buckets(params, cap_bytes: int) -> list[_Bucket]:
    """Parameters in reverse order (the order backward reaches them), cut into buckets of at most ``cap_bytes``
    (a larger parameter gets a bucket of its own) and of one dtype and device each, as torch's DDP."""
    out, cur, size, key = [], [], 0, None
    for p in reversed(params):
        k = (p.data.dtype, type(p.data))
        nbytes = int(p.data.size) * p.data.dtype.itemsize
        if cur and (k != key or size + nbytes > cap_bytes):
            out.append(cur)
            cur, size = [], 0
        cur.append(p)
        size += nbytes
        key = k
    if cur:
        out.append(cur)
    from .. import backend

    return [_Bucket(ps, backend.backend_of((ps[0].data,)).xp, ps[0].data.dtype) for ps in out]


class DistributedDataParallel(Module):
    """Data-parallel training over the ranks of the process group, as ``torch.nn.parallel.
    DistributedDataParallel``.

    At construction rank 0's parameters and buffers are broadcast to every rank. In each ``backward()`` that
    follows a forward through this wrapper, every parameter's gradient is summed over the ranks and scaled by
    1/world (the mean): gradients are packed into flat buckets of ``bucket_cap_mb`` MiB (parameters in reverse
    order), and each bucket's all-reduce starts as soon as all its gradients are complete (``overlap=True``;
    ``False``: all buckets at the end of backward), so any optimizer works unchanged. ``no_sync()`` skips the
    reduction (gradients accumulate locally; the next synced backward reduces the sum). With
    ``broadcast_buffers`` rank 0's floating-point buffers (BatchNorm running statistics) are broadcast before
    every training forward. A parameter without a gradient on a rank takes part with zeros (it gets the mean of
    the others; torch would need ``find_unused_parameters``), and every parameter in the job gets a gradient.
    ``state_dict()`` keys carry the ``module.`` prefix; ``.module`` is the wrapped model.
    """

    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, process_group=None, bucket_cap_mb: float = 25,
                 find_unused_parameters: bool = False, check_reduction: bool = False,
                 gradient_as_bucket_view: bool = False, static_graph: bool = False, *, overlap: bool = True):
        super().__init__()
        comm = _group._require("DistributedDataParallel")
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a gpunet.nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        self.module = module
        d = self.__dict__  # plain attributes: not part of the module's structure
        d["_comm"] = comm
        d["broadcast_buffers"] = bool(broadcast_buffers)
        d["bucket_cap_mb"] = float(bucket_cap_mb)
        d["overlap"] = bool(overlap)
        d["require_backward_grad_sync"] = True
        d["comm_seconds"] = 0.0      # time spent packing, reducing and unpacking (for measurements)
        d["wait_seconds"] = 0.0      # of which: waiting at the end of backward
        d["_armed"] = d["_in_pass"] = False
        d["_next"] = 0
        params = [p for p in module.parameters() if p.requires_grad]
        _group._check_same(comm, [p.data for p in params] + [b.data for b in module.buffers()],
                           "DistributedDataParallel (the model's parameters and buffers)")
        self._sync_from_rank0(list(module.parameters()) + list(module.buffers()))
        d["_buckets"] = _buckets(params, int(self.bucket_cap_mb * 2**20)) if comm.size > 1 else []
        d["_where"] = {id(p): b for b in self._buckets for p in b.params}
        ref = weakref.ref(self)

        def ready(p, ref=ref):
            ddp = ref()
            if ddp is not None and ddp._armed:
                ddp._grad_ready(p)
        d["_handles"] = [_hooks.register_post_accumulate(p, ready) for b in self._buckets for p in b.params]
        if comm.size > 1:
            _group._seed_per_rank(comm.rank)

    # ------------------------------------------------------------------ construction
    def _sync_from_rank0(self, tensors) -> None:
        comm = self._comm
        if comm.size == 1:
            return
        for t in tensors:
            if t is not None:
                _group._inplace(t, lambda a: comm.bcast(a, 0))

    # ------------------------------------------------------------------ forward
    def forward(self, *args, **kwargs):
        d = self.__dict__
        if self.training and self.broadcast_buffers and self._comm.size > 1:
            self._sync_from_rank0([b for b in self.module.buffers() if b is not None and b.data.dtype.kind in "fc"])
        d["_armed"] = self.require_backward_grad_sync and bool(self._buckets)
        d["_in_pass"] = False
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside, backward passes keep their gradients local (accumulating in ``.grad``); the first synced
        backward after it reduces the accumulated sums."""
        old = self.require_backward_grad_sync
        self.__dict__["require_backward_grad_sync"] = False
        try:
            yield
        finally:
            self.__dict__["require_backward_grad_sync"] = old

    # ------------------------------------------------------------------ the reduction
    def _grad_ready(self, p) -> None:
        d = self.__dict__
        if not self._in_pass:
            d["_in_pass"] = True
            d["_next"] = 0
            for b in self._buckets:
                b.ready = 0
                b.handle = None
            _hooks.queue_callback(self._finish)
        b = self._where.get(id(p))
        if b is None:
            return
        b.ready += 1
        if self.overlap:
            t0 = time.perf_counter()
            self._launch_ready()
            d["comm_seconds"] += time.perf_counter() - t0

    def _launch_ready(self, force: bool = False) -> None:
        """Start the buckets whose gradients are all in, in bucket order (every rank must issue the collectives
        in one order); ``force``: all the rest too. Also lets started MPI reductions progress."""
        bs = self._buckets
        while self._next < len(bs) and (force or bs[self._next].ready >= len(bs[self._next].params)):
            self._start(bs[self._next])
            self.__dict__["_next"] += 1
        for b in bs[:self._next]:
            b.handle.test()

    def _start(self, b: _Bucket) -> None:
        buf = b.buffer
        for p, off, n in b.slots:
            g = p.grad
            if g is None:
                buf[off:off + n] = 0
            else:
                buf[off:off + n] = g.data.reshape(-1)
        b.handle = self._comm.iallreduce(buf, "sum")

    def _finish(self) -> None:
        """End of backward: start what is left, wait, scale by 1/world and write the means into ``.grad``."""
        d = self.__dict__
        t0 = time.perf_counter()
        d["_armed"] = d["_in_pass"] = False
        self._launch_ready(force=True)
        world = self._comm.size
        for b in self._buckets:
            tw = time.perf_counter()
            b.handle.wait()
            d["wait_seconds"] += time.perf_counter() - tw
            buf = b.buffer
            buf *= buf.dtype.type(1.0 / world)
            for p, off, n in b.slots:
                v = buf[off:off + n].reshape(p.data.shape)
                if p.grad is None:
                    p.grad = Tensor._make(v.copy(), False, None)
                else:
                    p.grad.data[...] = v
            b.handle = None
        d["comm_seconds"] += time.perf_counter() - t0

    def extra_repr(self) -> str:
        return (f"world_size={self._comm.size}, buckets={len(self._buckets)}, bucket_cap_mb={self.bucket_cap_mb:g}, "
                f"overlap={self.overlap}")

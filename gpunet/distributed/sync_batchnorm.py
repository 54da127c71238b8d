"""SyncBatchNorm: batch normalisation whose statistics span the whole data-parallel batch."""
from __future__ import annotations

from ..autograd.function import Function
from ..functional.normalization import batch_norm
from ..nn.module import Module
from ..nn.normalization import BatchNorm1d
from . import _group

__all__ = ["SyncBatchNorm"]


def _axes(ndim: int) -> tuple:
    return (0,) + tuple(range(2, ndim))


class _SyncBatchNormFn(Function):
    """y = (x − μ)/√(σ² + ε)·γ + β with μ, σ² over every rank's batch: each rank's count, mean and centred sum
    of squares are gathered and merged (Chan/Welford, no E[x²] − E[x]² cancellation); backward all-reduces
    ``sum(dy)`` and ``sum(dy·x̂)``. The gradients of γ and β are this rank's sums (DDP averages them)."""

    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, weight, bias, *, comm, eps, running_mean, running_var, momentum):
        axes = _axes(x.ndim)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        m = x.size // max(x.shape[1], 1)
        dt = x.dtype
        if m:
            mu = x.mean(axis=axes)
            m2 = ((x - mu.reshape(shape)) ** 2).sum(axis=axes)
        else:
            mu = m2 = xp.zeros(x.shape[1], dtype=dt)
        stats = xp.stack([xp.full(x.shape[1], m, dtype=dt), mu, m2])
        g = comm.allgather(stats)                       # (world, 3, C)
        n_i, mu_i, m2_i = g[:, 0], g[:, 1], g[:, 2]
        n = n_i.sum(axis=0)
        mean = (n_i * mu_i).sum(axis=0) / n
        var = (m2_i.sum(axis=0) + (n_i * (mu_i - mean) ** 2).sum(axis=0)) / n
        total = int(round(float(n[0]))) if n.size else 0  # the same count for every channel; a host scalar
        if total <= 1 and running_mean is not None:
            raise ValueError(f"SyncBatchNorm: expected more than 1 value per channel over all ranks when "
                             f"training, got {total}")
        invstd = 1.0 / xp.sqrt(var + dt.type(eps))
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        y = xhat if weight is None else xhat * weight.reshape(shape)
        if bias is not None:
            y = y + bias.reshape(shape)
        if running_mean is not None:
            mo = dt.type(momentum)
            running_mean *= 1 - mo
            running_mean += mo * mean.astype(running_mean.dtype)
            running_var *= 1 - mo
            running_var += (mo * var * dt.type(total / (total - 1))).astype(running_var.dtype)
        self.comm, self.xhat, self.invstd, self.weight, self.total = comm, xhat, invstd, weight, total
        self.has_bias = bias is not None
        return y.astype(dt, copy=False)

    def backward(self, xp, dy):
        xhat, invstd, w = self.xhat, self.invstd, self.weight
        axes = _axes(dy.ndim)
        shape = (1, -1) + (1,) * (dy.ndim - 2)
        sums = xp.stack([dy.sum(axis=axes), (dy * xhat).sum(axis=axes)])
        gw = sums[1].copy() if w is not None and self.needs_input_grad[1] else None
        gb = sums[0].copy() if self.has_bias and self.needs_input_grad[2] else None
        gx = None
        if self.needs_input_grad[0]:
            self.comm.allreduce(sums, "sum")
            scale = invstd if w is None else invstd * w
            inv_n = dy.dtype.type(1.0 / self.total)
            gx = scale.reshape(shape) * (dy - (sums[0] * inv_n).reshape(shape)
                                         - xhat * (sums[1] * inv_n).reshape(shape))
        return gx, gw, gb


class SyncBatchNorm(BatchNorm1d):
    """Batch normalisation over the channel axis of (N, C, *) input whose training statistics are those of the
    whole batch across the ranks (as ``torch.nn.SyncBatchNorm``): with the process group initialized, each
    training forward merges every rank's per-channel count, mean and centred sum of squares, and the running
    statistics move as BatchNorm's with the global mean and unbiased variance (identical on every rank).
    Evaluation, or training without a process group (or with one rank), is plain batch norm.
    """

    def forward(self, x):
        if x.ndim < 2:
            raise ValueError(f"SyncBatchNorm: expected at least 2-D (N, C, *) input, got shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"SyncBatchNorm: input has {x.shape[1]} channels (shape {tuple(x.shape)}) but the "
                             f"layer was built with num_features={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            factor = self._count_batch()
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        rm, rv = (self.running_mean, self.running_var) if track else (None, None)
        if use_batch and _group.is_initialized() and _group.get_world_size() > 1:
            return _SyncBatchNormFn.apply(x, self.weight, self.bias, comm=_group._S.comm, eps=float(self.eps),
                                          running_mean=None if rm is None else rm.data,
                                          running_var=None if rv is None else rv.data, momentum=factor)
        if x.ndim > 3:
            return batch_norm(x.reshape(x.shape[0], x.shape[1], -1), rm, rv, self.weight, self.bias, use_batch,
                              factor, self.eps).reshape(x.shape)
        return batch_norm(x, rm, rv, self.weight, self.bias, use_batch, factor, self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, process_group=None) -> Module:
        """``module`` with every BatchNorm layer (BatchNorm1d/2d/3d) replaced by a SyncBatchNorm sharing its
        parameters, buffers and mode (returns the new layer when ``module`` itself is one)."""
        if _is_batchnorm(module):
            new = cls(module.num_features, module.eps, module.momentum, module.affine,
                      module.track_running_stats)
            d = new.__dict__
            for name in ("weight", "bias"):
                d["_parameters"][name] = module._parameters.get(name)
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                d["_buffers"][name] = module._buffers.get(name)
            new.train(module.training)
            return new
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child, process_group)
            if new is not child:
                setattr(module, name, new)
        return module


def _is_batchnorm(m) -> bool:
    return (not isinstance(m, SyncBatchNorm) and type(m).__name__ in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
            and hasattr(m, "num_features"))

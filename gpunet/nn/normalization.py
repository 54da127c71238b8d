"""BatchNorm1d and BatchNorm2d (one base class: parameters, running statistics, the momentum rule)."""
from __future__ import annotations

import numpy as np

from .. import backend as _backend
from .. import init
from ..autograd.tensor import Tensor
from ..functional.normalization import batch_norm
from .module import Module
from .parameter import Parameter, empty

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    """Batch normalisation over the channel axis 1, per channel over every other axis.

    y = (x − μ) / √(σ² + eps) · weight + bias. Training: μ, σ² (biased) from the batch, and the running
    statistics move by ``momentum`` (None: a cumulative average over the batches seen) using the unbiased
    variance; ``num_batches_tracked`` counts the training batches. Evaluation: the running statistics normalise
    (the batch statistics when ``track_running_stats=False``). ``bias=False`` (with ``affine``) learns the scale
    only. Subclasses set the accepted input ranks.
    """
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(empty((num_features,), device, dtype))
            if bias:
                self.bias = Parameter(empty((num_features,), device, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            be = _backend.current() if device is None else _backend.get(device)
            self.register_buffer("running_mean", Tensor._make(empty((num_features,), device, dtype), False, None))
            self.register_buffer("running_var", Tensor._make(empty((num_features,), device, dtype), False, None))
            self.register_buffer("num_batches_tracked", Tensor._make(be.xp.zeros((), dtype=np.int64), False, None))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in self._ranks:
            raise ValueError(f"{name}: expected {self._layout} input, got shape {tuple(x.shape)} ({x.ndim}-D)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: input has {x.shape[1]} channels (shape {tuple(x.shape)}) but the "
                             f"layer was built with num_features={self.num_features}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            factor = self._count_batch()
        use_batch = self.training or self.running_mean is None
        track = not self.training or self.track_running_stats
        return batch_norm(x, self.running_mean if track else None, self.running_var if track else None,
                          self.weight, self.bias, use_batch, factor, self.eps)

    def _count_batch(self) -> float:
        """Bump ``num_batches_tracked``; return this batch's momentum (1/n for ``momentum=None``, the cumulative
        average, as torch). The count is mirrored on the host, so that needs no device read per batch: the
        buffer is read again only after it was replaced or written (``to()``, ``load_state_dict``, init)."""
        nbt = self.num_batches_tracked
        nbt.data += 1
        if self.momentum is not None:
            return self.momentum
        d = self.__dict__  # not Module.__setattr__: this is no change of the module's structure
        if d.get("_nbt_array") is nbt.data and d.get("_nbt_version") == nbt._version:
            d["_nbt_host"] += 1
        else:
            d["_nbt_host"] = int(nbt.item())
            d["_nbt_array"], d["_nbt_version"] = nbt.data, nbt._version
        return 1.0 / d["_nbt_host"]

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over the channel axis of (N, C) or (N, C, L) input, as ``torch.nn.BatchNorm1d`` (see
    :class:`_BatchNorm` for the statistics)."""
    _ranks, _layout = (2, 3), "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input per channel over N·H·W values, as ``torch.nn.BatchNorm2d`` (see
    :class:`_BatchNorm` for the statistics)."""
    _ranks, _layout = (4,), "4-D (N, C, H, W)"

"""Instance normalisation layers, as ``torch.nn.InstanceNorm1d`` / ``InstanceNorm2d``: the arguments and defaults
(``affine=False``, ``track_running_stats=False``), parameters and buffers of torch's, so a PyTorch ``state_dict``
loads; the statistics as :func:`gpunet.functional.instance_norm`."""
from __future__ import annotations

import warnings

from ..functional.normalization import instance_norm
from .normalization import _BatchNorm

__all__ = ["InstanceNorm1d", "InstanceNorm2d"]


class _InstanceNorm(_BatchNorm):
    """Each (sample, channel) normalised over its positions; ``weight``/``bias`` (``affine``) per channel.
    Training (or without ``track_running_stats``): the instance statistics, and the running statistics (when
    tracked) move by ``momentum``; evaluation with ``track_running_stats``: the running statistics. Unbatched
    input (one rank less) is a batch of one."""
    _dims = 0  # the batched input rank

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, device=None, dtype=None):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x):
        name = type(self).__name__
        if x.ndim not in (self._dims - 1, self._dims):
            raise ValueError(f"{name}: expected {self._dims - 1}-D (unbatched) or {self._dims}-D input, got shape "
                             f"{tuple(x.shape)} ({x.ndim}-D)")
        unbatched = x.ndim == self._dims - 1
        feature_dim = 0 if unbatched else 1
        if x.shape[feature_dim] != self.num_features:
            msg = (f"{name}: expected input's size at dim={feature_dim} to match num_features "
                   f"({self.num_features}), but got: {x.shape[feature_dim]}.")
            if self.affine:
                raise ValueError(msg)
            warnings.warn(msg + " The input is normalised anyway (as torch does when affine=False)", stacklevel=2)
        if unbatched:
            x = x.unsqueeze(0)
        y = instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          self.training or not self.track_running_stats,
                          self.momentum if self.momentum is not None else 0.0, self.eps)
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation of (N, C, L) or unbatched (C, L) input."""
    _dims = 3


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation of (N, C, H, W) or unbatched (C, H, W) input."""
    _dims = 4

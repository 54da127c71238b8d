"""Batch normalisation as ONE Function, over (N, C) rows or a channels-first (N, C, L) view.

Forward and backward call the backend's fused kernels (``batchnorm_forward`` / ``batchnorm_backward``; reference
versions in :mod:`gpunet.backend.base`). A 3-D input (N, C, L) or 4-D (N, C, H, W) goes to the channels-first
``batchnorm_cf_forward`` / ``batchnorm_cf_backward`` as (N, C, L): compiled per-channel kernels on the CPU (no
transposed copy: moving a (32, 64, 32·32) channel axis last costs NumPy more than the whole normalisation), and on
other backends the reference, which copies to (N·L, C) rows for the 2-D kernels and back.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ._dtypes import require_same_dtype

__all__ = ["batch_norm", "BatchNorm"]


class BatchNorm(Function):
    """``y = (x − μ) / √(σ² + ε) · γ + β`` per channel (axis 1 of a 2-D, 3-D or 4-D input)."""
    arg_names = ("input", "weight", "bias", "running_mean", "running_var")

    def forward(self, xp, x, gamma, beta, running_mean, running_var, training=False, momentum=0.1, eps=1e-5):
        _check(x, gamma, beta, running_mean, running_var, training)
        self.shape = x.shape
        if gamma is not None and beta is None:
            beta = xp.zeros_like(gamma)
        if x.ndim == 2:
            y, saved = self.backend.batchnorm_forward(x, gamma, beta, running_mean, running_var, training,
                                                      momentum, eps)
        else:
            x3 = xp.ascontiguousarray(x).reshape(_channels_first(x.shape))
            y, saved = self.backend.batchnorm_cf_forward(x3, gamma, beta, running_mean, running_var, training,
                                                         momentum, eps)
        if any(self.needs_input_grad):
            self.saved, self.gamma, self.training, self.eps = saved, gamma, training, eps
        return y.reshape(x.shape)

    def backward(self, xp, g):
        need_x, need_w, need_b = self.needs_input_grad[:3]
        if len(self.shape) == 2:
            dx, dgamma, dbeta = self.backend.batchnorm_backward(self.saved, self.gamma, g, self.training,
                                                                need_x=need_x, need_affine=need_w or need_b)
        else:
            g3 = xp.ascontiguousarray(g).reshape(_channels_first(self.shape))
            dx, dgamma, dbeta = self.backend.batchnorm_cf_backward(self.saved, self.gamma, g3, self.training,
                                                                   need_x=need_x, need_affine=need_w or need_b)
        if dx is not None:
            dx = dx.reshape(self.shape)
        return dx, (dgamma if need_w else None), (dbeta if need_b else None), None, None


def _channels_first(shape) -> tuple[int, int, int]:
    """(N, C, L) for an (N, C, ...) shape, L the product of the trailing dims."""
    n = 1
    for d in shape[2:]:
        n *= d
    return shape[0], shape[1], n


def _check(x, gamma, beta, running_mean, running_var, training) -> None:
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm: expected a 2-D (N, C), 3-D (N, C, L) or 4-D (N, C, H, W) input, got shape "
                         f"{tuple(x.shape)} ({x.ndim}-D); flatten or reshape it first")
    c = x.shape[1]
    for name, a in (("weight", gamma), ("bias", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"batch_norm: {name} must have shape ({c},) for an input with {c} channels "
                             f"(shape {tuple(x.shape)}), got {tuple(a.shape)}")
        if a is not None and name in ("weight", "bias"):
            require_same_dtype("batch_norm", x, a, name)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: evaluation mode (training=False) needs running_mean and running_var; pass "
                         "them or use training=True to normalise with the batch statistics")
    if training and x.size // c <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, got input of "
                         f"shape {tuple(x.shape)}; use a batch of at least 2 samples or call model.eval()")


def batch_norm(x, running_mean=None, running_var=None, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over the channel axis 1 of ``x`` (N, C), (N, C, L) or (N, C, H, W), as
    ``torch.nn.functional``: the statistics of channel c are over every (n, l) or (n, h, w).

    Training: μ and the biased σ² come from the batch, y = (x − μ)/√(σ² + ε)·γ + β, and the running statistics
    (when given) are updated in place: r_μ ← (1 − m)·r_μ + m·μ, r_σ² ← (1 − m)·r_σ² + m·σ²·n/(n − 1).
    Evaluation: μ, σ² are the running statistics. ``weight`` (γ) and ``bias`` (β) are optional (β needs γ).
    """
    if weight is None and bias is not None:
        raise ValueError("batch_norm: a bias without a weight is not supported; pass weight=ones(C) as well")
    return BatchNorm.apply(x, weight, bias, running_mean, running_var, training=bool(training),
                           momentum=momentum, eps=float(eps))


def instance_norm(input, running_mean=None, running_var=None, weight=None, bias=None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Instance normalisation of (N, C, *) input, as ``torch.nn.functional.instance_norm``: each (sample,
    channel) normalised over its own positions, y = (x − μ)/√(σ² + ε)·γ[c] + β[c]. As PyTorch computes it: the
    batch norm of the input viewed (1, N·C, *), with γ, β and the running statistics repeated N times; with
    ``use_input_stats`` and running statistics given, those move by ``momentum`` towards the mean over the batch
    of the instances' statistics (the unbiased variance); without ``use_input_stats`` they normalise."""
    x = input.data if isinstance(input, Tensor) else input
    if not hasattr(x, "shape") or x.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *) with at least one position axis, "
                         f"got shape {tuple(getattr(x, 'shape', ()))}; an unbatched (C, L) input needs "
                         f"x.unsqueeze(0)")
    if (running_mean is None) != (running_var is None):
        raise ValueError("instance_norm: give both running_mean and running_var, or neither")
    if not use_input_stats and running_mean is None:
        raise ValueError("instance_norm: expected running_mean and running_var to be defined when "
                         "use_input_stats is False")
    n, c = x.shape[0], x.shape[1]
    for name, a in (("weight", weight), ("bias", bias), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if a is not None and tuple(a.shape) != (c,):
            raise ValueError(f"instance_norm: {name} must have shape ({c},) for an input with {c} channels, got "
                             f"{tuple(a.shape)}")
    if bias is not None and weight is None:
        weight = input.new_ones(c) if isinstance(input, Tensor) else None
    w = weight.repeat(n) if weight is not None else None
    b = bias.repeat(n) if bias is not None else None
    rm = rv = None
    if running_mean is not None:
        rm, rv = (Tensor._make(r.data.reshape(1, c).repeat(n, axis=0).reshape(-1), False, None)
                  for r in (running_mean, running_var))
    flat = input.reshape((1, n * c) + tuple(x.shape[2:]))
    out = batch_norm(flat, rm, rv, w, b, training=bool(use_input_stats), momentum=momentum, eps=eps)
    if running_mean is not None and use_input_stats:
        for r, r_rep in ((running_mean, rm), (running_var, rv)):
            r.data[...] = r_rep.data.reshape(n, c).mean(axis=0)
    return out.reshape(tuple(x.shape))

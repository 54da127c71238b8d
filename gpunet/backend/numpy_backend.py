"""CPU backend: NumPy."""
from __future__ import annotations

import numpy as np

from . import _numpy_fused as fused
from . import _malloc, _parallel
from .base import Backend


def _fast(*arrays) -> bool:
    """float32/float64, C-contiguous, one dtype: what the in-place CPU paths handle."""
    dt = None
    for a in arrays:
        if a is None:
            continue
        if type(a) is not np.ndarray or not a.flags.c_contiguous or a.dtype.kind != "f":
            return False
        if dt is None:
            dt = a.dtype
        elif a.dtype != dt:
            return False
    return True


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    flat_optimizer_max = 1 << 20

    def elementwise(self, fn):
        """``fn`` run over aligned blocks of its array arguments (all arrays of the first array's size), the
        blocks spread over the cores; small arrays go straight to ``fn``."""
        wrapped = self._elementwise_cache.get(fn)
        if wrapped is None:
            def wrapped(xp, *args, **kw):
                first = next((a for a in args if type(a) is np.ndarray), None)
                n = first.size if first is not None else 0
                if n <= _parallel.BLOCK or not all(a.flags.c_contiguous for a in args if type(a) is np.ndarray):
                    return fn(xp, *args, **kw)
                arr = [type(a) is np.ndarray and a.size == n for a in args]
                flat = [a.reshape(-1) if is_a else a for a, is_a in zip(args, arr)]

                def block(i, j):
                    fn(xp, *[a[i:j] if is_a else a for a, is_a in zip(flat, arr)], **kw)

                _parallel.run_blocked(block, n)
            self._elementwise_cache[fn] = wrapped
        return wrapped

    def __init__(self):
        super().__init__(np)
        _malloc.tune()
        self._elementwise_cache = {}

    def is_array(self, a) -> bool:
        return isinstance(a, np.ndarray)

    def asarray(self, data, dtype=None):
        if hasattr(data, "__cuda_array_interface__"):  # a CuPy array: bring it to the host
            data = data.get()
        return np.asarray(data, dtype=dtype)

    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self._seed)
        return self._rng

    def rand(self, shape, dtype):
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng().random(shape, dtype=dtype)
        return self.rng().random(shape).astype(dtype)

    def randn(self, shape, dtype):
        dtype = np.dtype(dtype)
        if dtype in (np.float32, np.float64):
            return self.rng().standard_normal(shape, dtype=dtype)
        return self.rng().standard_normal(shape).astype(dtype)

    # ----------------------------------------------------------------- fused ops (in place, blocked, threaded)
    def linear_act_forward(self, x, W, b, act, alpha=0.01):
        if act in fused.FAST_ACTS and x.ndim == 2 and _fast(x, W, b) and not (act == "leaky_relu" and not 0 < alpha <= 1):
            return fused.linear_act_forward(x, W, b, act, alpha)
        return super().linear_act_forward(x, W, b, act, alpha)

    def linear_act_backward(self, x, W, saved, grad_y, act, alpha=0.01, need_x=True, need_W=True, need_b=True):
        if type(saved) is fused.Saved:
            return fused.linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b)
        return super().linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b)

    def batchnorm_forward(self, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        if training and x.ndim == 2 and _fast(x, gamma, beta):
            return fused.batchnorm_forward_train(x, gamma, beta, running_mean, running_var, momentum, eps)
        return super().batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps)

    def batchnorm_backward(self, saved, gamma, grad_y, training, need_x=True, need_affine=True):
        if type(saved) is fused.BNSaved:
            g = np.ascontiguousarray(grad_y, dtype=saved.x.dtype)
            dx, dgamma, dbeta = fused.batchnorm_backward_train(saved, gamma, g, need_x)
            if not need_affine or gamma is None:
                dgamma = dbeta = None
            return dx, dgamma, dbeta
        return super().batchnorm_backward(saved, gamma, grad_y, training, need_x, need_affine)

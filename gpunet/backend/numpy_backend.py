"""CPU backend: NumPy."""
from __future__ import annotations

import numpy as np

from . import _numpy_fused as fused
from . import _malloc, _numba, _parallel
from ._numpy_attn import NumpyAttn
from ._numpy_conv import NumpyConv
from ._numpy_gemm import NumpyGemm
from ._numpy_loss import NumpyLoss
from ._numpy_norm import NumpyNorm
from ._numpy_pool import NumpyPool
from ._numpy_rnn import NumpyRnn
from .base import Backend


class NumpyBackend(NumpyGemm, NumpyConv, NumpyPool, NumpyNorm, NumpyRnn, NumpyAttn, NumpyLoss, Backend):
    name = "numpy"
    device = "cpu"
    flat_optimizer_max = 1 << 16

    def __init__(self):
        super().__init__(np)
        _malloc.tune()

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

    def _uniform(self, shape, dtype):
        return self.rng().random(shape, dtype=dtype)

    def _normal(self, shape, dtype):
        return self.rng().standard_normal(shape, dtype=dtype)

    def randint(self, low, high, shape):
        return self.rng().integers(low, high, size=shape, dtype=np.int64)

    # ----------------------------------------------------------------- fused ops (compiled, one pass each)
    def activation_forward(self, act, x, alpha=0.01):
        if act == "relu" and x.size >= 1024 and fused.usable(x) and _numba.kernels() is not None:
            from ._cpu_act_kernels import relu_forward

            y, m = np.empty_like(x), np.empty(x.shape, np.bool_)
            xf, yf, mf = x.reshape(-1), y.reshape(-1), m.reshape(-1).view(np.uint8)
            _parallel.run(lambda k, i0, i1: relu_forward(xf, yf, mf, i0, i1), x.size, _parallel.parts(x.size))
            return y, m
        return super().activation_forward(act, x, alpha)

    def activation_backward(self, act, saved, g, alpha=0.01):
        if act == "relu" and type(saved) is np.ndarray and saved.dtype == np.bool_ and saved.size >= 1024 \
                and type(g) is np.ndarray and g.shape == saved.shape and saved.flags.c_contiguous \
                and fused.usable(g):
            from ._cpu_act_kernels import relu_backward

            dz = np.empty_like(g)
            gf, mf, df = g.reshape(-1), saved.reshape(-1).view(np.uint8), dz.reshape(-1)
            _parallel.run(lambda k, i0, i1: relu_backward(gf, mf, df, i0, i1), g.size, _parallel.parts(g.size))
            return dz
        return super().activation_backward(act, saved, g, alpha)

    def linear_act_forward(self, x, W, b, act, alpha=0.01):
        if act in fused.FAST_ACTS and x.ndim == 2 and fused.usable(x, W, b) \
                and not (act == "leaky_relu" and not 0 < alpha <= 1):
            return fused.linear_act_forward(x, W, b, act, alpha)
        return super().linear_act_forward(x, W, b, act, alpha)

    def linear_act_backward(self, x, W, saved, grad_y, act, alpha=0.01, need_x=True, need_W=True, need_b=True,
                            overwrite_grad=False):
        if type(saved) is fused.Saved:
            return fused.linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b,
                                             overwrite_grad)
        return super().linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b)

    def linear_chain_forward(self, x, params, acts, alphas, keep=True):
        done = fused.linear_chain_forward(x, params, acts, alphas)
        return done if done is not None else super().linear_chain_forward(x, params, acts, alphas, keep)

    def linear_chain_backward(self, saved, grad_y, acts, alphas, needs):
        if type(saved) is fused.ChainSaved:
            return fused.linear_chain_backward(saved, grad_y, needs)
        return super().linear_chain_backward(saved, grad_y, acts, alphas, needs)

    def batchnorm_forward(self, x, gamma, beta, running_mean, running_var, training, momentum, eps):
        if training and x.ndim == 2 and x.shape[0] > 0 and fused.usable(x, gamma, beta):
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

    def softmax_xent_forward(self, logits, target):
        if logits.ndim == 2 and fused.usable(logits):
            return fused.softmax_xent_forward(logits, np.ascontiguousarray(target, dtype=np.int64))
        return super().softmax_xent_forward(logits, target)

    def softmax_xent_backward(self, probs, target, grad_rows):
        if fused.usable(probs):
            return fused.softmax_xent_backward(probs, np.ascontiguousarray(target, dtype=np.int64), grad_rows)
        return super().softmax_xent_backward(probs, target, grad_rows)

    def label_summary(self, target, n_classes, ignore_index=None):
        K = _numba.kernels()
        if K is not None and type(target) is np.ndarray and target.dtype.kind in "iu":
            t = np.ascontiguousarray(target)
            if t.ndim != 1:
                t = t.reshape(-1)
            first, ignored = K.label_summary(t, n_classes, 0 if ignore_index is None else ignore_index,
                                             ignore_index is not None)
            return int(first), bool(ignored)
        return super().label_summary(target, n_classes, ignore_index)

    def optimizer_kernel(self, name: str):
        """The compiled one-pass update for ``name`` (reference signature), or None without Numba."""
        if _numba.kernels() is None:
            return None
        from ._numpy_optim import UPDATES

        return UPDATES.get(name)

"""GPU backend: CuPy. Imported only after :func:`gpunet.backend.cupy_status` found a usable device.

The fused ops of :class:`~gpunet.backend.base.Backend` are overridden with the CUDA kernels of ``kernels/*.cu``
(loaded by :mod:`._kernels`): cuBLAS for the GEMMs, then one kernel per pass. A dtype guard sends anything that
is not float32/float64, one dtype, C-contiguous and non-empty to the reference (the base class). The ``saved``
objects have the reference's layout (bool mask, output, pre-activation; ``(x_hat, invstd)``), so either path can
run the backward of the other.
"""
from __future__ import annotations

import numpy as np

from . import _kernels as K
from .base import Backend

_BLOCK = 256             # threads per block of every launch
_ROWS_PER_THREAD = 16    # rows one thread of a column reduction visits (sets the grid's height)
_MAX_GRID_X = 2**31 - 1
_MAX_GRID_Y = 65535
_SAVES_Z = ("gelu", "gelu_tanh", "silu")
_SAVES_MASK = ("relu", "leaky_relu")
_SAVES_Y = ("sigmoid", "tanh")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _grid_1d(n: int):
    """(grid, block) of a 1-D grid-stride launch over ``n`` elements."""
    return (max(1, min(_cdiv(n, _BLOCK), _MAX_GRID_X)),), (_BLOCK,)


def _grid_columns(rows: int, cols: int):
    """(grid, block) of a column reduction over a (rows, cols) array (see kernels/_common.cu).

    ``bx`` threads across columns (a power of two up to 32, fewer for narrow arrays), ``by = 256 / bx`` down
    the rows; the grid covers every column once and has enough rows of blocks for each thread to visit about
    ``_ROWS_PER_THREAD`` rows."""
    bx = min(32, 1 << max(cols - 1, 0).bit_length())
    by = _BLOCK // bx
    gx = min(_cdiv(cols, bx), _MAX_GRID_X)
    gy = max(1, min(_cdiv(rows, by * _ROWS_PER_THREAD), _MAX_GRID_Y))
    return (gx, gy), (bx, by)


def _row_block(cols: int) -> int:
    """Threads per block of the one-block-per-row softmax: a power of two in [32, 512]."""
    return min(512, max(32, 1 << max(cols - 1, 0).bit_length()))


class CupyBackend(Backend):
    name = "cupy"

    def __init__(self, cupy):
        super().__init__(cupy)
        self.device = f"cuda:{cupy.cuda.Device().id}"
        self._placeholders = {}

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        if isinstance(a, self.xp.ndarray):
            return a.get()
        return np.asarray(a)

    def synchronize(self) -> None:
        self.xp.cuda.get_current_stream().synchronize()

    def scatter_add(self, target, index, values) -> None:
        import cupyx

        cupyx.scatter_add(target, index, values)

    def rng(self):
        if self._rng is None:
            self._rng = self.xp.random.RandomState(self._seed)
        return self._rng

    def _uniform(self, shape, dtype):
        return self.rng().random_sample(shape, dtype=dtype)

    def _normal(self, shape, dtype):
        return self.rng().standard_normal(shape, dtype=dtype)

    # ----------------------------------------------------------------- dtype guard
    def _fusable(self, *arrays) -> bool:
        """True when every non-None argument is a non-empty C-contiguous device array of one float32/float64
        dtype: what the kernels handle."""
        dt = None
        for a in arrays:
            if a is None:
                continue
            if not isinstance(a, self.xp.ndarray) or not a.flags.c_contiguous or a.size == 0:
                return False
            if dt is None:
                if not K.supported_dtype(a.dtype):
                    return False
                dt = a.dtype
            elif a.dtype != dt:
                return False
        return True

    def _unused(self, dtype):
        """A one-element device array of ``dtype`` for a pointer parameter the kernel does not read in this
        launch (each pointer must still point to its parameter's type: the emulator's argument check)."""
        a = self._placeholders.get(dtype)
        if a is None:
            a = self._placeholders[dtype] = self.xp.zeros(1, dtype=dtype)
        return a

    def _dense(self, a, dtype):
        """``a`` as a C-contiguous array of ``dtype`` (no copy when it already is one)."""
        return self.xp.ascontiguousarray(a, dtype=dtype)

    # ----------------------------------------------------------------- linear + bias + activation
    def linear_act_forward(self, x, W, b, act: str, alpha: float = 0.01):
        """GEMM ``z = x Wᵀ`` (cuBLAS), then ONE pass: ``z += b``, ``y = act(z)``, mask/keep for backward."""
        if x.ndim != 2 or W.ndim != 2 or act not in K.ACT_CODES or not self._fusable(x, W, b):
            return super().linear_act_forward(x, W, b, act, alpha)
        xp = self.xp
        z = xp.matmul(x, W.T)
        rows, cols = z.shape
        if z.size == 0:
            return super().linear_act_forward(x, W, b, act, alpha)
        y = xp.empty_like(z) if act in _SAVES_Z else z
        mask = xp.empty(z.shape, dtype=xp.bool_) if act in _SAVES_MASK else None
        T = z.dtype.type
        grid, block = _grid_1d(z.size)
        K.kernel("bias_act_forward")(z.dtype)(grid, block, (
            z, z if b is None else b, y, self._unused(np.bool_) if mask is None else mask, np.int64(z.size),
            np.int64(cols),
            np.int32(b is not None), np.int32(y is not z), np.int32(K.ACT_CODES[act]), T(alpha)))
        saved = mask if act in _SAVES_MASK else y if act in _SAVES_Y else z if act in _SAVES_Z else None
        return y, saved

    def _linear_saved_ok(self, saved, act, shape, dtype) -> bool:
        if act == "identity":
            return True
        if not isinstance(saved, self.xp.ndarray) or saved.shape != shape:
            return False
        return saved.dtype == (np.bool_ if act in _SAVES_MASK else dtype)

    def linear_act_backward(self, x, W, saved, grad_y, act: str, alpha: float = 0.01,
                            need_x: bool = True, need_W: bool = True, need_b: bool = True,
                            overwrite_grad: bool = False):
        """ONE pass: ``dz = dy ⊙ act'`` and ``db = Σ_rows dz`` (block partials + atomicAdd); then cuBLAS
        ``dx = dz W`` and ``dW = dzᵀ x``."""
        if (x.ndim != 2 or grad_y.ndim != 2 or act not in K.ACT_CODES or not self._fusable(x, W)
                or not isinstance(grad_y, self.xp.ndarray) or grad_y.dtype != x.dtype or grad_y.size == 0
                or not self._linear_saved_ok(saved, act, grad_y.shape, x.dtype)):
            return super().linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b)
        xp = self.xp
        g = self._dense(grad_y, x.dtype)
        rows, cols = g.shape
        write_dz = act != "identity" and (need_x or need_W)
        dz = xp.empty_like(g) if write_dz else g
        db = xp.zeros(cols, dtype=g.dtype) if need_b else None
        if write_dz or need_b:
            s = None if saved is None else xp.ascontiguousarray(saved)
            is_mask = s is not None and s.dtype == np.bool_
            grid, block = _grid_columns(rows, cols)
            K.kernel("act_backward_bias_grad")(g.dtype)(grid, block, (
                g, g if s is None or is_mask else s, s if is_mask else self._unused(np.bool_), dz,
                g if db is None else db, np.int64(rows), np.int64(cols),
                np.int32(K.ACT_CODES[act]), g.dtype.type(alpha), np.int32(write_dz), np.int32(need_b)),
                shared_mem=block[0] * block[1] * g.itemsize)
        dx = xp.matmul(dz, W) if need_x else None
        dW = xp.matmul(dz.T, x) if need_W else None
        return dx, dW, db

    # ----------------------------------------------------------------- batch norm
    def batchnorm_forward(self, x, gamma, beta, running_mean, running_var, training: bool,
                          momentum: float, eps: float):
        """Training: ONE pass of per-thread Welford + Chan merge (plus a tiny merge of the block partials when
        the batch spans several rows of blocks; running statistics updated there, in place); evaluation: a tiny
        invstd kernel. Then ONE pass ``x̂ = (x − μ)·invstd``, ``y = x̂·γ + β``."""
        has_running = running_mean is not None and running_var is not None
        if (x.ndim != 2 or (gamma is None) != (beta is None) or (not training and not has_running)
                or (training and has_running and momentum is None)
                or not self._fusable(x, gamma, beta, running_mean, running_var)):
            return super().batchnorm_forward(x, gamma, beta, running_mean, running_var, training, momentum, eps)
        xp = self.xp
        rows, cols = x.shape
        T = x.dtype.type
        invstd = xp.empty(cols, dtype=x.dtype)
        if training:
            mean = self._batch_stats(x, invstd, running_mean, running_var, has_running, momentum, eps)
        else:
            mean = running_mean
            grid, block = _grid_1d(cols)
            K.kernel("bn_invstd")(x.dtype)(grid, block, (running_var, invstd, np.int64(cols), T(eps)))
        affine = gamma is not None
        y = xp.empty_like(x)
        xhat = xp.empty_like(x) if affine else y
        grid, block = _grid_1d(x.size)
        K.kernel("bn_normalize")(x.dtype)(grid, block, (
            x, mean, invstd, gamma if affine else x, beta if affine else x, xhat, y, np.int64(x.size),
            np.int64(cols), np.int32(affine)))
        return y, (xhat, invstd)

    def _batch_stats(self, x, invstd, running_mean, running_var, has_running, momentum, eps):
        """Batch mean (returned) and invstd (written) of x's columns; running statistics updated in place."""
        xp = self.xp
        rows, cols = x.shape
        T = x.dtype.type
        mean = xp.empty(cols, dtype=x.dtype)
        grid, block = _grid_columns(rows, cols)
        parts = grid[1]
        if parts > 1:
            ws_n = xp.empty((parts, cols), dtype=xp.int64)
            ws_mean = xp.empty((parts, cols), dtype=x.dtype)
            ws_m2 = xp.empty((parts, cols), dtype=x.dtype)
        else:
            ws_mean = ws_m2 = mean  # not touched: the single row of blocks finalizes itself
            ws_n = self._unused(np.int64)
        rm = running_mean if has_running else mean
        rv = running_var if has_running else mean
        hyper = (np.int32(has_running), T(0.0 if momentum is None else momentum), T(eps),
                 T(rows / max(rows - 1, 1)))
        K.kernel("bn_stats")(x.dtype)(grid, block, (
            x, np.int64(rows), np.int64(cols), ws_n, ws_mean, ws_m2, mean, invstd, rm, rv) + hyper,
            shared_mem=block[0] * block[1] * (8 + 2 * x.itemsize))
        if parts > 1:
            g1, b1 = _grid_1d(cols)
            K.kernel("bn_finalize")(x.dtype)(g1, b1, (
                x, ws_n, ws_mean, ws_m2, np.int64(parts), np.int64(cols), mean, invstd, rm, rv) + hyper)
        return mean

    def batchnorm_backward(self, saved, gamma, grad_y, training: bool,
                           need_x: bool = True, need_affine: bool = True):
        """ONE reduction pass (Σdy, Σdy·x̂ per feature; skipped when not needed), then ONE pass for dx."""
        xhat, invstd = saved
        if (grad_y.ndim != 2 or not isinstance(grad_y, self.xp.ndarray) or grad_y.shape != xhat.shape
                or not self._fusable(xhat, invstd, gamma) or grad_y.dtype != xhat.dtype):
            return super().batchnorm_backward(saved, gamma, grad_y, training, need_x, need_affine)
        xp = self.xp
        g = self._dense(grad_y, xhat.dtype)
        rows, cols = g.shape
        has_gamma = gamma is not None
        dgamma = dbeta = None
        if (need_x and training) or (need_affine and has_gamma):
            dbeta = xp.zeros(cols, dtype=g.dtype)
            dgamma = xp.zeros(cols, dtype=g.dtype)
            grid, block = _grid_columns(rows, cols)
            K.kernel("bn_backward_reduce")(g.dtype)(grid, block, (
                g, xhat, dbeta, dgamma, np.int64(rows), np.int64(cols)),
                shared_mem=2 * block[0] * block[1] * g.itemsize)
        dx = None
        if need_x:
            dx = xp.empty_like(g)
            grid, block = _grid_1d(g.size)
            K.kernel("bn_backward_dx")(g.dtype)(grid, block, (
                g, xhat, invstd, gamma if has_gamma else invstd, invstd if dbeta is None else dbeta,
                invstd if dgamma is None else dgamma, dx, np.int64(g.size), np.int64(cols),
                np.int32(has_gamma), np.int32(training), g.dtype.type(rows)))
        if not need_affine or not has_gamma:
            dgamma = dbeta = None
        return dx, dgamma, dbeta

    # ----------------------------------------------------------------- softmax + cross-entropy
    def _int_target(self, target, rows):
        if (not isinstance(target, self.xp.ndarray) or target.dtype.kind not in "iu" or target.ndim != 1
                or target.shape[0] != rows):
            return None
        return self._dense(target, np.int64)

    def softmax_xent_forward(self, logits, target):
        """ONE kernel, one block per row: max, Σexp, probs and ``loss = log Σexp − (l_t − max)``."""
        t = self._int_target(target, logits.shape[0]) if logits.ndim == 2 else None
        if t is None or not self._fusable(logits):
            return super().softmax_xent_forward(logits, target)
        xp = self.xp
        rows, cols = logits.shape
        loss = xp.empty(rows, dtype=logits.dtype)
        probs = xp.empty_like(logits)
        threads = _row_block(cols)
        K.kernel("softmax_xent_forward")(logits.dtype)((min(rows, _MAX_GRID_X),), (threads,), (
            logits, t, loss, probs, np.int64(rows), np.int64(cols)), shared_mem=threads * logits.itemsize)
        return loss, probs

    def softmax_xent_backward(self, probs, target, grad_rows):
        """ONE pass: ``(p − onehot(t)) · grad_rows[row]``."""
        t = self._int_target(target, probs.shape[0]) if probs.ndim == 2 else None
        if (t is None or not self._fusable(probs) or not isinstance(grad_rows, self.xp.ndarray)
                or grad_rows.ndim > 1):
            return super().softmax_xent_backward(probs, target, grad_rows)
        xp = self.xp
        rows, cols = probs.shape
        g = self._dense(xp.broadcast_to(grad_rows, (rows,)), probs.dtype)
        d = xp.empty_like(probs)
        grid, block = _grid_1d(probs.size)
        K.kernel("softmax_xent_backward")(probs.dtype)(grid, block, (
            probs, t, g, d, np.int64(probs.size), np.int64(cols)))
        return d

    # ----------------------------------------------------------------- optimizers
    def optimizer_kernel(self, name: str):
        """The fused update for ``name`` ("sgd", "adam", "adagrad", "rmsprop", "adadelta"): ONE elementwise
        kernel per parameter, with the signature of ``gpunet.optim._functional.<name>_update`` (which it calls
        for arrays the kernels do not handle). None for other names."""
        method = _OPTIMIZERS.get(name)
        return getattr(self, method) if method else None

    def _optim_ok(self, param, grad, *state) -> bool:
        return (self._fusable(param, *state) and isinstance(grad, self.xp.ndarray) and grad.shape == param.shape
                and grad.dtype == param.dtype and all(s.shape == param.shape for s in state if s is not None))

    def _launch_update(self, name: str, param, args) -> None:
        grid, block = _grid_1d(param.size)
        K.kernel(name)(param.dtype)(grid, block, args)

    def _sgd_update(self, xp, param, grad, momentum_buffer, lr: float, momentum: float, dampening: float,
                    weight_decay: float, nesterov: bool, maximize: bool, init_buffer: bool) -> None:
        has_m = momentum != 0
        if not self._optim_ok(param, grad, momentum_buffer if has_m else None):
            return _reference("sgd")(xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
                                     nesterov, maximize, init_buffer)
        T = param.dtype.type
        self._launch_update("sgd_update", param, (
            param, self._dense(grad, param.dtype), momentum_buffer if has_m else param, np.int64(param.size),
            T(lr), T(momentum), T(1 - dampening), T(weight_decay), np.int32(weight_decay != 0),
            np.int32(maximize), np.int32(has_m), np.int32(init_buffer), np.int32(dampening == 0),
            np.int32(nesterov)))

    def _adam_update(self, xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float,
                     beta1: float, beta2: float, eps: float, weight_decay: float, amsgrad: bool,
                     decoupled: bool, maximize: bool = False) -> None:
        if not self._optim_ok(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None):
            return _reference("adam")(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
                                      beta2, eps, weight_decay, amsgrad, decoupled, maximize)
        T = param.dtype.type
        w1 = 1 - beta1
        self._launch_update("adam_update", param, (
            param, self._dense(grad, param.dtype), exp_avg, exp_avg_sq,
            max_exp_avg_sq if amsgrad else exp_avg_sq, np.int64(param.size),
            np.int32(weight_decay != 0 and decoupled), T(1 - lr * weight_decay),
            np.int32(weight_decay != 0 and not decoupled), T(weight_decay), np.int32(maximize),
            T(w1), T(1 - w1), np.int32(abs(w1) < 0.5), T(beta2), T(1 - beta2), np.int32(amsgrad),
            T((1 - beta2 ** step) ** 0.5), T(eps), T(-(lr / (1 - beta1 ** step)))))

    def _adagrad_update(self, xp, param, grad, state_sum, step: int, lr: float, lr_decay: float,
                        weight_decay: float, eps: float, maximize: bool = False) -> None:
        if not self._optim_ok(param, grad, state_sum):
            return _reference("adagrad")(xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps,
                                         maximize)
        T = param.dtype.type
        self._launch_update("adagrad_update", param, (
            param, self._dense(grad, param.dtype), state_sum, np.int64(param.size), np.int32(weight_decay != 0),
            T(weight_decay), np.int32(maximize), T(eps), T(-(lr / (1 + (step - 1) * lr_decay)))))

    def _rmsprop_update(self, xp, param, grad, square_avg, grad_avg, momentum_buffer, lr: float, alpha: float,
                        eps: float, weight_decay: float, momentum: float, centered: bool,
                        maximize: bool = False) -> None:
        has_m = momentum > 0
        if not self._optim_ok(param, grad, square_avg, grad_avg if centered else None,
                              momentum_buffer if has_m else None):
            return _reference("rmsprop")(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
                                         weight_decay, momentum, centered, maximize)
        T = param.dtype.type
        w = 1 - alpha
        self._launch_update("rmsprop_update", param, (
            param, self._dense(grad, param.dtype), square_avg, grad_avg if centered else param,
            momentum_buffer if has_m else param, np.int64(param.size), np.int32(weight_decay != 0),
            T(weight_decay), np.int32(maximize), T(alpha), T(1 - alpha), np.int32(centered), T(w), T(1 - w),
            np.int32(abs(w) < 0.5), T(eps), np.int32(has_m), T(momentum), T(-lr)))

    def _adadelta_update(self, xp, param, grad, square_avg, acc_delta, lr: float, rho: float, eps: float,
                         weight_decay: float, maximize: bool = False) -> None:
        if not self._optim_ok(param, grad, square_avg, acc_delta):
            return _reference("adadelta")(xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay,
                                          maximize)
        T = param.dtype.type
        self._launch_update("adadelta_update", param, (
            param, self._dense(grad, param.dtype), square_avg, acc_delta, np.int64(param.size),
            np.int32(weight_decay != 0), T(weight_decay), np.int32(maximize), T(rho), T(1 - rho), T(eps),
            T(-lr)))


# Optimizer name -> the CupyBackend method that implements its fused update.
_OPTIMIZERS = {"sgd": "_sgd_update", "adam": "_adam_update", "adagrad": "_adagrad_update",
               "rmsprop": "_rmsprop_update", "adadelta": "_adadelta_update"}


def _reference(name: str):
    """The xp-generic update ``gpunet.optim._functional.<name>_update`` (imported late: optim needs backend)."""
    from ..optim import _functional

    return getattr(_functional, f"{name}_update")

"""GPU backend: CuPy. Imported only after :func:`gpunet.backend.cupy_status` found a usable device.

The fused ops of :class:`~gpunet.backend.base.Backend` are overridden with the CUDA kernels of ``kernels/*.cu``
(loaded by :mod:`._kernels`): cuBLAS for the GEMMs, then one kernel per pass; batch norm is the mixin of
:mod:`._cupy_batchnorm`, launch geometry in :mod:`._cuda_launch`. A dtype guard sends anything that is not
float32/float64, one dtype and non-empty, or not C-contiguous where a kernel indexes it (a GEMM operand may have
any layout), to the reference (the base class). The ``saved`` objects have the reference's layout (bool mask,
output, pre-activation; ``(x_hat, invstd)``), so either path can run the backward of the other.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import _kernels as K
from ._cuda_launch import _MAX_GRID_X, _grid_1d, _grid_columns, column_totals, finish_totals
from ._cupy_attn import CupyAttn
from ._cupy_batchnorm import CupyBatchNorm
from ._cupy_conv import CupyConv
from ._cupy_loss import CupyLoss
from ._cupy_norm import CupyNorm
from ._cupy_pool import CupyPool
from ._cupy_rnn import CupyRnn
from ._deferred import DeferredChecks
from .base import Backend

_SAVES_Z = ("gelu", "gelu_tanh", "silu")
_SAVES_MASK = ("relu", "leaky_relu")
_SAVES_Y = ("sigmoid", "tanh")


def _row_block(cols: int) -> int:
    """Threads per block of the one-block-per-row softmax: a power of two in [32, 512]."""
    return min(512, max(32, 1 << max(cols - 1, 0).bit_length()))


class CupyBackend(CupyConv, CupyPool, CupyNorm, CupyRnn, CupyAttn, CupyBatchNorm, CupyLoss, Backend):
    name = "cupy"
    syncs_are_costly = True
    deferred_note = (" (Checked on the GPU and reported at the first host read after the call; set "
                     "GPUNET_SYNC_CHECKS=1 to have it raised in the call itself.)")

    def __init__(self, cupy):
        super().__init__(cupy)
        self.device = f"cuda:{cupy.cuda.Device().id}"
        self._placeholders = {}
        self._skip_flag = None  # set by skip_updates_if
        xp = cupy
        self._checks = DeferredChecks(lambda a: a.get(),
                                      lambda vs: xp.stack([xp.asarray(v, dtype=xp.int64).reshape(()) for v in vs]))

    def asarray(self, data, dtype=None):
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        self._checks.flush()  # a host read waits anyway: the pending device-side checks come with it
        if isinstance(a, self.xp.ndarray):
            return a.get()
        return np.asarray(a)

    def synchronize(self) -> None:
        self._checks.flush()
        self.xp.cuda.get_current_stream().synchronize()

    # ----------------------------------------------------------------- input checks, on the device
    def check_labels(self, target, n_classes: int, ignore_index, report) -> bool:
        """ONE kernel finds the first bad label into a device slot; read at the next host read (no sync)."""
        xp = self.xp
        t = target.reshape(-1)
        n = t.size
        if n == 0:
            return False
        if t.dtype != np.int64 or not t.flags.c_contiguous:
            t = xp.ascontiguousarray(t, dtype=xp.int64)
        slot = xp.full(1, n, dtype=xp.int64)  # n: no bad label
        grid, block = _grid_1d(n)
        K.kernel("label_check")(np.float32)(grid, block, (
            t, np.int64(n), np.int64(n_classes), np.int64(0 if ignore_index is None else ignore_index),
            np.int32(ignore_index is not None), slot))
        self._checks.add(slot, lambda v: v < n, report)
        return ignore_index is not None  # unknown without a read: the caller masks

    def check_later(self, bad, report) -> None:
        self._checks.add(bad, bool, lambda v: report())

    def flush_checks(self) -> None:
        self._checks.flush()

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

    def randint(self, low, high, shape):
        return self.rng().randint(low, high, size=shape, dtype=np.int64)

    # ----------------------------------------------------------------- dtype guard
    def _fusable(self, *arrays, strided=()) -> bool:
        """True when every non-None argument is a non-empty C-contiguous device array of one float32/float64
        dtype: what the kernels handle. Arrays in ``strided`` (those that only reach cuBLAS through
        ``xp.matmul``, which takes any strides: a transposed or tied weight) may have any layout."""
        dt = None
        n_dense = len(arrays)
        for i, a in enumerate(arrays + tuple(strided)):
            if a is None:
                continue
            if not isinstance(a, self.xp.ndarray) or a.size == 0 or (i < n_dense and not a.flags.c_contiguous):
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
        """GEMM ``z = x Wᵀ`` (cuBLAS; x and W in any layout), then ONE pass: ``z += b``, ``y = act(z)``,
        mask/keep for backward (none for identity without bias: z is y)."""
        if x.ndim != 2 or W.ndim != 2 or act not in K.ACT_CODES or not self._fusable(b, strided=(x, W)):
            return super().linear_act_forward(x, W, b, act, alpha)
        xp = self.xp
        z = xp.matmul(x, W.T)
        rows, cols = z.shape
        if z.size == 0:
            return super().linear_act_forward(x, W, b, act, alpha)
        if act == "identity" and b is None:
            return z, None
        z = self._dense(z, z.dtype)  # what cuBLAS returns already is: no copy
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
        """ONE pass: ``dz = dy ⊙ act'`` and ``db = Σ_rows dz`` (block partials + atomicAdd, or a fixed-order
        second pass in deterministic mode: :func:`._cuda_launch.column_totals`); then cuBLAS ``dx = dz W`` and
        ``dW = dzᵀ x``. dz is written over the gradient when it is ours: ``overwrite_grad``, or the dense copy
        made here. No launch at all when nothing is to be computed (identity without db, or no gradient wanted)."""
        if (x.ndim != 2 or grad_y.ndim != 2 or act not in K.ACT_CODES or not self._fusable(strided=(x, W))
                or not isinstance(grad_y, self.xp.ndarray) or grad_y.dtype != x.dtype or grad_y.size == 0
                or not self._linear_saved_ok(saved, act, grad_y.shape, x.dtype)):
            return super().linear_act_backward(x, W, saved, grad_y, act, alpha, need_x, need_W, need_b)
        xp = self.xp
        g = self._dense(grad_y, x.dtype)
        rows, cols = g.shape
        write_dz = act != "identity" and (need_x or need_W)
        own = overwrite_grad or (g is not grad_y and g.base is None)  # the kernel reads dy[i], then writes dz[i]
        dz = xp.empty_like(g) if write_dz and not own else g
        db = None
        if write_dz or need_b:
            s = None if saved is None or act == "identity" else xp.ascontiguousarray(saved)
            is_mask = s is not None and s.dtype == np.bool_
            grid, block = _grid_columns(rows, cols)
            db, db_dst, ld = column_totals(xp, grid, cols, g.dtype) if need_b else (None, g, 0)
            K.kernel("act_backward_bias_grad")(g.dtype)(grid, block, (
                g, g if s is None or is_mask else s, s if is_mask else self._unused(np.bool_), dz,
                db_dst, np.int64(rows), np.int64(cols),
                np.int32(K.ACT_CODES[act]), g.dtype.type(alpha), np.int32(write_dz), np.int32(need_b),
                np.int64(ld)), shared_mem=block[0] * block[1] * g.itemsize)
            if need_b:
                finish_totals(db, db_dst)
        dx = xp.matmul(dz, W) if need_x else None
        dW = xp.matmul(dz.T, x) if need_W else None
        return dx, dW, db

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
        skip = self._skip_flag if self._skip_flag is not None else self._unused(np.int32)  # zeros: no skip
        K.kernel(name)(param.dtype)(grid, block, args + (skip,))

    @contextlib.contextmanager
    def skip_updates_if(self, flag):
        """Optimizer updates inside are no-ops on the device where the int32 device array ``flag`` (one
        element) is non-zero: ``fit`` skips the step of a non-finite loss without reading the loss back. An
        update that cannot run as a kernel (another dtype) reads the flag (a sync) and skips on the host."""
        prev, self._skip_flag = self._skip_flag, flag
        try:
            yield
        finally:
            self._skip_flag = prev

    def _reference(self, name: str, *args) -> None:
        if self._skip_flag is not None and int(self._skip_flag.get()[0]):
            return None
        return _reference(name)(*args)

    def _sgd_update(self, xp, param, grad, momentum_buffer, lr: float, momentum: float, dampening: float,
                    weight_decay: float, nesterov: bool, maximize: bool, init_buffer: bool) -> None:
        has_m = momentum != 0
        if not self._optim_ok(param, grad, momentum_buffer if has_m else None):
            return self._reference("sgd", xp, param, grad, momentum_buffer, lr, momentum, dampening, weight_decay,
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
            return self._reference("adam", xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr, beta1,
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
            return self._reference("adagrad", xp, param, grad, state_sum, step, lr, lr_decay, weight_decay, eps,
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
            return self._reference("rmsprop", xp, param, grad, square_avg, grad_avg, momentum_buffer, lr, alpha, eps,
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
            return self._reference("adadelta", xp, param, grad, square_avg, acc_delta, lr, rho, eps, weight_decay,
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

"""The Backend object: an array module (``xp``), a device name, and the reference fused ops.

Every fused op here is written against ``self.xp`` alone. It is the reference implementation that the CPU and
GPU specialisations (``numpy_backend.py``, ``cupy_backend.py``) must match, and the fallback they call for dtypes
or shapes they do not handle.
"""
from __future__ import annotations

import numpy as np

from ._attn_ops import AttnOps
from ._conv_ops import ConvOps
from ._loss_ops import LossOps
from ._norm_ops import NormOps
from ._pool_ops import PoolOps
from ._rnn_ops import RnnOps


class Backend(ConvOps, PoolOps, NormOps, RnnOps, AttnOps, LossOps):
    """One array library on one device.

    Attributes:
        name: ``"numpy"`` or ``"cupy"``.
        xp: the array module (``numpy`` or ``cupy``).
        device: ``"cpu"`` or ``"cuda:N"``.
    """

    name: str = "base"
    device: str = "cpu"

    def __init__(self, xp):
        self.xp = xp
        self._rng = None
        self._seed = None

    def __repr__(self) -> str:
        return f"Backend(name={self.name!r}, device={self.device!r})"

    # ----------------------------------------------------------------- arrays and transfers
    def is_array(self, a) -> bool:
        return isinstance(a, self.xp.ndarray)

    def asarray(self, data, dtype=None):
        """``data`` (host or device array, scalar, list) as an array of this backend, no copy when possible."""
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        """A NumPy array with the contents of ``a``."""
        return np.asarray(a)

    def synchronize(self) -> None:
        """Wait for queued device work (no-op on the CPU)."""

    def scatter_add(self, target, index, values) -> None:
        """``target[index] += values`` with repeated indices accumulated (unbuffered)."""
        self.xp.add.at(target, index, values)

    # ----------------------------------------------------------------- random numbers
    def seed(self, seed: int) -> None:
        self._seed = int(seed)
        self._rng = None

    def rng(self):
        raise NotImplementedError

    def rand(self, shape, dtype):
        """U[0, 1) samples. The generators draw float32/float64 only (CuPy's refuses float16): other dtypes are
        drawn in float32 and cast, and kept below 1 (rounding to float16 could reach it)."""
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return self._uniform(shape, dt)
        u = self._uniform(shape, np.dtype(np.float32)).astype(dt)
        return self.xp.minimum(u, np.nextafter(dt.type(1), dt.type(0)))

    def randn(self, shape, dtype):
        """Standard normal samples (float16 and other dtypes drawn in float32 and cast)."""
        dt = np.dtype(dtype)
        if dt in (np.float32, np.float64):
            return self._normal(shape, dt)
        return self._normal(shape, np.dtype(np.float32)).astype(dt)

    def randint(self, low: int, high: int, shape):
        """Integers drawn uniformly from [low, high), int64."""
        raise NotImplementedError

    def randperm(self, n: int):
        """A random permutation of 0 … n−1, int64 (NumPy's and CuPy's generators both have ``permutation``)."""
        return self.rng().permutation(n).astype(np.int64, copy=False)

    def _uniform(self, shape, dtype):  # float32 or float64 only
        raise NotImplementedError

    def _normal(self, shape, dtype):
        raise NotImplementedError

    # ----------------------------------------------------------------- fused ops: reference versions
    # Activations the fused linear op understands. Each entry: forward on the pre-activation z (in place allowed),
    # and the derivative written from what forward kept (``saved``).
    FUSED_ACTIVATIONS = ("identity", "relu", "leaky_relu", "sigmoid", "tanh", "gelu", "gelu_tanh", "silu")

    def matmul(self, a, b, out=None):
        """``a @ b`` (NumPy's ``matmul`` rules), into ``out`` when given: every matrix product of the ops goes
        through here, so a backend can run it its own way (the NumPy backend's threads)."""
        if out is None:
            return self.xp.matmul(a, b)
        self.xp.matmul(a, b, out=out)
        return out

    def activation_forward(self, act: str, x, alpha: float = 0.01):
        """``(y, saved)`` of activation ``act`` (a name of :mod:`gpunet.functional._act_math`) on a fresh ``x``."""
        from ..functional import _act_math as am

        return am.forward(self.xp, act, x, alpha)

    def activation_backward(self, act: str, saved, g, alpha: float = 0.01):
        """dL/dx of :meth:`activation_forward` from what it saved."""
        from ..functional import _act_math as am

        return am.backward(self.xp, act, saved, g, alpha)

    def linear_act_forward(self, x, W, b, act: str, alpha: float = 0.01):
        """``y = act(x @ W.T + b)``. Returns ``(y, saved)`` where ``saved`` is what backward needs."""
        from ..functional import _act_math as am

        z = self.matmul(x, W.T)
        if b is not None:
            z = z + b
        y, saved = am.forward(self.xp, act, z, alpha)
        return y, saved

    def linear_act_backward(self, x, W, saved, grad_y, act: str, alpha: float = 0.01,
                            need_x: bool = True, need_W: bool = True, need_b: bool = True,
                            overwrite_grad: bool = False):
        """Gradients ``(dx, dW, db)`` of :meth:`linear_act_forward` (``None`` where not needed); ``dx`` is a
        fresh array. ``overwrite_grad``: ``grad_y`` is the caller's scratch, and a backend may write the
        activation gradient into it instead of a new array (this reference does not)."""
        from ..functional import _act_math as am

        dz = am.backward(self.xp, act, saved, grad_y, alpha)
        dx = self.matmul(dz, W) if need_x else None
        dW = self.matmul(dz.T, x) if need_W else None
        db = dz.sum(axis=0) if need_b else None
        return dx, dW, db

    def linear_chain_forward(self, x, params, acts, alphas, keep: bool = True):
        """Consecutive :meth:`linear_act_forward` layers: ``params`` is ``(W_1, b_1, …, W_k, b_k)`` (a bias may be
        None), ``acts``/``alphas`` each layer's activation and slope; shapes already checked. Returns
        ``(y, saved)``, ``saved`` being what :meth:`linear_chain_backward` needs (None unless ``keep``)."""
        saved = [] if keep else None
        h = x
        for i, act in enumerate(acts):
            W = params[2 * i]
            y, s = self.linear_act_forward(h, W, params[2 * i + 1], act, alphas[i])
            if keep:
                saved.append((h, W, s))
            h = y
        return h, saved

    def linear_chain_backward(self, saved, grad_y, acts, alphas, needs):
        """Gradients of :meth:`linear_chain_forward` for ``(x, W_1, b_1, …)``, a list with None where
        ``needs`` (one flag per input) says no. A layer's input gets a gradient only where something before it
        needs one, so a frozen bottom runs no backward at all."""
        grads = [None] * len(needs)
        g = grad_y
        top = len(acts) - 1
        for i in range(top, -1, -1):
            h, W, s = saved[i]
            need_x = True in needs[: 2 * i + 1]  # the input or an earlier layer's parameters
            # below the top layer, g is the dx the layer above just made: this op's own scratch
            g, grads[2 * i + 1], grads[2 * i + 2] = self.linear_act_backward(
                h, W, s, g, acts[i], alphas[i], need_x=need_x, need_W=needs[2 * i + 1], need_b=needs[2 * i + 2],
                overwrite_grad=i < top)
            if g is None:
                break
        grads[0] = g
        return grads

    def batchnorm_forward(self, x, gamma, beta, running_mean, running_var, training: bool,
                          momentum: float, eps: float):
        """Batch norm over axis 0 of a 2-D ``x`` (N, C). Returns ``(y, saved)``.

        In training the batch mean and the biased variance normalise, and the running statistics are updated in
        place with the unbiased variance (as PyTorch). The variance is computed around the mean (two passes in
        this reference), never as E[x²] − E[x]².
        """
        xp = self.xp
        if training:
            n = x.shape[0]
            mean = x.mean(axis=0)
            xc = x - mean
            var = (xc * xc).mean(axis=0)
            if running_mean is not None:
                running_mean *= 1 - momentum
                running_mean += momentum * mean.astype(running_mean.dtype)
                unbiased = var * (n / max(n - 1, 1))
                running_var *= 1 - momentum
                running_var += momentum * unbiased.astype(running_var.dtype)
        else:
            mean = running_mean.astype(x.dtype, copy=False)
            var = running_var.astype(x.dtype, copy=False)
            xc = x - mean
        invstd = 1.0 / xp.sqrt(var + eps)
        xhat = xc * invstd
        y = xhat * gamma + beta if gamma is not None else xhat
        return y, (xhat, invstd)

    def batchnorm_backward(self, saved, gamma, grad_y, training: bool,
                           need_x: bool = True, need_affine: bool = True):
        """Gradients ``(dx, dgamma, dbeta)`` of :meth:`batchnorm_forward`."""
        xhat, invstd = saved
        n = grad_y.shape[0]
        dbeta = grad_y.sum(axis=0)
        dgamma = (grad_y * xhat).sum(axis=0)
        dx = None
        if need_x:
            g = invstd * gamma if gamma is not None else invstd
            if training:
                dx = (g / n) * (n * grad_y - dbeta - xhat * dgamma)
            else:
                dx = grad_y * g
        if not need_affine or gamma is None:
            dgamma = dbeta = None
        return dx, dgamma, dbeta

    def softmax_xent_forward(self, logits, target):
        """Per-row cross-entropy of 2-D ``logits`` (N, C) against integer class indices ``target`` (N,).

        Returns ``(loss_rows, probs)``: ``loss_rows[i] = logsumexp(logits[i]) − logits[i, target[i]]`` (stable
        for logits of any size) and the softmax ``probs`` that backward needs.
        """
        xp = self.xp
        m = logits.max(axis=1, keepdims=True)
        shifted = logits - m
        e = xp.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        rows = xp.arange(logits.shape[0])
        loss = xp.log(s[:, 0]) - shifted[rows, target]
        probs = e / s
        return loss, probs

    def softmax_xent_backward(self, probs, target, grad_rows):
        """dL/dlogits = (p − onehot(target)) · grad_rows[:, None] (the simple fused backward); ``grad_rows`` is
        (N,) or a scalar / 0-d array for every row."""
        xp = self.xp
        d = probs.copy()
        d[xp.arange(d.shape[0]), target] -= 1
        d *= xp.broadcast_to(grad_rows, (d.shape[0],))[:, None].astype(d.dtype, copy=False)
        return d

    # ----------------------------------------------------------------- input checks (deferred on the GPU)
    def check_labels(self, target, n_classes: int, ignore_index, report) -> bool:
        """Call ``report(flat)`` (which raises) for the first entry of the integer ``target`` outside
        [0, n_classes) that is not ``ignore_index``; return whether some entry may equal ``ignore_index``. Here
        (and on the CPU) at once; the GPU backend checks on the device and reports at the next host read
        (:mod:`._deferred`), so a training step needs no sync."""
        flat, ignored = self.label_summary(target, n_classes, ignore_index)
        if flat >= 0:
            report(flat)
        return ignored

    def check_later(self, bad, report) -> None:
        """``report()`` (which raises) when the boolean 0-d array ``bad`` is True: at once here, at the next host
        read on the GPU."""
        if bool(bad):
            report()

    def flush_checks(self) -> None:
        """Run the ``report`` of a failed device-side check still pending (none pend on the CPU)."""

    def label_summary(self, target, n_classes: int, ignore_index=None) -> tuple[int, bool]:
        """``(first, ignored)`` for integer class labels: the flat index of the first entry outside
        [0, n_classes) that is not ``ignore_index`` (−1 if none), and whether some entry equals ``ignore_index``
        (False when it is None)."""
        t = target.reshape(-1)
        if t.size == 0:
            return -1, False
        ignored = ignore_index is not None and bool((t == ignore_index).any())
        if 0 <= int(t.min()) and int(t.max()) < n_classes:  # two reductions, the common case
            return -1, ignored
        bad = (t < 0) | (t >= n_classes)
        if ignore_index is not None:
            bad &= t != ignore_index
        return (int(bad.argmax()) if bool(bad.any()) else -1), ignored

    # Whether optimizers should keep a small group's parameters, gradients and state in one flat buffer each
    # (views per parameter) so an update is a handful of calls for the whole group: pays where per-call overhead
    # dominates (the CPU), not where each call is one kernel launch anyway.
    flat_optimizer_max: int = 0

    # Whether reading a value back to the host waits for queued device work (the GPU): code that only needs to
    # know later keeps such checks on the device there (fit's finiteness guard, the deferred input checks).
    syncs_are_costly: bool = False
    # What an error raised by a deferred device-side check adds to its message (empty where checks run at once).
    deferred_note: str = ""

    def optimizer_kernel(self, name: str):
        """A fused in-place update for optimizer ``name`` ("sgd", "adam", ...), or None to use the generic
        ``xp`` update in :mod:`gpunet.optim`. Overridden by backends that have one (same signature)."""
        return None

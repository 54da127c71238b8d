"""The update rules, one function per optimizer family, written once against ``xp`` (NumPy or CuPy).

Every function updates ``param`` and its state arrays IN PLACE and returns nothing. Arrays may have any shape
(a parameter, or a flat buffer holding many), all of one dtype on one device; hyper-parameters are Python
numbers. ``grad`` is never written to. Temporaries are one or two scratch arrays per call, nothing else.

These are the reference implementations: a backend's fused kernel (``Backend.optimizer_kernel(name)``) has the
same signature and must give the same numbers. The formulas and their order of operations follow PyTorch 2.x's
single-tensor (``foreach=False``) implementations, so float64 trajectories agree with ``torch.optim`` to rounding.
"""
from __future__ import annotations

__all__ = ["sgd_update", "adam_update", "adagrad_update", "rmsprop_update", "adadelta_update"]


def _effective_grad(xp, param, grad, weight_decay: float, maximize: bool):
    """``g = (−grad if maximize else grad) + weight_decay·param`` and whether ``g`` is a fresh array (ours to
    overwrite). Without weight decay or maximize, ``grad`` itself comes back (no copy)."""
    if weight_decay != 0:
        g = xp.multiply(param, weight_decay)
        if maximize:
            g -= grad
        else:
            g += grad
        return g, True
    if maximize:
        return xp.negative(grad), True
    return grad, False


def _lerp_(xp, a, b, w: float, tmp) -> None:
    """``a ← a + w·(b − a)`` in place, evaluated as ``torch.lerp`` does (from the nearer end when ``w ≥ 0.5``)."""
    xp.subtract(b, a, out=tmp)
    if abs(w) < 0.5:
        tmp *= w
        a += tmp
    else:
        tmp *= 1 - w
        xp.subtract(b, tmp, out=a)


def _accumulate_square(xp, avg, g, decay: float, tmp) -> None:
    """``avg ← decay·avg + (1 − decay)·g²`` in place."""
    avg *= decay
    xp.multiply(g, 1 - decay, out=tmp)
    tmp *= g
    avg += tmp


def sgd_update(xp, param, grad, momentum_buffer, lr: float, momentum: float, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, init_buffer: bool) -> None:
    """SGD with optional momentum, dampening, Nesterov momentum and L2 weight decay (as ``torch.optim.SGD``).

    g = ±grad + λ·θ;  with momentum μ: b ← g on the first step (``init_buffer``), else b ← μ·b + (1 − τ)·g;
    g ← g + μ·b (Nesterov) or g ← b;  θ ← θ − lr·g.  ``momentum_buffer`` is None when μ = 0.
    """
    g, owned = _effective_grad(xp, param, grad, weight_decay, maximize)
    if momentum != 0:
        buf = momentum_buffer
        if init_buffer:
            xp.copyto(buf, g)
        else:
            buf *= momentum
            if dampening == 0:
                buf += g
            else:
                buf += (1 - dampening) * g
        if nesterov:
            t = xp.multiply(buf, momentum)
            t += g
            g, owned = t, True
        else:
            g, owned = buf, False
    if owned:
        g *= -lr
        param += g
    else:
        param -= lr * g


def adam_update(xp, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, decoupled: bool,
                maximize: bool = False) -> None:
    """Adam / AdamW (as ``torch.optim.Adam`` and ``AdamW``); ``step`` is the count after this update (1, 2, ...).

    decoupled (AdamW): θ ← θ·(1 − lr·λ), else g = ±grad + λ·θ;
    m ← β₁·m + (1 − β₁)·g;  v ← β₂·v + (1 − β₂)·g²;  amsgrad: v̂ ← max(v̂, v), used in place of v;
    θ ← θ − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε).  ``max_exp_avg_sq`` is None without amsgrad.
    """
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
        g, _ = _effective_grad(xp, param, grad, 0, maximize)
    else:
        g, _ = _effective_grad(xp, param, grad, weight_decay, maximize)
    tmp = xp.empty_like(param)
    _lerp_(xp, exp_avg, g, 1 - beta1, tmp)
    _accumulate_square(xp, exp_avg_sq, g, beta2, tmp)
    step_size = lr / (1 - beta1 ** step)
    bias_correction2_sqrt = (1 - beta2 ** step) ** 0.5
    v = exp_avg_sq
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
        v = max_exp_avg_sq
    xp.sqrt(v, out=tmp)
    tmp /= bias_correction2_sqrt
    tmp += eps
    xp.divide(exp_avg, tmp, out=tmp)
    tmp *= -step_size
    param += tmp


def adagrad_update(xp, param, grad, state_sum, step: int, lr: float, lr_decay: float, weight_decay: float,
                   eps: float, maximize: bool = False) -> None:
    """Adagrad (as ``torch.optim.Adagrad``); ``step`` is the count after this update (1, 2, ...).

    g = ±grad + λ·θ;  clr = lr / (1 + (t − 1)·lr_decay);  s ← s + g²;  θ ← θ − clr · g / (√s + ε).
    """
    g, _ = _effective_grad(xp, param, grad, weight_decay, maximize)
    clr = lr / (1 + (step - 1) * lr_decay)
    tmp = xp.multiply(g, g)
    state_sum += tmp
    xp.sqrt(state_sum, out=tmp)
    tmp += eps
    xp.divide(g, tmp, out=tmp)
    tmp *= -clr
    param += tmp


def rmsprop_update(xp, param, grad, square_avg, grad_avg, momentum_buffer, lr: float, alpha: float, eps: float,
                   weight_decay: float, momentum: float, centered: bool, maximize: bool = False) -> None:
    """RMSprop (as ``torch.optim.RMSprop``).

    g = ±grad + λ·θ;  v ← α·v + (1 − α)·g²;  centered: ḡ ← α·ḡ + (1 − α)·g and d = √(v − ḡ²) + ε, else
    d = √v + ε;  momentum μ > 0: b ← μ·b + g/d, θ ← θ − lr·b;  else θ ← θ − lr·g/d.
    ``grad_avg`` is None unless centered, ``momentum_buffer`` None unless μ > 0.
    """
    g, _ = _effective_grad(xp, param, grad, weight_decay, maximize)
    tmp = xp.empty_like(param)
    _accumulate_square(xp, square_avg, g, alpha, tmp)
    if centered:
        _lerp_(xp, grad_avg, g, 1 - alpha, tmp)
        xp.multiply(grad_avg, grad_avg, out=tmp)
        xp.subtract(square_avg, tmp, out=tmp)
        xp.sqrt(tmp, out=tmp)
    else:
        xp.sqrt(square_avg, out=tmp)
    tmp += eps
    xp.divide(g, tmp, out=tmp)
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += tmp
        xp.multiply(momentum_buffer, -lr, out=tmp)
    else:
        tmp *= -lr
    param += tmp


def adadelta_update(xp, param, grad, square_avg, acc_delta, lr: float, rho: float, eps: float,
                    weight_decay: float, maximize: bool = False) -> None:
    """Adadelta (as ``torch.optim.Adadelta``).

    g = ±grad + λ·θ;  v ← ρ·v + (1 − ρ)·g²;  Δ = √(u + ε) / √(v + ε) · g;  u ← ρ·u + (1 − ρ)·Δ²;  θ ← θ − lr·Δ.
    """
    g, _ = _effective_grad(xp, param, grad, weight_decay, maximize)
    tmp = xp.empty_like(param)
    _accumulate_square(xp, square_avg, g, rho, tmp)
    xp.add(square_avg, eps, out=tmp)
    xp.sqrt(tmp, out=tmp)                      # std
    delta = xp.add(acc_delta, eps)
    xp.sqrt(delta, out=delta)
    delta /= tmp
    delta *= g
    _accumulate_square(xp, acc_delta, delta, rho, tmp)
    delta *= -lr
    param += delta

"""Compiled CPU kernels of the fused softmax + cross-entropy (Numba), the GIL released, over row spans.

Forward, per row: the max, ``exp(l − max)`` written into the probabilities, their sum, the loss
``log Σ − (l[t] − max)`` and the scaling by 1/sum (within 1.5 ulp of the division): four short passes over a row
that stays in cache, each loop in its own small function (LLVM vectorises one loop per function reliably; see
:mod:`._cpu_rnn_kernels`). ``fast`` (float32) evaluates exp by :func:`exp32`, plain arithmetic that vectorises
(libm's expf is a scalar call per element); float64 calls libm. The max and the sum are the only reductions; both
run in SIMD lanes: the max through LLVM's maxnum, the sum with ``fastmath`` reassoc/nsz (no other flag). A max
taken in any order is the same number, and a sum over lanes rounds no worse than one running total. Backward: one
pass per row. Imported only through :func:`gpunet.backend._numba.kernels` (Numba present and not turned off).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from ._cpu_kernels import CACHE, _inline, _jit

# Only the sum may be reordered: reassociation elsewhere would undo exp32's rounding and range reduction. The exp
# loop may contract a·b + c into one fused multiply-add (exact product, one rounding: as accurate or more, and a
# quarter faster here).
_contract = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False, fastmath={"contract"})
_reduce = njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False, fastmath={"reassoc", "nsz"})


@intrinsic
def _pow2(typingctx, k):
    """2^k for an integer-valued float k within the normal exponents (float32: [−126, 127]), built from its
    exponent bits: a float-to-int conversion, a shift and a register move, which vectorise. (float64 too, so
    that the float32-only branches of the kernels type for float64 arrays.)"""
    if k not in (types.float32, types.float64):
        return None
    bits, mant, bias = (32, 23, 127) if k == types.float32 else (64, 52, 1023)

    def codegen(context, builder, signature, args):
        it = ir.IntType(bits)
        e = builder.add(builder.fptosi(args[0], it), ir.Constant(it, bias))
        return builder.bitcast(builder.shl(e, ir.Constant(it, mant)), args[0].type)
    return k(k), codegen


@intrinsic
def _maxnum(typingctx, a, b):
    """LLVM's maxnum (the larger, NaN ignored): unlike ``a if a > b else b``, a loop reducing with it vectorises
    without fast-math flags. A NaN still reaches the loss and the probabilities through its exp."""
    if a != b or a not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        t = args[0].type
        return builder.call(builder.module.declare_intrinsic("llvm.maxnum", [t], ir.FunctionType(t, [t, t])), args)
    return a(a, a), codegen


# exp(x) = 2^k · exp(r), k = round(x / ln 2), r = x − k·ln 2 in two parts (LN2_HI has 9 significant bits, so
# k·LN2_HI is exact for |k| ≤ 2^15), exp(r) on |r| ≤ ln 2 / 2 by a degree-7 polynomial (Cephes' expf
# coefficients), 2^k applied as 2^k1 · 2^k2 with k1 = ⌊k/2⌋ so that both factors are normal numbers and a
# result in the denormal range rounds once. x is clamped to [−104, 89]: below, the result rounds to 0 (e^−104 is
# under half the smallest denormal 2^−149), above, to +inf; NaN passes the clamps and the arithmetic as NaN.
_HI, _LO, _KLO = np.float32(89.0), np.float32(-104.0), np.float32(-150.0)
_LOG2E, _MAGIC = np.float32(1.44269504088896341), np.float32(12582912.0)  # 1.5 · 2^23 rounds to an integer
_LN2_HI, _LN2_LO = np.float32(0.693359375), np.float32(-2.12194440e-4)
_P = tuple(np.float32(v) for v in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2,
                                   1.6666665459e-1, 5.0000001201e-1))
P0, P1, P2, P3, P4, P5 = _P
_ONE, _HALF = np.float32(1.0), np.float32(0.5)


@_inline
def exp32(x):
    """e^x in float32, within 2 ulp over the whole range (denormal results included; tests check every float32
    exponent), +inf above 88.72, 0 below −103.98 and for −inf, NaN for NaN."""
    if x > _HI:  # noqa: PLR1730 (a NaN must pass both clamps)
        x = _HI
    if x < _LO:  # noqa: PLR1730
        x = _LO
    kf = (x * _LOG2E + _MAGIC) - _MAGIC
    if not kf >= _KLO:  # NaN: any k will do (the result is NaN), but the int conversion below must not see it
        kf = _KLO
    r = x - kf * _LN2_HI
    r = r - kf * _LN2_LO
    p = r * P0 + P1
    p = r * p + P2
    p = r * p + P3
    p = r * p + P4
    p = r * p + P5
    y = p * (r * r) + r + _ONE
    k1 = np.floor(kf * _HALF)
    return y * _pow2(k1) * _pow2(kf - k1)


@_contract
def exp32_array(x, out):
    """out = :func:`exp32` (x), elementwise over 1-D float32 arrays, compiled as the softmax's exp loop is (tests
    check the function through it)."""
    for j in range(x.shape[0]):
        out[j] = exp32(x[j])


@_jit
def _row_max(a):
    m = a[0]
    for j in range(1, a.shape[0]):
        m = _maxnum(m, a[j])
    return m


@_reduce
def _row_sum(a):
    s = a.dtype.type(0)
    for j in range(a.shape[0]):
        s += a[j]
    return s


@_contract
def _exp_row(a, m, out, fast):
    if fast:
        for j in range(a.shape[0]):
            out[j] = exp32(a[j] - m)
    else:
        for j in range(a.shape[0]):
            out[j] = np.exp(a[j] - m)


@_jit
def _scale_row(a, s):
    for j in range(a.shape[0]):
        a[j] = a[j] * s


@_jit
def softmax_xent(logits, target, loss, probs, r0, r1, fast):
    """Rows [r0, r1): loss[i] = log Σ exp(l − max) − (l[t] − max); probs = softmax(l). Returns the first row
    whose target is outside [0, C), or −1 (the caller raises; rows from it on are not written). A NaN in a row
    makes its loss and probabilities NaN (through its exp), a +inf too (inf − inf), as the reference."""
    c = logits.shape[1]
    for i in range(r0, r1):
        t = target[i]
        if t < 0 or t >= c:
            return i
        lr, pr = logits[i], probs[i]
        m = _row_max(lr)
        _exp_row(lr, m, pr, fast)
        s = _row_sum(pr)
        loss[i] = np.log(s) - (lr[t] - m)
        _scale_row(pr, lr.dtype.type(1) / s)
    return -1


@_jit
def softmax_xent_grad(probs, target, grad_rows, stride, d, r0, r1):
    """Rows [r0, r1): d = (probs − onehot(target)) · grad_rows[i · stride] (stride 0: one value for all rows)."""
    one = probs.dtype.type(1)
    for i in range(r0, r1):
        w = grad_rows[i * stride]
        pr, dr = probs[i], d[i]
        for j in range(pr.shape[0]):
            dr[j] = pr[j] * w
        t = target[i]
        dr[t] = (pr[t] - one) * w

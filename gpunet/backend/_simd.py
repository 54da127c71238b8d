"""Eight-lane float32 vectors inside Numba kernels: a Numba type lowered to LLVM's ``<8 x float>`` and the few
operations the direct convolutions (:mod:`._cpu_direct_conv`) need, as ``numba.extending.intrinsic`` functions.

Numba leaves the vectorising of such kernels to LLVM, which gives up on loops with many streams (it cannot prove
that arrays do not overlap) and keeps register-blocked straight-line code scalar (its SLP vectoriser is off in
Numba). These intrinsics write the vector code out instead: a kernel holds its accumulators in ``f32x8`` locals,
which LLVM keeps in registers, and each ``vfma`` is one fused multiply-add of eight lanes (``llvm.fma.v8f32``:
one AVX2 instruction; LLVM splits it on machines with narrower vectors, so the results are the same everywhere).
Loads and stores take a flat float32 array and an element index, with no bounds check and no negative-index
wraparound: every access must be inside the array. ``vload_n`` / ``vstore_n`` touch only the first ``n`` lanes
(``llvm.masked.load`` / ``llvm.masked.store``: one ``vmaskmovps`` on AVX2), for the tail of a row that does not
fill a whole vector.
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic, models, register_model

_V8 = ir.VectorType(ir.FloatType(), 8)
_I32 = ir.IntType(32)
_I32x8 = ir.VectorType(_I32, 8)
_SPLAT = ir.Constant(_I32x8, [0] * 8)
_LANES = ir.Constant(_I32x8, list(range(8)))
_ZERO = ir.Constant(_V8, [0.0] * 8)


class F32x8(types.Type):
    """Eight float32 lanes."""

    def __init__(self):
        super().__init__(name="f32x8")


f32x8 = F32x8()


@register_model(F32x8)
class _F32x8Model(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, _V8)


def _address(context, builder, aryty, ary, idx):
    data = context.make_array(aryty)(context, builder, ary).data
    return builder.gep(data, [idx])


def _splat(builder, x):
    v = builder.insert_element(ir.Constant(_V8, ir.Undefined), x, ir.Constant(ir.IntType(32), 0))
    return builder.shuffle_vector(v, ir.Constant(_V8, ir.Undefined), _SPLAT)


@intrinsic
def vload(typingctx, arr, i):
    """arr[i : i + 8]."""
    def codegen(context, builder, sig, args):
        p = builder.bitcast(_address(context, builder, sig.args[0], *args), _V8.as_pointer())
        return builder.load(p, align=4)
    return f32x8(arr, i), codegen


@intrinsic
def vstore(typingctx, arr, i, v):
    """arr[i : i + 8] = v."""
    def codegen(context, builder, sig, args):
        p = builder.bitcast(_address(context, builder, sig.args[0], args[0], args[1]), _V8.as_pointer())
        builder.store(args[2], p, align=4)
        return context.get_dummy_value()
    return types.none(arr, i, v), codegen


def _first_lanes(builder, n):
    """<8 x i1>: lane k is on where k < n."""
    n = builder.trunc(n, _I32) if n.type.width > 32 else n
    v = builder.insert_element(ir.Constant(_I32x8, ir.Undefined), n, ir.Constant(_I32, 0))
    return builder.icmp_signed("<", _LANES, builder.shuffle_vector(v, ir.Constant(_I32x8, ir.Undefined), _SPLAT))


@intrinsic
def vload_n(typingctx, arr, i, n):
    """arr[i : i + n] in the first n lanes (0 <= n <= 8), zeros in the others; nothing past them is read."""
    def codegen(context, builder, sig, args):
        p = builder.bitcast(_address(context, builder, sig.args[0], args[0], args[1]), _V8.as_pointer())
        mask = _first_lanes(builder, args[2])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(_V8, [_V8.as_pointer(), _I32, mask.type, _V8]), "llvm.masked.load.v8f32.p0")
        return builder.call(fn, [p, ir.Constant(_I32, 4), mask, _ZERO])
    return f32x8(arr, i, n), codegen


@intrinsic
def vstore_n(typingctx, arr, i, n, v):
    """arr[i : i + n] = the first n lanes of v (0 <= n <= 8); nothing past them is written."""
    def codegen(context, builder, sig, args):
        p = builder.bitcast(_address(context, builder, sig.args[0], args[0], args[1]), _V8.as_pointer())
        mask = _first_lanes(builder, args[2])
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [_V8, _V8.as_pointer(), _I32, mask.type]),
            "llvm.masked.store.v8f32.p0")
        builder.call(fn, [args[3], p, ir.Constant(_I32, 4), mask])
        return context.get_dummy_value()
    return types.none(arr, i, n, v), codegen


@intrinsic
def vbload(typingctx, arr, i):
    """arr[i] in every lane."""
    def codegen(context, builder, sig, args):
        return _splat(builder, builder.load(_address(context, builder, sig.args[0], *args), align=4))
    return f32x8(arr, i), codegen


@intrinsic
def vzero(typingctx):
    """Zeros."""
    def codegen(context, builder, sig, args):
        return _ZERO
    return f32x8(), codegen


@intrinsic
def vfma(typingctx, a, b, c):
    """a · b + c, lane by lane, rounded once."""
    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V8, [_V8] * 3), "llvm.fma.v8f32")
        return builder.call(fn, args)
    return f32x8(a, b, c), codegen


@intrinsic
def vadd(typingctx, a, b):
    """a + b, lane by lane."""
    def codegen(context, builder, sig, args):
        return builder.fadd(args[0], args[1])
    return f32x8(a, b), codegen


@intrinsic
def vhsum(typingctx, a):
    """The sum of the eight lanes (as a float32: pairs, then pairs of pairs)."""
    def codegen(context, builder, sig, args):
        v = args[0]
        for half in (4, 2, 1):
            hi = builder.shuffle_vector(v, ir.Constant(_V8, ir.Undefined),
                                        ir.Constant(_I32x8, [k + half if k < half else 0 for k in range(8)]))
            v = builder.fadd(v, hi)
        return builder.extract_element(v, ir.Constant(_I32, 0))
    return types.float32(a), codegen


@intrinsic
def vrelu(typingctx, a):
    """max(a, 0) lane by lane with NaN kept (the select takes a where ``a < 0`` is False), as ``F.relu``."""
    def codegen(context, builder, sig, args):
        neg = builder.fcmp_ordered("<", args[0], _ZERO)
        return builder.select(neg, _ZERO, args[0])
    return f32x8(a), codegen


@intrinsic
def vwhere_pos(typingctx, m, a):
    """a where m > 0, else 0, lane by lane (the gradient through a ReLU of output m: NaN in m gives 0, as
    PyTorch's)."""
    def codegen(context, builder, sig, args):
        return builder.select(builder.fcmp_ordered(">", args[0], _ZERO), args[1], _ZERO)
    return f32x8(m, a), codegen

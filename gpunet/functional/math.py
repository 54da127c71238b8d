"""Elementary differentiable ops, re-exported from their families (one import for the Tensor operators).

:mod:`.elementwise` (arithmetic, elementary functions), :mod:`.reduction` (sum, mean, max/min),
:mod:`.shape` (reshape, transpose, indexing, joining, device and dtype moves) and :mod:`.linalg` (matmul).
"""
from .elementwise import (Abs, Add, Clip, Div, Exp, FloorDivide, Log, Mul, NanToNum, Neg, Pow,  # noqa: F401
                          Remainder, Sqrt, Sub, Where, abs, add, clamp, clip, div, exp, floor_divide, log, mul,
                          nan_to_num, neg, pow, remainder, sqrt, sub, where)
from .linalg import Einsum, MatMul, bmm, einsum, matmul, mm, outer  # noqa: F401
from .reduction_more import argsort, cumprod, cumsum, logsumexp, prod, sort, std, topk, var  # noqa: F401
from .unary import (ceil, clamp_max, clamp_min, clamp_tensor, cos, expm1, floor, log1p, maximum,  # noqa: F401
                    minimum, reciprocal, round, rsqrt, sign, sin, square, trunc)
from .reduction import Mean, Sum, amax, amin, max, mean, min, return_types, sum  # noqa: F401
from .shape import (Cast, Clone, Concatenate, Expand, GetItem, Reshape, SetItem, Stack, ToDevice,  # noqa: F401
                    Transpose, cast, cat, clone, concatenate, expand, getitem, index_of, reshape, stack, to_device,
                    transpose)
from .indexing import gather, index_select, masked_fill, masked_select, scatter, scatter_add  # noqa: F401
from .rearrange import chunk, flip, repeat, repeat_interleave, roll, split, tril, triu, unbind  # noqa: F401

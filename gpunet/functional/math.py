"""Elementary differentiable ops, re-exported from their families (one import for the Tensor operators).

:mod:`.elementwise` (arithmetic, elementary functions), :mod:`.reduction` (sum, mean, max/min),
:mod:`.shape` (reshape, transpose, indexing, joining, device and dtype moves) and :mod:`.linalg` (matmul).
"""
from .elementwise import (Abs, Add, Clip, Div, Exp, Log, Mul, Neg, Pow, Sqrt, Sub, Where, abs, add, clamp,  # noqa: F401
                          clip, div, exp, log, mul, neg, pow, sqrt, sub, where)
from .linalg import MatMul, matmul  # noqa: F401
from .reduction import Mean, Sum, amax, amin, max, mean, min, return_types, sum  # noqa: F401
from .shape import (Cast, Clone, Concatenate, GetItem, Reshape, SetItem, Stack, ToDevice, Transpose,  # noqa: F401
                    cast, cat, clone, concatenate, getitem, index_of, reshape, stack, to_device, transpose)

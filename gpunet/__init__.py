"""gpunet: neural networks on NumPy (CPU) or CuPy (NVIDIA GPU) with the same code."""
from . import backend
from ._version import __version__
from .autograd import (Function, Tensor, arange, as_tensor, enable_grad, full, get_default_dtype,
                       is_grad_enabled, no_grad, ones, ones_like, rand, randn, set_default_dtype, tensor, zeros,
                       zeros_like)
from .autograd import inference_mode, is_inference_mode_enabled, set_grad_enabled
from .backend import (are_deterministic_algorithms_enabled, available, manual_seed, use,
                      use_deterministic_algorithms)
from .functional.math import (abs, amax, amin, cat, clamp, clip, concatenate, exp, log, matmul, max, mean, min,
                              reshape, return_types, sqrt, stack, sum, transpose, where)
from .autograd._tensor_convert import Size
from .autograd.creation import (empty, empty_like, eye, from_numpy, full_like, linspace, logspace, rand_like,
                                randint, randn_like, randperm)
from .functional.math import floor_divide, nan_to_num, remainder
from .functional.math import (argsort, bmm, ceil, clamp_max, clamp_min, cos, cumprod, cumsum, einsum, expm1,  # noqa: E402
                              floor, log1p, logsumexp, maximum, minimum, mm, outer, prod, reciprocal, round, rsqrt,
                              sign, sin, sort, square, std, topk, trunc, var)
from .functional.nn_misc import norm  # noqa: E402
from .autograd.interop import from_dlpack  # noqa: E402
from .functional.indexing import gather, index_select, masked_fill, masked_select, scatter, scatter_add  # noqa: E402
from .functional.rearrange import (chunk, flip, repeat_interleave, roll, split, tril, triu,  # noqa: E402
                                   unbind)
from .functional.logical import (all, allclose, any, bitwise_and, bitwise_not, bitwise_or, bitwise_xor,
                                 count_nonzero, eq, equal, ge, greater, greater_equal, gt, isfinite, isinf, isnan,
                                 le, less, less_equal, lt, ne, not_equal)
from .gradcheck import GradcheckError, gradcheck
from .io import load, save
from . import cuda, data, functional, init, nn, optim  # noqa: E402  (sub-packages need the names above)
from .cuda import device  # noqa: E402

import numpy as _np  # noqa: E402

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int32, int64, bool_ = _np.int32, _np.int64, _np.bool_
# PyTorch's dtype names (gn.long, gn.float, ...): module attributes only, so they shadow no builtin in gpunet's code
half, double, long = _np.float16, _np.float64, _np.int64
globals().update(float=_np.float32, int=_np.int32, bool=_np.bool_)

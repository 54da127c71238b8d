"""gpunet: neural networks on NumPy (CPU) or CuPy (NVIDIA GPU) with the same code."""
from . import backend
from ._version import __version__
from .autograd import (Function, Tensor, arange, as_tensor, enable_grad, full, get_default_dtype,
                       is_grad_enabled, no_grad, ones, ones_like, rand, randn, set_default_dtype, tensor, zeros,
                       zeros_like)
from .backend import (are_deterministic_algorithms_enabled, available, manual_seed, use,
                      use_deterministic_algorithms)
from .functional.math import (abs, amax, amin, cat, clamp, clip, concatenate, exp, log, matmul, max, mean, min,
                              reshape, return_types, sqrt, stack, sum, transpose, where)
from .gradcheck import GradcheckError, gradcheck
from .io import load, save
from . import data, functional, init, nn, optim  # noqa: E402  (sub-packages need the names above)

import numpy as _np  # noqa: E402

float16, float32, float64 = _np.float16, _np.float32, _np.float64
int32, int64, bool_ = _np.int32, _np.int64, _np.bool_

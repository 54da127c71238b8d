"""Functional ops (``import gpunet.functional as F``): each a differentiable op on Tensors."""
from .activation import *  # noqa: F401,F403
from .activation import __all__ as _act_all
from .activation_extra import *  # noqa: F401,F403
from .activation_extra import __all__ as _act_extra_all
from .dropout import dropout
from .linear import linear
from .loss import *  # noqa: F401,F403
from .loss import __all__ as _loss_all
from .math import (abs, add, amax, amin, cat, clamp, clip, concatenate, div, exp, getitem, log, matmul, max, mean,
                   min, mul, neg, pow, reshape, sqrt, stack, sub, sum, transpose, where)
from .nn_misc import cosine_similarity, norm, normalize, one_hot, pad
from .normalization import batch_norm

__all__ = list(_act_all) + list(_act_extra_all) + list(_loss_all) + [
    "dropout", "linear", "batch_norm", "norm", "normalize", "cosine_similarity", "one_hot", "pad", "abs", "add", "amax", "amin", "cat", "clamp", "clip", "concatenate", "div", "exp",
    "getitem", "log", "matmul", "max", "mean", "min", "mul", "neg", "pow", "reshape", "sqrt", "stack", "sub", "sum",
    "transpose", "where"]

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
from .math import (argsort, bmm, ceil, clamp_max, clamp_min, cos, cumprod, cumsum, einsum, expm1, floor, log1p,
                   logsumexp, maximum, minimum, mm, outer, prod, reciprocal, round, rsqrt, sign, sin, sort, square,
                   std, topk, trunc, var)
from .nn_misc import cosine_similarity, norm, normalize, one_hot, pad, pairwise_distance
from .normalization import batch_norm, instance_norm

__all__ = list(_act_all) + list(_act_extra_all) + list(_loss_all) + [
    "dropout", "linear", "batch_norm", "norm", "normalize", "cosine_similarity", "one_hot", "pad", "abs", "add", "amax", "amin", "cat", "clamp", "clip", "concatenate", "div", "exp",
    "getitem", "log", "matmul", "max", "mean", "min", "mul", "neg", "pow", "reshape", "sqrt", "stack", "sub", "sum",
    "transpose", "where", "argsort", "bmm", "ceil", "clamp_max", "clamp_min", "cos", "cumprod", "cumsum", "einsum",
    "expm1", "floor", "log1p", "logsumexp", "maximum", "minimum", "mm", "outer", "prod", "reciprocal", "round",
    "rsqrt", "sign", "sin", "sort", "square", "std", "topk", "trunc", "var"]
from .indexing import gather, index_select, masked_fill, masked_select, scatter, scatter_add
from .rearrange import (chunk, flip, pixel_shuffle, pixel_unshuffle, repeat, repeat_interleave, roll, split, tril,
                        triu, unbind)

__all__ += ["chunk", "flip", "gather", "index_select", "masked_fill", "masked_select", "repeat",
            "repeat_interleave", "roll", "scatter", "scatter_add", "split", "tril", "triu", "unbind", "pixel_shuffle",
            "pixel_unshuffle"]
from .pooling import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, max_unpool1d, max_unpool2d  # noqa: E402
from .adaptive import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,  # noqa: E402
                       adaptive_max_pool2d)
from .upsample import interpolate, upsample  # noqa: E402
from .dropout import dropout1d, dropout2d, dropout3d  # noqa: E402
__all__ += ["avg_pool1d", "avg_pool2d", "max_pool1d", "max_pool2d", "max_unpool1d", "max_unpool2d",
            "adaptive_avg_pool1d", "adaptive_avg_pool2d",
            "adaptive_max_pool1d", "adaptive_max_pool2d", "interpolate", "upsample", "dropout1d", "dropout2d",
            "dropout3d", "pairwise_distance"]
from .conv import conv1d, conv2d  # noqa: E402
from .conv_transpose import conv_transpose1d, conv_transpose2d  # noqa: E402
__all__ += ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d"]
from .layer_norm import layer_norm, rms_norm  # noqa: E402
from .group_norm import group_norm  # noqa: E402
__all__ += ["layer_norm", "rms_norm", "group_norm", "instance_norm"]
from .embedding import embedding  # noqa: E402
from .embedding_bag import embedding_bag  # noqa: E402
from .fold import fold, unfold  # noqa: E402
__all__ += ["embedding", "embedding_bag", "fold", "unfold"]
from .attention import scaled_dot_product_attention  # noqa: E402
__all__ += ["scaled_dot_product_attention"]

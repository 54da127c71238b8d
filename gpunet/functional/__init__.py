"""Functional ops (``import gpunet.functional as F``)."""
from .math import (abs, add, cat, clamp, clip, concatenate, div, exp, getitem, log, matmul, max, mean, min,
                   mul, neg, pow, reshape, sqrt, stack, sub, sum, transpose, where)

"""Autograd: Tensor, Function, the backward pass, grad modes and in-place version counting."""
from .creation import (arange, as_tensor, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like)
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .tensor import Tensor, get_default_dtype, set_default_dtype

__all__ = ["Function", "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "arange", "zeros_like",
           "ones_like", "rand", "randn", "no_grad", "enable_grad", "is_grad_enabled", "get_default_dtype",
           "set_default_dtype"]

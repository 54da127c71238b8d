"""Autograd: Tensor, Function and the backward pass."""
from .function import Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad
from .tensor import (Tensor, arange, as_tensor, full, get_default_dtype, ones, ones_like, rand, randn,
                     set_default_dtype, tensor, zeros, zeros_like)

__all__ = ["Function", "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "arange", "zeros_like",
           "ones_like", "rand", "randn", "no_grad", "enable_grad", "is_grad_enabled", "get_default_dtype",
           "set_default_dtype"]

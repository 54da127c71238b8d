"""Autograd: Tensor, Function, the backward pass, grad modes and in-place version counting."""
from .creation import (arange, as_tensor, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like)
from .function import Function
from ._graph_backward_grad import grad
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled, is_inference_mode_enabled, no_grad,
                        set_grad_enabled)
from .hooks import RemovableHandle
from .tensor import Tensor, get_default_dtype, set_default_dtype

__all__ = ["Function", "grad", "Tensor", "tensor", "as_tensor", "zeros", "ones", "full", "arange", "zeros_like",
           "ones_like", "rand", "randn", "no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled",
           "inference_mode", "is_inference_mode_enabled", "RemovableHandle", "get_default_dtype",
           "set_default_dtype"]

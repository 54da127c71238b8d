"""Loading of the CUDA kernels in ``kernels/*.cu``: read once, compiled on first use per dtype, cached.

Each ``kernels/<module>.cu`` holds templated ``__global__`` kernels over the element type ``T``. The source that
CuPy compiles is :func:`module_source`: generated ``#define`` lines (the activation codes, one source of truth in
Python), then the shared prelude ``kernels/_common.cu``, then the module. One ``cupy.RawModule`` per
(module, dtype) instantiates its kernels through ``name_expressions`` (``"bias_act_forward<float>"``); it is built
the first time one of its kernels is asked for and kept for the life of the process (CuPy also caches the binary
on disk). Nothing here imports CuPy until a kernel is requested, so the sources stay readable (and NVRTC-testable)
on a machine without a GPU.
"""
from __future__ import annotations

import functools
import importlib.resources

import numpy as np

from .base import Backend

__all__ = ["MODULES", "CTYPES", "ACT_CODES", "NVRTC_OPTIONS", "module_source", "name_expressions",
           "LazyKernel", "kernel", "supported_dtype"]

# Kernel templates of each module; the compile test checks this against the __global__ templates in the files.
MODULES: dict[str, tuple[str, ...]] = {
    "linear_act": ("bias_act_forward", "act_backward_bias_grad"),
    "batchnorm": ("bn_stats", "bn_finalize", "bn_invstd", "bn_normalize", "bn_backward_reduce",
                  "bn_backward_dx"),
    "softmax_xent": ("softmax_xent_forward", "softmax_xent_backward", "label_check"),
    "optim": ("sgd_update", "adam_update", "rmsprop_update", "adagrad_update", "adadelta_update"),
    "reduce": ("column_sum",),
    "loss": ("mse_sum", "mse_backward"),
    "rnn": ("rnn_forward", "rnn_backward", "lstm_forward", "lstm_backward", "gru_forward", "gru_backward"),
    "conv": ("conv_im2col", "conv_col2im"),
    "pool": ("max_pool_forward", "max_pool_backward", "avg_pool_forward", "avg_pool_backward", "index_scatter_add"),
    "attn": ("attn_softmax_forward", "attn_softmax_backward"),
    "norm": ("ln_forward", "ln_backward_dx", "ln_backward_affine", "gn_backward_affine", "embedding_forward", "embedding_backward", "embedding_backward_sorted"),
}

PRELUDE = "_common"

# Element types the kernels are instantiated for, and their C names.
CTYPES: dict[np.dtype, str] = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}

# Activation codes of the fused linear op (GN_ACT_<NAME> in the sources).
ACT_CODES: dict[str, int] = {name: i for i, name in enumerate(Backend.FUSED_ACTIVATIONS)}

# Options given to RawModule. CuPy adds its own on top (a -std=c++14/17 default, -ftz=true, -arch=...,
# --device-as-default-execution-space, include paths); the compile test mirrors them.
NVRTC_OPTIONS: tuple[str, ...] = ()


def supported_dtype(dtype) -> bool:
    """True for the element types the kernels are built for (float32, float64)."""
    return np.dtype(dtype) in CTYPES


@functools.lru_cache(maxsize=None)
def _read(name: str) -> str:
    return importlib.resources.files("gpunet.backend").joinpath("kernels").joinpath(f"{name}.cu").read_text("utf-8")


def _defines() -> str:
    return "".join(f"#define GN_ACT_{name.upper()} {code}\n" for name, code in ACT_CODES.items())


@functools.lru_cache(maxsize=None)
def module_source(module: str) -> str:
    """The full CUDA source CuPy compiles for ``module`` (defines + ``_common.cu`` + ``<module>.cu``)."""
    if module not in MODULES:
        raise KeyError(f"unknown kernel module {module!r}; expected one of {sorted(MODULES)}")
    return f"{_defines()}\n{_read(PRELUDE)}\n// ---- {module}.cu\n{_read(module)}"


def name_expressions(module: str, dtype) -> list[str]:
    """``["<kernel><ctype>", ...]`` for every kernel of ``module`` at ``dtype``."""
    ctype = CTYPES[np.dtype(dtype)]
    return [f"{k}<{ctype}>" for k in MODULES[module]]


@functools.lru_cache(maxsize=None)
def _raw_module(module: str, dtype_str: str):
    import cupy

    return cupy.RawModule(code=module_source(module), options=NVRTC_OPTIONS,
                          name_expressions=name_expressions(module, dtype_str))


class LazyKernel:
    """One kernel template of one ``.cu`` module; ``k(dtype)`` is the compiled ``cupy.RawKernel``.

    Compilation happens on the first request for a dtype (it builds the module's ``RawModule`` for that dtype);
    later requests are a dict lookup.
    """

    def __init__(self, module: str, name: str):
        if name not in MODULES.get(module, ()):
            raise KeyError(f"kernel {name!r} is not listed in MODULES[{module!r}]")
        self.module = module
        self.name = name
        self._fns: dict = {}

    def __repr__(self) -> str:
        return f"LazyKernel({self.module!r}, {self.name!r})"

    def __call__(self, dtype):
        fn = self._fns.get(dtype)
        if fn is None:
            dt = np.dtype(dtype)
            if dt not in CTYPES:
                raise TypeError(f"kernel {self.name}: no instantiation for dtype {dt}; supported: "
                                f"{', '.join(str(d) for d in CTYPES)}")
            fn = _raw_module(self.module, dt.str).get_function(f"{self.name}<{CTYPES[dt]}>")
            self._fns[dtype] = fn
        return fn


@functools.lru_cache(maxsize=None)
def kernel(name: str) -> LazyKernel:
    """The :class:`LazyKernel` called ``name`` (looked up in :data:`MODULES`)."""
    for module, names in MODULES.items():
        if name in names:
            return LazyKernel(module, name)
    raise KeyError(f"no kernel named {name!r} in gpunet/backend/kernels")

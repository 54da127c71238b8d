"""Pooling modules: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, AdaptiveMaxPool1d/2d, MaxUnpool1d/2d, as
``torch.nn``."""
from __future__ import annotations

from ..functional.adaptive import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_max_pool1d,
                                   adaptive_max_pool2d)
from ..functional.pooling import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d, max_unpool1d, max_unpool2d
from ..functional._conv_geometry import tuple_arg
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
           "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "MaxUnpool1d", "MaxUnpool2d"]


class _MaxPoolNd(Module):
    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices: bool = False,
                 ceil_mode: bool = False):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.dilation = padding, dilation
        self.return_indices, self.ceil_mode = return_indices, ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows along L of (N, C, L) or (C, L), as ``torch.nn.MaxPool1d``; ``stride`` defaults to the
    kernel size; ``return_indices`` also returns each maximum's index along L."""

    def forward(self, x):
        return max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Max over (kh, kw) windows of (N, C, H, W) or (C, H, W), as ``torch.nn.MaxPool2d``; ``stride`` defaults to
    the kernel size; ``return_indices`` also returns each maximum's flat index h·W + w in its plane."""

    def forward(self, x):
        return max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                          self.return_indices)


class AvgPool1d(Module):
    """Mean over windows along L of (N, C, L) or (C, L), as ``torch.nn.AvgPool1d``."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        super().__init__()
        one = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,)  # noqa: E731  (stored as torch does)
        self.kernel_size, self.stride = one(kernel_size), one(stride if stride is not None else kernel_size)
        self.padding, self.ceil_mode, self.count_include_pad = one(padding), ceil_mode, count_include_pad

    def forward(self, x):
        return avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over (kh, kw) windows of (N, C, H, W) or (C, H, W), as ``torch.nn.AvgPool2d``: zero padding counted
    in the divisor when ``count_include_pad``; ``divisor_override`` replaces the divisor."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride if stride is not None else kernel_size
        self.padding, self.ceil_mode, self.count_include_pad = padding, ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                          self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _Adaptive(Module):
    def __init__(self, output_size, *args):
        super().__init__()
        self.output_size = output_size

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool2d(_Adaptive):
    """Average to a fixed ``output_size`` (int, or pair with None keeping that input size), as
    ``torch.nn.AdaptiveAvgPool2d``; ``AdaptiveAvgPool2d(1)`` is global average pooling."""

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)


class AdaptiveAvgPool1d(_Adaptive):
    """Average along L to ``output_size`` cells, as ``torch.nn.AdaptiveAvgPool1d``."""

    def forward(self, x):
        return adaptive_avg_pool1d(x, self.output_size)


class AdaptiveMaxPool2d(_Adaptive):
    """Max to a fixed ``output_size``, as ``torch.nn.AdaptiveMaxPool2d`` (``return_indices`` as MaxPool2d)."""

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__(output_size)
        self.return_indices = return_indices

    def forward(self, x):
        return adaptive_max_pool2d(x, self.output_size, self.return_indices)


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max along L to ``output_size`` cells, as ``torch.nn.AdaptiveMaxPool1d``."""

    def forward(self, x):
        return adaptive_max_pool1d(x, self.output_size, self.return_indices)


class _MaxUnpoolNd(Module):
    _fn = None
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n, name = self._nd, type(self).__name__
        self.kernel_size = tuple_arg(kernel_size, n, "kernel_size", name, 1)  # stored as tuples, as torch
        self.stride = tuple_arg(stride if stride is not None else kernel_size, n, "stride", name, 1)
        self.padding = tuple_arg(padding, n, "padding", name)

    def forward(self, input, indices, output_size=None):
        return type(self)._fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d (its ``return_indices=True`` indices), as ``torch.nn.MaxUnpool1d``."""
    _fn, _nd = staticmethod(max_unpool1d), 1


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d (its ``return_indices=True`` indices), as ``torch.nn.MaxUnpool2d``."""
    _fn, _nd = staticmethod(max_unpool2d), 2

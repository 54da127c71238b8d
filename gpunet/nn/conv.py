"""Convolution layers ``Conv1d``, ``Conv2d``, ``ConvTranspose1d`` and ``ConvTranspose2d`` (torch's names,
arguments, defaults, parameter shapes and initialisation, so a torch ``state_dict`` loads and gives the same
numbers)."""
from __future__ import annotations

import math

from .. import init
from ..functional import _conv_geometry as geom
from ..functional.conv import ConvNd
from ..functional.conv_transpose import ConvTranspose2dFn, conv_transpose1d, transpose_output_size
from ..functional.nn_misc import pad as _pad
from .module import Module
from .parameter import Parameter, empty

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]


class _ConvBase(Module):
    """Shared constructor and init. ``weight``: (out, in/groups, *k), transposed: (in, out/groups, *k);
    ``bias``: (out,). Init as torch: kaiming_uniform_(a=√5) on the weight, bias ~ U(−1/√fan_in, 1/√fan_in)."""
    _nd = 2
    _transposed = False

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", output_padding=0, device=None, dtype=None):
        super().__init__()
        n, name = self._nd, type(self).__name__
        in_channels, out_channels, groups = int(in_channels), int(out_channels), int(groups)
        if groups <= 0:
            raise ValueError(f"{name}: groups must be a positive integer, got {groups}")
        if in_channels % groups:
            raise ValueError(f"{name}: in_channels={in_channels} must be divisible by groups={groups}")
        if out_channels % groups:
            raise ValueError(f"{name}: out_channels={out_channels} must be divisible by groups={groups}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = geom.tuple_arg(kernel_size, n, "kernel_size", name, 1)
        self.stride = geom.tuple_arg(stride, n, "stride", name, 1)
        self.padding = geom.padding_arg(padding, n, name, allow_string=not self._transposed)
        self.dilation = geom.tuple_arg(dilation, n, "dilation", name, 1)
        self.output_padding = geom.tuple_arg(output_padding, n, "output_padding", name)
        self.transposed = self._transposed
        self.padding_mode = geom.padding_mode_arg(padding_mode, name, self._transposed)
        if self.padding == "same" and any(s != 1 for s in self.stride):
            raise ValueError(f"{name}: padding='same' is not supported for strided convolutions (stride="
                             f"{self.stride}); use stride=1, or give the padding as numbers")
        if self._transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(empty(shape, device, dtype))
        if bias:
            self.bias = Parameter(empty((out_channels,), device, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            if fan_in != 0:
                bound = 1 / math.sqrt(fan_in)
                init.uniform_(self.bias, -bound, bound)

    def _weight_bias(self):
        p = self._parameters
        return p["weight"], p.get("bias")

    def _conv(self, x, act=None):
        """The convolution of ``x``: with ``padding_mode`` other than 'zeros', ``F.pad`` in that mode first (the
        padding of ``padding``, ``'same'`` split as torch does) and then no padding, as torch's layers do.
        ``act``: an activation applied in the same node (``nn.Sequential``'s Conv + ReLU)."""
        W, b = self._weight_bias()
        pad = self.padding
        if self.padding_mode != "zeros":
            pairs = geom.explicit_padding(pad, self.kernel_size, self.stride, self.dilation, type(self).__name__)
            flat = [v for before_after in reversed(pairs) for v in before_after]
            if any(flat):
                x = _pad(x, flat, mode=self.padding_mode)
            pad = (0,) * self._nd
        return ConvNd.apply(x, W, b, pad=pad, stride=self.stride, dilation=self.dilation, groups=self.groups,
                            nd=self._nd, fn=type(self).__name__, act=act)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s


class Conv1d(_ConvBase):
    """1-D convolution over (N, C_in, L) or unbatched (C_in, L): ``weight`` (C_out, C_in/groups, k), ``bias``
    (C_out,). ``padding``: int, 1-tuple, ``'valid'`` or ``'same'``; ``padding_mode``: 'zeros', 'reflect',
    'replicate' or 'circular'."""
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def forward(self, x):
        return self._conv(x)


class Conv2d(_ConvBase):
    """2-D convolution over (N, C_in, H, W) or unbatched (C_in, H, W): ``weight`` (C_out, C_in/groups, kh, kw),
    ``bias`` (C_out,); output (N, C_out, OH, OW), ``OH = ⌊(H + 2p − d·(k − 1) − 1) / s⌋ + 1``. ``padding``:
    int, pair, ``'valid'`` or ``'same'``; ``groups=in_channels`` is a depthwise convolution; ``padding_mode``:
    'zeros', 'reflect', 'replicate' or 'circular' (as ``F.pad``'s modes; the transposed convolution: 'zeros')."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
                 bias=True, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, 0, device, dtype)

    def forward(self, x):
        return self._conv(x)


class _ConvTransposeBase(_ConvBase):
    """The transposed convolutions' ``output_size`` handling."""
    _transposed = True

    def _output_padding(self, x, output_size) -> tuple:
        n = self._nd
        want = tuple(int(v) for v in output_size)[-n:]
        hw = tuple(x.shape[-n:])
        smallest = transpose_output_size(hw, self.kernel_size, self.stride, self.padding, (0,) * n, self.dilation)
        op = tuple(w - s for w, s in zip(want, smallest))
        for o, s, d in zip(op, self.stride, self.dilation):
            if not 0 <= o < max(s, d):
                largest = tuple(v + max(s, d) - 1 for v, s, d in zip(smallest, self.stride, self.dilation))
                raise ValueError(f"{type(self).__name__}: requested an output size of {want}, but valid sizes "
                                 f"range from {smallest} to {largest} (for an input of {hw})")
        return op


class ConvTranspose1d(_ConvTransposeBase):
    """1-D transposed convolution over (N, C_in, L) or unbatched (C_in, L): ``weight`` (C_in, C_out/groups, k),
    ``bias`` (C_out,); output length ``(L − 1)·s − 2p + d·(k − 1) + output_padding + 1``. ``forward(x,
    output_size=None)`` as torch's."""
    _nd = 1

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def forward(self, x, output_size=None):
        W, b = self._weight_bias()
        op = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return conv_transpose1d(x, W, b, self.stride, self.padding, op, self.groups, self.dilation)


class ConvTranspose2d(_ConvTransposeBase):
    """2-D transposed convolution: ``weight`` (C_in, C_out/groups, kh, kw), ``bias`` (C_out,); output size
    ``(H − 1)·s − 2p + d·(k − 1) + output_padding + 1``. ``forward(x, output_size=None)``: an ``output_size``
    (the last two entries are used) picks the output_padding, as torch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
                 bias=True, dilation=1, padding_mode="zeros", device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
                         padding_mode, output_padding, device, dtype)

    def forward(self, x, output_size=None):
        W, b = self._weight_bias()
        op = self.output_padding if output_size is None else self._output_padding(x, output_size)
        return ConvTranspose2dFn.apply(x, W, b, stride=self.stride, padding=self.padding, output_padding=op,
                                       dilation=self.dilation, groups=self.groups, fn="ConvTranspose2d")

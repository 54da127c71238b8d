"""Argument parsing, output sizes and input checks shared by the convolutions (``conv.py``, ``conv_transpose.py``
and ``nn/conv.py``).

Everything is normalised to the 2-D case: a 1-D convolution is a 2-D one over an (N, C, 1, L) view with a 1-high
kernel. A geometry is ``(kh, kw, sh, sw, pt, pb, pl, pr, dh, dw)``: kernel, stride, padding top/bottom/left/right
(unequal only for ``padding='same'`` with an even span, where the extra row/column goes at the end, as torch)
and dilation.
"""
from __future__ import annotations

import numbers

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def tuple_arg(value, n: int, name: str, fn: str, minimum: int = 0) -> tuple:
    """An int or a sequence of ``n`` ints as an ``n``-tuple, each at least ``minimum``; ValueError otherwise."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        out = (int(value),) * n
    else:
        try:
            out = tuple(int(v) for v in value)
        except TypeError:
            raise TypeError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}") from None
        if len(out) == 1:
            out = out * n
        if len(out) != n:
            raise ValueError(f"{fn}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in out):
        raise ValueError(f"{fn}: {name} must be >= {minimum} in every dimension, got {value!r}")
    return out


def padding_arg(padding, n: int, fn: str, allow_string: bool = True):
    """``'same'``/``'valid'`` (lower-cased) or an ``n``-tuple of non-negative ints."""
    if isinstance(padding, str):
        if not allow_string:
            raise ValueError(f"{fn}: padding must be an int or a tuple of {n} ints (no string padding for a "
                             f"transposed convolution), got {padding!r}")
        if padding not in ("same", "valid"):
            raise ValueError(f"{fn}: invalid padding string {padding!r}, should be one of {{'valid', 'same'}} "
                             f"(or an int / a tuple of {n} ints)")
        return padding
    return tuple_arg(padding, n, "padding", fn)


def padding_mode_arg(padding_mode: str, fn: str, transposed: bool = False) -> str:
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"{fn}: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
    if transposed and padding_mode != "zeros":
        raise ValueError(f'Only "zeros" padding mode is supported for {fn}')
    return padding_mode


def explicit_padding(padding, kernel, stride, dilation, fn: str) -> tuple:
    """``(before, after)`` pairs per spatial dim for an int tuple or ``'same'``/``'valid'``."""
    if padding == "valid":
        return tuple((0, 0) for _ in kernel)
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ValueError(f"{fn}: padding='same' is not supported for strided convolutions (stride="
                             f"{tuple(stride)}); use stride=1, or give the padding as numbers")
        pairs = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)
            pairs.append((total // 2, total - total // 2))  # the odd one out at the end, as torch
        return tuple(pairs)
    return tuple((p, p) for p in padding)


def conv_out_size(size: int, k: int, s: int, p0: int, p1: int, d: int) -> int:
    return (size + p0 + p1 - d * (k - 1) - 1) // s + 1


def geometry_2d(kernel, stride, pads, dilation) -> tuple:
    """The 10-tuple geometry from 1-D or 2-D arguments (a 1-D one gets a 1-high kernel and no vertical pad)."""
    if len(kernel) == 1:
        kernel, stride, dilation, pads = (1,) + tuple(kernel), (1,) + tuple(stride), (1,) + tuple(dilation), \
            ((0, 0),) + tuple(pads)
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    (pt, pb), (pl, pr) = pads
    return (kh, kw, sh, sw, pt, pb, pl, pr, dh, dw)


def _dims(shape) -> str:
    return " x ".join(str(v) for v in shape)


def check_input(fn: str, x_shape, w_shape, groups: int, nd: int, transposed: bool = False) -> bool:
    """Checks an input of a ``nd``-D convolution against its weight; returns True for an unbatched input.

    Conv weight: (out, in/groups, *k); transposed: (in, out/groups, *k)."""
    names = "(C, L)" if nd == 1 else "(C, H, W)"
    bnames = "(N, C, L)" if nd == 1 else "(N, C, H, W)"
    if len(x_shape) not in (nd + 1, nd + 2):
        raise ValueError(f"{fn}: expected a {nd + 1}-D unbatched {names} or {nd + 2}-D batched {bnames} input, "
                         f"got shape {tuple(x_shape)} ({len(x_shape)}-D); reshape it to {bnames}")
    if len(w_shape) != nd + 2:
        raise ValueError(f"{fn}: weight must be {nd + 2}-D "
                         f"({'in, out/groups' if transposed else 'out, in/groups'}, {'k' if nd == 1 else 'kh, kw'})"
                         f", got shape {tuple(w_shape)}")
    if groups < 1:
        raise ValueError(f"{fn}: groups must be a positive integer, got {groups}")
    unbatched = len(x_shape) == nd + 1
    c = x_shape[0] if unbatched else x_shape[1]
    want = w_shape[0] if transposed else w_shape[1] * groups
    if transposed and w_shape[0] % groups:
        raise ValueError(f"{fn}: the weight's first dimension (in_channels={w_shape[0]}) must be divisible by "
                         f"groups={groups}")
    if not transposed and w_shape[0] % groups:
        raise ValueError(f"{fn}: out_channels={w_shape[0]} (weight of shape {tuple(w_shape)}) must be divisible "
                         f"by groups={groups}")
    if c != want:
        hint = ""
        if unbatched and nd == 2 and want == 1:
            hint = (f"; a 3-D input is read as one unbatched (C, H, W) image: for a batch of single-channel "
                    f"images add the channel axis, x.reshape({x_shape[0]}, 1, {x_shape[1]}, {x_shape[2]})")
        elif unbatched:
            hint = f"; a {nd + 1}-D input is read as one unbatched {names} sample"
        raise ValueError(f"{fn}: given groups={groups} and weight of shape {tuple(w_shape)}, expected input "
                         f"{tuple(x_shape)} to have {want} channels (axis {0 if unbatched else 1}), but got {c} "
                         f"channels instead{hint}; pass an input with {want} channels or build the layer with "
                         f"in_channels={c}")
    return unbatched


def check_kernel_fits(fn: str, hw, geo, nd: int = 2) -> None:
    """The dilated kernel fits in the padded (H, W) input (of a 1-D convolution: H = 1, shown as L alone)."""
    kh, kw, _, _, pt, pb, pl, pr, dh, dw = geo
    padded = (hw[0] + pt + pb, hw[1] + pl + pr)
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    if padded[0] < span[0] or padded[1] < span[1]:
        if nd == 1:
            padded, span = padded[1:], span[1:]
        raise ValueError(f"{fn}: calculated padded input size per channel: ({_dims(padded)}); (dilated) kernel "
                         f"size: ({_dims(span)}); the kernel can't be greater than the padded input: use a "
                         f"larger input, more padding, or a smaller kernel / dilation")

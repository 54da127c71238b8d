"""Compiled direct convolution kernels (Numba, explicit 8-lane vectors from :mod:`._simd`) for float32 stride-1
convolutions: no im2col columns, the input read in place from a zero-padded copy.

Each kernel is generated for its kernel size and register block and compiled once (cached on disk like the other
kernels: the source is compiled as this file's code):

* ``forward``: y[n, o, r, q] = b[o] + Σ_{c, i, j} W[o, c, i, j] · xp[n, c, r + i, q + j] over a padded input xp
  (N, C, OH + kh − 1, OWp + kw − 1), OWp = the output width OW rounded up to whole segments of PB·8 pixels. A
  block of OB output channels x PB vectors of 8 pixels of one output row stays in OB·PB registers through the
  whole C·kh·kw reduction: per input channel and kernel tap, PB vector loads of the input row, OB broadcast loads
  of the weight (laid out (O/OB, C, kh, kw, OB) so they sit together) and OB·PB fused multiply-adds. The sums go
  straight into y (N, O, OH, OW), the lanes past OW dropped by a masked store (no padded copy of y to crop).
* ``weight_grad``: dW[o, c, i, j] = Σ_{n, r, q} g[n, o, r, q] · xp[n, c, r + i, q + j], with OB·kw vector
  accumulators (output channels x kernel columns) per (c, i), the lanes summed by the caller; g is padded with
  zero columns to OWp. The images go in blocks (the caller's ``n0 … n1``) so that their g and xp stay in L2.

The input gradient of a stride-1 convolution is the forward kernel run on dY (padded by kh − 1 − padding) with
the flipped, transposed weight. ``pad_planes`` builds those padded buffers, with the ReLU's mask when the forward
applied one.
"""
from __future__ import annotations

import functools

from . import _simd
from ._cpu_kernels import _jit
from ._simd import vadd, vhsum, vload, vload_n, vstore, vstore_n, vwhere_pos, vzero

_NAMES = {k: getattr(_simd, k) for k in ("vload", "vstore", "vstore_n", "vbload", "vzero", "vfma", "vadd",
                                         "vrelu")}


def _compile(name: str, lines: list):
    namespace = dict(_NAMES, __name__=__name__)
    exec(compile("\n".join(lines), __file__, "exec"), namespace)  # noqa: S102 (generated kernel source)
    return _jit(namespace[name])


@functools.lru_cache(maxsize=None)
def forward(kh: int, kw: int, OB: int, PB: int, relu: bool = False):
    """``fn(xf, Wt, b, yf, C, O, Hp, Wp, OH, OW, OWp, n0, n1)``: yf (N, O, OH, OW) of the images n0 … n1 − 1,
    all arrays flat float32; Wt is the weight laid out (O/OB, C, kh, kw, OB), b the bias (O,) (zeros for none);
    ``relu``: ReLU applied to the sums before they are stored."""
    name = f"conv_forward_{kh}x{kw}_o{OB}_p{PB}" + ("_relu" if relu else "")
    taps = kh * kw
    L = [f"def {name}(xf, Wt, b, yf, C, O, Hp, Wp, OH, OW, OWp, n0, n1):",
         "    for n in range(n0, n1):",
         f"        for o0 in range(0, O, {OB}):",
         "            for r in range(OH):",
         f"                for q0 in range(0, OWp, {8 * PB}):"]
    for ob in range(OB):
        L.append(f"                    bias{ob} = vbload(b, o0 + {ob})")
        L += [f"                    a{ob}_{p} = bias{ob}" for p in range(PB)]
    L += ["                    for c in range(C):",
          "                        xb = ((n * C + c) * Hp + r) * Wp + q0",
          f"                        wb = (o0 * C + c * {OB}) * {taps}"]
    for i in range(kh):
        L.append(f"                        xr = xb + {i} * Wp")
        for j in range(kw):
            L += [f"                        x{p} = vload(xf, xr + {8 * p + j})" for p in range(PB)]
            for ob in range(OB):
                L.append(f"                        w = vbload(Wt, wb + {(i * kw + j) * OB + ob})")
                L += [f"                        a{ob}_{p} = vfma(w, x{p}, a{ob}_{p})" for p in range(PB)]
    for ob in range(OB):
        L.append(f"                    yb = ((n * O + o0 + {ob}) * OH + r) * OW + q0")
        for p in range(PB):
            act = f"vrelu(a{ob}_{p})" if relu else f"a{ob}_{p}"
            L += [f"                    if q0 + {8 * p + 8} <= OW:",
                  f"                        vstore(yf, yb + {8 * p}, {act})",
                  f"                    elif q0 + {8 * p} < OW:",
                  f"                        vstore_n(yf, yb + {8 * p}, OW - q0 - {8 * p}, {act})"]
    return _compile(name, L)


@functools.lru_cache(maxsize=None)
def weight_grad(kh: int, kw: int, OB: int, PB: int, one_segment: bool = False):
    """``fn(xf, gf, acc, C, O, Hp, Wp, OH, OWp, GH, GW, gr0, gc0, n0, n1, c0, c1)``: acc (C, O/OB, kh, OB, kw, 8)
    += the 8-lane partial sums of dW for the input channels c0 … c1 − 1 over the images n0 … n1 − 1 (flat float32
    arrays; g[n, o, r, q] is gf[n, o, gr0 + r, gc0 + q] of a (N, O, GH, GW) buffer that is zero for q from OW to
    OWp). ``one_segment``: OWp is PB·8 (a row is one segment), and the kernel has no loop over segments: 5.1
    against 9.0 ms for LeNet's conv2 dW on one core, the loop's set-up per row costing as much as its 20 FMAs."""
    name = f"conv_weight_grad_{kh}x{kw}_o{OB}_p{PB}" + ("_row" if one_segment else "")
    L = [f"def {name}(xf, gf, acc, C, O, Hp, Wp, OH, OWp, GH, GW, gr0, gc0, n0, n1, c0, c1):",
         "    gs = GH * GW",
         "    for c in range(c0, c1):",
         f"        for o0 in range(0, O, {OB}):",
         f"            for i in range({kh}):"]
    L += [f"                a{ob}_{j} = vzero()" for ob in range(OB) for j in range(kw)]
    L += ["                for n in range(n0, n1):",
          "                    xb = ((n * C + c) * Hp + i) * Wp",
          "                    gb = ((n * O + o0) * GH + gr0) * GW + gc0",
          "                    for r in range(OH):",
          "                        xr = xb + r * Wp",
          "                        gr = gb + r * GW"]
    ind, q = "                        ", ""
    if not one_segment:
        L.append(f"{ind}for q0 in range(0, OWp, {8 * PB}):")
        ind, q = ind + "    ", "q0 + "
    for p in range(PB):
        L += [f"{ind}g{ob} = vload(gf, gr + {ob} * gs + {q}{8 * p})" for ob in range(OB)]
        for j in range(kw):
            L.append(f"{ind}x = vload(xf, xr + {q}{8 * p + j})")
            L += [f"{ind}a{ob}_{j} = vfma(g{ob}, x, a{ob}_{j})" for ob in range(OB)]
    L.append(f"                base = ((c * O + o0) * {kh} + i * {OB}) * {kw * 8}")
    for ob in range(OB):
        for j in range(kw):
            off = (ob * kw + j) * 8
            L.append(f"                vstore(acc, base + {off}, vadd(vload(acc, base + {off}), a{ob}_{j}))")
    return _compile(name, L)


@_jit
def pad_planes(x, m, masked, out, h, w, pt, pl, hp, wp, sums):
    """``out`` (P planes of hp x wp) = the P planes of ``x`` (h x w) at row ``pt``, column ``pl``, zeros around
    them (all flat float32); with ``masked``, x only where ``m`` (of x's layout: a ReLU's output) is positive:
    the gradient through the ReLU, padded, in the same pass. Vector stores of the zeroed plane, then its rows
    (masked tail lanes), measured 0.2 against 2.1 ms (rows of 14) for a scalar loop. ``sums`` (P,) or empty:
    each plane's sum of what was written (a bias gradient, without a second pass over the buffer)."""
    z = vzero()
    plane = hp * wp
    full = plane - plane % 8
    for p in range(x.size // (h * w)):
        ob = p * plane
        for i in range(0, full, 8):
            vstore(out, ob + i, z)
        if full < plane:
            vstore_n(out, ob + full, plane - full, z)
        total = z
        for r in range(h):
            s = (p * h + r) * w
            o = ob + (pt + r) * wp + pl
            for q in range(0, w, 8):
                if q + 8 <= w:
                    v = vload(x, s + q)
                    if masked:
                        v = vwhere_pos(vload(m, s + q), v)
                    vstore(out, o + q, v)
                else:
                    v = vload_n(x, s + q, w - q)
                    if masked:
                        v = vwhere_pos(vload_n(m, s + q, w - q), v)
                    vstore_n(out, o + q, w - q, v)
                total = vadd(total, v)
        if sums.size:
            sums[p] = vhsum(total)

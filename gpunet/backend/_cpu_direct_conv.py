"""Compiled direct convolution kernels (Numba, explicit 8-lane vectors from :mod:`._simd`) for float32 stride-1
convolutions: no im2col columns, the input read in place from a zero-padded copy.

Each kernel is generated for its kernel size and register block and compiled once (cached on disk like the other
kernels: the source is compiled as this file's code):

* ``forward``: y[n, o, r, q] = b[o] + Σ_{c, i, j} W[o, c, i, j] · xp[n, c, r + i, q + j] over a padded input xp
  (N, C, OH + kh − 1, OWp + kw − 1), OWp = the output width rounded up to whole segments of PB·8 pixels. A block of
  OB output channels x PB vectors of 8 pixels of one output row stays in OB·PB registers through the whole
  C·kh·kw reduction: per input channel and kernel tap, PB vector loads of the input row, OB broadcast loads of
  the weight (laid out (O/OB, C, kh, kw, OB) so they sit together) and OB·PB fused multiply-adds.
* ``weight_grad``: dW[o, c, i, j] = Σ_{n, r, q} g[n, o, r, q] · xp[n, c, r + i, q + j], with OB·kw vector
  accumulators (output channels x kernel columns) per (c, i), the lanes summed by the caller; g is padded with
  zero columns to OWp. The images go in blocks (the caller's ``n0 … n1``) so that their g and xp stay in L2.

The input gradient of a stride-1 convolution is the forward kernel run on dY (padded by kh − 1 − padding) with
the flipped, transposed weight.
"""
from __future__ import annotations

import functools

from numba import njit

from . import _simd
from ._cpu_kernels import CACHE

_NAMES = {k: getattr(_simd, k) for k in ("vload", "vstore", "vbload", "vzero", "vfma", "vadd", "vrelu")}


def _compile(name: str, lines: list):
    namespace = dict(_NAMES, __name__=__name__)
    exec(compile("\n".join(lines), __file__, "exec"), namespace)  # noqa: S102 (generated kernel source)
    return njit(nogil=True, cache=CACHE, error_model="numpy", boundscheck=False)(namespace[name])


@functools.lru_cache(maxsize=None)
def forward(kh: int, kw: int, OB: int, PB: int, relu: bool = False):
    """``fn(xf, Wt, b, yf, C, O, Hp, Wp, OH, OWp, n0, n1)``: yf (N, O, OH, OWp) of the images n0 … n1 − 1, all
    arrays flat float32; Wt is the weight laid out (O/OB, C, kh, kw, OB), b the bias (O,) (zeros for none);
    ``relu``: ReLU applied to the sums before they are stored."""
    name = f"conv_forward_{kh}x{kw}_o{OB}_p{PB}" + ("_relu" if relu else "")
    taps = kh * kw
    L = [f"def {name}(xf, Wt, b, yf, C, O, Hp, Wp, OH, OWp, n0, n1):",
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
        L.append(f"                    yb = ((n * O + o0 + {ob}) * OH + r) * OWp + q0")
        act = "vrelu(a{ob}_{p})" if relu else "a{ob}_{p}"
        L += [f"                    vstore(yf, yb + {8 * p}, {act.format(ob=ob, p=p)})" for p in range(PB)]
    return _compile(name, L)


@functools.lru_cache(maxsize=None)
def weight_grad(kh: int, kw: int, OB: int, PB: int):
    """``fn(xf, gf, acc, C, O, Hp, Wp, OH, OWp, GH, GW, gr0, gc0, n0, n1, c0, c1)``: acc (C, O/OB, kh, OB, kw, 8)
    += the 8-lane partial sums of dW for the input channels c0 … c1 − 1 over the images n0 … n1 − 1 (flat float32
    arrays; g[n, o, r, q] is gf[n, o, gr0 + r, gc0 + q] of a (N, O, GH, GW) buffer that is zero for q from OW to
    OWp)."""
    name = f"conv_weight_grad_{kh}x{kw}_o{OB}_p{PB}"
    L = [f"def {name}(xf, gf, acc, C, O, Hp, Wp, OH, OWp, GH, GW, gr0, gc0, n0, n1, c0, c1):",
         "    gs = GH * GW",
         "    for c in range(c0, c1):",
         f"        for o0 in range(0, O, {OB}):",
         f"            for i in range({kh}):"]
    L += [f"                a{ob}_{j} = vzero()" for ob in range(OB) for j in range(kw)]
    L += ["                for n in range(n0, n1):",
          "                    for r in range(OH):",
          "                        xr = ((n * C + c) * Hp + r + i) * Wp",
          "                        gr = ((n * O + o0) * GH + gr0 + r) * GW + gc0",
          f"                        for q0 in range(0, OWp, {8 * PB}):"]
    for p in range(PB):
        L += [f"                            g{ob} = vload(gf, gr + {ob} * gs + q0 + {8 * p})" for ob in range(OB)]
        for j in range(kw):
            L.append(f"                            x = vload(xf, xr + q0 + {8 * p + j})")
            L += [f"                            a{ob}_{j} = vfma(g{ob}, x, a{ob}_{j})" for ob in range(OB)]
    L.append(f"                base = ((c * O + o0) * {kh} + i * {OB}) * {kw * 8}")
    for ob in range(OB):
        for j in range(kw):
            off = (ob * kw + j) * 8
            L.append(f"                vstore(acc, base + {off}, vadd(vload(acc, base + {off}), a{ob}_{j}))")
    return _compile(name, L)

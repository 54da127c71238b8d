"""The NumPy backend's Winograd F(2x2, 3x3) convolution: stride-1, undilated, ungrouped 3x3 convolutions with the
same padding p <= 2 on every side (the residual block's, VGG's and ResNet's 3x3 layers), in blocks of tiles.

``Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A`` over 4x4 input tiles d of stride 2: the 16 products of the transformed tiles by
the transformed weight are 16 GEMMs with inner length C over the tiles, 2.25x fewer multiplies than im2col's one
GEMM of inner length 9C. Per block of tiles of one image, on one core each: the input transform writes the block's
16 planes (:func:`~._cpu_wino_kernels.wino23_input`), one batched GEMM multiplies them by the transformed weight,
and the output transform writes the block's outputs (see :mod:`._cpu_wino_kernels` for the layouts). The input
is first split into its parity sub-planes (kept for the weight gradient when one is needed). Bᵀ and Aᵀ have
entries 0 and ±1 (G's are 0, ±1/2 and 1), so float32 results differ from the direct sum only by rounding.

Backward: dW = Gᵀ [Σ_tiles (A dY Aᵀ) · (Bᵀ d B)ᵀ] G, the adjoint of each step (one GEMM per block with the tiles
as inner length, summed over blocks and cores); dX = the same Winograd convolution of dY with the flipped,
transposed weight and padding 2 − p.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _parallel
from ._blas_threads import single_threaded
from ._conv_ops import dx_weight

# Tiles per block (at most; each image's tiles in nearly equal runs of a multiple of 8). One core, the residual
# block's 16 GEMMs (64 x 64 by 64 x L): 48-54 GFLOP/s for L = 96-160, 59-69 for 192-512, 43 at 1024 and 31 for
# the whole batch's 8192 tiles at once (planes out of cache).
BLOCK_TILES = 320


@functools.lru_cache(maxsize=None)
def winograd_matrices(m: int, r: int, dtype) -> tuple:
    """``(Aᵀ, G, Bᵀ)`` of Winograd F(m, r) (Toom-Cook on the points 0, 1, −1, 2, −2, … and ∞), in ``dtype``:
    ``Aᵀ[(G g) ⊙ (Bᵀ d)] = (Σ_k g_k d_{i+k})_i`` for every ``g`` (r) and ``d`` (m + r − 1). Aᵀ and G are
    Vandermonde rows (G's scaled by 1 / Π(p_j − p_l)); Bᵀ is solved from the identity (exact: small integers).
    F(2, 3)'s are the ones :mod:`._cpu_wino_kernels` has written out, F(4, 3)'s Lavin and Gray's (2016)."""
    a = m + r - 1
    pts = [0.0] + [s * k for k in range(1, a) for s in (1.0, -1.0)][: a - 2]
    AT = np.zeros((m, a))
    G = np.zeros((a, r))
    for j, pj in enumerate(pts):
        AT[:, j] = [pj ** i for i in range(m)]
        G[j] = [pj ** k / np.prod([pj - q for q in pts if q != pj]) for k in range(r)]
    AT[m - 1, a - 1] = G[a - 1, r - 1] = 1.0
    eq = np.einsum("ij,jk->ikj", AT, G).reshape(m * r, a)  # coefficient of Bᵀ[j, l] in equation (i, k, l)
    rhs = np.zeros((m * r, a))
    for i in range(m):
        for k in range(r):
            rhs[i * r + k, i + k] = 1.0
    BT = np.linalg.lstsq(eq, rhs, rcond=None)[0]
    BT = np.where(np.abs(BT - np.round(BT)) < 1e-9, np.round(BT), BT)
    dt = np.dtype(dtype)
    return AT.astype(dt), G.astype(dt), BT.astype(dt)


def padding(geo) -> int | None:
    """The padding p of a convolution this module runs (geometry ``geo`` of :mod:`._conv_ops`), else None."""
    kh, kw, sh, sw, pt, pb, pl, pr, dh, dw = geo
    if (kh, kw, sh, sw, dh, dw) != (3, 3, 1, 1, 1, 1) or not pt == pb == pl == pr <= 2:
        return None
    return pt


def _tiles(h: int, w: int, p: int) -> tuple:
    """(OH, OW, th, tw): the output size and the 2x2 output tiles covering it."""
    oh, ow = h + 2 * p - 2, w + 2 * p - 2
    return oh, ow, -(-oh // 2), -(-ow // 2)


def _sub_planes(be, K, a, pad: int, th: int, tw: int, slot):
    """The sub-planes (N, C, 2, 2, th + 2, tw + 1) of ``a`` (N, C, H, W) zero-padded by ``pad`` (scratch of
    ``slot``, or a new array for None)."""
    n, c = a.shape[:2]
    shape = (n, c, 2, 2, th + 2, tw + 1)
    out = be.conv_scratch(shape, a.dtype, slot) if slot else np.empty(shape, dtype=a.dtype)
    a = np.ascontiguousarray(a)
    _parallel.run(lambda k, lo, hi: K.space_to_depth(a, out, pad, lo, hi), n, _parallel.parts(n, a[0].size))
    return out


def _blocks(n: int, th: int, tw: int) -> list:
    """``(n0, n1, f0, L)`` of every block: tiles f0 … f0 + L − 1 of the images n0 … n1 − 1. An image of more than
    BLOCK_TILES / 2 tiles (th·(tw + 1)) is split into nearly equal runs of a multiple of 8 tiles, at most about
    BLOCK_TILES each; smaller images go whole, as many to a block as fit."""
    per_image = th * (tw + 1)
    if 2 * per_image <= BLOCK_TILES:
        k = BLOCK_TILES // per_image
        return [(n0, min(n, n0 + k), 0, per_image) for n0 in range(0, n, k)]
    count = -(-per_image // BLOCK_TILES)
    size = -(-per_image // count)
    size += -size % 8
    return [(img, img + 1, f0, min(size, per_image - f0)) for img in range(n) for f0 in range(0, per_image, size)]


def _run_blocks(be, blocks, c: int, o: int, dtype, body) -> None:
    """``body(k, V, M, n0, n1, f0, L)`` for every block, the blocks split over the cores (OpenBLAS on one thread
    each); V (16, c, ≥ (n1 − n0)·L) and M (16, o, ≥ (n1 − n0)·L) are core k's block buffers."""
    width = max((n1 - n0) * L for n0, n1, _, L in blocks)
    pitch = width + 8  # tile runs 32 bytes apart, no power-of-two stride between channels
    if pitch & (pitch - 1) == 0:
        pitch += 8

    def span(k, lo, hi):
        V = be.conv_scratch((16, c, pitch), dtype, f"wino_v{k}")
        M = be.conv_scratch((16, o, pitch), dtype, f"wino_m{k}")
        for blk in blocks[lo:hi]:
            body(k, V, M, *blk)
    with single_threaded():
        _parallel.run(span, len(blocks), _parallel.parts(len(blocks), 16 * width * max(c, o)))


def forward(be, K, x, W, b, p: int, keep: bool):
    """``(y, xs)``: y (N, O, OH, OW) = the convolution of ``x`` (N, C, H, W) by ``W`` (O, C, 3, 3) with padding
    ``p`` (+ ``b``), and (``keep``) x's sub-planes for :func:`backward`, else None."""
    n, c, h, w = x.shape
    o = W.shape[0]
    oh, ow, th, tw = _tiles(h, w, p)
    AT, G, _ = winograd_matrices(2, 3, W.dtype)
    U = np.ascontiguousarray(np.einsum("ui,ocij,vj->uvoc", G, W, G, optimize=True).reshape(16, o, c))
    xs = _sub_planes(be, K, x, p, th, tw, None if keep else "wino_x")
    y = np.empty((n, o, oh, ow), dtype=W.dtype)
    bb = b if b is not None else AT[0]

    def block(k, V, M, n0, n1, f0, L):
        K.wino23_input(xs, V, n0, n1, f0, L)
        t = (n1 - n0) * L
        np.matmul(U, V[:, :, :t], out=M[:, :, :t])
        K.wino23_output(M, bb, b is not None, y, n0, n1, f0, L, tw + 1)
    _run_blocks(be, _blocks(n, th, tw), c, o, W.dtype, block)
    return y, (xs if keep else None)


def backward(be, K, saved, g, needs):
    """``(dx, dW, db)`` of :func:`forward`; ``saved`` = ``(p, xs, x, W)`` (``xs`` or ``x`` for dW)."""
    p, xs, x, W = saved
    need_x, need_W, need_b = needs
    n, o, oh, ow = g.shape
    c = W.shape[1]
    g = np.ascontiguousarray(g, dtype=W.dtype)
    db = g.sum(axis=(0, 2, 3)) if need_b else None
    dW = dx = None
    if need_W:
        _, G, _ = winograd_matrices(2, 3, W.dtype)
        th, tw = -(-oh // 2), -(-ow // 2)
        if xs is None:
            xs = _sub_planes(be, K, x, p, th, tw, "wino_x")
        gs = _sub_planes(be, K, g, 0, th, tw, "wino_g")
        parts: dict = {}  # core -> its sum over its blocks

        def block(k, V, dM, n0, n1, f0, L):
            K.wino23_input(xs, V, n0, n1, f0, L)
            K.wino23_output_adjoint(gs, dM, n0, n1, f0, L)
            t = (n1 - n0) * L
            prod = np.matmul(dM[:, :, :t], V[:, :, :t].transpose(0, 2, 1))
            if k in parts:
                parts[k] += prod
            else:
                parts[k] = prod
        _run_blocks(be, _blocks(n, th, tw), c, o, W.dtype, block)
        dU = sum(parts[k] for k in sorted(parts)).reshape(4, 4, o, c)  # a fixed order: the same sum every run
        dW = np.einsum("ui,uvoc,vj->ocij", G, dU, G, optimize=True).astype(W.dtype, copy=False)
    if need_x:
        dx, _ = forward(be, K, g, dx_weight(W), None, 2 - p, False)
    return dx, dW, db

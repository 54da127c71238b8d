"""Launch geometry of the CUDA kernels in ``kernels/*.cu``, and where a column reduction leaves its totals: shared
by the CuPy backend's modules (:mod:`.cupy_backend`, :mod:`._cupy_batchnorm`). Imports no CuPy."""
from __future__ import annotations

import numpy as np

from . import _determinism
from . import _kernels as K

_BLOCK = 256             # threads per block of every launch
_ROWS_PER_THREAD = 16    # rows one thread of a column reduction visits (sets the grid's height)
_MAX_GRID_X = 2**31 - 1
_MAX_GRID_Y = 65535


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _grid_1d(n: int):
    """(grid, block) of a 1-D grid-stride launch over ``n`` elements."""
    return (max(1, min(_cdiv(n, _BLOCK), _MAX_GRID_X)),), (_BLOCK,)


def _grid_columns(rows: int, cols: int):
    """(grid, block) of a column reduction over a (rows, cols) array (see kernels/_common.cu).

    ``bx`` threads across columns (a power of two up to 32, fewer for narrow arrays), ``by = 256 / bx`` down
    the rows; the grid covers every column once and has enough rows of blocks for each thread to visit about
    ``_ROWS_PER_THREAD`` rows."""
    bx = min(32, 1 << max(cols - 1, 0).bit_length())
    by = _BLOCK // bx
    gx = min(_cdiv(cols, bx), _MAX_GRID_X)
    gy = max(1, min(_cdiv(rows, by * _ROWS_PER_THREAD), _MAX_GRID_Y))
    return (gx, gy), (bx, by)


def column_totals(xp, grid, cols: int, dtype):
    """``(out, dst, ld)`` for the per-column totals of a column-reduction launch on ``grid`` (see
    ``gn_column_store`` in kernels/_common.cu): the kernel writes to ``dst`` with row stride ``ld``, and
    :func:`finish_totals` leaves the totals in ``out`` (a fresh array). One row of blocks stores the totals
    straight into ``out``; several atomicAdd into a zeroed ``out`` (ld 0: fast, rounded in the order the blocks
    run), or, with :func:`gpunet.use_deterministic_algorithms`, store one partial per block row into a
    ``(grid_y, cols)`` workspace ``dst`` that ``column_sum`` adds up in a fixed order."""
    parts = grid[1]
    if parts == 1:
        out = xp.empty(cols, dtype=dtype)
        return out, out, cols
    if _determinism.are_deterministic_algorithms_enabled():
        return xp.empty(cols, dtype=dtype), xp.empty((parts, cols), dtype=dtype), cols
    out = xp.zeros(cols, dtype=dtype)
    return out, out, 0


def finish_totals(out, dst) -> None:
    """The second, fixed-order pass of a deterministic column reduction: ``out = dst.sum(axis=0)`` by ONE
    ``column_sum`` launch (one row of blocks); nothing when the first pass wrote ``out`` itself."""
    if dst is out:
        return
    parts, cols = dst.shape
    grid, block = _grid_columns(parts, cols)
    K.kernel("column_sum")(out.dtype)((grid[0], 1), block, (dst, out, np.int64(parts), np.int64(cols)),
                                      shared_mem=block[0] * block[1] * out.itemsize)

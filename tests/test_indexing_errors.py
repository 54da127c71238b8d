"""Indexing ops (gpunet.functional.indexing): the errors torch users expect (dimensions and indices out of range,
shapes, dtypes, devices) and integer inputs keeping their dtype. Forward and gradients are in test_indexing_ops."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip
from gpunet.functional.indexing import IndexOutOfBoundsError
from test_indexing_ops import T, idx


def test_dim_out_of_range(backend):
    x = gn.zeros(2, 3)
    i = idx([[0]])
    for call in (lambda: x.gather(2, i), lambda: x.gather(-3, i), lambda: x.scatter(5, i, 1.0),
                 lambda: x.scatter_add(2, i, gn.zeros(1, 1)), lambda: x.index_select(2, idx([0])),
                 lambda: x.split(1, 2), lambda: x.chunk(2, -3), lambda: x.unbind(2), lambda: x.flip(2),
                 lambda: x.flip(0, 3), lambda: x.roll(1, 2), lambda: x.repeat_interleave(2, dim=2)):
        with pytest.raises(IndexError, match="out of range"):
            call()
    with pytest.raises(IndexError, match="no dimensions"):
        gn.tensor(1.0).unbind()


def test_index_out_of_bounds(backend):
    x = gn.zeros(2, 3, dtype=np.float64)
    for call, v in ((lambda: x.gather(1, idx([[3]])), 3), (lambda: x.gather(1, idx([[0], [-1]])), -1),
                    (lambda: x.scatter(0, idx([[2]]), 1.0), 2),
                    (lambda: x.scatter_add(1, idx([[0, 7]]), gn.ones(1, 2, dtype=np.float64)), 7),
                    (lambda: x.index_select(1, idx([0, 3])), 3), (lambda: x.index_select(0, idx([-1])), -1)):
        with pytest.raises(IndexError, match=f"index {v} is out of bounds for dimension"):
            to_numpy(call())  # the read raises on the GPU, where the check is deferred
        with pytest.raises(RuntimeError):  # what torch users catch
            to_numpy(call())
    assert issubclass(IndexOutOfBoundsError, IndexError) and issubclass(IndexOutOfBoundsError, RuntimeError)


def test_shape_and_dtype_errors(backend):
    x = gn.zeros(2, 3, dtype=np.float64)
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        x.gather(1, idx([0]))
    with pytest.raises(RuntimeError, match="no larger than self"):
        x.gather(1, idx([[0], [1], [2]]))
    with pytest.raises(RuntimeError, match="int32/int64"):
        x.gather(1, gn.tensor(np.zeros((1, 1))))
    with pytest.raises(RuntimeError, match="src"):
        x.scatter(1, idx([[0, 1]]), gn.ones(1, 1, dtype=np.float64))
    with pytest.raises(RuntimeError, match="same number of dimensions as src"):
        x.scatter(1, idx([[0]]), gn.tensor(np.array(1.0)))
    with pytest.raises(TypeError, match="src"):
        x.scatter_add(1, idx([[0]]), 2.0)
    with pytest.raises(IndexError, match="vector"):
        x.index_select(1, idx([[0]]))
    with pytest.raises(RuntimeError, match="boolean"):
        x.masked_fill(idx([1, 0, 1]), 1.0)
    with pytest.raises(RuntimeError, match="broadcast"):
        x.masked_fill(gn.tensor(np.array([True, False])), 1.0)
    with pytest.raises(RuntimeError, match="0-dimensional value"):
        x.masked_fill(gn.tensor(np.array([True, False, True])), gn.tensor(np.array([1.0, 2.0])))
    with pytest.raises(RuntimeError, match="boolean"):
        x.masked_select(idx([1, 0, 1]))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        gn.zeros(3).tril()
    with pytest.raises(RuntimeError, match="split_size can only be 0"):
        x.split(0)
    with pytest.raises(RuntimeError, match="non-negative"):
        x.split(-1)
    with pytest.raises(RuntimeError, match="sum exactly to 3"):
        x.split([1, 1], 1)
    with pytest.raises(RuntimeError, match="greater than 0"):
        x.chunk(0)
    with pytest.raises(TypeError):
        x.chunk(2.0)
    with pytest.raises(RuntimeError, match="appears more than once"):
        x.flip(0, 0)
    with pytest.raises(TypeError):
        x.flip()
    with pytest.raises(RuntimeError, match="must align"):
        x.roll(1, (0, 1))
    with pytest.raises(RuntimeError, match="must align"):
        x.roll((1, 1))
    with pytest.raises(RuntimeError, match="can not be smaller"):
        x.repeat(2)
    with pytest.raises(RuntimeError, match="negative"):
        x.repeat(1, -1)
    with pytest.raises(RuntimeError, match="non-negative"):
        x.repeat_interleave(-1)
    with pytest.raises(RuntimeError, match="same size as input along dim"):
        x.repeat_interleave(idx([1, 2]), dim=1)


def test_index_on_another_device_is_refused(backend):
    if backend.name != "cupy":
        pytest.skip("needs a second device")
    x = gn.zeros(2, 3, dtype=np.float64)
    host_index = gn.tensor(np.array([[0]]), device="cpu")
    with pytest.raises(gn.backend.DeviceMismatchError):
        x.gather(1, host_index)
    # a plain host array or list is moved to the input's device, as for x[...] indexing
    assert to_numpy(x.index_select(1, np.array([2, 0]))).shape == (2, 2)
    assert to_numpy(x.index_select(1, [1])).shape == (2, 1)


def test_integer_inputs_keep_dtype(backend):
    torch = torch_or_skip()
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    g = gn.tensor(a)
    t = torch.tensor(a)
    i = np.array([[0, 3], [1, 1], [2, 0]])
    for got, want in ((g.gather(1, idx(i)), t.gather(1, T(i))), (g.flip(0), t.flip(0)), (g.roll(1, 1), t.roll(1, 1)),
                      (g.tril(), t.tril()), (g.repeat(2, 1), t.repeat(2, 1)),
                      (g.index_select(0, idx([2, 2])), t.index_select(0, T([2, 2])))):
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got.numpy(), want.numpy())

"""The CUDA emulator itself: it runs CUDA C on the CPU, and it catches the bugs it is there to catch.

Each check uses a small kernel written here: a race (a missing barrier) gives a wrong result in some order, a
barrier in divergent code raises, shared memory starts poisoned, arguments are checked against the parameter
types, and atomicAdd on double is refused before compute capability 6.0 as it is by CUDA.
"""
from __future__ import annotations

import numpy as np
import pytest

from cuda_emulator import emulator as E

pytestmark = pytest.mark.skipif(not E.available()[0], reason=E.available()[1])

SRC = r"""
extern __shared__ __align__(8) unsigned char smem[];

template <typename T>
__global__ void block_sum(const T* x, T* out, long long n, int with_barrier) {
    T* part = reinterpret_cast<T*>(smem);
    const unsigned t = threadIdx.x;
    const long long i = (long long)blockIdx.x * blockDim.x + t;
    part[t] = i < n ? x[i] : T(0);
    if (with_barrier) __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) part[t] += part[t + s];
        if (with_barrier) __syncthreads();
    }
    if (t == 0) atomicAdd(out, part[0]);
}

template <typename T>
__global__ void divergent_barrier(T* x) {
    if (threadIdx.x % 2 == 0) __syncthreads();
    x[threadIdx.x] = T(1);
}

template <typename T>
__global__ void read_shared(T* out) {
    T* part = reinterpret_cast<T*>(smem);
    out[threadIdx.x] = part[threadIdx.x];
}

template <typename T>
__global__ void index_2d(int* out) {
    const int t = threadIdx.y * blockDim.x + threadIdx.x;
    const int b = blockIdx.y * gridDim.x + blockIdx.x;
    out[b * blockDim.x * blockDim.y + t] = b * 1000 + t;
}
"""


class Dev:
    """The smallest device array: what the emulator reads of a CuPy array."""

    def __init__(self, a):
        self.a = np.ascontiguousarray(a)
        self.flags = self.a.flags

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.a.shape, "typestr": self.a.dtype.str, "data": (self.a.ctypes.data, False),
                "strides": None, "version": 3}


@pytest.fixture(scope="module")
def mod():
    exprs = [f"{k}<{t}>" for k in ("block_sum", "divergent_barrier", "read_shared", "index_2d")
             for t in ("float", "double")]
    return E.compile_module(SRC, (), exprs)


@pytest.fixture(autouse=True)
def _cycle_orders():
    yield
    E.set_order(None)


@pytest.mark.parametrize("order", E.ORDERS)
def test_a_correct_reduction_is_right_in_every_order(mod, order):
    E.set_order(order)
    x = np.arange(1000, dtype=np.float64)
    out = Dev(np.zeros(1))
    mod.get_function("block_sum<double>")((4,), (256,), (Dev(x), out, np.int64(x.size), np.int32(1)),
                                          shared_mem=256 * 8)
    assert out.a[0] == x.sum()


def test_a_missing_barrier_shows_in_some_order(mod):
    x = np.arange(1000, dtype=np.float64)
    results = []
    for order in E.ORDERS:
        E.set_order(order)
        out = Dev(np.zeros(1))
        mod.get_function("block_sum<double>")((4,), (256,), (Dev(x), out, np.int64(x.size), np.int32(0)),
                                              shared_mem=256 * 8)
        results.append(out.a[0])
    assert any(not r == x.sum() for r in results), results  # NaN (an unwritten, poisoned slot) or a wrong sum


def test_a_barrier_in_divergent_code_raises(mod):
    with pytest.raises(E.EmulatorError, match="divergent"):
        mod.get_function("divergent_barrier<float>")((1,), (8,), (Dev(np.zeros(8, np.float32)),))


def test_shared_memory_starts_poisoned(mod):
    out = Dev(np.zeros(4, np.float32))
    mod.get_function("read_shared<float>")((1,), (4,), (out,), shared_mem=16)
    assert np.isnan(out.a).all()


def test_indices_of_a_2d_grid(mod):
    E.set_order("shuffled")
    out = Dev(np.full(2 * 3 * 4 * 2, -1, np.int32))
    mod.get_function("index_2d<float>")((2, 3), (4, 2), (out,))
    expect = [b * 1000 + t for b in range(6) for t in range(8)]
    np.testing.assert_array_equal(out.a, expect)


def test_arguments_are_checked_against_the_parameter_types(mod):
    k = mod.get_function("block_sum<float>")
    x, out = Dev(np.zeros(4, np.float32)), Dev(np.zeros(1, np.float32))
    with pytest.raises(TypeError, match="argument 2 is a int32 scalar but the parameter is i8"):
        k((1,), (4,), (x, out, np.int32(4), np.int32(1)), shared_mem=16)
    with pytest.raises(TypeError, match="argument 0 is an array of f8 but the parameter points to f4"):
        k((1,), (4,), (Dev(np.zeros(4)), out, np.int64(4), np.int32(1)), shared_mem=16)
    with pytest.raises(TypeError, match="must be a NumPy scalar"):
        k((1,), (4,), (x, out, 4, np.int32(1)), shared_mem=16)
    with pytest.raises(TypeError, match="4 arguments expected"):
        k((1,), (4,), (x, out), shared_mem=16)
    with pytest.raises(TypeError, match="not C-contiguous"):
        class Strided(Dev):
            @property
            def __cuda_array_interface__(self):
                d = super().__cuda_array_interface__
                return {**d, "strides": (8,)}
        s = Strided(np.zeros(8, np.float32)[::2])
        s.flags = np.zeros(8)[::2].flags
        k((1,), (4,), (s, out, np.int64(4), np.int32(1)), shared_mem=16)


def test_double_atomics_need_compute_capability_6():
    exprs = ["block_sum<double>"]
    with pytest.raises(E.EmulatorError, match="does not compile"):
        E.compile_module(SRC, ("-arch=compute_52",), exprs)
    E.compile_module(SRC.replace("atomicAdd(out, part[0])", "*out += part[0]"), ("-arch=compute_52",), exprs)

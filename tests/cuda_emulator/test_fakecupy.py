"""The NumPy-backed CuPy stand-in behaves as CuPy where gpunet's GPU path depends on it: a separate device (host
arrays refused, no implicit conversion), views whose base is the one root array, in-place operators that write the
same memory, 0-d results, counted host syncs, CuPy's RandomState dtype rule, and a CUDA array interface that points
at the real buffer. The modules are imported directly (not installed as ``cupy``)."""
from __future__ import annotations

import copy
import sys

import numpy as np
import pytest

from . import fakecupy as cp
from . import fakecupyx as cpx


@pytest.fixture(autouse=True)
def _zero_syncs():
    cp.reset_syncs()
    yield


# ------------------------------------------------------------------------------------------- device separation
def test_device_array_is_not_a_numpy_array():
    a = cp.arange(3.0)
    assert type(a) is cp.ndarray and not isinstance(a, np.ndarray)
    assert isinstance(cp.asnumpy(a), np.ndarray) and isinstance(a.get(), np.ndarray)


@pytest.mark.parametrize("host", [np.ones(3), np.array(2.0)], ids=["1-d", "0-d"])
def test_host_arrays_are_refused(host):
    a = cp.ones(3)
    checks = [lambda: a + host, lambda: host + a, lambda: a * host, lambda: cp.add(a, host),
              lambda: cp.maximum(host, a), lambda: cp.where(a > 0, host, a), lambda: cp.concatenate([a, host]),
              lambda: cp.matmul(a, host), lambda: cp.ascontiguousarray(host), lambda: np.exp(a) + host]
    for check in checks:
        with pytest.raises(TypeError, match="numpy.ndarray"):
            check()
    with pytest.raises(TypeError):
        a.__iadd__(host)


def test_scalars_are_accepted():
    a = cp.ones(3, dtype=np.float32)
    for s in (2, 2.0, np.float32(2), np.float64(2), np.int64(2), True):
        assert type(a * s) is cp.ndarray and type(s + a) is cp.ndarray
    assert (a * np.float32(2)).dtype == np.float32 and (a + 1.0).dtype == np.float32


def test_implicit_conversion_raises():
    a = cp.zeros((2, 2))
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.array([a, a])


def test_transfers_copy():
    h = np.arange(4.0)
    d = cp.asarray(h)
    h[0] = 99
    assert d.get()[0] == 0  # asarray of a host array copies it to the device
    d.set(np.full(4, 7.0))
    assert (d.get() == 7).all()
    with pytest.raises(TypeError):
        d.set(np.zeros(4, np.float32))
    with pytest.raises(ValueError):
        d[:] = np.zeros(4)  # CuPy: non-scalar host arrays cannot fill a basic-indexed target
    d[np.array([0, 1])] = np.array([1.0, 2.0])  # advanced indexing takes host data (copied over)
    assert d[np.array([1])].get()[0] == 2.0


def test_numpy_calls_dispatch_to_the_device():
    a = cp.arange(4.0)
    assert type(np.exp(a)) is cp.ndarray and type(np.concatenate([a, a])) is cp.ndarray
    assert type(np.float32(3) * a) is cp.ndarray


# ------------------------------------------------------------------------------------------- views and memory
def test_views_share_one_root_base():
    a = cp.zeros((4, 6))
    assert a.base is None
    views = [a[1:], a.T, a.reshape(6, 4), a.view(), a.ravel(), a.swapaxes(0, 1), a[None].squeeze(0), a[1],
             a[1, 2], a.reshape(24)[3:].reshape(3, 7), cp.broadcast_to(a, (2, 4, 6)), a.view(np.int64)]
    for v in views:
        assert v.base is a
    assert a[1:][1:].base is a and a.T.T.base is a  # views of views: still the root
    for fresh in (a.copy(), a.flatten(), a + 1, a[[0, 1]], a.T.reshape(24), a[a > 0], a.sum(axis=0)):
        assert fresh.base is None


def test_in_place_ops_write_the_same_memory():
    a = cp.ones(5)
    ptr = a.__cuda_array_interface__["data"][0]
    b = a
    b += 2
    b *= cp.full(5, 3.0)
    b -= 1
    assert b is a and a.__cuda_array_interface__["data"][0] == ptr
    np.testing.assert_array_equal(a.get(), np.full(5, 8.0))
    v = a[1:3]
    v += 10
    np.testing.assert_array_equal(a.get(), [8, 18, 18, 8, 8])
    cp.multiply(a, 2, out=a)
    assert a.get()[1] == 36


def test_identity_when_nothing_changes():
    a = cp.zeros((3, 4), dtype=np.float32)
    assert cp.ascontiguousarray(a) is a and cp.asarray(a) is a and a.astype(np.float32, copy=False) is a
    t = cp.ascontiguousarray(a.T)
    assert t.flags.c_contiguous and t is not a and t.base is None
    assert cp.ascontiguousarray(cp.zeros(())).shape == ()  # 0-d stays 0-d, as CuPy
    assert cp.may_share_memory(a, a[1]) and not cp.may_share_memory(a, a.copy())


def test_reductions_and_scalar_indexing_give_0d_arrays():
    a = cp.asarray(np.arange(6.0).reshape(2, 3))
    for r in (a.sum(), a.max(), a.mean(), a.argmax(), a.any(), a.std(), cp.sum(a), a[1, 2], a[0][0],
              cp.dot(a[0], a[1])):
        assert type(r) is cp.ndarray and r.shape == ()
    assert float(a[1, 2]) == 5.0 and a[1, 2].base is a


def test_cuda_array_interface_points_at_the_buffer():
    a = cp.arange(12, dtype=np.float32).reshape(3, 4)
    cai = a.__cuda_array_interface__
    assert cai["data"] == (a._a.ctypes.data, False) and cai["typestr"] == "<f4" and cai["version"] == 3
    assert cai["shape"] == (3, 4) and cai["strides"] is None
    t = a.T.__cuda_array_interface__
    assert t["strides"] == (4, 16) and t["data"][0] == a._a.ctypes.data
    assert a[1].__cuda_array_interface__["data"][0] == a._a.ctypes.data + 16


# ------------------------------------------------------------------------------------------- host syncs
def test_every_device_to_host_read_is_a_sync():
    a = cp.arange(4.0)
    assert cp.SYNCS == 0
    a2 = a * 2 + 1  # device work: no sync
    _ = a2.sum(), a2[1:], a2.T, len(a2), a2.shape, cp.zeros(3)
    assert cp.SYNCS == 0
    reads = [lambda: a.get(), lambda: a[0].item(), lambda: a.tolist(), lambda: float(a[1]), lambda: int(a[1]),
             lambda: bool(a[1]), lambda: [0, 1][a[1].astype(np.int64)], lambda: cp.asnumpy(a), lambda: repr(a),
             lambda: cp.cuda.Stream.null.synchronize(), lambda: cp.cuda.get_current_stream().synchronize(),
             lambda: cp.cuda.Device().synchronize(), lambda: a[a > 1], lambda: cp.nonzero(a)]
    for i, read in enumerate(reads, start=1):
        read()
        assert cp.SYNCS == i, f"read {i} did not count one sync"
    assert cp.syncs("get") == 2 and cp.syncs("stream") == 2 and cp.syncs("mask") == 1
    with cp.cuda.Stream(non_blocking=True) as s:
        assert cp.cuda.get_current_stream() is s
        s.synchronize()
    assert cp.cuda.get_current_stream() is cp.cuda.Stream.null and cp.SYNCS == len(reads) + 1
    cp.reset_syncs()
    assert cp.SYNCS == 0 and cp.syncs("get") == 0


def test_copy_and_deepcopy_stay_on_the_device():
    a = cp.arange(3.0)
    b, c = copy.copy(a), copy.deepcopy([a])[0]
    assert type(b) is cp.ndarray and type(c) is cp.ndarray and cp.SYNCS == 0
    assert not cp.may_share_memory(a, b)


# ------------------------------------------------------------------------------------------- random
def test_random_state_dtypes_as_cupy():
    rs = cp.random.RandomState(0)
    for dt in (np.float32, np.float64):
        assert rs.random_sample((3,), dtype=dt).dtype == dt and rs.standard_normal((3,), dtype=dt).dtype == dt
    for f in (rs.random_sample, rs.standard_normal):
        for bad in (np.float16, np.int32):
            with pytest.raises(TypeError, match="float32 and float64"):
                f((3,), dtype=bad)


def test_random_is_deterministic_from_the_seed():
    def draw(seed):
        rs = cp.random.RandomState(seed)
        return np.concatenate([rs.random_sample((5,), dtype=np.float32).get(), rs.standard_normal(4).get(),
                               rs.randint(0, 10, 3).get(), rs.permutation(6).get()])
    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))
    cp.random.seed(5)
    x = cp.random.rand(4)
    cp.random.seed(5)
    np.testing.assert_array_equal(x.get(), cp.random.rand(4).get())
    assert type(cp.random.RandomState(0).random_sample()) is cp.ndarray


# ------------------------------------------------------------------------------------------- cuda, kernels, cupyx
def test_cuda_namespace():
    d = cp.cuda.Device()
    assert d.id == 0 and d.compute_capability == "90" and cp.cuda.runtime.getDeviceCount() == 1
    with d:
        pass
    with pytest.raises(cp.cuda.runtime.CUDARuntimeError):
        cp.cuda.Device(1)
    assert cp.cuda.runtime.getDeviceProperties(0)["name"].startswith(b"NVIDIA")
    assert cp.get_default_memory_pool().used_bytes() == 0
    e0, e1 = cp.cuda.Event(), cp.cuda.Event()
    e0.record()
    e1.record()
    e1.synchronize()
    assert cp.cuda.get_elapsed_time(e0, e1) >= 0


def test_raw_module_goes_to_the_emulator(monkeypatch):
    calls = []

    class Stub:
        def get_function(self, name):
            return lambda grid, block, args, shared_mem=0: calls.append((name, grid, block, args, shared_mem))

    monkeypatch.setattr(sys.modules[cp.RawModule.__module__], "_emulator",
                        lambda: type("E", (), {"compile_module": staticmethod(lambda *a: Stub())}))
    m = cp.RawModule(code="...", options=(), name_expressions=["k<float>", "k<double>"])
    x = cp.zeros(4, np.float32)
    m.get_function("k<float>")((1,), (32,), (x, np.int64(4)), shared_mem=8)
    assert calls == [("k<float>", (1,), (32,), (x, np.int64(4)), 8)]
    with pytest.raises(cp.cuda.driver.CUDADriverError):
        m.get_function("k")
    with pytest.raises(TypeError, match="numpy.ndarray"):
        m.get_function("k<double>")((1,), (32,), (np.zeros(4), np.int64(4)))


def test_scatter_add_accumulates_in_place():
    a = cp.zeros(4, np.float32)
    cpx.scatter_add(a, cp.asarray([0, 1, 1, 3]), cp.ones(4, np.float32))
    np.testing.assert_array_equal(a.get(), [1, 2, 0, 1])
    cpx.scatter_add(a, np.array([2, 2]), 1.5)  # host indices are taken, as CuPy
    assert a.get()[2] == 3
    with pytest.raises(TypeError):
        cpx.scatter_add(a, [0], np.ones(1, np.float32))
    with pytest.raises(TypeError, match="only supports"):
        cpx.scatter_add(cp.zeros(2, np.int64), [0], 1)


def test_cupyx_special_erf():
    x = cp.asarray(np.linspace(-3, 3, 7), dtype=np.float32)
    y = cpx.scipy.special.erf(x)
    assert type(y) is cp.ndarray and y.dtype == np.float32
    np.testing.assert_allclose(y.get(), [np.float32(__import__("math").erf(v)) for v in x.get()])

"""Backend selection, CuPy detection (without a GPU), device-mix errors, and seeding."""
from __future__ import annotations

import os
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
from gpunet import backend as B
from gpunet.backend import Backend, BackendUnavailableError, DeviceMismatchError

GPU_OK = B.cupy_status()[0]


@pytest.fixture
def fresh_cupy_state(monkeypatch):
    """Forget what was found about CuPy (restored after the test)."""
    monkeypatch.setattr(B, "_cupy_checked", None)
    monkeypatch.setattr(B, "_CUPY", None)
    monkeypatch.setattr(B, "_cupy_ndarray", None)
    monkeypatch.setattr(B, "_current", None)
    monkeypatch.delenv("GPUNET_BACKEND", raising=False)


# ---------------------------------------------------------------------------------------------- selection
def test_available_starts_with_numpy():
    names = B.available()
    assert names[0] == "numpy"
    assert names == (["numpy", "cupy"] if GPU_OK else ["numpy"])
    assert gn.available() == names


def test_use_numpy_and_current():
    be = gn.use("numpy")
    assert be.name == "numpy" and be.device == "cpu" and be.xp is np
    assert B.current() is be
    assert gn.use("cpu") is be and B.get("np") is be
    assert repr(be) == "Backend(name='numpy', device='cpu')"


def test_use_auto_never_raises_and_picks_what_is_usable():
    be = gn.use("auto")
    assert be.name == ("cupy" if GPU_OK else "numpy")
    assert gn.use().name == be.name


@pytest.mark.skipif(GPU_OK, reason="a GPU is usable here")
def test_use_cupy_without_a_gpu_says_why():
    with pytest.raises(BackendUnavailableError) as e:
        gn.use("cupy")
    msg = str(e.value)
    assert B.cupy_status()[1] in msg
    assert "gn.use('numpy')" in msg
    with pytest.raises(BackendUnavailableError):
        gn.tensor([1.0], device="cuda")


def test_cupy_not_installed(monkeypatch, fresh_cupy_state):
    monkeypatch.setitem(sys.modules, "cupy", None)      # makes `import cupy` raise ImportError
    ok, why = B.cupy_status()
    assert not ok and "not installed" in why and "pip install" in why
    with pytest.raises(BackendUnavailableError, match="not installed"):
        gn.use("cuda")
    assert gn.use("auto").name == "numpy"
    assert B.available() == ["numpy"]


def _fake_cupy(device_count):
    def count():
        if isinstance(device_count, Exception):
            raise device_count
        return device_count
    return types.SimpleNamespace(__version__="99.0", cuda=types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=count)))


@pytest.mark.parametrize("count,expected", [(RuntimeError("no driver"), "no CUDA driver/device is usable"),
                                            (0, "no CUDA device was found")])
def test_cupy_without_a_device(monkeypatch, fresh_cupy_state, count, expected):
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(count))
    ok, why = B.cupy_status()
    assert not ok and expected in why
    with pytest.raises(BackendUnavailableError, match=expected):
        gn.use("cupy")
    assert gn.use("auto").name == "numpy"


def test_cupy_status_is_cached(monkeypatch, fresh_cupy_state):
    monkeypatch.setitem(sys.modules, "cupy", None)
    first = B.cupy_status()
    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy(0))
    assert B.cupy_status() is first


def test_unknown_backend_names_raise_value_error():
    for name in ("tpu", "opencl", "", "cuda0"):
        with pytest.raises(ValueError, match="unknown backend or device"):
            gn.use(name)
    with pytest.raises(ValueError, match="'numpy'"):
        B.get("metal")


def test_only_the_current_cuda_device():
    with pytest.raises(BackendUnavailableError, match="cuda:0"):
        B.get("cuda:1")


def test_environment_variable_sets_the_first_backend(monkeypatch):
    monkeypatch.setattr(B, "_current", None)
    monkeypatch.setenv("GPUNET_BACKEND", "numpy")
    assert B.current().name == "numpy"


# ---------------------------------------------------------------------------------------------- warnings
def test_import_and_auto_emit_no_warning():
    code = ("import warnings\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    import gpunet\n"
            "    gpunet.use('auto'); gpunet.available()\n"
            "print(len(w), [str(x.message) for x in w])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in os.environ.items() if k not in ("GPUNET_BACKEND", "PYTHONWARNINGS")})
    assert out.stdout.startswith("0 "), out.stdout + out.stderr


def test_detection_emits_no_warning_in_process(fresh_cupy_state):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        B.cupy_status()
        gn.use("auto")
        B.available()
    assert not w, [str(x.message) for x in w]


# ---------------------------------------------------------------------------------------------- device mix
class FakeCudaArray:
    """Looks like a CuPy array to backend_of (it has __cuda_array_interface__)."""
    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False), "version": 3}
    shape, dtype, ndim = (2,), np.dtype(np.float32), 1


@pytest.fixture
def fake_gpu(monkeypatch):
    fake = Backend(np)
    fake.name, fake.device = "cupy", "cuda:0"
    monkeypatch.setattr(B, "_cupy_backend", lambda: fake)
    return fake


def test_backend_of_refuses_a_mix_and_names_the_arguments(fake_gpu):
    with pytest.raises(DeviceMismatchError) as e:
        B.backend_of([np.ones(2), FakeCudaArray()], "Add", ("input", "other"))
    msg = str(e.value)
    assert "Add: argument 1 ('other') is on cuda:0 but argument 0 ('input') is on cpu" in msg
    assert "x.to('cpu')" in msg
    with pytest.raises(DeviceMismatchError, match=r"argument 2 \('other'\) is on cpu.*argument 1 \('input'\) "
                                                  r"is on cuda:0.*x\.to\('cuda'\)"):
        B.backend_of([3.0, FakeCudaArray(), np.ones(2)], "Where", ("condition", "input", "other"))


def test_op_on_mixed_devices_raises(fake_gpu):
    with pytest.raises(DeviceMismatchError, match=r"Mul: argument 1 \('other'\) is on cuda:0"):
        gn.ones(2) * FakeCudaArray()
    assert issubclass(DeviceMismatchError, RuntimeError)


def test_backend_of_finds_the_device_from_any_argument(fake_gpu):
    assert B.backend_of([2.0, FakeCudaArray()]) is fake_gpu
    assert B.backend_of([None, 1, np.ones(1)]).name == "numpy"
    assert B.backend_of([1.0, 2.0]) is B.current()


# ---------------------------------------------------------------------------------------------- seeding
def test_manual_seed_repeats_and_different_seeds_differ(backend):
    gn.manual_seed(123)
    a, an = gn.rand(5), gn.randn(2, 3)
    gn.manual_seed(123)
    b, bn = gn.rand(5), gn.randn(2, 3)
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
    np.testing.assert_array_equal(to_numpy(an), to_numpy(bn))
    gn.manual_seed(124)
    assert not np.array_equal(to_numpy(gn.rand(5)), to_numpy(a))
    assert not np.array_equal(to_numpy(gn.randn(2, 3)), to_numpy(an))


def test_manual_seed_reseeds_the_host_generator():
    gn.manual_seed(5)
    first = B.host_rng().standard_normal(3)
    gn.manual_seed(5)
    np.testing.assert_array_equal(B.host_rng().standard_normal(3), first)


def test_random_dtypes(backend):
    assert gn.rand(3, dtype=np.float64).dtype == np.float64
    assert gn.randn(3, dtype=np.float32).dtype == np.float32


def test_scatter_add_accumulates_repeated_indices(backend):
    target = backend.xp.zeros(3)
    backend.scatter_add(target, backend.asarray(np.array([0, 0, 2])), backend.asarray(np.array([1.0, 2.0, 3.0])))
    np.testing.assert_array_equal(to_numpy(target), [3.0, 0.0, 3.0])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_random_numbers_of_every_float_dtype(backend, dtype):
    """CuPy's generator draws float32/float64 only: float16 is drawn in float32 and cast (it raised on the GPU),
    and uniform samples stay below 1 after the rounding."""
    gn.manual_seed(0)
    u = gn.rand(20000, dtype=dtype)
    n = gn.randn(20000, dtype=dtype)
    assert u.dtype == dtype and n.dtype == dtype
    un = to_numpy(u)
    assert 0 <= un.min() and un.max() < 1
    assert abs(to_numpy(n).std() - 1) < 0.05
    x = gn.ones(64, 32, dtype=dtype)
    y = gn.functional.dropout(x, p=0.5, training=True)       # dropout on float16 activations
    assert y.dtype == dtype and 0.3 < float((to_numpy(y) == 0).mean()) < 0.7


def test_deterministic_algorithms_switch():
    """One process-wide flag, off by default, as torch.use_deterministic_algorithms; a bool only."""
    assert gn.are_deterministic_algorithms_enabled() is False
    gn.use_deterministic_algorithms(True)
    try:
        assert gn.are_deterministic_algorithms_enabled() is True
        assert B.are_deterministic_algorithms_enabled() is True
    finally:
        gn.use_deterministic_algorithms(False)
    assert gn.are_deterministic_algorithms_enabled() is False
    with pytest.raises(TypeError, match="bool"):
        gn.use_deterministic_algorithms(1)


@pytest.mark.parametrize("value, enabled, warns", [("1", True, False), ("on", True, False), ("0", False, False),
                                                   ("", False, False), ("maybe", False, True)])
def test_deterministic_algorithms_from_the_environment(value, enabled, warns):
    code = ("import warnings; warnings.simplefilter('always')\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    import gpunet\n"
            "print(gpunet.are_deterministic_algorithms_enabled(), any('GPUNET_DETERMINISTIC' in str(x.message) "
            "for x in w))")
    env = {**os.environ, "GPUNET_DETERMINISTIC": value}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [str(enabled), str(warns)]

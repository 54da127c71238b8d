"""The device side of :mod:`fakecupy`: ``cupy.cuda``, ``cupy.random``, ``RawModule``/``RawKernel`` and memory pools.

Modelled: one device (id 0, compute capability "90", properties of an H200-like card); streams, events and the
current stream as objects whose ``synchronize()`` is a host sync (counted in ``fakecupy.SYNCS``) and otherwise does
nothing, since every operation has already run; events time with the host clock. ``RandomState`` draws from
NumPy's PCG64 (deterministic from the seed; not CuPy's cuRAND numbers) and, like CuPy, accepts only float32/float64
for its floating distributions. ``RawModule``/``RawKernel`` compile with the CUDA emulator (``emulator.py``) and
launch there; a module's ``get_function`` takes exactly its name expressions, and host (NumPy) arrays as kernel
arguments are refused as CuPy refuses them.

Not modelled: several devices, stream ordering or concurrency, memory-pool accounting (every count is 0), CUDA
graphs, texture memory, the driver API beyond ``CUDADriverError``.
"""
from __future__ import annotations

import time
import types

import numpy as np

from ._fakearray import _new, _operand, _refuse, _sync, _unwrap, ndarray

_TOTAL_MEM = 141 * 2**30


def _ns(name, **attrs):
    m = types.ModuleType(name)
    m.__path__ = []
    m.__dict__.update(attrs)
    return m


def _emulator():
    from . import emulator

    return emulator


# ------------------------------------------------------------------------------------------------- cuda
class CUDARuntimeError(RuntimeError):
    def __init__(self, status=1, msg=None):
        self.status = status
        super().__init__(msg or f"cudaError {status}")


class CUDADriverError(RuntimeError):
    pass


class Device:
    """The one emulated device (``Device()``, ``Device(0)``); any other id raises CUDARuntimeError."""

    compute_capability = "90"

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise CUDARuntimeError(101, "cudaErrorInvalidDevice: invalid device ordinal")

    def synchronize(self):
        _sync("device")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    mem_info = property(lambda self: (_TOTAL_MEM, _TOTAL_MEM))
    __int__ = __index__ = lambda self: self.id
    __eq__ = lambda self, other: isinstance(other, Device) and other.id == self.id
    __hash__ = lambda self: hash(("Device", self.id))
    __repr__ = lambda self: f"<CUDA Device {self.id}>"


class Stream:
    """A stream label: work already ran; ``synchronize()`` counts a host sync."""

    null: Stream

    def __init__(self, null=False, non_blocking=False, ptds=False, priority=None):
        self.ptr, self.non_blocking, self._prev = 0 if null else id(self), non_blocking, []

    def synchronize(self):
        _sync("stream")

    def use(self):
        _current[0] = self
        return self

    def __enter__(self):
        self._prev.append(_current[0])
        return self.use()

    def __exit__(self, *exc):
        _current[0] = self._prev.pop()
        return False

    done = property(lambda self: True)

    def record(self, event=None):
        event = Event() if event is None else event
        event.record(self)
        return event

    def wait_event(self, event):
        pass

    def __repr__(self):
        return f"<Stream {self.ptr} (fakecupy)>"


Stream.null = Stream(null=True)
_current = [Stream.null]


class Event:
    def __init__(self, block=False, disable_timing=False, interprocess=False):
        self.disable_timing, self._t = disable_timing, None

    def record(self, stream=None):
        self._t = time.perf_counter()

    def synchronize(self):
        _sync("event")

    done = property(lambda self: True)


def get_elapsed_time(start: Event, end: Event) -> float:
    """Milliseconds between two recorded events (host clock)."""
    if start._t is None or end._t is None or start.disable_timing or end.disable_timing:
        raise CUDARuntimeError(600, "cudaErrorNotReady / invalid resource handle: event not recorded with timing")
    return (end._t - start._t) * 1e3


class MemoryPool:
    """Inert pool: nothing is accounted (every count 0)."""

    def __init__(self, allocator=None):
        self._limit = 0

    used_bytes = total_bytes = free_bytes = n_free_blocks = lambda self: 0

    def free_all_blocks(self, stream=None):
        pass

    def set_limit(self, size=None, fraction=None):
        self._limit = int(size or 0)

    def get_limit(self):
        return self._limit


class PinnedMemoryPool(MemoryPool):
    pass


_POOL, _PINNED = MemoryPool(), PinnedMemoryPool()


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return _PINNED


def _properties(device=0):
    Device(device)
    return {"name": b"NVIDIA H200 (fakecupy emulation)", "totalGlobalMem": _TOTAL_MEM, "major": 9, "minor": 0,
            "multiProcessorCount": 132, "maxThreadsPerBlock": 1024, "warpSize": 32, "sharedMemPerBlock": 49152,
            "sharedMemPerBlockOptin": 232448, "maxThreadsDim": (1024, 1024, 64),
            "maxGridSize": (2**31 - 1, 65535, 65535), "clockRate": 1980000, "pciBusID": 0}


def _device_sync():
    _sync("device")


runtime = _ns("cupy.cuda.runtime", CUDARuntimeError=CUDARuntimeError, getDeviceCount=lambda: 1,
              runtimeGetVersion=lambda: 12080, driverGetVersion=lambda: 12080, getDevice=lambda: 0,
              setDevice=lambda d: Device(d) and None, deviceSynchronize=_device_sync,
              getDeviceProperties=_properties, memGetInfo=lambda: (_TOTAL_MEM, _TOTAL_MEM), is_hip=False)
driver = _ns("cupy.cuda.driver", CUDADriverError=CUDADriverError)
cuda = _ns("cupy.cuda", Device=Device, Stream=Stream, Event=Event, get_elapsed_time=get_elapsed_time,
           get_current_stream=lambda device_id=-1: _current[0], MemoryPool=MemoryPool,
           PinnedMemoryPool=PinnedMemoryPool, runtime=runtime, driver=driver, is_available=lambda: True,
           get_device_id=lambda: 0)


# ------------------------------------------------------------------------------------------- kernels
class RawKernel:
    """``RawKernel(code, name)``, or a function of a :class:`RawModule`; ``k(grid, block, args, shared_mem=0)``."""

    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False, *,
                 enable_cooperative_groups=False, jitify=False, _fn=None):
        self.code, self.name, self.options, self._fn = code, name, tuple(options), _fn

    max_threads_per_block, num_regs, shared_size_bytes = 1024, 0, 0

    @property
    def kernel(self):
        if self._fn is None:
            self._fn = _emulator().compile_module(self.code, self.options, (self.name,)).get_function(self.name)
        return self._fn

    def __call__(self, grid, block, args, *, shared_mem=0, stream=None, enable_cooperative_groups=False):
        for a in args:
            if isinstance(a, np.ndarray):  # CuPy's _pointer(): host arrays are not kernel arguments
                _refuse(a)
        return self.kernel(grid, block, tuple(args), shared_mem=shared_mem)

    def __repr__(self):
        return f"<RawKernel {self.name} (fakecupy, emulated)>"


class RawModule:
    """Compiled by the emulator at construction; ``get_function`` accepts exactly the ``name_expressions``."""

    def __init__(self, code=None, path=None, options=(), backend="nvrtc", translate_cucomplex=False, *,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False):
        if code is None:
            with open(path) as f:
                code = f.read()
        self.code, self.options, self.name_expressions = code, tuple(options), tuple(name_expressions or ())
        self._module = _emulator().compile_module(code, self.options, self.name_expressions)
        self._fns: dict = {}

    def get_function(self, name: str) -> RawKernel:
        fn = self._fns.get(name)
        if fn is None:
            if self.name_expressions and name not in self.name_expressions:
                raise CUDADriverError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name!r} is not among the "
                                      f"name expressions {list(self.name_expressions)}")
            fn = self._fns[name] = RawKernel(self.code, name, self.options, _fn=self._module.get_function(name))
        return fn


# ------------------------------------------------------------------------------------------- random
def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.char not in "fd":
        raise TypeError("cupy.random only supports float32 and float64")
    return dt


def _size(size):
    return () if size is None else size


class RandomState:
    """``cupy.random.RandomState(seed)`` over NumPy's PCG64: same seed, same numbers (not CuPy's)."""

    def __init__(self, seed=None, method=None):
        self.seed(seed)

    def seed(self, seed=None):
        self._g = np.random.Generator(np.random.PCG64(None if seed is None else int(seed)))

    def random_sample(self, size=None, dtype=float):
        return _new(np.asarray(self._g.random(_size(size), dtype=_float_dtype(dtype))))

    random = ranf = sample = random_sample

    def rand(self, *size, dtype=float):
        return self.random_sample(size, dtype)

    def randn(self, *size, dtype=float):
        return self.normal(size=size, dtype=dtype)

    def standard_normal(self, size=None, dtype=float):
        return self.normal(size=size, dtype=dtype)

    def normal(self, loc=0.0, scale=1.0, size=None, dtype=float):
        dt, loc, scale = _float_dtype(dtype), _operand(loc), _operand(scale)
        size = np.broadcast_shapes(np.shape(loc), np.shape(scale)) if size is None else size
        x = np.asarray(self._g.standard_normal(size, dtype=dt))
        return _new((x * scale + loc).astype(dt, copy=False))

    def uniform(self, low=0.0, high=1.0, size=None, dtype=float):
        dt, low, high = _float_dtype(dtype), _operand(low), _operand(high)
        size = np.broadcast_shapes(np.shape(low), np.shape(high)) if size is None else size
        x = np.asarray(self._g.random(size, dtype=dt))
        return _new((x * (high - low) + low).astype(dt, copy=False))

    def randint(self, low, high=None, size=None, dtype=int):
        lo, hi = (0, low) if high is None else (low, high)
        return _new(np.asarray(self._g.integers(_operand(lo), _operand(hi), size, dtype=dtype)))

    def permutation(self, num):
        if type(num) is ndarray:
            return _new(self._g.permutation(num._a))
        if isinstance(num, np.ndarray):
            _refuse(num)
        return _new(self._g.permutation(int(num)))

    def shuffle(self, a):
        if type(a) is not ndarray:
            _refuse(a)
        self._g.shuffle(a._a)

    def choice(self, a, size=None, replace=True, p=None):
        return _new(np.asarray(self._g.choice(_unwrap(a), size, replace, _unwrap(p))))


_global_state: list = []


def get_random_state() -> RandomState:
    if not _global_state:
        _global_state.append(RandomState())
    return _global_state[0]


def _seed(seed=None):
    get_random_state().seed(seed)


def _delegate(name):
    return lambda *a, **k: getattr(get_random_state(), name)(*a, **k)


random = _ns("cupy.random", RandomState=RandomState, get_random_state=get_random_state, seed=_seed,
             reset_states=_global_state.clear,
             **{n: _delegate(n) for n in ("random_sample", "random", "ranf", "sample", "rand", "randn",
                                          "standard_normal", "normal", "uniform", "randint", "permutation",
                                          "shuffle", "choice")})

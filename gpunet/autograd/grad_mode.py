"""Grad mode: whether ops record the graph (``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``inference_mode``), as in PyTorch: each is a context manager and a decorator (with or without parentheses for
``no_grad``, ``enable_grad`` and ``inference_mode``)."""
from __future__ import annotations

import functools
import inspect


class _State:
    enabled = True
    inference = False  # inside inference_mode(True) (gpunet runs it as no_grad: see inference_mode)
    writes = 0  # in-place writes so far (any tensor): backward checks saved versions only when this moved


STATE = _State()


def is_grad_enabled() -> bool:
    return STATE.enabled


def is_inference_mode_enabled() -> bool:
    return STATE.inference


def _wrap(make_ctx, fn):
    """``fn`` run inside a fresh context ``make_ctx()`` (a generator function: around each of its steps, as torch)."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            gen = fn(*args, **kwargs)
            with make_ctx():
                response = gen.send(None)
            while True:
                try:
                    request = yield response
                except GeneratorExit:
                    with make_ctx():
                        gen.close()
                    raise
                except BaseException as e:
                    with make_ctx():
                        response = gen.throw(e)
                else:
                    with make_ctx():
                        response = gen.send(request)
        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with make_ctx():
            return fn(*args, **kwargs)
    return wrapper


class _GradMode:
    _value = True

    def __new__(cls, orig_func=None):
        # bare decorator: @gn.no_grad (as torch's _NoParamDecoratorContextManager)
        if orig_func is None:
            return super().__new__(cls)
        if not callable(orig_func):
            raise TypeError(f"{cls.__name__}() takes no arguments (got {orig_func!r}); use it as "
                            f"`with gn.{cls.__name__}():` or as a decorator, @gn.{cls.__name__} or "
                            f"@gn.{cls.__name__}()")
        return cls()(orig_func)

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._value

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        return _wrap(self.__class__, fn)

    def clone(self):
        return self.__class__()


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no graph (as ``torch.no_grad``)."""
    _value = False


class enable_grad(_GradMode):
    """Context manager / decorator: turn recording back on inside a :class:`no_grad` block."""
    _value = True


class set_grad_enabled:
    """Turn graph recording on or off, as ``torch.set_grad_enabled``: called as a function it sets the mode at
    once (``gn.set_grad_enabled(False)``); as a context manager (``with gn.set_grad_enabled(is_train):``) or a
    decorator (``@gn.set_grad_enabled(False)``) it restores the previous mode on exit."""

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"set_grad_enabled(): argument 'mode' must be bool, not {type(mode).__name__}")
        self.prev = STATE.enabled
        self.mode = mode
        STATE.enabled = mode

    def __call__(self, fn):
        STATE.enabled = self.prev  # as torch: used as a decorator, it changes nothing until fn runs
        mode = self.mode
        return _wrap(lambda: set_grad_enabled(mode), fn)

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc):
        STATE.enabled = self.prev
        return False

    def clone(self):
        return self.__class__(self.mode)


class inference_mode:
    """``torch.inference_mode(mode=True)``: a context manager / decorator (``@gn.inference_mode`` or
    ``@gn.inference_mode()``). gpunet implements it as grad mode only: ``inference_mode(True)`` is
    ``no_grad()`` and ``inference_mode(False)`` turns recording on (as torch's does), and
    :func:`is_inference_mode_enabled` says whether one is active. There are no "inference tensors": a tensor
    made inside may be used in a graph afterwards (where PyTorch raises), and it is no faster than no_grad."""

    def __new__(cls, mode=True):
        if isinstance(mode, bool):
            return super().__new__(cls)
        if not callable(mode):
            raise TypeError(f"inference_mode(): mode must be bool, not {type(mode).__name__}")
        return cls()(mode)  # bare decorator

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = (STATE.enabled, STATE.inference)
        STATE.enabled, STATE.inference = not self.mode, self.mode

    def __exit__(self, *exc):
        STATE.enabled, STATE.inference = self._prev
        return False

    def __call__(self, fn):
        mode = self.mode
        return _wrap(lambda: inference_mode(mode), fn)

    def clone(self):
        return self.__class__(self.mode)

"""Grad mode: whether ops record the graph."""
from __future__ import annotations

import functools


class _State:
    enabled = True
    writes = 0  # in-place writes so far (any tensor): backward checks saved versions only when this moved


STATE = _State()


def is_grad_enabled() -> bool:
    return STATE.enabled


class _GradMode:
    _value = True

    def __enter__(self):
        self._prev = STATE.enabled
        STATE.enabled = self._value

    def __exit__(self, *exc):
        STATE.enabled = self._prev
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__():
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Context manager / decorator: ops inside record no graph (as ``torch.no_grad``)."""
    _value = False


class enable_grad(_GradMode):
    """Context manager / decorator: turn recording back on inside a :class:`no_grad` block."""
    _value = True

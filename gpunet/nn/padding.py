"""Padding layers, as ``torch.nn``'s: ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``, ``ReflectionPad1d/2d/3d``,
``ReplicationPad1d/2d/3d`` and ``CircularPad1d/2d/3d``, each :func:`gpunet.functional.pad` with its mode over the
last 1, 2 or 3 dims (``padding``: an int for every side, or torch's (left, right[, top, bottom[, front, back]]))."""
from __future__ import annotations

import numbers

from ..functional.nn_misc import pad
from .module import Module

__all__ = [f"{kind}Pad{n}d" for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
           for n in (1, 2, 3)]


class _PadNd(Module):
    _mode = "constant"
    _nd = 1

    def __init__(self, padding, value: float = 0.0):
        super().__init__()
        name = type(self).__name__
        if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
            padding = (int(padding),) * (2 * self._nd)
        padding = tuple(int(v) for v in padding)
        if len(padding) != 2 * self._nd:
            raise ValueError(f"{name}: padding must be an int or a tuple of {2 * self._nd} ints (torch's order, the "
                             f"last dim first), got {padding}")
        self.padding, self.value = padding, float(value)

    def forward(self, x):
        if self._mode == "constant":
            return pad(x, self.padding, "constant", self.value)
        return pad(x, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}" if self._mode == "constant" else f"{self.padding}"


def _make(kind: str, mode: str, nd: int):
    if kind == "Zero":
        def __init__(self, padding):
            _PadNd.__init__(self, padding, 0.0)

        def extra_repr(self):
            return f"{self.padding}"
        body = {"__init__": __init__, "extra_repr": extra_repr}
    elif kind == "Constant":
        def __init__(self, padding, value):
            _PadNd.__init__(self, padding, value)
        body = {"__init__": __init__}
    else:
        def __init__(self, padding):
            _PadNd.__init__(self, padding)
        body = {"__init__": __init__}
    name = f"{kind}Pad{nd}d"
    doc = (f"``{name}(padding{', value' if kind == 'Constant' else ''})``: pad the last {nd} dim(s) "
           f"({mode} mode{', with zeros' if kind == 'Zero' else ''}), as ``torch.nn.{name}``.")
    return type(name, (_PadNd,), dict(body, _mode=mode, _nd=nd, __doc__=doc, __module__=__name__,
                                      __qualname__=name))


_MODES = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "replicate",
          "Circular": "circular"}
for _kind, _mode in _MODES.items():
    for _n in (1, 2, 3):
        globals()[f"{_kind}Pad{_n}d"] = _make(_kind, _mode, _n)

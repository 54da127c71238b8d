"""The ``gpunet`` command."""
from __future__ import annotations

import sys


def main(argv=None) -> int:
    from . import __version__, backend

    print(f"gpunet {__version__}")
    for name in ("numpy", "cupy"):
        ok, why = (True, "NumPy") if name == "numpy" else backend.cupy_status()
        print(f"  {name:6s} {'usable' if ok else 'not usable'}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Host syncs of a training step on the GPU backend: ``python -m bench.host_syncs [--json] [--models tiny,small]``.

A host sync (a device-to-host read such as ``float(loss)``, ``bool(mask.any())``, or a stream synchronisation)
makes the CPU wait for everything queued before it, so the GPU idles while Python prepares the next step. The
training step should have none.

On a real GPU the step (forward, cross-entropy, backward, Adam: :func:`gpunet._bench.gpunet_step`) is captured
as a CUDA graph on a non-default stream after a warm-up: the capture fails at the first device-to-host copy or
synchronisation, and the error is reported with where in gpunet it happened. A step that captures has no sync,
and the captured graph is replayed once to check that it runs. (Under the CUDA emulator of the tests there is no
capture; ``tests/test_host_syncs.py`` counts every device-to-host read exactly with the NumPy-backed CuPy.)
"""
from __future__ import annotations

import argparse
import json
import sys
import traceback

from gpunet._bench import MODELS, gpunet_step


def capture(step) -> dict:
    """Capture one call of ``step`` as a CUDA graph: ``{"syncs": 0}`` when it captures, else the error."""
    import cupy

    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        for _ in range(3):  # warm-up: kernels compiled, memory-pool blocks cached, optimizer state made
            step()
        stream.synchronize()
        stream.begin_capture()
        try:
            step()
        except Exception as e:
            try:
                stream.end_capture()
            except Exception:
                pass
            frames = [f for f in traceback.extract_tb(e.__traceback__) if "/gpunet/" in f.filename]
            where = f"{frames[-1].filename.split('/gpunet/')[-1]}:{frames[-1].lineno}" if frames else "?"
            return {"syncs": ">= 1", "first_at": f"gpunet/{where}", "error": f"{type(e).__name__}: {e}"[:300]}
        graph = stream.end_capture()
        graph.launch()
        stream.synchronize()
    return {"syncs": 0}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.host_syncs", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="tiny,small", help="comma list of " + ", ".join(MODELS))
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    import gpunet as gn

    if "cupy" not in gn.available():
        print(f"no GPU backend here: {gn.backend.cupy_status()[1]}", file=sys.stderr)
        return 2
    result = {}
    for name in a.models.split(","):
        sizes, batch = MODELS[name]
        step, _ = gpunet_step(sizes, batch, "cupy")
        result[name] = capture(step)
    print(json.dumps(result) if a.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

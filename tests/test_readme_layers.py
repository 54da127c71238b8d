"""The README's layer examples (section "Layers") and its "Coming from PyTorch" example run as written."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def _blocks(heading: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", _section(README.read_text(encoding="utf-8"), heading), re.S)


def test_layer_examples_run(capsys):
    blocks = _blocks("## Layers")
    assert len(blocks) >= 6
    namespace: dict = {"__name__": "__readme__"}
    for i, code in enumerate(blocks):   # one namespace: later blocks reuse earlier names (x, nn, ...)
        exec(compile(code, f"{README}:layers[{i}]", "exec"), namespace)
    out = capsys.readouterr().out
    assert "(4, 10)" in out and "(2, 6, 21)" in out


def test_coming_from_pytorch_example_runs():
    blocks = _blocks("## Coming from PyTorch")
    assert blocks, "the section lost its example"
    namespace: dict = {"__name__": "__readme__"}
    exec(compile(blocks[0], f"{README}:coming-from-pytorch", "exec"), namespace)
    assert namespace["penalty"].item() >= 0


def test_distributed_example_runs_on_two_ranks(tmp_path):
    from test_distributed import _mpiexec

    launcher = _mpiexec()   # skips without mpi4py / mpiexec
    code = _blocks("## Data-parallel training")[0]
    script = tmp_path / "train.py"
    # each rank leaves a file (their stdout lines may interleave)
    script.write_text(code + "\nopen(f'done-{dist.get_rank()}-of-{dist.get_world_size()}', 'w').close()\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(README.parent), os.environ.get("PYTHONPATH", "")]))
    env.pop("GPUNET_NUM_THREADS", None)
    r = subprocess.run(launcher + ["-n", "2", sys.executable, "-m", "mpi4py", str(script)], capture_output=True,
                       text=True, timeout=240, cwd=tmp_path, env=env)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert (tmp_path / "done-0-of-2").exists() and (tmp_path / "done-1-of-2").exists()
    assert (tmp_path / "model.gnz").exists()
    for name in ("init_process_group", "DistributedDataParallel", "DistributedSampler", "set_epoch"):
        assert name in code
    for name in ("init_process_group", "DistributedDataParallel", "DistributedSampler", "set_epoch"):
        assert name in code

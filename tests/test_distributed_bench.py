"""gpunet bench --scaling N: the 1 -> N process scaling report of the medium MLP under mpiexec."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from test_distributed import _mpiexec

import gpunet._bench as bench


def test_scaling_report_of_two_ranks():
    launcher = _mpiexec()  # skips without mpi4py / mpiexec
    env = dict(os.environ)
    env.pop("GPUNET_NUM_THREADS", None)
    r = subprocess.run(launcher + ["-n", "2", sys.executable, "-m", "mpi4py", "-m", "gpunet.distributed._bench",
                                   "--steps", "6", "--json"], capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["world_size"] == 2 and res["one_process"]["samples_per_s"] > 0
    for row in res["data_parallel"].values():
        assert row["samples_per_s"] > 0 and 0 <= row["allreduce_share"] <= 1


def test_bench_scaling_option_launches_that_report(monkeypatch):
    _mpiexec()
    seen = {}

    def fake_run(cmd, *a, **k):
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    assert bench.main(["--scaling", "3", "--json"]) == 0
    cmd = seen["cmd"]
    assert cmd[1:3] == ["-n", "3"] and cmd[-4:] == ["mpi4py", "-m", "gpunet.distributed._bench", "--json"]

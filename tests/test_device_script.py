"""The one-shot real-GPU check (bench/device_check.sh) and its host-sync probe: well-formed, and honest without a
GPU (they cannot run here; the GPU code itself runs on the CUDA emulator in the gpu tests)."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpunet import backend as B

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_device_script_parses_and_names_its_outputs():
    script = ROOT / "bench" / "device_check.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for out in ("info.json", "pytest_gpu.log", "bench.json", "host_syncs.json", "RESULTS.md", "status.txt"):
        assert out in text
    assert "pytest -m 'gpu or device'" in text and "bench --device gpu" in text


@pytest.mark.skipif(B.cupy_status()[0], reason="a GPU is here: the probe would run")
def test_host_sync_probe_says_why_it_cannot_run_without_a_gpu():
    r = subprocess.run([sys.executable, "-m", "bench.host_syncs", "--json"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "no GPU backend here" in r.stderr and r.stdout == ""

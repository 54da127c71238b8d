#!/usr/bin/env bash
# The one short check on a real NVIDIA GPU: everything it measures goes into one results folder.
#
#   bash bench/device_check.sh RESULTS_DIR
#
# Needs a Linux machine with an NVIDIA GPU whose python3 already has CuPy, PyTorch (CUDA), NumPy, Numba, pytest
# and pytest-benchmark (nothing is downloaded). It installs gpunet from this checkout (editable, no
# dependencies), then, each step with its own time limit so the whole run stays under 8 minutes:
#   1. info.json          gpunet info --json (versions, backends, the GPU)
#   2. pytest_gpu.log     pytest -m "gpu or device": the CuPy backend and every kernel on the real device
#   3. bench.json/.md     gpunet bench --device gpu: every workload (MLPs and layer families) next to PyTorch CUDA
#                         (the CPU columns are measured off the device machine: its time is scarce)
#   4. host_syncs.json    host syncs of a training step (bench/host_syncs.py: a CUDA-graph capture of the step,
#                         which fails at the first device-to-host copy or synchronisation)
#   5. RESULTS.md         the table to paste into bench/RESULTS.md, with the date and the device
# A step that fails is recorded (exit codes in status.txt) and the next one still runs.
set -uo pipefail
out=${1:?usage: bash bench/device_check.sh RESULTS_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 CUPY_CACHE_DIR="$out/.cupy_cache"
PY=${PYTHON:-python3}
status="$out/status.txt"
: >"$status"

step() {  # step NAME LIMIT_S COMMAND...: run it, log its exit code
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  echo "$name rc=$rc seconds=$((SECONDS - t0))" | tee -a "$status"
}

if ! $PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$out/install.log" 2>&1; then
  echo "install: pip failed (see install.log); using PYTHONPATH" | tee -a "$status"
  export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
step info 60 sh -c "$PY -m gpunet.cli info --json >'$out/info.json' 2>&1"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
step pytest_gpu 240 sh -c "$PY -m pytest -m 'gpu or device' -q -p no:cacheprovider tests bench >'$out/pytest_gpu.log' 2>&1"
step bench 180 sh -c "$PY -m gpunet.cli bench --device gpu --rounds 3 --json >'$out/bench.json' 2>'$out/bench.log'"
step host_syncs 60 sh -c "$PY -m bench.host_syncs --json >'$out/host_syncs.json' 2>'$out/host_syncs.log'"
$PY - "$out" <<'EOF' >"$out/RESULTS.md" 2>>"$out/status.txt"
import datetime, json, sys
from pathlib import Path
out = Path(sys.argv[1])
lines = [f"## GPU run of {datetime.date.today()}"]
try:
    info = json.loads((out / "info.json").read_text())
    lines.append(f"Device: {info.get('gpu', info)}")
except Exception as e:
    lines.append(f"(info.json unreadable: {e})")
try:
    from gpunet._bench import table
    lines.append(table(json.loads((out / "bench.json").read_text())["rows"]))
except Exception as e:
    lines.append(f"(bench.json unreadable: {e})")
try:
    lines.append("Host syncs per training step: " + (out / "host_syncs.json").read_text().strip())
except Exception as e:
    lines.append(f"(host_syncs.json unreadable: {e})")
print("\n\n".join(lines))
EOF
cat "$status"

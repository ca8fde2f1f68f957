#!/usr/bin/env bash
# Wall time of the same debug=fast sweep (BN on/off x N/2 seeds) through each launcher:
# sequentially (the basic launcher, one process), 2 at a time (joblib), and through SLURM
# (start it first: scripts/slurm-local.sh up) with one task per run and packed 4 and 8 runs per
# task (hydra.launcher.runs_per_task, 2 at a time on a task's 2 cores). Prints each sweep's
# wall time, its time per run, and its ratio to the sequential sweep.
# Usage: scripts/time-launchers.sh [OUT_DIR] [RUNS...]   (default logs/launcher-timing, 8 32)
# EXTRA="..." adds overrides to every sweep (e.g. the data: data.archive=...).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-logs/launcher-timing}
[ $# -gt 0 ] && shift
sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(8 32)
rm -rf "$out"
mkdir -p "$out"
read -r -a extra <<<"${EXTRA:-}"

time_sweep() { # time_sweep RUNS NAME OVERRIDES...: run the sweep, print its wall time
    local runs=$1 name=$2
    shift 2
    local start end seeds
    seeds=$(seq -s, 1 $((runs / 2)))
    start=$(date +%s.%N)
    .venv/bin/python train.py -m debug=fast model.use_batchnorm=true,false "seed=$seeds" \
        print_config=false torch_threads=1 "${extra[@]}" "hydra.sweep.dir=$out/$runs/$name" "$@" \
        >"$out/$runs-$name.log" 2>&1
    end=$(date +%s.%N)
    python3 - "$runs" "$name" "$start" "$end" "$out/$runs-sequential.time" <<'PY' | tee -a "$out/times.txt"
import sys
from pathlib import Path
runs, name, start, end, base = int(sys.argv[1]), sys.argv[2], *map(float, sys.argv[3:5]), Path(sys.argv[5])
wall = end - start
if name == "sequential":
    base.write_text(str(wall))
ratio = wall / float(base.read_text())
print(f"{runs} runs, {name}: {wall:.1f} s wall, {wall / runs:.2f} s per run, {ratio:.2f}x sequential")
PY
}

slurm=(hydra/launcher=submitit_slurm hydra.launcher.mem_gb=2 hydra.launcher.poll_s=1)
for runs in "${sizes[@]}"; do
    time_sweep "$runs" sequential
    time_sweep "$runs" joblib_2 hydra/launcher=joblib hydra.launcher.n_jobs=2
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
        time_sweep "$runs" slurm_1_per_task "${slurm[@]}" hydra.launcher.cpus_per_task=1
        for packed in 4 8; do
            time_sweep "$runs" "slurm_${packed}_per_task" "${slurm[@]}" hydra.launcher.cpus_per_task=2 \
                "hydra.launcher.runs_per_task=$packed" hydra.launcher.runs_at_once=2
        done
    else
        echo "$runs runs, slurm: skipped (no idle SLURM node; run scripts/slurm-local.sh up)" |
            tee -a "$out/times.txt"
    fi
done

#!/usr/bin/env bash
# Wall time of one 8-run debug=fast sweep (BN on/off x 4 seeds) three ways: sequentially (basic
# launcher), 2 at a time (joblib), and through SLURM (start it first: scripts/slurm-local.sh up).
# Usage: scripts/time-launchers.sh [OUT_DIR]   (default logs/launcher-timing)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-logs/launcher-timing}
rm -rf "$out"
mkdir -p "$out"
sweep=(-m debug=fast model.use_batchnorm=true,false seed=1,2,3,4 print_config=false)

time_sweep() {  # time_sweep NAME OVERRIDES...: run the sweep, print its wall time
    local name=$1
    shift
    local start end
    start=$(date +%s.%N)
    .venv/bin/python train.py "${sweep[@]}" "hydra.sweep.dir=$out/$name" "$@" >"$out/$name.log" 2>&1
    end=$(date +%s.%N)
    python3 -c "print(f'$name: {$end - $start:.1f} s')" | tee -a "$out/times.txt"
}

time_sweep sequential
time_sweep joblib_2 hydra/launcher=joblib hydra.launcher.n_jobs=2
if sinfo -h -o %T 2>/dev/null | grep -q idle; then
    time_sweep slurm hydra/launcher=submitit_slurm hydra.launcher.cpus_per_task=1 hydra.launcher.mem_gb=2
else
    echo "slurm: skipped (no idle SLURM node; run scripts/slurm-local.sh up)" | tee -a "$out/times.txt"
fi

#!/usr/bin/env bash
# The speed checks that need a GPU, as one command for a machine with one CUDA device:
#   1. `python -m benchmarks.bench` on the device (plain loops and this project; BN off and on);
#   2. one 30-epoch study run (experiment=paper, batch 32): its wall time;
#   3. the 20 runs of 10 seeds x BN on/off, packed N_JOBS at a time onto the one device by the
#      joblib launcher: their wall time, then the report of the sweep;
#   4. packed tasks (hydra.launcher.runs_per_task, as on a cluster, through submitit's local
#      executor): K runs of PACK_EPOCHS epochs (default 2) sharing one GPU, for K in PACK_SIZES
#      (default "1 2 4 8 16"): wall time and runs per GPU-hour.
#
# Usage: DHCD_ARCHIVE=<local dhcd-digits.zip> bash scripts/gpu-check.sh [OUT_DIR] [N_JOBS]
# Writes OUT_DIR/device.txt, OUT_DIR/bench.md and OUT_DIR/timings.txt; the runs go to
# OUT_DIR/single and OUT_DIR/sweep. For a smoke test without a GPU:
#   DEVICE=cpu EXTRA="debug=fast" BENCH_ARGS="--variants cd --epochs 1 --warmup 0 --rounds 1"
# Set PYTHON to the interpreter that has the requirements (default: python3).
set -euo pipefail

out=${1:-logs/gpu-check}
n_jobs=${2:-4}
python=${PYTHON:-python3}
device=${DEVICE:-cuda}
: "${DHCD_ARCHIVE:?name the local copy of the DHCD archive: DHCD_ARCHIVE=path/to/dhcd-digits.zip}"
archive=$(cd "$(dirname "$DHCD_ARCHIVE")" && pwd)/$(basename "$DHCD_ARCHIVE")
trainer=$([ "$device" = cuda ] && echo gpu || echo cpu)
read -r -a extra <<<"${EXTRA:-}"
read -r -a bench_args <<<"${BENCH_ARGS:-}"
# Run from the checkout without installing it (the device machine has the libraries only).
export PYTHONPATH="$PWD/src:$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$out"
out=$(cd "$out" && pwd)

now() { date +%s.%N; }
seconds_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

if [ "$device" = cuda ]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
else
    uname -a | tee "$out/device.txt"
fi
"$python" -c 'import torch; print("torch", torch.__version__)' | tee -a "$out/device.txt"

"$python" -m benchmarks.bench --device "$device" --archive "$archive" \
    --data-dir "$out/data" --output "$out/bench.md" "${bench_args[@]}"

common=(experiment=paper "trainer=$trainer" print_config=false "data.archive=$archive"
    "data.data_dir=$out/data" "${extra[@]}")

start=$(now)
"$python" train.py "${common[@]}" "hydra.run.dir=$out/single"
echo "one study run (experiment=paper, BN on): $(seconds_since "$start") s wall" |
    tee "$out/timings.txt"

start=$(now)
"$python" train.py -m "${common[@]}" "seed=range(1,11)" model.use_batchnorm=false,true \
    hydra/launcher=joblib "hydra.launcher.n_jobs=$n_jobs" "hydra.sweep.dir=$out/sweep"
echo "20 runs (10 seeds x BN on/off, $n_jobs at a time): $(seconds_since "$start") s wall" |
    tee -a "$out/timings.txt"

"$python" -m bn2d_study.report "$out/sweep"

read -r -a pack_sizes <<<"${PACK_SIZES:-1 2 4 8 16}"
gpus=$([ "$device" = cuda ] && echo 1 || echo null)
for k in "${pack_sizes[@]}"; do
    start=$(now)
    "$python" train.py -m "${common[@]}" "trainer.max_epochs=${PACK_EPOCHS:-2}" \
        "seed=range(1,$((k + 1)))" hydra/launcher=submitit_local "hydra.launcher.runs_per_task=$k" \
        "hydra.launcher.gpus_per_node=$gpus" hydra.launcher.poll_s=1 "hydra.sweep.dir=$out/packed_$k"
    wall=$(seconds_since "$start")
    echo "packed: $k runs of ${PACK_EPOCHS:-2} epochs in one task on one device: $wall s wall," \
        "$(awk -v k="$k" -v s="$wall" 'BEGIN { printf "%.0f", k * 3600 / s }') runs per GPU-hour" |
        tee -a "$out/timings.txt"
done
cat "$out/bench.md" "$out/timings.txt"

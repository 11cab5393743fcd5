#!/usr/bin/env bash
# The GPU check, in one script, for the rare hour on a machine with an NVIDIA GPU: the CartPole and
# Pong benchmarks with every network on the GPU (CartPole on that machine's CPU too, for the ratio),
# then PONG_MINUTES of a real `experiments/pong_fast.yaml` run on the GPU for each K in PONG_K
# (data.updates_per_step). It prints agent steps/s, updates/s (ms per update = 1000 / updates/s,
# acting included) and each run's learning curve, and keeps its logs and the runs under RESULTS
# (default benchmarks/results/gpu/).
#
#   bash benchmarks/gpu_check.sh                    # 10 minutes of pong_fast at K = 1
#   PONG_MINUTES=4 bash benchmarks/gpu_check.sh     # what fits in a 15-minute device lease
#   CARTPOLE_FRAMES=0 PONG_UPDATES=2000 BENCH_K="4 8" PONG_K="1 4" PONG_MINUTES=2.5 bash benchmarks/gpu_check.sh
#                                                   # K = 4 and 8 in the benchmark, two short real runs
#   DEVICE=cpu PONG_MINUTES=1 CARTPOLE_FRAMES=11000 PONG_UPDATES=50 bash benchmarks/gpu_check.sh  # dry run
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${RESULTS:-benchmarks/results/gpu}
DEVICE=${DEVICE:-cuda}
PONG_MINUTES=${PONG_MINUTES:-10}
CARTPOLE_FRAMES=${CARTPOLE_FRAMES:-30000}
PONG_UPDATES=${PONG_UPDATES:-3000}
BENCH_K=${BENCH_K:-}         # extra benchmark rows, one per K (data.updates_per_step)
PONG_K=${PONG_K:-1}          # one real pong_fast run per K
ACCELERATOR=$([ "$DEVICE" = cuda ] && echo gpu || echo cpu)
export PYTHONUNBUFFERED=1
mkdir -p "$RESULTS"

echo "== machine"
nproc
[ "$DEVICE" = cuda ] && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 - <<'PY'
import gymnasium, pytorch_lightning, tensordict, torch, torchrl
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), Lightning {pytorch_lightning.__version__}, "
      f"torchrl {torchrl.__version__}, tensordict {tensordict.__version__}, gymnasium {gymnasium.__version__}: {name}")
try:
    import torchrl._torchrl  # noqa: F401 - the segment trees behind prioritized replay
    print("prioritized replay: available")
except ImportError as err:
    print(f"prioritized replay: unavailable ({err})")
PY

if [ "$CARTPOLE_FRAMES" -gt 0 ]; then
    echo "== CartPole, CleanRL's settings, $CARTPOLE_FRAMES frames, one thread: $DEVICE, then this machine's CPU"
    python3 benchmarks/cartpole_speed.py --frames "$CARTPOLE_FRAMES" --threads 1 --vec-envs 0 --device "$DEVICE" \
        2>&1 | tee "$RESULTS/cartpole_$DEVICE.txt"
    python3 benchmarks/cartpole_speed.py --frames "$CARTPOLE_FRAMES" --threads 1 --vec-envs 0 --device cpu \
        2>&1 | tee "$RESULTS/cartpole_cpu.txt"
fi

echo "== Pong, pong_fast's shapes, $PONG_UPDATES updates, 2 torch threads, vector back end: $DEVICE"
# shellcheck disable=SC2086 - BENCH_K is a list of numbers
python3 benchmarks/pong_speed.py --updates "$PONG_UPDATES" --threads 2 --backends vector --device "$DEVICE" \
    ${BENCH_K:+--updates-per-step $BENCH_K} 2>&1 | tee "$RESULTS/pong_$DEVICE.txt"

for K in $PONG_K; do
NAME=pong_fast_K$K
echo "== pong_fast.yaml on $DEVICE for $PONG_MINUTES minutes, data.updates_per_step $K"
CLIP=(--trainer.gradient_clip_val 10.0)  # pong_fast's; with K > 1 the module clips (Lightning refuses)
[ "$K" -gt 1 ] && CLIP=(--trainer.gradient_clip_val null --model.gradient_clip_val 10.0)
rm -rf "${RESULTS:?}/$NAME"
SECONDS_TOTAL=$(python3 -c "print(round(60 * $PONG_MINUTES))")
python3 -m lightning_dqn fit --config experiments/pong_fast.yaml \
    --trainer.accelerator "$ACCELERATOR" --trainer.devices 1 --data.updates_per_step "$K" "${CLIP[@]}" \
    --data.checkpoint_buffer none \
    --trainer.max_time "{\"seconds\": $SECONDS_TOTAL}" \
    --trainer.logger CSVLogger --trainer.logger.save_dir "$RESULTS" --trainer.logger.name "$NAME" \
    > "$RESULTS/$NAME.log" 2>&1
echo "exit code $?"
tail -n 5 "$RESULTS/$NAME.log"
python3 - "$RESULTS" "$NAME" <<'PY'
"""The run's curve: one line per 30 s of training from its metrics.csv."""
import csv, glob, sys

path = sorted(glob.glob(f"{sys.argv[1]}/{sys.argv[2]}/version_*/metrics.csv"))[-1]
rows = [{k: float(v) for k, v in row.items() if v} for row in csv.DictReader(open(path))]
rows = [r for r in rows if "time_s" in r and "frames" in r]
print(f"{'minutes':>8}{'agent steps':>12}{'updates':>9}{'steps/s (last 30 s)':>21}{'reward_100':>12}")
last_time, last_frames, next_mark = 0.0, rows[0]["frames"] if rows else 0, 30.0
for r in rows:
    if r["time_s"] >= next_mark or r is rows[-1]:
        rate = (r["frames"] - last_frames) / max(r["time_s"] - last_time, 1e-9)
        print(f"{r['time_s'] / 60:>8.1f}{r['frames']:>12.0f}{r['updates']:>9.0f}{rate:>21.1f}{r.get('reward_100', float('nan')):>12.2f}")
        last_time, last_frames, next_mark = r["time_s"], r["frames"], r["time_s"] + 30.0
if rows:
    first, end = rows[0], rows[-1]
    rate = (end["frames"] - first["frames"]) / (end["time_s"] - first["time_s"])
    updates = (end["updates"] - first["updates"]) / (end["time_s"] - first["time_s"])
    print(f"after the first logged step: {rate:.1f} agent steps/s, {updates:.1f} updates/s ({1000 / updates:.1f} ms per update, acting included)")
PY
done

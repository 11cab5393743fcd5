"""CartPole at CleanRL's settings: CleanRL's own ``dqn.py`` against ``python -m lightning_dqn fit``.

Why: the bar the project sets itself is the script it replaces. ``cartpole_speed.py`` compares
against a loop written in the same process; this runs the peer itself, CleanRL's ``dqn.py``, as a
user would (whole processes, start-up included, one torch thread each, alternating), against
``experiments/cartpole_cleanrl.yaml`` (CleanRL's defaults) through the CLI with its default W&B
offline logger. Printed: whole-process wall time, and frames/s after the warm-up (from the
timestamps of the progress lines each prints: CleanRL's ``SPS:`` lines, lightning_dqn's progress
lines). CleanRL needs gymnasium 0.29, so it runs in a virtual environment of its own:

    git clone https://github.com/vwxyzjn/cleanrl ../cleanrl
    python3 -m venv ../cleanrl/.venv
    ../cleanrl/.venv/bin/pip install torch==2.14.1 gymnasium==0.29.1 "numpy<2" tyro tensorboard
    python benchmarks/cleanrl_side_by_side.py --cleanrl ../cleanrl --cleanrl-python ../cleanrl/.venv/bin/python

``--updates-per-step 1 8`` runs lightning_dqn once per value of ``data.updates_per_step`` (K) in
the same alternation: the same updates, K of them per Lightning step. ``--num-envs 1 10`` adds
lightning_dqn rows that step 10 CartPoles together (``data.num_envs``), one acting forward pass for
all 10, still one update per 10 frames: the same frames, updates, epsilon per frame, target copies
and warm-up, but 10 episodes played side by side. CleanRL's ``dqn.py`` takes one env only (it
asserts ``num_envs == 1``), so those rows show what the framework offers at the same replay ratio,
not the same script.

The settings differ in one way that neither side can change: during its 10,000 frames of warm-up
CleanRL already acts epsilon-greedily with its untrained network, lightning_dqn plays uniformly
at random (its replay start).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "cartpole_cleanrl.yaml"
LEARNING_STARTS, TRAIN_EVERY, EPS_FINAL = 10_000, 10, 0.05
PROGRESS = {"cleanrl": re.compile(r"^SPS: \d+"), "lightning_dqn": re.compile(r"^(\d+): done \d+ episodes")}
CLEANRL = "cleanrl"


def cleanrl_command(args: argparse.Namespace, frames: int) -> list[str]:
    script = str(Path(args.cleanrl) / "cleanrl" / "dqn.py")
    return [args.cleanrl_python, script, "--env-id", "CartPole-v1", "--total-timesteps", str(frames),
            "--seed", str(args.seed), "--no-cuda", "--no-track", "--no-capture-video"]  # fmt: skip


def lightning_command(args: argparse.Namespace, frames: int, updates_per_step: int = 1, num_envs: int = 1) -> list[str]:
    """The shipped config with the budget cut to ``frames`` (epsilon still reaches 0.05 at half of it),
    ``updates_per_step`` updates per Lightning step, ``num_envs`` envs stepped together."""
    callbacks = [
        {"class_path": "lightning_dqn.callbacks.EpsilonSchedule",
         "init_args": {"start": 1.0, "final": EPS_FINAL, "decay_frames": round(frames / 2 / (1.0 - EPS_FINAL))}},
        {"class_path": "lightning_dqn.callbacks.TargetNetworkSync", "init_args": {"every_frames": 500}},
    ]  # fmt: skip
    budget = {"trainer": {"max_steps": (frames - LEARNING_STARTS) // TRAIN_EVERY, "callbacks": callbacks}}
    return [sys.executable, "-m", "lightning_dqn", "fit", "--config", str(CONFIG), "--config", json.dumps(budget),
            "--seed_everything", str(args.seed), "--progress_every_seconds", "0.25",
            "--data.updates_per_step", str(updates_per_step), "--data.num_envs", str(num_envs)]  # fmt: skip


def timed_run(name: str, argv: list[str], env: dict[str, str]) -> tuple[float, float | None]:
    """Whole-process wall seconds, and frames/s between the first and last progress line after the warm-up."""
    kind = CLEANRL if name == CLEANRL else "lightning_dqn"
    marks: list[tuple[float, int]] = []
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        process = subprocess.Popen(argv, cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        step = 0
        for line in process.stdout:
            if not PROGRESS[kind].match(line):
                continue
            now = time.perf_counter()
            if kind == CLEANRL:  # dqn.py prints SPS at steps 10,100, 10,200, ... (every 100 after learning starts)
                step = LEARNING_STARTS + 100 * (len(marks) + 1)
            else:
                step = int(PROGRESS[kind].match(line).group(1))
            if step >= LEARNING_STARTS:
                marks.append((now, step))
        if process.wait() != 0:
            raise RuntimeError(f"{name} failed: {' '.join(argv)}")
        wall = time.perf_counter() - start
    if len(marks) < 2:
        return wall, None
    (t0, f0), (t1, f1) = marks[0], marks[-1]
    return wall, (f1 - f0) / (t1 - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # absolute: each run starts in a temporary directory of its own
    parser.add_argument("--cleanrl", required=True, type=os.path.abspath, help="a CleanRL checkout (its cleanrl/dqn.py runs)")
    parser.add_argument(
        "--cleanrl-python", required=True, type=os.path.abspath, help="the python of CleanRL's own virtual environment"
    )
    parser.add_argument("--frames", type=int, default=50_000, help="frames per run, warm-up included")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates-per-step", type=int, nargs="+", default=[1], metavar="K",
                        help="lightning_dqn's data.updates_per_step: one run per value, in the same alternation")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[1], metavar="N",
                        help=f"lightning_dqn's data.num_envs (a divisor of {TRAIN_EVERY}): rows for each K and N")
    args = parser.parse_args()

    base = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE")}
    base.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    envs = {CLEANRL: {**base, "PYTHONPATH": str(Path(args.cleanrl).resolve())}}
    commands = {CLEANRL: cleanrl_command(args, args.frames)}
    for n in args.num_envs:
        if TRAIN_EVERY % n:
            parser.error(f"--num-envs: {n} does not divide CleanRL's {TRAIN_EVERY} frames per update")
        for k in args.updates_per_step:
            name = "lightning_dqn" + (f" K={k}" if k > 1 else "") + (f", {n} envs" if n > 1 else "")
            envs[name] = {**base, "PYTHONPATH": str(ROOT)}
            commands[name] = lightning_command(args, args.frames, k, n)
    results: dict[str, list[tuple[float, float | None]]] = {name: [] for name in commands}
    for _ in range(args.repeats):
        for name, argv in commands.items():
            results[name].append(timed_run(name, argv, envs[name]))

    print(f"CartPole-v1 at CleanRL's settings, {args.frames} frames, one torch thread each, seed {args.seed}, "
          f"medians of {args.repeats} alternating runs")  # fmt: skip
    medians = {}
    for name, runs in results.items():
        walls = [wall for wall, _ in runs]
        rates = [rate for _, rate in runs if rate is not None]
        medians[name] = (statistics.median(walls), statistics.median(rates) if rates else float("nan"))
        print(f"  {name:<27} whole process {medians[name][0]:6.1f} s ({', '.join(f'{w:.1f}' for w in walls)}); "
              f"frames/s after the warm-up {medians[name][1]:7.0f} ({', '.join(f'{r:.0f}' for r in rates)})")  # fmt: skip
    wall_c, rate_c = medians[CLEANRL]
    for name, (wall_l, rate_l) in medians.items():
        if name != CLEANRL:
            print(f"  {name} / CleanRL: whole process x{wall_l / wall_c:.2f} the time; "
                  f"frames/s after the warm-up x{rate_l / rate_c:.2f}")


if __name__ == "__main__":
    main()

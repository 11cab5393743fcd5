"""Start-up: seconds from the command to the first environment step, against importing torch and Lightning.

Why: an ablation study starts hundreds of processes, and a newcomer's first impression is how long
the first command sits silent. The floor is ``python -c "import torch, pytorch_lightning"``; what a
``fit`` adds on top is the framework's own cost (its imports, building the CLI parser from the
signatures, making the envs, the logger's start). Each job runs in a fresh process, from a
temporary working directory (so runs land there); ``fit`` is timed from the launch to the first
``step()`` of its training envs, when the process exits. Medians of ``--repeats`` launches, run in
alternation.

    python benchmarks/startup.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "experiments" / "frozenlake_stable.yaml"  # the README's first command

# Runs the CLI and exits at the training envs' first step, printing when that was.
UNTIL_FIRST_STEP = r"""
import os, sys, time
from gymnasium.vector import SyncVectorEnv
launched = float(sys.argv[1])
def first_step(self, actions):
    print(f"FIRST_STEP {time.time() - launched:.3f}", flush=True)
    os._exit(0)
SyncVectorEnv.step = first_step
from lightning_dqn.cli import main
sys.argv = [sys.argv[0], *sys.argv[2:]]
main()
"""

JOBS = {
    "python -c 'import torch, pytorch_lightning'": ["-c", "import torch, pytorch_lightning"],
    "python -m lightning_dqn fit --help": ["-m", "lightning_dqn", "fit", "--help"],
    "fit, to the first env step, --trainer.logger false": ["FIT", "--trainer.logger", "false"],
    "fit, to the first env step, W&B offline (the default)": ["FIT"],
}


def seconds(job: list[str], workdir: str) -> float:
    """Wall seconds of one launch (to the first env step for ``FIT`` jobs)."""
    if job[0] == "FIT":
        workdir = tempfile.mkdtemp(dir=workdir)  # a run of its own: nothing left by an earlier launch
        launched = time.time()
        argv = [sys.executable, "-c", UNTIL_FIRST_STEP, str(launched), "fit", "--config", str(CONFIG), *job[1:]]
        out = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, env={**_env(), "WANDB_MODE": "offline"})
        lines = [line for line in out.stdout.splitlines() if line.startswith("FIRST_STEP")]
        if not lines:
            raise RuntimeError(f"no env step in {' '.join(job)}:\n{out.stderr[-2000:]}")
        return float(lines[0].split()[1])
    launched = time.time()
    subprocess.run([sys.executable, *job], cwd=workdir, capture_output=True, check=True, env=_env())
    return time.time() - launched


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in JOBS}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.repeats):
            for name, job in JOBS.items():
                times[name].append(seconds(job, workdir))
    floor = statistics.median(times[next(iter(JOBS))])
    print(f"median of {args.repeats} launches each, alternating; config {CONFIG.relative_to(ROOT)}")
    print(f"{'job':<58}{'median s':>9}{'over the floor':>16}   all")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<58}{median:>9.2f}{median - floor:>+16.2f}   {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()

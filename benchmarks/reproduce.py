"""Re-measures the README's headline learning results and flags any that moved.

Every figure in the README's Results tables comes from this script: it runs each headline
experiment exactly as the README shows it (``python -m lightning_dqn fit --config ...
--seed_everything S``), one process per seed, ``--workers`` at a time, then plays the saved
checkpoint greedily with ``python -m lightning_dqn test``. It prints each figure beside the one the
README shows (kept in ``benchmarks/results/reproduce.json``) and exits 1 when one moved:

- how many seeds reach the bound (any change moves);
- the median frames to the bound (more than 10% apart);
- the median greedy score (FrozenLake: more than 0.03 apart; CartPole: more than 25).

    python benchmarks/reproduce.py --workers 2                       # everything (about 3 hours on 2 cores)
    python benchmarks/reproduce.py --only frozenlake --workers 2     # the README's first command, 10 seeds
    python benchmarks/reproduce.py --workers 2 --update              # and make the result the README's

A re-measurement that was stopped goes on with ``--into runs/reproduce/<time>``: seeds that finished
there are kept, the rest run. ``--update`` rewrites ``benchmarks/results/reproduce.json`` and the tables between the README's
``<!-- reproduce:<name> -->`` markers. Runs, logs and checkpoints go to ``runs/reproduce/<time>/``.
Run it before saying that a change to learning, sampling, evaluation or logging is done.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "reproduce.json"
README = ROOT / "README.md"


@dataclass(frozen=True)
class Experiment:
    """One headline result: a shipped config over seeds, and how its checkpoint is judged greedily."""

    config: str
    seeds: tuple[int, ...]
    greedy_checkpoint: str  # "best" (best.ckpt) or "last" (the weights when the run stopped)
    greedy_episodes: int
    greedy_tolerance: float  # how far the median greedy score may move before it is flagged
    overrides: tuple[str, ...] = field(default=())
    note: str = ""


EXPERIMENTS = {
    "frozenlake": Experiment(
        "experiments/frozenlake_stable.yaml", tuple(range(10)), "best", 1000, 0.03,
        note="the README's first command: the lecture's DQN with a 50,000-transition replay buffer",
    ),
    "frozenlake_lecture": Experiment(
        "experiments/frozenlake.yaml", tuple(range(10)), "best", 1000, 0.03,
        # capped at 150,000 updates (the lecture solved at 132,361 frames); no evaluation, which changes
        # no frame of training (tests/test_random_streams.py) and makes these long runs cheaper
        overrides=("--trainer.max_steps", "150000", "--data.eval_every_frames", "null"),
        note="the lecture's settings unchanged, capped at 150,000 updates, evaluation off",
    ),
    "cartpole": Experiment("experiments/cartpole.yaml", tuple(range(5)), "last", 20, 25.0),
    "cartpole_rainbow": Experiment(
        "experiments/cartpole_rainbow.yaml", tuple(range(5)), "last", 20, 25.0,
        note="all six of Rainbow's parts on CartPole (noisy layers, C51, 3-step, prioritized, dueling, double Q)",
    ),
}  # fmt: skip


def _environment() -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT)}
    env.setdefault("WANDB_MODE", "offline")  # a re-measurement never uploads
    return env


def run_seed(name: str, experiment: Experiment, seed: int, out: Path) -> dict:
    """Trains one seed as the README does, then plays its checkpoint greedily; returns the figures."""
    run_dir = out / name / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    fit = [sys.executable, "-m", "lightning_dqn", "fit", "--config", experiment.config, "--seed_everything", str(seed),
           "--trainer.logger.init_args.save_dir", str(run_dir), *experiment.overrides]  # fmt: skip
    commit = git_commit()
    started = time.monotonic()
    with open(run_dir / "fit.log", "w") as log:
        code = subprocess.call(fit, cwd=ROOT, env=_environment(), stdout=log, stderr=subprocess.STDOUT)
    wall = time.monotonic() - started
    text = (run_dir / "fit.log").read_text()
    solved = re.search(r"Solved in (\d+) frames!", text)
    not_solved = re.search(r"Not solved in (\d+) frames", text)
    best = re.findall(r"Best mean reward updated \S+ -> (\S+),", text)
    result = {
        "seed": seed,
        "exit_code": code,
        "solved_frames": int(solved[1]) if solved else None,
        "frames": int(solved[1]) if solved else int(not_solved[1]) if not_solved else None,
        "best_mean": float(best[-1]) if best else None,
        "wall_s": round(wall, 1),
        "greedy": None,
        "commit": commit,
    }
    checkpoints = sorted(run_dir.glob(f"**/checkpoints/{experiment.greedy_checkpoint}.ckpt"))
    if code == 0 and checkpoints:
        result["greedy"] = greedy_score(experiment, seed, checkpoints[-1], run_dir)
    (run_dir / "result.json").write_text(json.dumps(result) + "\n")  # --collect reads it back
    return result


def greedy_score(experiment: Experiment, seed: int, checkpoint: Path, run_dir: Path) -> float | None:
    test = [sys.executable, "-m", "lightning_dqn", "test", "--config", experiment.config, "--ckpt_path", str(checkpoint),
            "--seed_everything", str(seed), "--data.eval_episodes", str(experiment.greedy_episodes),
            "--trainer.logger", "false", "--trainer.default_root_dir", str(run_dir)]  # fmt: skip
    done = subprocess.run(test, cwd=ROOT, env=_environment(), capture_output=True, text=True)
    (run_dir / "test.log").write_text(done.stdout + done.stderr)
    found = re.search(r"test/return_mean\s+│?\s*([-\d.eE]+)", done.stdout)
    return round(float(found[1]), 4) if found else None


def summarize(runs: list[dict]) -> dict:
    solved = [r["solved_frames"] for r in runs if r["solved_frames"] is not None]
    greedy = [r["greedy"] for r in runs if r["greedy"] is not None]
    walls = [r["wall_s"] for r in runs if r["solved_frames"] is not None]
    return {
        "seeds": len(runs),
        "solved": len(solved),
        "failed": sum(r["exit_code"] != 0 for r in runs),
        "frames_median": statistics.median(solved) if solved else None,
        "frames_min": min(solved, default=None),
        "frames_max": max(solved, default=None),
        "wall_median_s": statistics.median(walls) if walls else None,
        "greedy_median": statistics.median(greedy) if greedy else None,
    }


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{os.cpu_count()} CPU cores ({model}), Python {platform.python_version()}"


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _number(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def markdown(name: str, result: dict) -> str:
    """The README's table of one experiment: a row per seed, then the medians."""
    experiment = EXPERIMENTS[name]
    digits = 3 if "frozenlake" in name else 1
    greedy = f"greedy return of `{experiment.greedy_checkpoint}.ckpt` ({experiment.greedy_episodes} episodes)"
    lines = [f"| seed | reached the bound at (frames) | wall time | {greedy} |", "| --- | --- | --- | --- |"]
    for run in result["runs"]:
        reached = _number(run["solved_frames"]) if run["solved_frames"] is not None else (
            f"not within {_number(run['frames'])} (best mean {run['best_mean']})" if run["exit_code"] == 0 else f"failed (exit {run['exit_code']})"
        )  # fmt: skip
        lines.append(f"| {run['seed']} | {reached} | {run['wall_s']:.0f} s | {_number(run['greedy'], digits)} |")
    s = result["summary"]
    span = f" (range {_number(s['frames_min'])}-{_number(s['frames_max'])})" if s["solved"] else ""
    lines.append(
        f"| **{s['solved']} of {s['seeds']} reached it** | median **{_number(s['frames_median'])}**{span} | "
        f"median {_number(s['wall_median_s'])} s (solved runs) | median {_number(s['greedy_median'], digits)} |"
    )
    lines.append("")
    lines.append(f"Measured {result['date']} on {result['machine']}, commit `{result['commit']}`, with "
                 f"`python benchmarks/reproduce.py --only {name}`.")  # fmt: skip
    return "\n".join(lines)


def compare(name: str, now: dict, before: dict | None) -> list[str]:
    """Lines that set the new figures beside the README's; each that moved starts with ``MOVED``."""
    if before is None:
        return [f"{name}: no README figures to compare with"]
    experiment, a, b = EXPERIMENTS[name], now["summary"], before["summary"]
    lines = []

    def line(what: str, new, old, moved: bool) -> None:
        lines.append(f"{'MOVED' if moved else 'same '} {name}: {what}: {new} (README: {old})")

    seeds = {r["seed"] for r in now["runs"]} & {r["seed"] for r in before["runs"]}
    solved_now = sum(r["solved_frames"] is not None for r in now["runs"] if r["seed"] in seeds)
    solved_before = sum(r["solved_frames"] is not None for r in before["runs"] if r["seed"] in seeds)
    line(f"seeds reaching the bound, of {len(seeds)}", solved_now, solved_before, solved_now != solved_before)
    if a["frames_median"] and b["frames_median"]:
        change = a["frames_median"] / b["frames_median"] - 1
        line("median frames to the bound", f"{a['frames_median']:,.0f} ({change:+.1%})", f"{b['frames_median']:,.0f}", abs(change) > 0.10)
    if a["greedy_median"] is not None and b["greedy_median"] is not None:
        moved = abs(a["greedy_median"] - b["greedy_median"]) > experiment.greedy_tolerance
        line("median greedy return", a["greedy_median"], b["greedy_median"], moved)
    old_runs = {r["seed"]: r for r in before["runs"]}
    for run in now["runs"]:
        old = old_runs.get(run["seed"])
        if old is not None and old["solved_frames"] != run["solved_frames"]:
            lines.append(f"      {name}: seed {run['seed']}: {run['solved_frames']} frames (README: {old['solved_frames']})")
    return lines


def _seed_of(path: Path) -> int:
    return int(path.parent.name.removeprefix("seed"))


def finished(out: Path, name: str) -> list[dict]:
    """The figures of the seeds of ``name`` that finished under ``out`` (each wrote its result.json)."""
    return [json.loads(p.read_text()) for p in sorted(out.glob(f"{name}/seed*/result.json"), key=_seed_of)]


def run_all(names: list[str], seeds: int | None, workers: int, out: Path) -> dict[str, list[dict]]:
    """Every seed of every named experiment, ``workers`` at a time, in the order named.

    Seeds that already finished under ``out`` are kept, not rerun: a re-measurement that was stopped
    goes on where it stopped (``--into``)."""
    runs: dict[str, list[dict]] = {n: [r for r in finished(out, n) if r["seed"] in EXPERIMENTS[n].seeds[:seeds]] for n in names}
    done = {(n, r["seed"]) for n, rs in runs.items() for r in rs}
    jobs = [(n, s) for n in names for s in EXPERIMENTS[n].seeds[:seeds] if (n, s) not in done]
    kept = f" ({len(done)} finished before, kept)" if done else ""
    print(f"{len(jobs)} runs, {workers} at a time, into {out}{kept}", flush=True)
    with ThreadPoolExecutor(workers) as pool:
        futures = [(n, pool.submit(run_seed, n, EXPERIMENTS[n], s, out)) for n, s in jobs]
        for name, future in futures:
            run = future.result()
            runs[name].append(run)
            reached = f"solved in {run['solved_frames']}" if run["solved_frames"] else f"not solved in {run['frames']}"
            print(f"  {name} seed {run['seed']}: {reached} frames, {run['wall_s']:.0f} s, greedy {run['greedy']}", flush=True)
    return {n: sorted(r, key=lambda run: run["seed"]) for n, r in runs.items()}


def update_readme(blocks: dict[str, str]) -> None:
    text = README.read_text()
    for name, block in blocks.items():
        pattern = re.compile(rf"(<!-- reproduce:{name} -->\n).*?(\n<!-- /reproduce:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"error: README.md has no <!-- reproduce:{name} --> block")
        text = pattern.sub(lambda m: m[1] + block + m[2], text)
    README.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=",".join(EXPERIMENTS), help=f"comma-separated, of: {', '.join(EXPERIMENTS)}")
    parser.add_argument("--workers", type=int, default=1, help="runs at a time (one process and one thread each)")
    parser.add_argument("--seeds", type=int, default=None, help="only the first N seeds of each (a quicker, partial check)")
    parser.add_argument("--update", action="store_true", help="make these figures the README's")
    parser.add_argument("--collect", default=None, help="run nothing: report the finished seeds under this runs/reproduce/<time> directory")
    parser.add_argument("--into", default=None, help="go on with a stopped re-measurement: run only the seeds not finished under this runs/reproduce/<time> directory")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPERIMENTS]
    if unknown or args.workers < 1:
        parser.error(f"--only: unknown {unknown}; known: {', '.join(EXPERIMENTS)}" if unknown else "--workers must be >= 1")
    for flag, folder in (("--collect", args.collect), ("--into", args.into)):
        if folder and not Path(folder).is_dir():
            parser.error(f"{flag}: {folder} is not a directory (a runs/reproduce/<time> folder this script made)")

    if args.collect:
        out = Path(args.collect)
        runs = {n: r for n in names if (r := finished(out, n))}
    else:
        out = Path(args.into) if args.into else ROOT / "runs" / "reproduce" / time.strftime("%Y%m%d-%H%M%S")
        runs = run_all(names, args.seeds, args.workers, out)

    stamp = {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    results = {
        n: {**stamp, "commit": ", ".join(sorted({run.get("commit", "?") for run in r})),
            "experiment": vars(EXPERIMENTS[n]), "runs": r, "summary": summarize(r)}
        for n, r in runs.items()
    }  # fmt: skip
    readme_figures = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    moved = False
    for name, result in results.items():
        print(f"\n## {name}: {EXPERIMENTS[name].note or EXPERIMENTS[name].config}\n\n{markdown(name, result)}\n")
        for line in compare(name, result, readme_figures.get(name)):
            print(line)
            moved |= line.startswith("MOVED")
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    if args.update:
        RESULTS.write_text(json.dumps({**readme_figures, **results}, indent=1) + "\n")
        update_readme({name: markdown(name, result) for name, result in results.items()})
        print(f"\nwritten: {RESULTS.relative_to(ROOT)} and the README's tables")
    return 1 if moved and not args.update else 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m lightning_dqn.ablation run <study.yaml>``, ``... report <study dir>`` and ``... sweep <study.yaml>``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lightning_dqn.ablation.kept import continue_from
from lightning_dqn.ablation.report import report
from lightning_dqn.ablation.runner import StudyInterrupted, run_study
from lightning_dqn.ablation.study import load_study
from lightning_dqn.ablation.sweep import sweep_task, write_sweep
from lightning_dqn.errors import ConfigError


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lightning_dqn.ablation",
        description="Ablation studies: run the variants of an experiment over seeds, then report them.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run every missing run of a study, then report it")
    run.add_argument("study", help="the study file, e.g. experiments/ablations/cartpole_components.yaml")
    run.add_argument("--out", default="runs/ablations", help="where studies go (<out>/<name>/)")
    run.add_argument("--workers", type=int, default=1, help="runs at a time (each is one process)")
    run.add_argument("--dry-run", action="store_true", help="check the configs and print the commands only")
    run.add_argument("--shard", default="0/1", help="K/N: run only every N-th run from the K-th (N jobs split a study)")
    run.add_argument("--bootstrap-samples", type=int, default=2000, help="resamples behind each interval")
    run.add_argument(
        "--continue-from", default=None, metavar="KEPT_DIR",
        help="a kept study (its curves.csv and study.yaml, e.g. benchmarks/results/ablations/<name>): its runs count as done",
    )  # fmt: skip
    rep = commands.add_parser("report", help="collect a study's finished runs into CSVs and a table")
    rep.add_argument("study_dir", help="the study's directory, e.g. runs/ablations/cartpole_components")
    rep.add_argument("--bootstrap-samples", type=int, default=2000, help="resamples behind each interval")
    sweep = commands.add_parser("sweep", help="write the study as a W&B sweep file (for wandb sweep / wandb agent)")
    sweep.add_argument("study", help="the study file, e.g. experiments/ablations/cartpole_components.yaml")
    sweep.add_argument("--out", default=None, help="the sweep file to write (default: <study name>.sweep.yaml here)")
    sweep.add_argument("--project", default="lightning_dqn", help="the W&B project of the sweep and its runs")
    sweep.add_argument("--task", default=None, help="the task to sweep, for a study across several tasks")
    return parser.parse_args(argv)


def sweep(args: argparse.Namespace) -> None:
    """Writes the sweep file and says what to run next."""
    study = load_study(args.study)
    task = sweep_task(study, args.task)
    path = write_sweep(study, Path(args.out or f"{study.run_name(task, '')}.sweep.yaml"), project=args.project, task=task)
    runs = len(study.variants) * len(study.seeds)
    search = f", then {study.search['method']} search" if study.search else ""
    print(f"written: {path} ({runs} runs: {len(study.variants)} variants x {len(study.seeds)} seeds{search})")
    print(f"next, with a W&B account: wandb sweep {path}   then the `wandb agent ...` command it prints")


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``, or a one-line ``ConfigError``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        index, count = -1, 0
    if not 0 <= index < count:
        raise ConfigError("--shard", f"must be K/N with 0 <= K < N (e.g. 0/4), got {text!r}")
    return index, count


def main(argv: list[str] | None = None) -> None:
    """A mistake in the study prints one line naming the field and exits 2 before any run starts;
    the exit code is 1 when a run failed."""
    args = parse_args(argv)
    try:
        if args.command == "sweep":
            sweep(args)
            return
        if args.bootstrap_samples < 1:
            raise ConfigError("--bootstrap-samples", f"must be >= 1, got {args.bootstrap_samples}")
        if args.command == "run":
            if args.workers < 1:
                raise ConfigError("--workers", f"must be >= 1, got {args.workers}")
            shard = parse_shard(args.shard)
            study = load_study(args.study)
            kept = set()
            if args.continue_from is not None:
                kept = continue_from(args.continue_from, study, Path(args.out) / study.name, write=not args.dry_run)
                print(f"continuing from {args.continue_from}: {len(kept)} kept run(s)")
            statuses = run_study(study, Path(args.out), workers=args.workers, dry_run=args.dry_run, shard=shard, kept=kept)
            if args.dry_run:
                return
            study_dir = Path(args.out) / study.name
            failed = [s for s in statuses if s["returncode"] != 0]
        else:
            study_dir = Path(args.study_dir)
            if not (study_dir / "study.yaml").is_file():
                raise ConfigError("study_dir", f"{study_dir} holds no study (no study.yaml); pass <out>/<name>")
            failed = []
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except StudyInterrupted as err:
        print(f"error: study {err}; its unfinished runs are recorded as interrupted and run again next time", file=sys.stderr)
        sys.exit(128 + err.signal_number)
    try:
        table = report(study_dir, samples=args.bootstrap_samples)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    print(table)
    print(f"written: {study_dir}/curves.csv, scores.csv, summary.csv, report.md")
    if failed:
        print(f"error: {len(failed)} run(s) failed; their output.log says why", file=sys.stderr)
        sys.exit(1)


main()

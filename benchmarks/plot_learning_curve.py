"""Draws a run's learning curve from what its logger wrote: a CSVLogger ``metrics.csv`` or an offline W&B run.

Why: the README's result figures must come from the runs themselves. Against wall time the curve
can carry the reference points of the plain PyTorch Pong loop measured on this machine (mean return
of the last 20 games after 37, 99, 126 and 137 minutes; see the Atari issue), so the two read side
by side at equal wall time.

    python benchmarks/plot_learning_curve.py runs/pong_fast/version_0/metrics.csv \\
        --x minutes --y reward_recent reward_100 --plain-pong-reference --out benchmarks/results/pong_fast.png
    python benchmarks/plot_learning_curve.py runs/wandb/offline-run-<date>-<id> \\
        --x frames --y reward_100 eval/return_mean --out benchmarks/results/cartpole.png

Several sources draw a curve each, named by ``--labels`` (two runs of one config, say 32-bit and bf16).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from lightning_dqn.wandb_records import read_offline_run  # noqa: E402

# The plain loop of the Atari issue (2 envs, double + dueling + 3-step, one update per 2 agent steps):
# minutes of wall time -> mean return of the last 20 games.
PLAIN_PONG = [(37, -19.4), (99, -13.6), (126, -6.1), (137, -2.9)]


def load_rows(source: Path) -> list[dict[str, float]]:
    """Metric rows with numbers only: from ``metrics.csv`` or a ``wandb/offline-run-*`` directory."""
    if source.is_dir():
        return [{k: v for k, v in row.items() if isinstance(v, (int, float))} for row in read_offline_run(source).history]
    with open(source) as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def series(rows: list[dict[str, float]], x: str, y: str) -> tuple[list[float], list[float]]:
    """``(x, y)`` points of the rows that have both (``minutes`` is derived from ``time_s``)."""
    points = []
    for row in rows:
        x_value = row["time_s"] / 60 if x == "minutes" and "time_s" in row else row.get(x)
        if x_value is not None and y in row:
            points.append((x_value, row[y]))
    points.sort()
    return [p[0] for p in points], [p[1] for p in points]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+", help="metrics.csv or wandb/offline-run-* directories: a curve each")
    parser.add_argument("--labels", nargs="+", default=None, help="one name per source (default: lightning_dqn)")
    parser.add_argument("--x", default="frames", help="frames, minutes (from time_s) or any logged column")
    parser.add_argument("--y", nargs="+", default=["reward_100"], help="columns to draw")
    parser.add_argument("--plain-pong-reference", action="store_true", help="add the plain loop's Pong points (--x minutes)")
    parser.add_argument("--title", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    labels = args.labels or ["lightning_dqn"] * len(args.sources)
    if len(labels) != len(args.sources):
        parser.error(f"--labels: {len(labels)} names for {len(args.sources)} sources")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for source, label in zip(args.sources, labels):
        rows = load_rows(source)
        for column in args.y:
            xs, ys = series(rows, args.x, column)
            style = {"marker": "o", "linestyle": "-"} if column.startswith("eval/") else {}
            ax.plot(xs, ys, label=f"{label} {column}", **style)
            if xs:
                print(f"{label} {column}: {len(xs)} points, last {ys[-1]:.2f} at {args.x} {xs[-1]:.1f}")
    if args.plain_pong_reference:
        ax.plot(*zip(*PLAIN_PONG), "ks--", label="plain PyTorch loop, last 20 games (measured here)")
    ax.set_xlabel("wall time (minutes)" if args.x == "minutes" else args.x)
    ax.set_ylabel("mean return")
    ax.grid(alpha=0.3)
    ax.legend()
    if args.title:
        ax.set_title(args.title)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

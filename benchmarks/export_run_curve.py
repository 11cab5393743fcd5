"""Writes a run's learning curve as a small CSV: one row per ``--every`` frames, resumed parts stitched.

Why: a long run (MinAtar's millions of frames) logs tens of thousands of rows, and a run resumed
with ``--ckpt_path`` continues in a new run directory. The kept curve in ``benchmarks/results/``
is the whole run, thinned, from the runs' own records:

    python benchmarks/export_run_curve.py runs/wandb/offline-run-<first> runs/wandb/offline-run-<resumed> \\
        --every 5000 --out benchmarks/results/minatar/breakout_seed0.csv

Sources are given in the order they ran (W&B offline run directories or CSVLogger ``metrics.csv``
files). A resumed run restarts from its checkpoint, a little before the frame where the run it
resumes was stopped; the earlier run's rows from that frame on are dropped, so every frame comes
from the run that carried on. Rows logged at the same frame are merged into one; each kept row is
the first one with ``--key`` (default ``reward_100``) at or after a multiple of ``--every`` frames,
and every row with an evaluation (``--always``, default ``eval/return_mean``) is kept too.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from lightning_dqn.wandb_records import stitch_resumed
from plot_learning_curve import load_rows


def merge(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """Rows logged at the same frame as one row (a later value of a column wins).

    >>> merge([{"frames": 1, "a": 1}, {"frames": 1, "b": 2}, {"frames": 2, "a": 3}])
    [{'frames': 1, 'a': 1, 'b': 2}, {'frames': 2, 'a': 3}]
    """
    merged: dict[float, dict[str, float]] = {}
    for row in rows:
        merged.setdefault(row["frames"], {}).update(row)
    return [merged[frames] for frames in sorted(merged)]


def thin(rows: list[dict[str, float]], every: int, key: str = "reward_100", always: tuple[str, ...] = ()) -> list[dict[str, float]]:
    """The first row with ``key`` at or after each multiple of ``every`` frames, and every row
    with a column in ``always`` (rows sorted by frames).

    >>> rows = [{"frames": f, "r": 0} for f in (3, 4, 10, 12, 19, 25)] + [{"frames": 13, "eval": 1}]
    >>> [row["frames"] for row in thin(sorted(rows, key=lambda r: r["frames"]), 10, "r", ("eval",))]
    [3, 10, 13, 25]
    """
    kept, next_mark = [], 0
    for row in rows:
        if key in row and row["frames"] >= next_mark:
            kept.append(row)
            next_mark = (int(row["frames"]) // every + 1) * every
        elif any(column in row for column in always):
            kept.append(row)
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sources", type=Path, nargs="+", help="W&B offline run dirs or metrics.csv, in the order they ran")
    parser.add_argument("--every", type=int, default=5000, help="frames between kept rows")
    parser.add_argument("--key", default="reward_100", help="the column a kept row must have")
    parser.add_argument("--always", nargs="*", default=["eval/return_mean"], help="rows with these columns are all kept")
    parser.add_argument("--columns", nargs="+", default=None, help="columns to write (default: every numeric one)")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.out.exists():
        parser.error(f"--out: {args.out} exists; remove it or choose another file")
    rows = thin(merge(stitch_resumed([load_rows(source) for source in args.sources])), args.every, args.key, tuple(args.always))
    columns = args.columns or list(dict.fromkeys(key for row in rows for key in row))
    if "frames" not in columns:
        columns.insert(0, "frames")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"written: {args.out} ({len(rows)} rows, frames {rows[0]['frames']:.0f}-{rows[-1]['frames']:.0f})")


if __name__ == "__main__":
    main()

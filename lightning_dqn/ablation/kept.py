"""A study's record of its finished runs, ``curves.csv``, outlives their folders.

Run folders hold checkpoints, replay dumps and W&B records: too big to keep, and gone with the
machine (a cluster's scratch space, a laptop wiped between working days). ``curves.csv`` is small
and is what the report reads, so it is what a study keeps (``benchmarks/results/ablations/``). A
study continues from it on another machine::

    python -m lightning_dqn.ablation run study.yaml --continue-from benchmarks/results/ablations/<name>

copies its rows into ``runs/ablations/<name>/curves.csv``; the runner then counts every run in it as
done (it runs only the others), and the report keeps its rows beside the new runs'. A finished run
folder replaces the kept rows of the same (task, variant, seed).

The kept runs must come from the same study: the kept ``study.yaml`` may differ from the one being
run only in its ``seeds`` (and comments), or the continuation is refused.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import yaml

from lightning_dqn.ablation.study import SINGLE_TASK, Study
from lightning_dqn.errors import ConfigError

CURVES_FILE = "curves.csv"
STUDY_COPY = "study.yaml"
CURVE_FIELDS = ("variant", "seed", "metric", "frames", "value")  # and "task" first in a study across tasks
FIELDS_THAT_MAY_DIFFER = ("seeds",)  # adding seeds is how a kept study grows

RunKey = tuple[str, str, int]  # (task, variant, seed)


def read_curves(path: str | Path) -> list[dict]:
    """``curves.csv`` back as rows with numbers where numbers were written (and a ``task``, ``""``
    in a study of one task)."""
    with open(path, newline="") as f:
        return [
            {"task": SINGLE_TASK, **row, "seed": int(row["seed"]), "frames": int(row["frames"]), "value": float(row["value"])}
            for row in csv.DictReader(f)
        ]


def run_key(row: dict) -> RunKey:
    return row.get("task", SINGLE_TASK), row["variant"], int(row["seed"])


def kept_runs(study_dir: Path) -> set[RunKey]:
    """The runs ``study_dir/curves.csv`` records (none without the file)."""
    path = Path(study_dir) / CURVES_FILE
    return {run_key(row) for row in read_curves(path)} if path.is_file() else set()


def merge_runs(live: list[dict], kept: list[dict]) -> list[dict]:
    """The kept rows of runs that have no live rows, then the live rows: a run's folder wins.

    >>> kept = [{"variant": "dqn", "seed": 0, "value": 1.0}, {"variant": "dqn", "seed": 1, "value": 2.0}]
    >>> [r["value"] for r in merge_runs([{"variant": "dqn", "seed": 1, "value": 5.0}], kept)]
    [1.0, 5.0]
    """
    live_keys = {run_key(row) for row in live}
    return [row for row in kept if run_key(row) not in live_keys] + live


def _data_rows(path: Path) -> int:
    with open(path, newline="") as f:
        return max(0, sum(1 for _ in csv.reader(f)) - 1)


def write_csv(path: Path, rows: list[dict], fields, echo=print) -> None:
    """Writes ``rows``; an existing file with more rows is kept aside first, and ``echo`` says where."""
    if path.is_file() and (held := _data_rows(path)) > len(rows):
        kept = path.with_name(f"{path.name}.before-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(path, kept)
        echo(f"note: {path} held {held} rows, the new one {len(rows)}; the old file is kept as {kept}")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(fields), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _settings(path: Path) -> dict:
    settings = yaml.safe_load(path.read_text()) or {}
    return {key: value for key, value in settings.items() if key not in FIELDS_THAT_MAY_DIFFER}


def continue_from(source: str | Path, study: Study, study_dir: Path, write: bool = True) -> set[RunKey]:
    """Adds the runs kept in ``source`` (a study's kept directory) to ``study_dir/curves.csv`` (with
    ``write``; a dry run only reads) and returns the runs ``source`` keeps. Raises ``ConfigError`` (naming ``--continue-from``) when
    ``source`` holds no kept study or one whose settings differ from ``study``'s."""
    source = Path(source)
    if not (source / CURVES_FILE).is_file() or not (source / STUDY_COPY).is_file():
        raise ConfigError("--continue-from", f"{source} holds no kept study (it needs {CURVES_FILE} and {STUDY_COPY})")
    if study.source is not None:
        before, now = _settings(source / STUDY_COPY), _settings(study.source)
        changed = sorted(key for key in before.keys() | now.keys() if before.get(key) != now.get(key))
        if changed:
            raise ConfigError(
                "--continue-from",
                f"the runs kept in {source} were made by a study with other {', '.join(changed)}; "
                f"only {', '.join(FIELDS_THAT_MAY_DIFFER)} may differ",
            )
    target = study_dir / CURVES_FILE
    here = read_curves(target) if target.is_file() else []
    have = {run_key(row) for row in here}
    kept = read_curves(source / CURVES_FILE)
    added = [row for row in kept if run_key(row) not in have]
    if added and write:
        study_dir.mkdir(parents=True, exist_ok=True)
        rows = here + added
        across = any(row["task"] != SINGLE_TASK for row in rows)
        write_csv(target, rows, (("task",) if across else ()) + CURVE_FIELDS)
    return {run_key(row) for row in kept}


__all__ = ["CURVES_FILE", "CURVE_FIELDS", "continue_from", "kept_runs", "merge_runs", "read_curves", "run_key", "write_csv"]

"""A study's results: every run's learning curve in one CSV, and a table that says which variant
helped and how sure we are.

Per run, from its W&B records (offline or not, read locally by ``wandb_records``):
- **final**: the mean of its last ``final_evaluations`` values of the study's metric (by default the
  greedy evaluation return), what the variant ends up at within the budget;
- **auc**: the mean over all its evaluations, the area under its learning curve per evaluation,
  which also rewards learning early.

Per variant, over its seeds: the IQM of each with a bootstrap 95% interval, and the probability
that a run of it beats a run of the baseline (on the final score). Written to ``curves.csv``,
``scores.csv``, ``summary.csv`` and ``report.md`` in the study's directory.

A report never destroys what it summarises: a study kept as CSVs only (its run folders gone, as in
``benchmarks/results/ablations/``) is reported from its ``curves.csv``; a directory with neither
finished runs nor a ``curves.csv`` is refused before anything is written; and a file that would
be replaced by one with fewer rows is first kept as ``<name>.before-<time>``, and the report says so.
"""

from __future__ import annotations

import csv
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lightning_dqn.ablation.runner import STUDY_COPY, is_done, read_status
from lightning_dqn.ablation.study import DEFAULT_FINAL_EVALUATIONS, DEFAULT_METRIC
from lightning_dqn.errors import ConfigError
from lightning_dqn.scores import Estimate, bootstrap, bootstrap_improvement
from lightning_dqn.wandb_records import read_offline_run

CURVE_FIELDS = ("variant", "seed", "metric", "frames", "value")
TRAINING_METRIC = "reward_100"


@dataclass(frozen=True)
class RunScore:
    variant: str
    seed: int
    final: float
    auc: float
    evaluations: int
    last_frames: int


@dataclass(frozen=True)
class VariantSummary:
    variant: str
    runs: int
    failed: int
    final: Estimate | None  # None when no run of the variant finished
    auc: Estimate | None
    improvement: Estimate | None  # P(this variant > baseline) on the final score; None for the baseline


def study_settings(study_dir: str | Path) -> dict:
    """The study file as it was last run (kept in the study's directory), defaults filled in."""
    settings = yaml.safe_load((Path(study_dir) / STUDY_COPY).read_text())
    settings.setdefault("name", Path(study_dir).name)
    settings.setdefault("metric", DEFAULT_METRIC)
    settings.setdefault("final_evaluations", DEFAULT_FINAL_EVALUATIONS)
    settings.setdefault("baseline", next(iter(settings["variants"])))
    return settings


def _run_dirs(study_dir: Path, variant: str) -> list[Path]:
    dirs = [d for d in (study_dir / variant).glob("seed*") if d.is_dir() and d.name[4:].isdigit()]
    return sorted(dirs, key=lambda d: int(d.name[4:]))


def collect_curves(study_dir: Path, variants: list[str], metric: str) -> tuple[list[dict], dict[str, int]]:
    """Every finished run's ``metric`` and ``reward_100`` against frames; and failed runs per variant."""
    rows: list[dict] = []
    failed: dict[str, int] = defaultdict(int)
    for variant in variants:
        for run_dir in _run_dirs(study_dir, variant):
            if not is_done(run_dir):
                failed[variant] += read_status(run_dir) is not None
                continue
            (wandb_dir,) = [p.parent for p in run_dir.glob("wandb/*run-*/run-*.wandb")]
            history = read_offline_run(wandb_dir)
            seed = int(run_dir.name[4:])
            for key in dict.fromkeys([metric, TRAINING_METRIC]):
                for frames, value in history.column(key):
                    rows.append({"variant": variant, "seed": seed, "metric": key, "frames": int(frames), "value": float(value)})
    return rows, dict(failed)


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
        writer = csv.DictWriter(f, fieldnames=list(fields))
        writer.writeheader()
        writer.writerows(rows)


def read_curves(path: str | Path) -> list[dict]:
    """``curves.csv`` back as rows with numbers where numbers were written."""
    with open(path, newline="") as f:
        return [
            {**row, "seed": int(row["seed"]), "frames": int(row["frames"]), "value": float(row["value"])}
            for row in csv.DictReader(f)
        ]


def run_scores(curves: list[dict], metric: str, final_evaluations: int) -> list[RunScore]:
    """One ``RunScore`` per run that logged ``metric`` at least once."""
    series: dict[tuple[str, int], list[tuple[int, float]]] = defaultdict(list)
    for row in curves:
        if row["metric"] == metric:
            series[(row["variant"], row["seed"])].append((row["frames"], row["value"]))
    scores = []
    for (variant, seed), points in series.items():
        points.sort()
        values = np.array([v for _, v in points])
        scores.append(
            RunScore(variant, seed, float(values[-final_evaluations:].mean()), float(values.mean()), len(values), points[-1][0])
        )
    return scores


def summarize(
    scores: list[RunScore], variants: list[str], baseline: str, failed: dict[str, int] | None = None, samples: int = 2000
) -> list[VariantSummary]:
    """IQM and intervals of each variant's runs, in the study's order of variants."""
    by_variant: dict[str, list[RunScore]] = defaultdict(list)
    for score in scores:
        by_variant[score.variant].append(score)
    base = [s.final for s in by_variant.get(baseline, [])]
    summaries = []
    for variant in variants:
        runs = by_variant.get(variant, [])
        failures = (failed or {}).get(variant, 0)
        if not runs:
            if failures:  # every run failed: the table says so rather than leaving the variant out
                summaries.append(VariantSummary(variant, 0, failures, None, None, None))
            continue
        finals = [s.final for s in runs]
        summaries.append(
            VariantSummary(
                variant=variant,
                runs=len(runs),
                failed=failures,
                final=bootstrap(finals, samples=samples),
                auc=bootstrap([s.auc for s in runs], samples=samples),
                improvement=None if variant == baseline or not base else bootstrap_improvement(finals, base, samples=samples),
            )
        )
    return summaries


def curve_bands(curves: list[dict], metric: str, samples: int = 500) -> dict[str, tuple[np.ndarray, ...]]:
    """Per variant: frames, and the IQM over seeds of ``metric`` at each, with a bootstrap 95% band.

    Runs of one variant evaluate at the same frames; a point counts the runs that reached it."""
    points: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for row in curves:
        if row["metric"] == metric:
            points[row["variant"]][row["frames"]].append(row["value"])
    bands = {}
    for variant, by_frame in points.items():
        frames = np.array(sorted(by_frame))
        estimates = [bootstrap(by_frame[f], samples=samples) for f in frames]
        bands[variant] = (
            frames,
            np.array([e.value for e in estimates]),
            np.array([e.low for e in estimates]),
            np.array([e.high for e in estimates]),
        )
    return bands


def markdown_table(
    summaries: list[VariantSummary], metric: str, final_evaluations: int, baseline: str, samples: int = 2000
) -> str:
    lines = [
        f"| variant | runs | final {metric}, IQM [95% CI] | AUC, IQM [95% CI] | P(better than {baseline}) [95% CI] |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        runs = f"{s.runs}" + (f" ({s.failed} failed)" if s.failed else "")
        improvement = "baseline" if s.variant == baseline else str(s.improvement or "-")
        lines.append(f"| {s.variant} | {runs} | {s.final or '-'} | {s.auc or '-'} | {improvement} |")
    lines.append("")
    lines.append(
        f"final: mean of each run's last {final_evaluations} evaluations; AUC: mean of all its evaluations; "
        f"IQM: mean of the middle half of the runs; intervals: percentile bootstrap over runs ({samples} resamples). "
        "P(better): chance that a run of the variant ends above a run of the baseline (0.5 = no difference)."
    )
    return "\n".join(lines)


def _estimate_columns(name: str, estimate: Estimate | None) -> dict[str, float | str]:
    """``{name, name_low, name_high}`` of an estimate, empty strings for none."""
    values = ("", "", "") if estimate is None else (estimate.value, estimate.low, estimate.high)
    return dict(zip((name, f"{name}_low", f"{name}_high"), values))


def report(study_dir: str | Path, samples: int = 2000, echo=print) -> str:
    """Collects a study's finished runs (or, with none left, its kept ``curves.csv``), writes its
    CSVs and ``report.md``, returns the table. Raises ``ConfigError`` before writing anything when
    there is nothing to report."""
    study_dir = Path(study_dir)
    settings = study_settings(study_dir)
    variants = list(settings["variants"])
    metric, final_evaluations, baseline = settings["metric"], settings["final_evaluations"], settings["baseline"]

    curves, failed = collect_curves(study_dir, variants, metric)
    kept_curves = study_dir / "curves.csv"
    if curves:
        write_csv(kept_curves, curves, CURVE_FIELDS, echo)
    elif kept_curves.is_file() and (curves := read_curves(kept_curves)):  # a kept study: its runs are gone, its curves are not
        echo(f"note: no finished run folders in {study_dir}; reporting the {len(curves)} rows of {kept_curves}")
    else:
        unfinished = f" ({sum(failed.values())} failed or interrupted)" if failed else ""
        raise ConfigError("study_dir", f"{study_dir} holds no finished runs{unfinished} and no curves.csv: nothing to report")
    scores = run_scores(curves, metric, final_evaluations)
    write_csv(study_dir / "scores.csv", [vars(s) for s in scores], RunScore.__dataclass_fields__, echo)
    summaries = summarize(scores, variants, baseline, failed, samples)
    write_csv(
        study_dir / "summary.csv",
        [
            {
                "variant": s.variant, "runs": s.runs, "failed": s.failed,
                **_estimate_columns("final_iqm", s.final),
                **_estimate_columns("auc_iqm", s.auc),
                **_estimate_columns("p_better", s.improvement),
            }
            for s in summaries
        ],
        ("variant", "runs", "failed", *_estimate_columns("final_iqm", None), *_estimate_columns("auc_iqm", None),
         *_estimate_columns("p_better", None)),
        echo,
    )  # fmt: skip
    table = markdown_table(summaries, metric, final_evaluations, baseline, samples)
    (study_dir / "report.md").write_text(f"# Ablation study `{settings['name']}`\n\n{table}\n")
    return table


__all__ = [
    "RunScore",
    "VariantSummary",
    "collect_curves",
    "curve_bands",
    "markdown_table",
    "read_curves",
    "report",
    "run_scores",
    "study_settings",
    "summarize",
]

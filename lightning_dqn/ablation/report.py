"""A study's results: every run's learning curve in one CSV, and a table that says which variant
helped and how sure we are.

Per run, from its W&B records (offline or not, read locally by ``wandb_records``):
- **final**: the mean of its last ``final_evaluations`` values of the study's metric (by default the
  greedy evaluation return), what the variant ends up at within the budget;
- **auc**: the mean over all its evaluations, the area under its learning curve per evaluation,
  which also rewards learning early.

Per variant (and task), over its seeds: the IQM of each with a bootstrap 95% interval, and the
probability that a run of it beats a run of the baseline (on the final score). A study across
tasks adds the aggregates over tasks of normalised scores (``across_tasks``). Written to
``curves.csv``, ``scores.csv``, ``summary.csv`` (and ``across_tasks.csv``), ``report.md`` and the
PNGs under ``figures/`` (``figures.py``) in the study's directory.

A report never destroys what it summarises: a study kept as CSVs only (its run folders gone, as in
``benchmarks/results/ablations/``) is reported from its ``curves.csv``, and the runs kept there
stay beside a continued study's new ones (``kept.py``); a directory with neither
finished runs nor a ``curves.csv`` is refused before anything is written; and a file that would
be replaced by one with fewer rows is first kept as ``<name>.before-<time>``, and the report says so.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from lightning_dqn.ablation import figures
from lightning_dqn.ablation.across_tasks import (
    AcrossTasks, Scale, across_tasks_table, score_matrices, summarize_across_tasks,
)  # fmt: skip
from lightning_dqn.ablation.kept import CURVE_FIELDS, CURVES_FILE, STUDY_COPY, merge_runs, read_curves, run_key, write_csv
from lightning_dqn.ablation.runner import is_done, read_status, resumed_attempt
from lightning_dqn.ablation.study import DEFAULT_FINAL_EVALUATIONS, DEFAULT_METRIC, SINGLE_TASK, task_scale
from lightning_dqn.errors import ConfigError
from lightning_dqn.scores import AGGREGATES, Estimate, bootstrap, bootstrap_curve, bootstrap_improvement
from lightning_dqn.wandb_records import read_offline_run, stitch_resumed

FIGURES = "figures"
TRAINING_METRIC = "reward_100"


@dataclass(frozen=True)
class RunScore:
    variant: str
    seed: int
    final: float
    auc: float
    evaluations: int
    last_frames: int
    task: str = SINGLE_TASK


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


def task_scales(settings: dict) -> dict[str, Scale | None]:
    """Each task's ``(random, reference)`` from the study file (None where it has no scale); a
    study without ``tasks`` has one task, ``SINGLE_TASK``."""
    tasks = settings.get("tasks")
    if not tasks:
        return {SINGLE_TASK: None}
    return {name: task_scale(spec or {}, f"tasks.{name}", required=len(tasks) > 1) for name, spec in tasks.items()}


def _run_dirs(variant_dir: Path) -> list[Path]:
    dirs = [d for d in variant_dir.glob("seed*") if d.is_dir() and d.name[4:].isdigit()]
    return sorted(dirs, key=lambda d: int(d.name[4:]))


def collect_curves(
    study_dir: Path, variants: list[str], metric: str, tasks: list[str] = (SINGLE_TASK,)
) -> tuple[list[dict], dict[tuple[str, str], int]]:
    """Every finished run's ``metric`` and ``reward_100`` against frames (rows with a ``task``); and
    failed runs per (task, variant)."""
    rows: list[dict] = []
    failed: dict[tuple[str, str], int] = defaultdict(int)
    for task in tasks:
        for variant in variants:
            for run_dir in _run_dirs(study_dir / task / variant):
                if not is_done(run_dir):
                    failed[(task, variant)] += read_status(run_dir) is not None
                    continue
                seed = int(run_dir.name[4:])
                for key, column in run_columns(run_dir, list(dict.fromkeys([metric, TRAINING_METRIC]))).items():
                    for frames, value in column:
                        rows.append(
                            {"task": task, "variant": variant, "seed": seed, "metric": key, "frames": int(frames), "value": float(value)}
                        )  # fmt: skip
    return rows, dict(failed)


def run_columns(run_dir: Path, keys: list[str]) -> dict[str, list[tuple[float, float]]]:
    """Each of ``keys`` against frames in a run's W&B record; a resumed run's (``resumes.txt``)
    joined after the attempts it continues (``stitch_resumed``)."""
    parts, directory = [], run_dir
    while True:
        found = [p.parent for p in directory.glob("wandb/*run-*/run-*.wandb")]
        if len(found) > 1:
            raise ConfigError("study_dir", f"{directory} holds {len(found)} W&B runs; one run directory holds one")
        parts.insert(0, read_offline_run(found[0]).history if found else [])
        if (continues := resumed_attempt(directory)) is None:
            break
        directory = directory.parent / continues
    rows = stitch_resumed(parts)
    return {key: [(row["frames"], row[key]) for row in rows if key in row] for key in keys}


def run_scores(curves: list[dict], metric: str, final_evaluations: int) -> list[RunScore]:
    """One ``RunScore`` per run that logged ``metric`` at least once."""
    series: dict[tuple[str, str, int], list[tuple[int, float]]] = defaultdict(list)
    for row in curves:
        if row["metric"] == metric:
            series[(row.get("task", SINGLE_TASK), row["variant"], row["seed"])].append((row["frames"], row["value"]))
    scores = []
    for (task, variant, seed), points in series.items():
        points.sort()
        values = np.array([v for _, v in points])
        scores.append(
            RunScore(
                variant, seed, float(values[-final_evaluations:].mean()), float(values.mean()), len(values), points[-1][0], task
            )
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

    A point counts the runs that reached it (a run stopped at its reward bound ends early); points
    reached by the same runs share one bootstrap (``scores.bootstrap_curve``), so a band costs
    one rliable call per distinct set of runs, not one per point."""
    points: dict[str, dict[int, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in curves:
        if row["metric"] == metric:
            points[row["variant"]][row["frames"]][row["seed"]] = row["value"]
    bands = {}
    for variant, by_frame in points.items():
        frames = np.array(sorted(by_frame))
        iqm, low, high = (np.empty(len(frames)) for _ in range(3))
        groups: dict[tuple[int, ...], list[int]] = defaultdict(list)
        for i, frame in enumerate(frames):
            groups[tuple(sorted(by_frame[frame]))].append(i)
        for seeds, indices in groups.items():
            values = np.array([[by_frame[frames[i]][seed] for i in indices] for seed in seeds])
            iqm[indices], low[indices], high[indices] = bootstrap_curve(values, samples=samples)
        bands[variant] = (frames, iqm, low, high)
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
    points = "evaluations" if metric.startswith("eval/") else f"logged values of {metric}"
    lines.append(
        f"final: mean of each run's last {final_evaluations} {points}; AUC: mean of all its {points}; "
        f"IQM: mean of the middle half of the runs; intervals: percentile bootstrap over runs ({samples} resamples). "
        "P(better): chance that a run of the variant ends above a run of the baseline (0.5 = no difference)."
    )
    return "\n".join(lines)


def _estimate_columns(name: str, estimate: Estimate | None) -> dict[str, float | str]:
    """``{name, name_low, name_high}`` of an estimate, empty strings for none."""
    values = ("", "", "") if estimate is None else (estimate.value, estimate.low, estimate.high)
    return dict(zip((name, f"{name}_low", f"{name}_high"), values))


def _summary_rows(summaries: list[VariantSummary], task: str) -> list[dict]:
    return [
        {
            "task": task, "variant": s.variant, "runs": s.runs, "failed": s.failed,
            **_estimate_columns("final_iqm", s.final),
            **_estimate_columns("auc_iqm", s.auc),
            **_estimate_columns("p_better", s.improvement),
        }
        for s in summaries
    ]  # fmt: skip


def _across_rows(summaries: list[AcrossTasks]) -> list[dict]:
    return [
        {
            "variant": s.variant, "seeds": s.seeds, "left_out": s.left_out,
            **{k: v for name, e in s.aggregates.items() for k, v in _estimate_columns(name, e).items()},
            **_estimate_columns("p_better", s.improvement),
        }
        for s in summaries
    ]  # fmt: skip


def write_figures(
    study_dir: Path, curves: list[dict], scores: list[RunScore], settings: dict, samples: int
) -> tuple[list[Path], list[AcrossTasks]]:
    """The study's PNGs under ``figures/``: per-task curves of its metric (and of ``reward_100`` when
    that is not the metric), aggregate intervals and the performance profile of the final scores
    (normalised when the study has tasks). Returns the paths and the across-task summaries."""
    variants, baseline, metric = list(settings["variants"]), settings["baseline"], settings["metric"]
    scales = task_scales(settings)
    out = study_dir / FIGURES
    bands_of = lambda rows, key: curve_bands(rows, key, samples=max(100, samples // 4))  # noqa: E731
    written = [
        figures.save(figures.curves(curves, key, variants, baseline, list(scales), bands_of), out / f"curves_{name}.png")
        for name, key in dict.fromkeys([("metric", metric), ("training", TRAINING_METRIC)])
        if any(row["metric"] == key for row in curves)
    ]
    finals = {(s.task, s.variant, s.seed): s.final for s in scores}
    matrices = score_matrices(finals, scales, variants)
    normalised = len(scales) > 1 or any(scale is not None for scale in scales.values())
    names = ("iqm", "mean", "median", "optimality_gap") if normalised else ("iqm", "mean", "median")
    across = list(scales) != [SINGLE_TASK]  # the across-task table needs every aggregate; one experiment's, the figure's
    summaries = (
        summarize_across_tasks(matrices, baseline, samples, names=tuple(AGGREGATES) if across else names, with_improvement=across)
        if matrices
        else []
    )
    if summaries:
        xlabel = "normalised final score" if normalised else f"final {metric}"
        written.append(figures.save(figures.aggregates(summaries, names, xlabel), out / "aggregates.png"))
        written.append(figures.save(figures.profile(matrices, xlabel, samples=max(100, samples // 4)), out / "profile.png"))
    return written, summaries


def report(study_dir: str | Path, samples: int = 2000, echo=print) -> str:
    """Collects a study's finished runs and those kept in its ``curves.csv`` without a folder, writes its
    CSVs, figures and ``report.md``, returns the tables. Raises ``ConfigError`` before writing
    anything when there is nothing to report."""
    study_dir = Path(study_dir)
    settings = study_settings(study_dir)
    variants = list(settings["variants"])
    metric, final_evaluations, baseline = settings["metric"], settings["final_evaluations"], settings["baseline"]
    scales = task_scales(settings)
    across = list(scales) != [SINGLE_TASK]
    task_column = ("task",) if across else ()

    live, failed = collect_curves(study_dir, variants, metric, list(scales))
    kept_curves = study_dir / CURVES_FILE
    kept = read_curves(kept_curves) if kept_curves.is_file() else []
    curves = merge_runs(live, kept)  # runs whose folders are gone keep their rows (``kept.py``)
    if not curves:
        unfinished = f" ({sum(failed.values())} failed or interrupted)" if failed else ""
        raise ConfigError("study_dir", f"{study_dir} holds no finished runs{unfinished} and no curves.csv: nothing to report")
    if not live:  # a kept study: its runs are gone, its curves are not
        echo(f"note: no finished run folders in {study_dir}; reporting the {len(curves)} rows of {kept_curves}")
    else:
        if carried := {run_key(row) for row in curves} - {run_key(row) for row in live}:
            echo(f"note: {len(carried)} run(s) kept in {kept_curves} have no folder here; their rows are kept")
        write_csv(kept_curves, curves, task_column + CURVE_FIELDS, echo)
    scores = run_scores(curves, metric, final_evaluations)
    score_fields = [f for f in RunScore.__dataclass_fields__ if f != "task"]
    write_csv(study_dir / "scores.csv", [vars(s) for s in scores], task_column + tuple(score_fields), echo)

    sections, summary_rows = [], []
    for task in scales:
        task_failed = {v: n for (t, v), n in failed.items() if t == task}
        summaries = summarize([s for s in scores if s.task == task], variants, baseline, task_failed, samples)
        summary_rows += _summary_rows(summaries, task)
        table = markdown_table(summaries, metric, final_evaluations, baseline, samples)
        sections.append(f"## Task `{task}` (raw scores)\n\n{table}" if across else table)
    write_csv(
        study_dir / "summary.csv", summary_rows,
        task_column + ("variant", "runs", "failed", *_estimate_columns("final_iqm", None),
                       *_estimate_columns("auc_iqm", None), *_estimate_columns("p_better", None)),
        echo,
    )  # fmt: skip
    written, across_summaries = write_figures(study_dir, curves, scores, settings, samples)
    if across and across_summaries:
        rows = _across_rows(across_summaries)
        write_csv(study_dir / "across_tasks.csv", rows, list(rows[0]), echo)
        table = across_tasks_table(across_summaries, scales, baseline, samples)
        sections.insert(0, f"## Across tasks (normalised final {metric})\n\n{table}")
    text = "\n\n".join(sections)
    pictures = "\n".join(f"![{p.stem}]({p.relative_to(study_dir)})" for p in written)
    (study_dir / "report.md").write_text(f"# Ablation study `{settings['name']}`\n\n{text}\n\n{pictures}\n")
    return text


__all__ = [
    "RunScore",
    "VariantSummary",
    "collect_curves",
    "curve_bands",
    "task_scales",
    "write_figures",
    "markdown_table",
    "read_curves",
    "report",
    "run_columns",
    "run_scores",
    "study_settings",
    "summarize",
]

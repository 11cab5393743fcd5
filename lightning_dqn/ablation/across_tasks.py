"""Reading a study across tasks (games) the way the field does (Agarwal et al. 2021, ``rliable``).

A raw score means nothing across games (Breakout's 10 is good, Space Invaders' 10 is poor), so each
run's final score is first put on its task's scale, ``(score - random) / (reference - random)``
(0: random play, 1: the study's reference, e.g. the paper's DQN at the same budget). The scores of
a variant then form rliable's ``(runs, tasks)`` matrix, one row per seed, and are aggregated over
every run of every task: the IQM, the mean, the median of the per-task means, and the optimality
gap (how far short of 1 the runs fall), each with a stratified bootstrap 95% interval (runs
resampled within each task); P(better than the baseline) is the average over tasks of the chance
that a run of the variant beats a run of the baseline on the same task.

rliable needs a full matrix, so a variant counts only the seeds it has finished on every task
(the rest are counted and reported as left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lightning_dqn.scores import AGGREGATES, Estimate, bootstrap, bootstrap_improvement

Scale = tuple[float, float]  # (random, reference) of a task


@dataclass(frozen=True)
class ScoreMatrix:
    """A variant's normalised final scores: ``scores[i, j]`` is seed ``seeds[i]`` on task ``tasks[j]``."""

    variant: str
    tasks: list[str]
    seeds: list[int]
    scores: np.ndarray
    left_out: int  # runs finished on some tasks but not all, so not in the matrix


@dataclass(frozen=True)
class AcrossTasks:
    """A variant's aggregates over tasks, and P(it beats the baseline) averaged over tasks."""

    variant: str
    seeds: int
    left_out: int
    aggregates: dict[str, Estimate]
    improvement: Estimate | None  # None for the baseline


def normalize(score: float, scale: Scale | None) -> float:
    """``(score - random) / (reference - random)``, or the score itself without a scale.

    >>> normalize(5.0, (0.5, 9.5))    # halfway from random play to the reference
    0.5
    >>> normalize(0.5, (0.5, 9.5)), normalize(14.0, (0.5, 9.5))
    (0.0, 1.5)
    """
    if scale is None:
        return score
    random, reference = scale
    return (score - random) / (reference - random)


def score_matrices(
    finals: dict[tuple[str, str, int], float], tasks: dict[str, Scale | None], variants: list[str]
) -> dict[str, ScoreMatrix]:
    """``finals[(task, variant, seed)]``, a run's raw final score, as each variant's normalised
    matrix over the seeds it finished on every task; variants with no such seed are left out.

    >>> finals = {("a", "v", 0): 1.0, ("b", "v", 0): 30.0, ("a", "v", 1): 2.0}
    >>> m = score_matrices(finals, {"a": (0.0, 2.0), "b": (10.0, 50.0)}, ["v"])["v"]
    >>> m.seeds, m.scores.tolist(), m.left_out   # seed 1 lacks task b
    ([0], [[0.5, 0.5]], 1)
    """
    matrices = {}
    for variant in variants:
        by_task = {task: {seed for (t, v, seed) in finals if t == task and v == variant} for task in tasks}
        seeds = sorted(set.intersection(*by_task.values())) if by_task else []
        if not seeds:
            continue
        scores = np.array([[normalize(finals[(task, variant, seed)], tasks[task]) for task in tasks] for seed in seeds])
        left_out = sum(len(found) for found in by_task.values()) - len(seeds) * len(tasks)
        matrices[variant] = ScoreMatrix(variant, list(tasks), seeds, scores, left_out)
    return matrices


def summarize_across_tasks(
    matrices: dict[str, ScoreMatrix],
    baseline: str,
    samples: int = 2000,
    seed: int = 0,
    names: tuple[str, ...] = tuple(AGGREGATES),
    with_improvement: bool = True,
) -> list[AcrossTasks]:
    """The aggregates ``names`` of each variant's matrix with their intervals, and (``with_improvement``)
    P(better than baseline). A study of one experiment asks only for what its figure draws: its
    table has the rest already."""
    base = matrices.get(baseline) if with_improvement else None
    summaries = []
    for variant, matrix in matrices.items():
        aggregates = {name: bootstrap(matrix.scores, AGGREGATES[name], samples=samples, seed=seed) for name in names}
        improvement = None
        if variant != baseline and base is not None:
            improvement = bootstrap_improvement(matrix.scores, base.scores, samples=samples, seed=seed)
        summaries.append(AcrossTasks(variant, len(matrix.seeds), matrix.left_out, aggregates, improvement))
    return summaries


def across_tasks_table(summaries: list[AcrossTasks], tasks: dict[str, Scale | None], baseline: str, samples: int) -> str:
    """The markdown table of ``summarize_across_tasks``, with how the scores were normalised."""
    lines = [
        "| variant | seeds (on every task) | IQM [95% CI] | mean | median | optimality gap (lower is better) | "
        f"P(better than {baseline}) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summaries:
        seeds = f"{s.seeds}" + (f" (+{s.left_out} runs not on every task)" if s.left_out else "")
        improvement = "baseline" if s.variant == baseline else str(s.improvement or "-")
        a = s.aggregates
        lines.append(
            f"| {s.variant} | {seeds} | {a['iqm']} | {a['mean']} | {a['median']} | {a['optimality_gap']} | {improvement} |"
        )
    scales = ", ".join(f"{task} ({scale[0]:g} -> {scale[1]:g})" for task, scale in tasks.items() if scale is not None)
    lines += [
        "",
        f"Each run's final score, normalised per task as (score - random) / (reference - random): {scales}. "
        "Aggregates over every run of every task, with stratified bootstrap 95% intervals "
        f"({samples} resamples of the runs within each task); median: of the per-task means; "
        "optimality gap: mean shortfall below 1; P(better): averaged over tasks.",
    ]
    return "\n".join(lines)


__all__ = ["AcrossTasks", "ScoreMatrix", "across_tasks_table", "normalize", "score_matrices", "summarize_across_tasks"]

"""An ablation study: variants of one experiment, each run over the same seeds (and tasks).

A study file is YAML (see ``experiments/ablations/``)::

    name: cartpole_components      # results go to <out>/<name>/ (default out: runs/ablations)
    configs: [../cartpole.yaml]    # the experiment, relative to the study file; layered like --config
    seeds: [0, 1, 2, 3, 4]
    baseline: double_q             # the variant every other one is compared with
    metric: eval/return_mean       # what a run is scored on (a logged metric)
    final_evaluations: 3           # a run's final score: the mean of its last 3 values of `metric`
    overrides: {trainer.max_steps: 25000}     # for every variant (a fixed budget, ...)
    variants:                      # name -> its own overrides, on top of the common ones
      double_q: {}
      no_double_q: {model.double_q: false}
    search:                        # optional, for W&B sweeps only (``ablation sweep``; ``run`` ignores it)
      method: random               # random, bayes or grid, over the variants, seeds and these parameters
      parameters: {model.lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}}
      run_cap: 50

A study across several tasks (games) names them under ``tasks`` instead of ``configs``; each task
has its own configs, optional overrides, and the two scores that put it on a common scale::

    tasks:
      breakout: {configs: [../minatar/breakout.yaml], normalize: {random: 0.5, reference: 9.5}}
      asterix:  {configs: [../minatar/asterix.yaml], normalize: {random: 0.5, reference: 11.0}}

Every variant then runs once per task and seed, under ``<name>/<task>/<variant>/seed<k>``; a run's
command line layers the task's configs, then the common overrides, the task's and the variant's.
The report divides each score as ``(score - random) / (reference - random)`` (0: random play,
1: the reference, e.g. a paper's DQN at the study's budget) before aggregating across tasks.

Each (task, variant, seed) becomes one ordinary ``python -m lightning_dqn fit`` command, so a run
of a study is exactly a run a user could type, and a study is reproduced from its file alone.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lightning_dqn.errors import ConfigError, require

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DEFAULT_METRIC = "eval/return_mean"
DEFAULT_FINAL_EVALUATIONS = 3
FIELDS = (
    "name", "configs", "tasks", "seeds", "baseline", "metric", "final_evaluations", "overrides", "variants", "search",
)  # fmt: skip
TASK_FIELDS = ("configs", "overrides", "normalize")
SINGLE_TASK = ""  # the one task of a study without ``tasks``: its runs live directly under <name>/<variant>/
SEARCH_FIELDS = ("method", "parameters", "metric", "run_cap")
SEARCH_METHODS = ("grid", "random", "bayes")


@dataclass(frozen=True)
class PlannedRun:
    """One (task, variant, seed) of a study: where it writes and the command that makes it."""

    variant: str
    seed: int
    directory: Path
    command: list[str]
    task: str = SINGLE_TASK


@dataclass(frozen=True)
class Task:
    """One environment of a study: its configs, its own overrides, and how its scores are scaled."""

    name: str
    configs: list[Path]
    overrides: dict[str, Any] = field(default_factory=dict)
    random: float | None = None  # normalize.random: the score of random play, mapped to 0
    reference: float | None = None  # normalize.reference: the score mapped to 1

    @property
    def scale(self) -> tuple[float, float] | None:
        """``(random, reference)``, or None for a task whose scores stay raw."""
        return None if self.random is None or self.reference is None else (self.random, self.reference)


@dataclass
class Study:
    """A parsed and checked study file."""

    name: str
    tasks: dict[str, Task]  # one task named SINGLE_TASK ("") for a study of one experiment
    seeds: list[int]
    variants: dict[str, dict[str, Any]]
    baseline: str
    metric: str = DEFAULT_METRIC
    final_evaluations: int = DEFAULT_FINAL_EVALUATIONS
    overrides: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    source: Path | None = None

    @property
    def across_tasks(self) -> bool:
        return list(self.tasks) != [SINGLE_TASK]

    def common_arguments(self, configs_relative_to: Path | None = None, task: str = SINGLE_TASK) -> list[str]:
        """``--config ...`` for each of the task's configs, then ``--key value`` for the common
        overrides and the task's own."""
        args: list[str] = []
        for config in self.tasks[task].configs:
            path = os.path.relpath(config, configs_relative_to) if configs_relative_to is not None else config
            args += ["--config", str(path)]
        for key, value in {**self.overrides, **self.tasks[task].overrides}.items():
            args += [f"--{key}", cli_value(value)]
        return args

    def variant_arguments(self, variant: str, task: str = SINGLE_TASK) -> list[str]:
        """The task's arguments, then ``--key value`` for the variant's own overrides."""
        args = self.common_arguments(task=task)
        for key, value in self.variants[variant].items():
            args += [f"--{key}", cli_value(value)]
        return args

    def directory(self, out_dir: Path, task: str, variant: str) -> Path:
        """``<out>/<name>/[<task>/]<variant>``: where a variant's runs of a task live."""
        return out_dir / self.name / task / variant if task else out_dir / self.name / variant

    def run_name(self, task: str, variant: str) -> str:
        """The W&B group of a variant's runs of a task: ``<name>-[<task>-]<variant>``."""
        return "-".join(part for part in (self.name, task, variant) if part)

    def plan(self, out_dir: Path) -> list[PlannedRun]:
        """Every run of the study, seed-major, so a study stopped early has whole seeds to compare."""
        runs = []
        for seed in self.seeds:
            for task in self.tasks:
                for variant in self.variants:
                    directory = self.directory(out_dir, task, variant) / f"seed{seed}"
                    group = self.run_name(task, variant)
                    command = [
                        sys.executable, "-m", "lightning_dqn", "fit",
                        *self.variant_arguments(variant, task),
                        "--seed_everything", str(seed),
                        "--trainer.logger.init_args.save_dir", str(directory),
                        "--trainer.logger.init_args.name", f"{group}-seed{seed}",
                        "--trainer.logger.init_args.group", group,
                    ]  # fmt: skip
                    runs.append(PlannedRun(variant, seed, directory, command, task))
        return runs


def cli_value(value: Any) -> str:
    """A YAML value as LightningCLI reads it on the command line (lists and mappings as JSON)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _mapping(value: Any, where: str) -> dict[str, Any]:
    value = {} if value is None else value
    require(isinstance(value, dict), where, f"must be a mapping of dotted keys to values, got {value!r}")
    for key in value:
        require(
            isinstance(key, str) and not key.startswith("-") and key not in ("config", "seed_everything"),
            where,
            f"keys are dotted config keys such as model.double_q (config and seed_everything are set by the "
            f"study), got {key!r}",
        )
    return dict(value)


def _search(value: Any) -> dict[str, Any] | None:
    """The optional ``search`` section, checked: W&B's method, and parameters by dotted config key."""
    if value is None:
        return None
    require(isinstance(value, dict), "search", f"must be a mapping with {', '.join(SEARCH_FIELDS)}, got {value!r}")
    unknown = sorted(set(value) - set(SEARCH_FIELDS))
    require(not unknown, f"search.{unknown[0]}" if unknown else "", f"unknown field; allowed: {', '.join(SEARCH_FIELDS)}")
    method = value.get("method")
    require(method in SEARCH_METHODS, "search.method", f"must be one of {', '.join(SEARCH_METHODS)}, got {method!r}")
    parameters = _mapping(value.get("parameters"), "search.parameters")
    require(len(parameters) > 0, "search.parameters", "must name at least one dotted config key to search over")
    for key, spec in parameters.items():
        require(
            isinstance(spec, dict) and bool(set(spec) & {"values", "value", "min", "max", "distribution"}),
            f"search.parameters.{key}",
            f"must be a W&B parameter such as {{values: [...]}} or {{min: ..., max: ...}}, got {spec!r}",
        )
    cap = value.get("run_cap")
    require(cap is None or (isinstance(cap, int) and cap >= 1), "search.run_cap", f"must be an integer >= 1, got {cap!r}")
    metric = value.get("metric")
    require(
        metric is None or (isinstance(metric, dict) and set(metric) <= {"name", "goal"} and "name" in metric),
        "search.metric",
        f"must be {{name: <logged metric>, goal: maximize|minimize}}, got {metric!r}",
    )
    return {**value, "parameters": parameters}


def _configs(value: Any, where: str, relative_to: Path) -> list[Path]:
    """A config path or a list of them, resolved against the study file's folder; each must exist."""
    value = [value] if isinstance(value, str) else value
    require(
        isinstance(value, list) and len(value) > 0 and all(isinstance(c, str) for c in value),
        where,
        "must list at least one experiment config (paths relative to the study file)",
    )
    paths = [(relative_to / c).resolve() for c in value]
    for config in paths:
        require(config.is_file(), where, f"no such file: {config}")
    return paths


def _number(value: Any, where: str) -> float:
    require(isinstance(value, (int, float)) and not isinstance(value, bool), where, f"must be a number, got {value!r}")
    return float(value)


def _tasks(raw: dict, relative_to: Path) -> dict[str, Task]:
    """The ``tasks`` section, or the one task of a study that names only ``configs``."""
    if "tasks" not in raw:
        return {SINGLE_TASK: Task(SINGLE_TASK, _configs(raw.get("configs"), "configs", relative_to))}
    require("configs" not in raw, "configs", "a study with tasks gives each task its own configs (tasks.<name>.configs)")
    tasks = raw["tasks"]
    require(
        isinstance(tasks, dict) and len(tasks) >= 1,
        "tasks",
        "must map task names to {configs: [...], overrides: {...}, normalize: {random: R, reference: D}}",
    )
    parsed = {}
    for name, spec in tasks.items():
        where = f"tasks.{name}"
        require(isinstance(name, str) and bool(NAME_PATTERN.match(name)), "tasks", f"names must be plain words, got {name!r}")
        require(isinstance(spec, dict), where, f"must be a mapping with {', '.join(TASK_FIELDS)}, got {spec!r}")
        unknown = sorted(set(spec) - set(TASK_FIELDS))
        require(not unknown, f"{where}.{unknown[0]}" if unknown else "", f"unknown field; allowed: {', '.join(TASK_FIELDS)}")
        random, reference = task_scale(spec, where, required=len(tasks) > 1) or (None, None)
        parsed[name] = Task(
            name, _configs(spec.get("configs"), f"{where}.configs", relative_to),
            _mapping(spec.get("overrides"), f"{where}.overrides"), random, reference,
        )  # fmt: skip
    return parsed


def task_scale(spec: dict, where: str, required: bool) -> tuple[float, float] | None:
    """A task's ``normalize`` as ``(random, reference)``, checked; None when it has none and none is
    ``required`` (scores of several tasks only add up on one scale). The report reads it here too."""
    scale = spec.get("normalize")
    if scale is None and not required:
        return None
    require(
        isinstance(scale, dict) and set(scale) == {"random", "reference"},
        f"{where}.normalize",
        "must be {random: <score of random play>, reference: <score that counts as 1>} "
        f"(needed to aggregate across tasks), got {scale!r}",
    )
    random = _number(scale["random"], f"{where}.normalize.random")
    reference = _number(scale["reference"], f"{where}.normalize.reference")
    require(reference != random, f"{where}.normalize", f"reference must differ from random, both are {random}")
    return random, reference


def load_study(path: str | Path) -> Study:
    """Reads and checks a study file; a mistake raises one ``ConfigError`` naming the field."""
    path = Path(path)
    require(path.is_file(), "study", f"no such file: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError("study", f"{path} is not valid YAML: {str(err).splitlines()[0]}") from None
    require(isinstance(raw, dict), "study", f"{path} must hold a mapping with {', '.join(FIELDS)}")
    unknown = sorted(set(raw) - set(FIELDS))
    require(not unknown, unknown[0] if unknown else "", f"unknown study field; allowed: {', '.join(FIELDS)}")

    name = raw.get("name", path.stem)
    require(isinstance(name, str) and bool(NAME_PATTERN.match(name)), "name", f"must be a plain word, got {name!r}")

    tasks = _tasks(raw, path.parent)

    seeds = raw.get("seeds")
    require(
        isinstance(seeds, list) and len(seeds) > 0 and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds),
        "seeds",
        f"must be a non-empty list of integers, got {seeds!r}",
    )
    require(len(set(seeds)) == len(seeds), "seeds", f"must not repeat, got {seeds}")

    variants = raw.get("variants")
    require(isinstance(variants, dict) and len(variants) >= 1, "variants", "must map at least one name to overrides")
    for variant in variants:
        require(
            isinstance(variant, str) and bool(NAME_PATTERN.match(variant)),
            "variants",
            f"names must be plain words (letters, digits, _ . -), got {variant!r}",
        )
    variants = {v: _mapping(o, f"variants.{v}") for v, o in variants.items()}

    baseline = raw.get("baseline", next(iter(variants)))
    require(baseline in variants, "baseline", f"must be one of the variants ({', '.join(variants)}), got {baseline!r}")
    metric = raw.get("metric", DEFAULT_METRIC)
    require(isinstance(metric, str) and bool(metric), "metric", f"must name a logged metric, got {metric!r}")
    final = raw.get("final_evaluations", DEFAULT_FINAL_EVALUATIONS)
    require(isinstance(final, int) and final >= 1, "final_evaluations", f"must be an integer >= 1, got {final!r}")

    return Study(
        name=name,
        tasks=tasks,
        seeds=list(seeds),
        variants=variants,
        baseline=baseline,
        metric=metric,
        final_evaluations=final,
        overrides=_mapping(raw.get("overrides"), "overrides"),
        search=_search(raw.get("search")),
        source=path.resolve(),
    )


__all__ = ["SINGLE_TASK", "PlannedRun", "Study", "Task", "cli_value", "load_study", "task_scale"]

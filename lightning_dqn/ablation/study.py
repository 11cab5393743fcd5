"""An ablation study: variants of one experiment, each run over the same seeds.

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

Each (variant, seed) becomes one ordinary ``python -m lightning_dqn fit`` command, so a run of a
study is exactly a run a user could type, and a study is reproduced from its file alone.
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
FIELDS = ("name", "configs", "seeds", "baseline", "metric", "final_evaluations", "overrides", "variants", "search")
SEARCH_FIELDS = ("method", "parameters", "metric", "run_cap")
SEARCH_METHODS = ("grid", "random", "bayes")


@dataclass(frozen=True)
class PlannedRun:
    """One (variant, seed) of a study: where it writes and the command that makes it."""

    variant: str
    seed: int
    directory: Path
    command: list[str]


@dataclass
class Study:
    """A parsed and checked study file."""

    name: str
    configs: list[Path]
    seeds: list[int]
    variants: dict[str, dict[str, Any]]
    baseline: str
    metric: str = DEFAULT_METRIC
    final_evaluations: int = DEFAULT_FINAL_EVALUATIONS
    overrides: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] | None = None
    source: Path | None = None

    def common_arguments(self, configs_relative_to: Path | None = None) -> list[str]:
        """``--config ...`` for each config, then ``--key value`` for the common overrides."""
        args: list[str] = []
        for config in self.configs:
            path = os.path.relpath(config, configs_relative_to) if configs_relative_to is not None else config
            args += ["--config", str(path)]
        for key, value in self.overrides.items():
            args += [f"--{key}", cli_value(value)]
        return args

    def variant_arguments(self, variant: str) -> list[str]:
        """The common arguments, then ``--key value`` for the variant's own overrides."""
        args = self.common_arguments()
        for key, value in self.variants[variant].items():
            args += [f"--{key}", cli_value(value)]
        return args

    def plan(self, out_dir: Path) -> list[PlannedRun]:
        """Every run of the study, seed-major, so a study stopped early has whole seeds to compare."""
        runs = []
        for seed in self.seeds:
            for variant in self.variants:
                directory = out_dir / self.name / variant / f"seed{seed}"
                command = [
                    sys.executable, "-m", "lightning_dqn", "fit",
                    *self.variant_arguments(variant),
                    "--seed_everything", str(seed),
                    "--trainer.logger.init_args.save_dir", str(directory),
                    "--trainer.logger.init_args.name", f"{self.name}-{variant}-seed{seed}",
                    "--trainer.logger.init_args.group", f"{self.name}-{variant}",
                ]  # fmt: skip
                runs.append(PlannedRun(variant, seed, directory, command))
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

    configs = raw.get("configs")
    configs = [configs] if isinstance(configs, str) else configs
    require(
        isinstance(configs, list) and len(configs) > 0 and all(isinstance(c, str) for c in configs),
        "configs",
        "must list at least one experiment config (paths relative to the study file)",
    )
    config_paths = [(path.parent / c).resolve() for c in configs]
    for config in config_paths:
        require(config.is_file(), "configs", f"no such file: {config}")

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
        configs=config_paths,
        seeds=list(seeds),
        variants=variants,
        baseline=baseline,
        metric=metric,
        final_evaluations=final,
        overrides=_mapping(raw.get("overrides"), "overrides"),
        search=_search(raw.get("search")),
        source=path.resolve(),
    )


__all__ = ["PlannedRun", "Study", "cli_value", "load_study"]

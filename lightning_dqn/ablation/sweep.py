"""W&B sweeps from a study: the same runs, handed out by ``wandb agent`` instead of the local runner.

``python -m lightning_dqn.ablation sweep <study.yaml>`` writes a sweep file whose ``command`` is the
ordinary CLI: ``fit``, the study's configs and common overrides, then ``${args}``, the agent's
``--key=value`` for each parameter of the run it hands out. Two parameters make the study's grid:

- ``config``: one value per variant, its overrides as one JSON document, which jsonargparse layers
  on top of the configs like another ``--config`` file (a variant may change several keys at
  once, which a grid over single keys cannot say). It also sets the run's W&B group to
  ``<study>-<variant>``, as the local runner does.
- ``seed_everything``: the study's seeds.

A ``search:`` section in the study adds W&B's own parameters (flat dotted keys such as
``model.lr``, in W&B's syntax: ``values``, or ``min``/``max`` with a ``distribution``) and its
method (``random``, ``bayes``, ``grid``). The agent writes each value with Python's ``str``, so
values that ``str`` would spell wrongly for the CLI (``None``, booleans, lists) are written as
the CLI's own text (``null``, ``true``, JSON).

A study across several tasks makes one sweep per task (``--task``): a W&B grid has one command,
and each task has its own configs.

W&B runs a sweep on its server; nothing here needs an account until ``wandb sweep``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from lightning_dqn.ablation.study import SINGLE_TASK, Study, cli_value
from lightning_dqn.errors import ConfigError

PROGRAM = "lightning_dqn"


def nested(overrides: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys as the nested mapping a config file would hold.

    >>> nested({"model.double_q": False, "trainer.max_steps": 100, "model.lr": 0.001})
    {'model': {'double_q': False, 'lr': 0.001}, 'trainer': {'max_steps': 100}}
    """
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(key, "is set both as a value and as a section with keys under it")
        if isinstance(node.get(leaf), dict):
            raise ConfigError(key, "is set both as a value and as a section with keys under it")
        node[leaf] = value
    return out


def sweep_value(value: Any) -> Any:
    """A value the agent's ``str()`` turns into what the CLI reads: numbers and text stay as they are.

    >>> [sweep_value(v) for v in (0.001, 32, "huber", None, True, [64, 64])]
    [0.001, 32, 'huber', 'null', 'true', '[64, 64]']
    """
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return value
    return cli_value(value)


def variant_document(study: Study, variant: str, task: str = SINGLE_TASK) -> str:
    """The variant's overrides, and its W&B group, as one JSON document for ``--config``."""
    overrides = {**study.variants[variant], "trainer.logger.init_args.group": study.run_name(task, variant)}
    return json.dumps(nested(overrides), sort_keys=True)


def _parameter(spec: dict[str, Any]) -> dict[str, Any]:
    spec = dict(spec)
    if "values" in spec:
        spec["values"] = [sweep_value(v) for v in spec["values"]]
    if "value" in spec:
        spec["value"] = sweep_value(spec["value"])
    return spec


def sweep_task(study: Study, task: str | None) -> str:
    """The task a sweep covers: the study's only one, or the one named, checked."""
    if task is None:
        if study.across_tasks:
            raise ConfigError("--task", f"a sweep covers one task of the study; pass --task with one of: {', '.join(study.tasks)}")
        return SINGLE_TASK
    if task not in study.tasks:
        raise ConfigError("--task", f"must be one of the study's tasks ({', '.join(study.tasks) or 'none: it has no tasks'}), got {task!r}")
    return task


def sweep_config(
    study: Study, project: str = "lightning_dqn", relative_to: Path | None = None, task: str = SINGLE_TASK
) -> dict[str, Any]:
    """The study (one of its tasks) as a W&B sweep configuration (the dict ``wandb sweep`` reads).

    ``relative_to``: write the config paths relative to this directory (where ``wandb agent`` will
    run); unset keeps them absolute.
    """
    arguments = study.common_arguments(relative_to, task)
    command = ["${env}", "${interpreter}", "-m", "${program}", "fit", *arguments, "${args}"]
    parameters: dict[str, Any] = {
        "config": {"values": [variant_document(study, variant, task) for variant in study.variants]},
        "seed_everything": {"values": list(study.seeds)},
    }
    config: dict[str, Any] = {
        "name": study.run_name(task, ""),
        "project": project,
        "program": PROGRAM,
        "method": "grid",
        "metric": {"name": study.metric, "goal": "maximize"},
        "parameters": parameters,
        "command": command,
    }
    search = study.search
    if search is not None:
        config["method"] = search["method"]
        parameters.update({key: _parameter(spec) for key, spec in search["parameters"].items()})
        if search.get("metric"):
            config["metric"] = {"goal": "maximize", **search["metric"]}
        if search.get("run_cap"):
            config["run_cap"] = search["run_cap"]
    return config


def write_sweep(study: Study, path: Path, project: str = "lightning_dqn", task: str = SINGLE_TASK) -> Path:
    """Writes the sweep file, with config paths relative to the current directory; refuses to overwrite."""
    if path.exists():
        raise ConfigError("--out", f"{path} exists; remove it or choose another file")
    config = sweep_config(study, project, relative_to=Path.cwd(), task=task)
    header = (
        f"# W&B sweep of the study {study.name!r}"
        + (f", task {task!r}" if task else "")
        + (f" ({study.source})" if study.source else "")
        + ", written by `python -m lightning_dqn.ablation sweep`.\n"
        "# Run `wandb sweep <this file>` and then the `wandb agent` command it prints, from the directory\n"
        "# this file was written in (the config paths are relative to it).\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, width=200))
    return path


__all__ = ["nested", "sweep_config", "sweep_task", "sweep_value", "variant_document", "write_sweep"]

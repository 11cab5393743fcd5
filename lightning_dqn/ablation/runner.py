"""Running a study's runs as ordinary ``fit`` commands, a few at a time, never twice.

Before anything runs, every variant's config is resolved with ``fit --print_config`` (a typo in an
override fails here, as one line naming the variant) and kept as ``<study>/<variant>/config.yaml``.
Each run writes ``status.json`` when its process ends; a run with exit code 0 is done and is skipped
when the study is run again, so adding seeds or variants to a study, or restarting one that was
stopped, runs only what is missing; so are runs recorded in the study's ``curves.csv`` whose
folders are gone (a study continued on another machine, ``kept.py``). A run that failed or was
interrupted is moved aside to ``seed<k>.attempt<N>`` (kept, not deleted) and run again: from
scratch after a failure, and from the ``last.ckpt`` it left (its replay dump beside it) after an
interruption or a kill, so a study stopped at the end of a working day loses only what came after
the run's last checkpoint. The resumed run names the attempt it continues in ``resumes.txt``; the report joins their curves.

A run ended by a signal (``fit`` exits 128 + its number after saving ``last.ckpt``) is recorded as
interrupted, never as done. When the runner itself gets SIGTERM or SIGINT it passes SIGTERM to its
runs (each in its own session, so a terminal's Ctrl-C reaches them only this way, once), waits
while they save, records them, and exits with 128 + the signal's number.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from lightning_dqn.ablation.kept import STUDY_COPY, kept_runs
from lightning_dqn.ablation.study import PlannedRun, Study
from lightning_dqn.errors import ConfigError

STATUS_FILE = "status.json"
LOG_FILE = "output.log"
VARIANT_CONFIG = "config.yaml"
RESUMES_FILE = "resumes.txt"  # in a resumed run: the name of the attempt it continues
LOGGER_CLASS = "lightning_dqn.tracking.DQNWandbLogger"


SAVE_TIMEOUT_SECONDS = 300  # how long an interrupted run may take to save before it is killed


class StudyInterrupted(Exception):
    """The runner was signalled; its runs were stopped, saved and recorded as interrupted."""

    def __init__(self, signal_number: int):
        self.signal_number = signal_number
        super().__init__(f"interrupted by {signal.Signals(signal_number).name}")


def read_status(run_dir: Path) -> dict | None:
    """What ``status.json`` says about a run, or None for a run that never finished."""
    path = run_dir / STATUS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def is_done(run_dir: Path) -> bool:
    status = read_status(run_dir)
    return status is not None and status.get("returncode") == 0


def _child_environment() -> dict[str, str]:
    # unbuffered, so a run's output.log follows it live; one OpenMP thread unless the user chose
    return {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}


def resumed_attempt(run_dir: Path) -> str | None:
    """The name of the attempt a resumed run continues (its ``resumes.txt``), or None."""
    path = run_dir / RESUMES_FILE
    return path.read_text().strip() if path.is_file() else None


def _last_error_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    return (errors or lines or ["(no output)"])[-1].removeprefix("error:").strip()


def resolve_variant_configs(study: Study, out_dir: Path, workers: int = 1, echo=print) -> dict[tuple[str, str], str]:
    """Each (task, variant)'s fully resolved config, from LightningCLI itself; checks it before any run.

    Raises ``ConfigError`` naming the variant (and task) when its config does not parse, when the
    experiment does not log to W&B (the report reads each run's W&B records), or when runs already
    made for it used other values for any setting; settings a newer lightning_dqn added are noted,
    not refused.
    """
    commands = {
        (task, variant): [
            sys.executable, "-m", "lightning_dqn", "fit", *study.variant_arguments(variant, task), "--print_config"
        ]
        for task in study.tasks
        for variant in study.variants
    }  # fmt: skip
    resolved: dict[tuple[str, str], str] = {}
    pending = list(commands.items())
    running: list[tuple[tuple[str, str], subprocess.Popen]] = []
    while pending or running:
        while pending and len(running) < max(1, workers):
            key, command = pending.pop(0)
            proc = subprocess.Popen(command, env=_child_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            running.append((key, proc))
        key, proc = running.pop(0)
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise ConfigError(_where(*key), _last_error_line(stderr or stdout))
        resolved[key] = stdout

    for (task, variant), text in resolved.items():
        logger = (yaml.safe_load(text).get("trainer") or {}).get("logger")
        class_path = logger.get("class_path") if isinstance(logger, dict) else logger
        if class_path != LOGGER_CLASS:
            raise ConfigError(
                _where(task, variant),
                f"trainer.logger must be {LOGGER_CLASS} (the report reads each run's W&B records), got {class_path}",
            )
        kept = study.directory(out_dir, task, variant) / VARIANT_CONFIG
        finished = [d for d in kept.parent.glob("seed*") if d.is_dir() and is_done(d)]
        if not (kept.is_file() and finished):
            continue
        before, now = _flatten(yaml.safe_load(kept.read_text())), _flatten(yaml.safe_load(text))
        changed = [key for key in before.keys() & now.keys() if before[key] != now[key]]
        if changed:
            shown = ", ".join(f"{key}: {before[key]!r} -> {now[key]!r}" for key in sorted(changed)[:3])
            raise ConfigError(
                _where(task, variant),
                f"its settings differ from those its {len(finished)} finished runs used ({shown}); "
                "give the study a new name, or move that directory away",
            )
        added = sorted(now.keys() - before.keys())
        if added:  # a newer lightning_dqn with new settings: their defaults are assumed to change nothing
            echo(f"note: variant {variant}{' of task ' + task if task else ''}: settings its finished runs did not have: " + ", ".join(
                f"{key}={now[key]!r}" for key in added[:6]) + ("..." if len(added) > 6 else ""))  # fmt: skip
    return resolved


def _where(task: str, variant: str) -> str:
    """The study field a (task, variant)'s mistake is reported under."""
    return f"tasks.{task} with variants.{variant}" if task else f"variants.{variant}"


def _flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}`` (lists stay whole)."""
    flat: dict[str, object] = {}
    for key, value in (config or {}).items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resume_point(attempt: Path) -> Path | None:
    """The newest ``last.ckpt`` a stopped attempt left, or None: none saved, or the attempt failed
    (an error would come back; it starts over)."""
    status = read_status(attempt)
    if status is not None and not status.get("interrupted"):
        return None
    found = sorted(attempt.glob("**/checkpoints/last.ckpt"), key=lambda path: path.stat().st_mtime)
    return found[-1] if found else None


def _move_aside(run_dir: Path) -> Path:
    attempt = 1
    while (aside := run_dir.with_name(f"{run_dir.name}.attempt{attempt}")).exists():
        attempt += 1
    run_dir.rename(aside)
    return aside


@dataclass
class _Running:
    run: PlannedRun
    process: subprocess.Popen
    started: float
    log: object


def _start(run: PlannedRun, continues: Path | None = None) -> _Running:
    run.directory.mkdir(parents=True)
    if continues is not None:
        (run.directory / RESUMES_FILE).write_text(continues.name + "\n")
    log = open(run.directory / LOG_FILE, "w")
    log.write("$ " + shlex.join(run.command) + "\n")
    log.flush()
    process = subprocess.Popen(
        run.command, env=_child_environment(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    return _Running(run, process, time.monotonic(), log)


def _finish(job: _Running) -> dict:
    job.log.close()
    code = job.process.returncode
    status = {
        **({"task": job.run.task} if job.run.task else {}),
        "variant": job.run.variant,
        "seed": job.run.seed,
        "returncode": code,
        # killed by a signal (negative code) or stopped by one after saving (128 + its number)
        "interrupted": code < 0 or code - 128 in {signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGKILL},
        "seconds": round(time.monotonic() - job.started, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": job.run.command,
    }
    if (continues := resumed_attempt(job.run.directory)) is not None:
        status["resumes"] = continues
    (job.run.directory / STATUS_FILE).write_text(json.dumps(status, indent=1) + "\n")
    return status


def run_study(
    study: Study,
    out_dir: Path,
    workers: int = 1,
    dry_run: bool = False,
    shard: tuple[int, int] = (0, 1),
    echo=print,
    kept: set[tuple[str, str, int]] = frozenset(),
) -> list[dict]:
    """Runs every missing run of ``study`` under ``out_dir/<name>/``, ``workers`` at a time.

    Returns the status of each run that ran. With ``dry_run`` it only checks the configs and prints
    the commands (to submit to a cluster's scheduler, for instance). ``shard=(k, n)`` takes every
    n-th run starting at the k-th, so n jobs (a SLURM array, several machines sharing a file
    system) split a study between them without overlapping. Runs in ``kept`` or in the study's
    ``curves.csv`` count as done.
    """
    resolved = resolve_variant_configs(study, out_dir, workers, echo)
    study_dir = out_dir / study.name
    index, count = shard
    planned = study.plan(out_dir)[index::count]
    kept = set(kept) | kept_runs(study_dir)  # finished elsewhere, their folders gone (``kept.py``)
    unfinished = [run for run in planned if not is_done(run.directory)]
    todo = [run for run in unfinished if (run.task, run.variant, run.seed) not in kept]
    part = f" (shard {index}/{count})" if count > 1 else ""
    tasks = f"{len(study.tasks)} tasks x " if study.across_tasks else ""
    from_kept = len(unfinished) - len(todo)
    kept_note = f" ({from_kept} of them kept in curves.csv without a folder)" if from_kept else ""
    echo(f"study {study.name}{part}: {len(planned)} runs ({tasks}{len(study.variants)} variants x {len(study.seeds)} seeds), "
         f"{len(planned) - len(todo)} already done{kept_note}, {len(todo)} to run, {workers} at a time")  # fmt: skip
    if dry_run:
        for run in todo:
            echo(shlex.join(run.command))
        return []

    for (task, variant), text in resolved.items():
        study.directory(out_dir, task, variant).mkdir(parents=True, exist_ok=True)
        (study.directory(out_dir, task, variant) / VARIANT_CONFIG).write_text(text)
    if study.source is not None:
        (study_dir / STUDY_COPY).write_text(study.source.read_text())

    statuses: list[dict] = []
    running: list[_Running] = []
    queue = list(todo)
    received: list[int] = []
    previous = {number: signal.signal(number, lambda n, _: received.append(n)) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        while queue or running:
            if received:
                _stop_all(running, statuses, echo)
                raise StudyInterrupted(received[0])
            while queue and len(running) < max(1, workers):
                run, continues = queue.pop(0), None
                if run.directory.exists():
                    aside = _move_aside(run.directory)
                    checkpoint = resume_point(aside)
                    if checkpoint is None:
                        echo(f"  {run.directory} did not finish before; kept as {aside}")
                    else:
                        run, continues = replace(run, command=[*run.command, "--ckpt_path", str(checkpoint)]), aside
                        echo(f"  {run.directory} stopped before it finished; kept as {aside}, resumed from {checkpoint}")
                running.append(_start(run, continues))
                echo(f"      {_label(run)}: started")
            time.sleep(0.2)
            for job in [job for job in running if job.process.poll() is not None]:
                running.remove(job)
                status = _finish(job)
                statuses.append(status)
                echo(f"[{len(statuses)}/{len(todo)}] {_label(job.run)}: {_outcome(status, job)} in {status['seconds']:.0f} s")
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return statuses


def _label(run: PlannedRun) -> str:
    return f"{run.task + ' ' if run.task else ''}{run.variant} seed {run.seed}"


def _outcome(status: dict, job: _Running) -> str:
    if status["returncode"] == 0:
        return "done"
    what = "INTERRUPTED" if status["interrupted"] else "FAILED"
    return f"{what} (exit {status['returncode']}, see {job.run.directory / LOG_FILE})"


def _stop_all(running: list[_Running], statuses: list[dict], echo) -> None:
    """SIGTERM to every run, then wait while each saves its ``last.ckpt`` and record it."""
    for job in running:
        job.process.send_signal(signal.SIGTERM)
    echo(f"stopping {len(running)} run(s): each saves its last.ckpt first")
    for job in running:
        try:
            job.process.wait(timeout=SAVE_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            job.process.kill()
            job.process.wait()
        status = _finish(job)
        statuses.append(status)
        echo(f"      {_label(job.run)}: {_outcome(status, job)}")
    running.clear()


__all__ = ["RESUMES_FILE", "is_done", "read_status", "resolve_variant_configs", "resume_point", "resumed_attempt", "run_study"]

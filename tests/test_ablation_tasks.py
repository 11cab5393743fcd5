"""Studies across tasks (games): the study file, their runs' layout, the sweep per task, and the
report that normalises each task's scores and aggregates them with rliable."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from lightning_dqn.ablation.across_tasks import normalize, score_matrices, summarize_across_tasks
from lightning_dqn.ablation.report import report
from lightning_dqn.ablation.study import load_study
from lightning_dqn.ablation.sweep import sweep_config, sweep_task
from lightning_dqn.errors import ConfigError
from lightning_dqn.scores import interquartile_mean, optimality_gap, probability_of_improvement
from lightning_dqn.wandb_records import read_offline_run

ROOT = Path(__file__).resolve().parents[1]
LAKE = str(ROOT / "experiments" / "frozenlake_nonslippery.yaml")
BREAKOUT = str(ROOT / "experiments" / "minatar" / "breakout.yaml")


def write_study(path: Path, **fields) -> Path:
    study = {
        "name": "games",
        "tasks": {
            "lake": {"configs": [LAKE], "normalize": {"random": 0.0, "reference": 1.0}},
            "breakout": {
                "configs": [BREAKOUT],
                "overrides": {"data.replay_start_size": 200},
                "normalize": {"random": 0.5, "reference": 9.5},
            },
        },
        "seeds": [0, 1],
        "metric": "reward_100",
        "overrides": {"trainer.max_steps": 300},
        "variants": {"plain": {}, "double": {"model.double_q": True, "trainer.max_steps": 400}},
    }
    study.update(fields)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def test_every_variant_runs_once_per_task_and_seed_with_the_tasks_configs(tmp_path):
    study = load_study(write_study(tmp_path / "games.yaml"))
    assert study.across_tasks and list(study.tasks) == ["lake", "breakout"]
    runs = study.plan(tmp_path / "out")
    assert [(r.seed, r.task, r.variant) for r in runs[:4]] == [
        (0, "lake", "plain"), (0, "lake", "double"), (0, "breakout", "plain"), (0, "breakout", "double"),
    ]  # fmt: skip
    assert len(runs) == 8, "2 tasks x 2 variants x 2 seeds"
    run = runs[3]
    assert run.directory == tmp_path / "out" / "games" / "breakout" / "double" / "seed0"
    command = run.command
    assert command[4:6] == ["--config", BREAKOUT], "the task's own config"
    flags = list(zip(command[6::2], command[7::2]))
    assert flags[:4] == [
        ("--trainer.max_steps", "300"), ("--data.replay_start_size", "200"),  # common, then the task's
        ("--model.double_q", "true"), ("--trainer.max_steps", "400"),  # then the variant's, which win
    ]  # fmt: skip
    assert ("--trainer.logger.init_args.group", "games-breakout-double") in flags
    assert ("--trainer.logger.init_args.name", "games-breakout-double-seed0") in flags


@pytest.mark.parametrize(
    "change, field, says",
    [
        ({"configs": [LAKE]}, "configs", "gives each task its own configs"),
        ({"tasks": []}, "tasks", "must map task names"),
        ({"tasks": {"lake": {"configs": [LAKE]}, "b": {"configs": [LAKE], "normalize": {"random": 0, "reference": 1}}}},
         "tasks.lake.normalize", "needed to aggregate across tasks"),
        ({"tasks": {"lake": {"configs": [LAKE], "normalize": {"random": 1, "reference": 1}}}},
         "tasks.lake.normalize", "must differ"),
        ({"tasks": {"lake": {"configs": [LAKE], "normalise": {}}}}, "tasks.lake.normalise", "unknown field"),
        ({"tasks": {"lake": {"configs": ["nope.yaml"]}}}, "tasks.lake.configs", "no such file"),
        ({"tasks": {"lake": {"configs": [LAKE], "overrides": {"seed_everything": 1}}}}, "tasks.lake.overrides", "set by"),
    ],
)  # fmt: skip
def test_a_mistake_in_the_tasks_names_its_field(tmp_path, change, field, says):
    with pytest.raises(ConfigError) as err:
        load_study(write_study(tmp_path / "games.yaml", **change))
    assert err.value.field == field and says in str(err.value)


def test_a_sweep_covers_one_task_of_a_study(tmp_path):
    study = load_study(write_study(tmp_path / "games.yaml"))
    with pytest.raises(ConfigError, match="pass --task with one of: lake, breakout"):
        sweep_task(study, None)
    with pytest.raises(ConfigError, match="must be one of the study's tasks"):
        sweep_task(study, "pong")
    config = sweep_config(study, task=sweep_task(study, "breakout"))
    assert config["name"] == "games-breakout"
    assert config["command"][5:7] == ["--config", BREAKOUT]
    assert "--data.replay_start_size" in config["command"], "the task's overrides are in the command"
    assert all('"group": "games-breakout-' in value for value in config["parameters"]["config"]["values"])


def test_scores_are_normalised_per_task_and_aggregated_over_runs_and_tasks():
    # raw final scores: task a scales (0 -> 10), task b (1 -> 3); variant "up" is better on both
    finals = {
        ("a", "base", 0): 2.0, ("a", "base", 1): 4.0, ("b", "base", 0): 1.0, ("b", "base", 1): 2.0,
        ("a", "up", 0): 6.0, ("a", "up", 1): 8.0, ("b", "up", 0): 3.0, ("b", "up", 1): 5.0, ("a", "up", 2): 9.0,
    }  # fmt: skip
    matrices = score_matrices(finals, {"a": (0.0, 10.0), "b": (1.0, 3.0)}, ["base", "up"])
    assert matrices["base"].scores.tolist() == [[0.2, 0.0], [0.4, 0.5]]
    assert matrices["up"].scores.tolist() == [[0.6, 1.0], [0.8, 2.0]] and matrices["up"].left_out == 1
    summary = {s.variant: s for s in summarize_across_tasks(matrices, "base", samples=200)}
    up = summary["up"].aggregates
    assert up["iqm"].value == pytest.approx(interquartile_mean([0.6, 1.0, 0.8, 2.0])) == pytest.approx(0.9)
    assert up["mean"].value == pytest.approx(1.1) and up["median"].value == pytest.approx(1.1)  # task means 0.7, 1.5
    assert up["optimality_gap"].value == pytest.approx(optimality_gap([[0.6, 1.0], [0.8, 2.0]])) == pytest.approx(0.15)  # clipped 0.6, 1, 0.8, 1
    assert summary["base"].aggregates["optimality_gap"].value == pytest.approx(1 - 1.1 / 4)
    # every run of "up" beats every run of "base" on each task: P = 1, and its interval cannot leave 1
    assert (summary["up"].improvement.value, summary["up"].improvement.low) == (1.0, 1.0)
    assert summary["base"].improvement is None
    assert probability_of_improvement(matrices["base"].scores, matrices["up"].scores) == 0.0
    assert normalize(3.0, None) == 3.0


def _kept_study(study_dir: Path, finals: dict) -> None:
    """A study kept as its files alone: study.yaml and curves.csv (two evaluations per run)."""
    study_dir.mkdir(parents=True)
    (study_dir / "study.yaml").write_text(yaml.safe_dump({
        "name": "kept", "seeds": [0, 1, 2], "metric": "eval/return_mean", "final_evaluations": 1,
        "tasks": {"a": {"configs": ["a.yaml"], "normalize": {"random": 0, "reference": 10}},
                  "b": {"configs": ["b.yaml"], "normalize": {"random": 1, "reference": 3}}},
        "variants": {"base": {}, "up": {}},
    }))  # fmt: skip
    with open(study_dir / "curves.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "variant", "seed", "metric", "frames", "value"])
        for (task, variant, seed), final in finals.items():
            writer.writerow([task, variant, seed, "eval/return_mean", 1000, 0.0])
            writer.writerow([task, variant, seed, "eval/return_mean", 2000, final])


def test_report_across_tasks_writes_its_tables_csvs_and_figures(tmp_path):
    rng = np.random.default_rng(0)
    finals = {(t, v, s): float(rng.uniform(0, 10 if t == "a" else 3) + (2 if v == "up" else 0))
              for t in "ab" for v in ("base", "up") for s in range(3)}  # fmt: skip
    study_dir = tmp_path / "kept"
    _kept_study(study_dir, finals)
    text = report(study_dir, samples=200, echo=lambda _: None)

    with open(study_dir / "across_tasks.csv") as f:
        across = {row["variant"]: row for row in csv.DictReader(f)}
    up = np.array([[(finals[("a", "up", s)] - 0) / 10, (finals[("b", "up", s)] - 1) / 2] for s in range(3)])
    assert float(across["up"]["iqm"]) == pytest.approx(interquartile_mean(up))
    assert float(across["up"]["optimality_gap"]) == pytest.approx(optimality_gap(up))
    assert across["up"]["seeds"] == "3" and across["base"]["p_better"] == ""
    assert 0.5 < float(across["up"]["p_better"]) <= 1.0, "up is 2 points better on every run"
    with open(study_dir / "summary.csv") as f:
        summary = list(csv.DictReader(f))
    assert [(r["task"], r["variant"]) for r in summary] == [("a", "base"), ("a", "up"), ("b", "base"), ("b", "up")]
    with open(study_dir / "scores.csv") as f:
        assert next(csv.reader(f))[0] == "task"
    assert text.startswith("## Across tasks (normalised final eval/return_mean)") and "## Task `b` (raw scores)" in text
    for name in ("curves_metric", "aggregates", "profile"):
        png = study_dir / "figures" / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and f"![{name}](figures/{name}.png)" in (study_dir / "report.md").read_text()


def test_a_real_study_across_two_games_runs_and_reports(tmp_path):
    """FrozenLake and MinAtar Breakout, one variant pair, one seed: real fit processes, then the report."""
    short_breakout = {"data.replay_start_size": 200, "trainer.max_steps": 600, "data.eval_every_frames": 300}
    study_file = write_study(
        tmp_path / "games.yaml",
        seeds=[0],
        tasks={
            "lake": {"configs": [LAKE], "normalize": {"random": 0.0, "reference": 1.0}},
            "breakout": {"configs": [BREAKOUT], "overrides": short_breakout, "normalize": {"random": 0.5, "reference": 9.5}},
        },
        overrides={"trainer.max_steps": 3500, "data.eval_every_frames": 1000, "data.eval_episodes": 2},
        variants={"plain": {}, "double": {"model.double_q": True}},
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(key, None)
    result = subprocess.run(
        [sys.executable, "-m", "lightning_dqn.ablation", "run", str(study_file), "--workers", "2",
         "--bootstrap-samples", "200"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 runs (2 tasks x 2 variants x 1 seeds)" in result.stdout
    study_dir = tmp_path / "runs" / "ablations" / "games"
    for task, env_id in (("lake", "FrozenLake-v1"), ("breakout", "MinAtar/Breakout-v0")):
        for variant in ("plain", "double"):
            resolved = yaml.safe_load((study_dir / task / variant / "config.yaml").read_text())
            assert resolved["data"]["env_id"] == env_id and resolved["model"]["double_q"] is (variant == "double")
            (wandb_dir,) = (study_dir / task / variant / "seed0" / "wandb").glob("offline-run-*")
            record = read_offline_run(wandb_dir)
            assert record.group == f"games-{task}-{variant}"
            assert resolved["trainer"]["max_steps"] == (3500 if task == "lake" else 600), "the task's overrides win"
            assert record.column("eval/return_mean"), "evaluated"
    lake_eval = read_offline_run(next((study_dir / "lake" / "plain" / "seed0" / "wandb").glob("offline-run-*")))
    assert lake_eval.column("eval/return_mean")[-1][1] == 1.0, "the deterministic lake is solved"
    with open(study_dir / "scores.csv") as f:
        scores = {(r["task"], r["variant"]): float(r["final"]) for r in csv.DictReader(f)}
    with open(study_dir / "across_tasks.csv") as f:
        across = {r["variant"]: r for r in csv.DictReader(f)}
    normalised = [scores[("lake", "plain")], (scores[("breakout", "plain")] - 0.5) / 9.0]
    assert float(across["plain"]["mean"]) == pytest.approx(np.mean(normalised))
    assert "## Across tasks" in result.stdout and (study_dir / "figures" / "profile.png").is_file()


def test_the_shipped_studies_load_and_the_minatar_rainbow_variants_parse(tmp_path):
    shipped = {path.stem: load_study(path) for path in (ROOT / "experiments" / "ablations").glob("*.yaml")}
    full, small = shipped["minatar_rainbow"], shipped["minatar_rainbow_small"]
    assert len(full.plan(tmp_path)) == 5 * 8 * 5 and len(small.plan(tmp_path)) == 2 * 4 * 3
    rainbow = full.variants["rainbow"]
    for variant, overrides in full.variants.items():
        if variant.startswith("no_"):  # one part off, everything else as Rainbow
            changed = {key for key in rainbow.keys() | overrides.keys() if rainbow.get(key) != overrides.get(key)}
            assert len(changed - {"trainer.callbacks"}) == 1, (variant, changed)
    assert all(task.scale is not None for study in (full, small) for task in study.tasks.values())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    printed = subprocess.run(
        [sys.executable, "-m", "lightning_dqn", "fit", *small.variant_arguments("rainbow", "space_invaders"), "--print_config"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert printed.returncode == 0, printed.stderr[-2000:]
    resolved = yaml.safe_load(printed.stdout)
    assert resolved["data"]["env_id"] == "MinAtar/SpaceInvaders-v0" and resolved["data"]["n_step"] == 3
    assert (resolved["model"]["distributional"], resolved["model"]["noisy"], resolved["model"]["optimizer"]) == (True, True, "adam")

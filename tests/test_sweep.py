"""W&B sweeps from a study, tested offline: W&B's own suggestion engine (the ``sweeps`` package) reads
the generated file, the agent's own argument builder turns each suggestion into its command, and
each command is an ordinary CLI run; a run started the way the agent starts it joins the agent's run.
"""

import os
import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest
import sweeps
import yaml
from wandb.sdk.launch.sweeps.utils import create_sweep_command_args

from lightning_dqn.ablation.study import load_study
from lightning_dqn.ablation.sweep import nested, sweep_config
from lightning_dqn.errors import ConfigError
from lightning_dqn.tracking import wandb_goes_online
from lightning_dqn.wandb_records import read_offline_run
from test_ablation import ablation, write_study

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {"plain": {}, "double_wide": {"model.double_q": True, "model.hidden_sizes": [64, 64]}}


def suggestions(config: dict) -> list[dict]:
    """Every run W&B's engine hands out for ``config`` (grid: all of them; else up to 6)."""
    runs = []
    while len(runs) < 6:
        run = sweeps.next_run(config, runs)
        if run is None:
            break
        run.state = sweeps.RunState.finished
        runs.append(run)
    return [run.config for run in runs]


def agent_command(config: dict, params: dict) -> list[str]:
    """The argv ``wandb agent`` runs for one suggestion: its macros filled in, ``${args}`` expanded."""
    args = create_sweep_command_args({"args": params})["args"]
    filled = {"${env}": None, "${interpreter}": sys.executable, "${program}": config["program"]}
    argv = []
    for token in config["command"]:
        if token == "${args}":
            argv += args
        elif token in filled:
            argv += [filled[token]] if filled[token] else []
        else:
            argv.append(token)
    return argv


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", **env}
    for key in ("WANDB_API_KEY", "WANDB_SWEEP_ID"):
        if key not in env:
            environment.pop(key, None)
    return subprocess.run(argv, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)


def test_the_sweep_file_is_the_study_grid_and_each_suggestion_is_an_ordinary_run(tmp_path):
    study_file = write_study(tmp_path / "lake.yaml", variants=VARIANTS, overrides={"trainer.max_steps": 40})
    written = ablation("sweep", str(study_file), "--out", "lake.sweep.yaml", cwd=tmp_path)
    assert written.returncode == 0, written.stderr[-2000:]
    assert "lake.sweep.yaml (4 runs: 2 variants x 2 seeds)" in written.stdout
    config = yaml.safe_load((tmp_path / "lake.sweep.yaml").read_text())
    assert config["command"][:5] == ["${env}", "${interpreter}", "-m", "${program}", "fit"]
    assert config["command"][-1] == "${args}" and config["method"] == "grid"

    handed_out = suggestions(config)  # W&B's own engine: every variant with every seed, once
    assert len(handed_out) == 4
    pairs = {(s["config"]["value"], s["seed_everything"]["value"]) for s in handed_out}
    assert pairs == set(product(config["parameters"]["config"]["values"], [0, 1]))

    for suggestion in handed_out:
        argv = agent_command(config, suggestion) + ["--print_config"]
        printed = run(argv, tmp_path)
        assert printed.returncode == 0, printed.stderr[-2000:]
        resolved = yaml.safe_load(printed.stdout)
        variant = "double_wide" if "double_q" in suggestion["config"]["value"] else "plain"
        assert resolved["seed_everything"] == suggestion["seed_everything"]["value"]
        assert resolved["trainer"]["max_steps"] == 40, "the study's common overrides come first"
        assert resolved["model"]["double_q"] is (variant == "double_wide")
        assert resolved["model"]["hidden_sizes"] == ([64, 64] if variant == "double_wide" else [256, 128])
        assert resolved["trainer"]["logger"]["init_args"]["group"] == f"lake-{variant}"

    refused = ablation("sweep", str(study_file), "--out", "lake.sweep.yaml", cwd=tmp_path)
    assert refused.returncode == 2 and "lake.sweep.yaml exists" in refused.stderr


def test_a_run_started_like_the_agent_starts_it_is_the_agents_run(tmp_path):
    study = load_study(write_study(tmp_path / "lake.yaml", variants=VARIANTS, overrides={"trainer.max_steps": 300}))
    config = sweep_config(study)
    params = {"config": {"value": config["parameters"]["config"]["values"][1]}, "seed_everything": {"value": 1}}
    (tmp_path / "sweep-params.yaml").write_text(yaml.safe_dump(params))
    done = run(
        agent_command(config, params), tmp_path,
        WANDB_MODE="offline", WANDB_RUN_ID="agentrun1", WANDB_SWEEP_PARAM_PATH=str(tmp_path / "sweep-params.yaml"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (wandb_dir,) = (tmp_path / "runs" / "wandb").glob("offline-run-*-agentrun1")
    recorded = read_offline_run(wandb_dir)
    assert recorded.run_id == "agentrun1" and recorded.group == "lake-double_wide"
    assert recorded.config["seed_everything"] == 1 and recorded.config["config"] == params["config"]["value"]
    assert recorded.config["cli"]["model"]["double_q"] is True and recorded.config["cli"]["seed_everything"] == 1
    assert (tmp_path / "runs" / "lightning_dqn" / "agentrun1" / "config.yaml").is_file()


def test_a_search_section_adds_ranges_the_engine_draws_from(tmp_path):
    search = {
        "method": "random",
        "parameters": {
            "model.lr": {"distribution": "log_uniform_values", "min": 1.0e-4, "max": 1.0e-2},
            "data.eval_every_frames": {"values": [None, 500]},
        },
        "run_cap": 6,
    }
    study = load_study(write_study(tmp_path / "lake.yaml", variants=VARIANTS, search=search))
    config = sweep_config(study)
    assert config["method"] == "random" and config["run_cap"] == 6
    assert config["parameters"]["data.eval_every_frames"] == {"values": ["null", 500]}, "the CLI's null, not None"
    handed_out = suggestions(config)
    assert len(handed_out) == 6 and all(1e-4 <= s["model.lr"]["value"] <= 1e-2 for s in handed_out)
    argv = agent_command(config, handed_out[0]) + ["--print_config"]
    assert "--model.lr=" in " ".join(argv)
    printed = run(argv, tmp_path)
    assert printed.returncode == 0, printed.stderr[-2000:]
    assert yaml.safe_load(printed.stdout)["model"]["lr"] == pytest.approx(handed_out[0]["model.lr"]["value"])


@pytest.mark.parametrize(
    "search, field",
    [
        ({"method": "hyperband", "parameters": {"model.lr": {"values": [1]}}}, "search.method"),
        ({"method": "random", "parameters": {}}, "search.parameters"),
        ({"method": "random", "parameters": {"config": {"values": [1]}}}, "search.parameters"),
        ({"method": "random", "parameters": {"model.lr": 0.1}}, "search.parameters.model.lr"),
        ({"method": "random", "parameters": {"model.lr": {"values": [1]}}, "runcap": 3}, "search.runcap"),
    ],
)
def test_a_mistake_in_the_search_section_names_its_field(tmp_path, search, field):
    with pytest.raises(ConfigError) as err:
        load_study(write_study(tmp_path / "lake.yaml", search=search))
    assert err.value.field == field


def test_dotted_keys_nest_and_a_key_cannot_be_both_a_value_and_a_section():
    assert nested({"a.b": 1, "a.c.d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
    with pytest.raises(ConfigError):
        nested({"trainer.logger": False, "trainer.logger.init_args.group": "g"})


def test_inside_a_wandb_agent_the_logger_goes_online(monkeypatch):
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_SWEEP_ID"):
        monkeypatch.delenv(key, raising=False)
    assert not wandb_goes_online()
    monkeypatch.setenv("WANDB_SWEEP_ID", "abc123")  # set by `wandb agent` for the runs it starts
    assert wandb_goes_online()
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert not wandb_goes_online()

"""Ablation studies: the study file, the runner (real ``fit`` processes) and the report."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from lightning_dqn.ablation.report import markdown_table, run_scores, summarize
from lightning_dqn.ablation.study import cli_value, load_study
from lightning_dqn.errors import ConfigError
from lightning_dqn.wandb_records import read_offline_run

ROOT = Path(__file__).resolve().parents[1]
NONSLIPPERY = str(ROOT / "experiments" / "frozenlake_nonslippery.yaml")


def write_study(path: Path, **fields) -> Path:
    study = {"name": "lake", "configs": [NONSLIPPERY], "seeds": [0, 1], "variants": {"plain": {}}}
    study.update(fields)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


def ablation(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("WANDB_API_KEY", "WANDB_MODE"):
        env.pop(key, None)
    return subprocess.run(
        [sys.executable, "-m", "lightning_dqn.ablation", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.parametrize(
    "fields, field, says",
    [
        ({"seed": [0]}, "seed", "unknown study field"),
        ({"seeds": []}, "seeds", "non-empty list of integers"),
        ({"seeds": [0, 0]}, "seeds", "must not repeat"),
        ({"configs": ["missing.yaml"]}, "configs", "no such file"),
        ({"variants": {}}, "variants", "at least one"),
        ({"variants": {"a b": {}}}, "variants", "plain words"),
        ({"variants": {"plain": {"seed_everything": 3}}}, "variants.plain", "set by the study"),
        ({"overrides": ["model.lr", 1]}, "overrides", "mapping"),
        ({"baseline": "fancy"}, "baseline", "one of the variants (plain)"),
        ({"final_evaluations": 0}, "final_evaluations", ">= 1"),
        ({"name": "../up"}, "name", "plain word"),
    ],
)
def test_a_mistake_in_a_study_file_names_its_field(tmp_path, fields, field, says):
    with pytest.raises(ConfigError) as err:
        load_study(write_study(tmp_path / "study.yaml", **fields))
    assert err.value.field == field and says in str(err.value)


def test_each_run_is_the_fit_command_a_user_would_type(tmp_path):
    study = load_study(
        write_study(
            tmp_path / "study.yaml",
            overrides={"trainer.max_steps": 10, "data.env_kwargs": {"is_slippery": True}},
            variants={"plain": {}, "double": {"model.double_q": True, "trainer.max_steps": 20}},
        )
    )
    runs = study.plan(tmp_path / "out")
    assert [(r.variant, r.seed) for r in runs] == [("plain", 0), ("double", 0), ("plain", 1), ("double", 1)]
    command = runs[1].command
    assert command[1:4] == ["-m", "lightning_dqn", "fit"] and command[4:6] == ["--config", NONSLIPPERY]
    flags = dict(zip(command[6::2], command[7::2]))
    assert flags["--trainer.max_steps"] == "20", "a variant's own value wins over the common one"
    assert flags["--model.double_q"] == "true" and flags["--data.env_kwargs"] == '{"is_slippery": true}'
    assert flags["--seed_everything"] == "0"
    assert flags["--trainer.logger.init_args.save_dir"] == str(tmp_path / "out" / "lake" / "double" / "seed0")
    assert flags["--trainer.logger.init_args.group"] == "lake-double"
    assert cli_value(None) == "null" and cli_value([1, 2]) == "[1, 2]"


def test_shards_split_a_study_without_overlap(tmp_path):
    study = load_study(write_study(tmp_path / "study.yaml", seeds=[0, 1, 2], variants={"a": {}, "b": {}}))
    runs = study.plan(tmp_path)
    shards = [runs[k::4] for k in range(4)]
    assert sorted((r.variant, r.seed) for shard in shards for r in shard) == sorted((r.variant, r.seed) for r in runs)
    assert [len(shard) for shard in shards] == [2, 2, 1, 1]
    bad = ablation("run", str(tmp_path / "study.yaml"), "--shard", "4/4", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --shard: must be K/N with 0 <= K < N (e.g. 0/4), got '4/4'"


def test_report_scores_runs_and_compares_variants_with_the_baseline():
    curves = []
    finals = {"base": [0.0, 0.0, 0.0, 1.0], "better": [1.0, 1.0, 1.0, 0.0]}
    for variant, last in finals.items():
        for seed, value in enumerate(last):
            for frames, v in [(1000, 0.0), (2000, 0.5), (3000, value)]:
                curves.append({"variant": variant, "seed": seed, "metric": "eval/return_mean", "frames": frames, "value": v})
            curves.append({"variant": variant, "seed": seed, "metric": "reward_100", "frames": 3000, "value": 9.0})
    scores = {(s.variant, s.seed): s for s in run_scores(curves, "eval/return_mean", final_evaluations=2)}
    assert scores[("base", 3)].final == pytest.approx(0.75) and scores[("base", 3)].auc == pytest.approx(0.5)
    assert scores[("better", 0)].evaluations == 3 and scores[("better", 0)].last_frames == 3000

    summary = {s.variant: s for s in summarize(list(scores.values()), ["base", "better", "broken"], "base", {"broken": 2}, samples=500)}
    assert summary["base"].improvement is None and summary["base"].runs == 4
    # finals: base 0.25, 0.25, 0.25, 0.75 -> IQM 0.25; better 0.75, 0.75, 0.75, 0.25 -> IQM 0.75
    assert summary["base"].final.value == pytest.approx(0.25) and summary["better"].final.value == pytest.approx(0.75)
    # P(better > base) over 16 pairs: 9 wins (0.75 > 0.25), 3 ties at 0.75 and 3 at 0.25 (half each), 1 loss
    assert summary["better"].improvement.value == pytest.approx((9 + 3 / 2 + 3 / 2) / 16)
    assert summary["broken"].runs == 0 and summary["broken"].failed == 2 and summary["broken"].final is None
    table = markdown_table(list(summary.values()), "eval/return_mean", 2, "base", 500)
    assert "| better | 4 | 0.75 [" in table and "| broken | 0 (2 failed) | - | - | - |" in table


def test_study_runs_every_variant_and_seed_reports_them_and_never_runs_one_twice(tmp_path):
    study_file = write_study(
        tmp_path / "lake.yaml",
        baseline="plain",
        overrides={"trainer.max_steps": 3500, "data.eval_every_frames": 1000, "data.eval_episodes": 2},
        variants={"plain": {}, "double": {"model.double_q": True}, "too_big_batch": {"data.batch_size": 1000}},
    )
    study_dir = tmp_path / "runs" / "ablations" / "lake"
    interrupted = study_dir / "plain" / "seed1"
    interrupted.mkdir(parents=True)
    (interrupted / "partial.txt").write_text("a run stopped before it finished")

    first = ablation("run", str(study_file), "--workers", "2", cwd=tmp_path)
    assert first.returncode == 1, first.stderr[-2000:]  # the too-big batch fails, the others finish
    assert first.stderr.strip().splitlines()[-1] == "error: 2 run(s) failed; their output.log says why"
    assert (study_dir / "plain" / "seed1.attempt1" / "partial.txt").is_file(), "an unfinished run is kept aside"

    for variant in ("plain", "double"):
        assert yaml.safe_load((study_dir / variant / "config.yaml").read_text())["trainer"]["max_steps"] == 3500
        for seed in (0, 1):
            run_dir = study_dir / variant / f"seed{seed}"
            assert json.loads((run_dir / "status.json").read_text())["returncode"] == 0
            (wandb_dir,) = (run_dir / "wandb").glob("offline-run-*")
            record = read_offline_run(wandb_dir)
            assert (record.name, record.group) == (f"lake-{variant}-seed{seed}", f"lake-{variant}")
            assert record.config["cli"]["seed_everything"] == seed
            assert record.config["double_q"] is (variant == "double")
            evaluations = record.column("eval/return_mean")
            assert [f for f, _ in evaluations[:2]] == [1501, 2501]  # 500 warm-up frames, then every 1000
            assert evaluations[-1][1] == 1.0, "the deterministic lake is solved: the greedy policy succeeds"
    failed = json.loads((study_dir / "too_big_batch" / "seed0" / "status.json").read_text())
    assert failed["returncode"] == 2
    assert "error: data.batch_size: must be <= data.buffer_size (500), got 1000" in (
        study_dir / "too_big_batch" / "seed0" / "output.log"
    ).read_text()

    with open(study_dir / "curves.csv") as f:
        curves = list(csv.DictReader(f))
    with open(study_dir / "scores.csv") as f:
        scores = {(r["variant"], int(r["seed"])): r for r in csv.DictReader(f)}
    assert set(scores) == {(v, s) for v in ("plain", "double") for s in (0, 1)}
    for (variant, seed), score in scores.items():
        values = [
            float(r["value"]) for r in sorted(curves, key=lambda r: int(r["frames"]))
            if (r["variant"], int(r["seed"]), r["metric"]) == (variant, seed, "eval/return_mean")
        ]  # fmt: skip
        assert float(score["final"]) == pytest.approx(np.mean(values[-3:]))
        assert float(score["auc"]) == pytest.approx(np.mean(values))
    assert any(r["metric"] == "reward_100" for r in curves)
    with open(study_dir / "summary.csv") as f:
        summary = {r["variant"]: r for r in csv.DictReader(f)}
    assert (summary["plain"]["runs"], summary["too_big_batch"]["runs"], summary["too_big_batch"]["failed"]) == ("2", "0", "2")
    assert summary["plain"]["p_better"] == "" and 0.0 <= float(summary["double"]["p_better"]) <= 1.0
    assert "| too_big_batch | 0 (2 failed) |" in first.stdout and (study_dir / "report.md").is_file()

    # as if the runs were made by an older lightning_dqn, without a setting the current one has
    older = yaml.safe_load((study_dir / "plain" / "config.yaml").read_text())
    del older["data"]["priority_alpha"]
    (study_dir / "plain" / "config.yaml").write_text(yaml.safe_dump(older))
    again = ablation("run", str(study_file), "--workers", "2", cwd=tmp_path)
    assert "4 already done, 2 to run" in again.stdout, again.stdout
    assert "note: variant plain: settings its finished runs did not have: data.priority_alpha=0.6" in again.stdout
    assert len(list((study_dir / "plain" / "seed0" / "wandb").glob("offline-run-*"))) == 1, "finished runs never rerun"
    assert (study_dir / "too_big_batch" / "seed0.attempt1" / "status.json").is_file(), "a failed run is kept aside"

    changed = write_study(
        tmp_path / "lake.yaml",
        baseline="plain",
        overrides={"trainer.max_steps": 3500, "data.eval_every_frames": 1000, "data.eval_episodes": 2},
        variants={"plain": {"model.lr": 0.01}, "double": {"model.double_q": True}},
    )
    refused = ablation("run", str(changed), cwd=tmp_path)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith("error: variants.plain: its settings differ from those its 2 finished runs used (model.lr: 0.001 -> 0.01)")
    assert yaml.safe_load((study_dir / "plain" / "config.yaml").read_text())["model"]["lr"] == 0.001, "kept as it was"


def test_a_typo_in_a_variant_stops_the_study_before_any_run(tmp_path):
    study_file = write_study(tmp_path / "typo.yaml", name="typo", variants={"plain": {}, "typo": {"model.double_qq": True}})
    result = ablation("run", str(study_file), "--workers", "2", cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: variants.typo: ") and "double_qq" in line
    assert not (tmp_path / "runs").exists(), "nothing was run or written"


def test_report_of_a_directory_without_a_study_is_one_line(tmp_path):
    result = ablation("report", str(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: study_dir: {tmp_path} holds no study (no study.yaml); pass <out>/<name>"


def test_a_run_killed_after_a_checkpoint_resumes_from_it_and_the_report_joins_both_parts(tmp_path):
    study_file = write_study(
        tmp_path / "lake.yaml",
        seeds=[0],
        overrides={"trainer.max_steps": 3500, "data.eval_every_frames": 1000, "data.eval_episodes": 2},
    )
    (run,) = load_study(study_file).plan(Path("runs") / "ablations")
    # the first attempt, as the runner starts it, dies at step 2,000 with its last.ckpt saved and no
    # status.json: what a machine that went away leaves
    (tmp_path / run.directory).mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    first = subprocess.run([*run.command, "--trainer.max_steps", "2000"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr[-2000:]

    result = ablation("run", str(study_file), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run_dir, attempt = tmp_path / run.directory, tmp_path / run.directory.with_name("seed0.attempt1")
    assert f"kept as {attempt.relative_to(tmp_path)}, resumed from" in result.stdout, result.stdout
    status = json.loads((run_dir / "status.json").read_text())
    assert status["returncode"] == 0 and status["resumes"] == "seed0.attempt1"
    assert status["command"][-2] == "--ckpt_path" and status["command"][-1].startswith(str(attempt.relative_to(tmp_path)))

    (early_dir,) = (attempt / "wandb").glob("offline-run-*")
    (late_dir,) = (run_dir / "wandb").glob("offline-run-*")
    early, late = read_offline_run(early_dir), read_offline_run(late_dir)
    resumed_at = late.column("frames")[0][0]
    assert resumed_at > 2000 + 500, "the second part continues the frame count (500 warm-up frames)"
    assert early.column("eval/return_mean")[0][0] == 1501 and late.column("eval/return_mean")[0][0] > resumed_at

    with open(tmp_path / "runs" / "ablations" / "lake" / "curves.csv") as f:
        curves = [r for r in csv.DictReader(f) if r["metric"] == "eval/return_mean"]
    frames = [int(r["frames"]) for r in curves]
    assert frames == sorted(set(frames)), "one evaluation per point, in order"
    assert frames[0] == 1501 and frames[-1] == late.column("eval/return_mean")[-1][0], "both parts, joined"
    assert [int(f) for f, _ in early.column("eval/return_mean") if f < resumed_at] == [f for f in frames if f < resumed_at]

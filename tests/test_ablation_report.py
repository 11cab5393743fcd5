"""A report never destroys what it summarises: kept studies, empty directories, shrinking files."""

import csv
import shutil
from pathlib import Path

from test_ablation import ROOT, ablation, write_study

from lightning_dqn.ablation.kept import read_curves, write_csv

KEPT = ROOT / "benchmarks" / "results" / "ablations" / "cartpole_components"


def test_report_on_a_kept_study_rebuilds_the_table_from_its_csvs(tmp_path):
    study = tmp_path / "cartpole_components"
    shutil.copytree(KEPT, study)
    result = ablation("report", str(study), "--bootstrap-samples", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (study / "curves.csv").read_bytes() == (KEPT / "curves.csv").read_bytes(), "the curves are untouched"
    with open(study / "summary.csv") as f:
        summary = {row["variant"]: row for row in csv.DictReader(f)}
    assert list(summary) == ["shipped", "no_double_q", "dueling", "n_step_3", "prioritized"]
    assert all(row["runs"] == "5" for row in summary.values())
    with open(KEPT / "summary.csv") as f:  # the IQMs need no resampling: they are the kept ones
        kept = {row["variant"]: row for row in csv.DictReader(f)}
    assert all(float(summary[v]["final_iqm"]) == float(kept[v]["final_iqm"]) for v in kept)
    assert "| n_step_3 | 5 | 425" in result.stdout and "reporting the 10200 rows" in result.stdout


def test_report_with_nothing_to_report_refuses_and_writes_nothing(tmp_path):
    study = tmp_path / "empty"
    study.mkdir()
    shutil.copy(KEPT / "study.yaml", study / "study.yaml")
    result = ablation("report", str(study), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: study_dir: {study} holds no finished runs and no curves.csv: nothing to report"
    ]
    assert sorted(p.name for p in study.iterdir()) == ["study.yaml"]


def test_a_file_is_never_replaced_by_a_shorter_one_silently(tmp_path):
    path = tmp_path / "scores.csv"
    write_csv(path, [{"a": 1}, {"a": 2}, {"a": 3}], ["a"], echo=lambda _: None)
    said: list[str] = []
    write_csv(path, [{"a": 9}], ["a"], echo=said.append)
    (kept,) = tmp_path.glob("scores.csv.before-*")
    assert kept.read_text().split() == ["a", "1", "2", "3"] and path.read_text().split() == ["a", "9"]
    assert len(said) == 1 and "held 3 rows, the new one 1" in said[0] and str(kept) in said[0]
    write_csv(path, [{"a": 1}, {"a": 2}], ["a"], echo=said.append)  # more rows: no copy, no note
    assert len(list(tmp_path.glob("scores.csv.before-*"))) == 1 and len(said) == 1


def test_the_footnote_names_what_the_metric_counts():
    from lightning_dqn.ablation.report import markdown_table

    assert "last 3 evaluations; AUC: mean of all its evaluations;" in markdown_table([], "eval/return_mean", 3, "dqn")
    footnote = markdown_table([], "reward_100", 5, "dqn")
    assert "last 5 logged values of reward_100; AUC: mean of all its logged values of reward_100;" in footnote


def test_a_study_continues_on_another_machine_from_its_kept_curves(tmp_path):
    """Run folders are gone with the machine; a kept ``curves.csv`` carries the finished runs: a
    continued study runs only the others, and its report holds both."""
    overrides = {"trainer.max_steps": 1000, "data.eval_every_frames": 500, "data.eval_episodes": 2}
    first = write_study(tmp_path / "lake.yaml", seeds=[0], overrides=overrides)
    made = ablation("run", str(first), cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    kept = tmp_path / "kept"
    kept.mkdir()
    for name in ("curves.csv", "study.yaml"):
        shutil.copy(tmp_path / "runs" / "ablations" / "lake" / name, kept / name)
    shutil.rmtree(tmp_path / "runs")  # the first machine is gone
    seed0 = read_curves(kept / "curves.csv")

    grown = write_study(tmp_path / "lake.yaml", seeds=[0, 1], overrides=overrides)
    dry = ablation("run", str(grown), "--continue-from", str(kept), "--dry-run", cwd=tmp_path)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "2 runs (1 variants x 2 seeds), 1 already done (1 of them kept in curves.csv without a folder), 1 to run" in dry.stdout
    assert not (tmp_path / "runs").exists(), "a dry run writes nothing"

    result = ablation("run", str(grown), "--continue-from", str(kept), "--bootstrap-samples", "200", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    study_dir = tmp_path / "runs" / "ablations" / "lake"
    assert not (study_dir / "plain" / "seed0").exists() and (study_dir / "plain" / "seed1" / "status.json").is_file()
    assert "note: 1 run(s) kept in" in result.stdout
    curves = read_curves(study_dir / "curves.csv")
    assert [row for row in curves if row["seed"] == 0] == seed0, "the kept run's rows, unchanged"
    assert any(row["seed"] == 1 and row["metric"] == "eval/return_mean" for row in curves)
    with open(study_dir / "summary.csv") as f:
        (summary,) = csv.DictReader(f)
    assert summary["runs"] == "2"

    again = ablation("run", str(grown), "--continue-from", str(kept), cwd=tmp_path)
    assert "2 already done (1 of them kept in curves.csv without a folder), 0 to run" in again.stdout, again.stdout
    assert read_curves(study_dir / "curves.csv") == curves, "continuing twice adds nothing"

    other = write_study(tmp_path / "other.yaml", seeds=[0, 1], overrides={**overrides, "model.lr": 0.01})
    refused = ablation("run", str(other), "--continue-from", str(kept), cwd=tmp_path)
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert line == f"error: --continue-from: the runs kept in {kept} were made by a study with other overrides; only seeds may differ"

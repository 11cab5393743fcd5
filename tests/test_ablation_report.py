"""A report never destroys what it summarises: kept studies, empty directories, shrinking files."""

import csv
import shutil
from pathlib import Path

from test_ablation import ROOT, ablation

from lightning_dqn.ablation.report import write_csv

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

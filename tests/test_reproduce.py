"""The README's learning tables are exactly what ``benchmarks/reproduce.py`` last measured, and the
script flags a result that moved."""

import copy
import importlib.util
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
reproduce = importlib.util.module_from_spec(spec)
sys.modules["reproduce"] = reproduce  # dataclasses look their module up there
spec.loader.exec_module(reproduce)


def test_the_readme_tables_are_the_recorded_figures():
    recorded = json.loads(reproduce.RESULTS.read_text())
    readme = reproduce.README.read_text()
    assert set(recorded) <= set(reproduce.EXPERIMENTS) and "frozenlake" in recorded
    for name in reproduce.EXPERIMENTS:
        block = re.search(rf"<!-- reproduce:{name} -->\n(.*?)\n<!-- /reproduce:{name} -->", readme, re.S)
        assert block, f"README.md has no block for {name}"
        if name in recorded:
            assert block[1] == reproduce.markdown(name, recorded[name]), f"README's {name} table is not reproduce.json's"
            assert recorded[name]["summary"] == reproduce.summarize(recorded[name]["runs"])
        else:
            assert "no figures recorded yet" in block[1]


def fake(frames: list[int | None], greedy: float = 0.74) -> dict:
    runs = [
        {"seed": i, "exit_code": 0, "solved_frames": f, "frames": f or 200_500, "best_mean": 0.8 if f else 0.7,
         "wall_s": 300.0, "greedy": greedy}
        for i, f in enumerate(frames)
    ]  # fmt: skip
    return {"date": "2026-11-27", "machine": "test", "commit": "abc", "runs": runs, "summary": reproduce.summarize(runs)}


def test_a_result_that_moved_is_flagged_and_one_that_did_not_is_not():
    before = fake([100_000, 110_000, 120_000, None])
    same = reproduce.compare("frozenlake", copy.deepcopy(before), before)
    assert not [line for line in same if line.startswith("MOVED")]
    fewer = reproduce.compare("frozenlake", fake([100_000, None, 120_000, None]), before)
    assert any(line.startswith("MOVED frozenlake: seeds reaching the bound, of 4: 2 (README: 3)") for line in fewer)
    assert any("seed 1: None frames (README: 110000)" in line for line in fewer)
    slower = reproduce.compare("frozenlake", fake([120_000, 130_000, 140_000, None]), before)
    assert any(line.startswith("MOVED frozenlake: median frames") for line in slower)
    worse = reproduce.compare("frozenlake", fake([100_000, 110_000, 120_000, None], greedy=0.70), before)
    assert any(line.startswith("MOVED frozenlake: median greedy return") for line in worse)
    table = reproduce.markdown("frozenlake", before)
    assert "| 3 | not within 200,500 (best mean 0.7) |" in table and "**3 of 4 reached it**" in table


def test_into_keeps_the_seeds_that_finished_and_runs_only_the_rest(tmp_path, monkeypatch):
    finished = {"seed": 1, "exit_code": 0, "solved_frames": 5, "frames": 5, "best_mean": 1.0, "wall_s": 1.0, "greedy": 1.0}
    (tmp_path / "cartpole" / "seed1").mkdir(parents=True)
    (tmp_path / "cartpole" / "seed1" / "result.json").write_text(json.dumps(finished))
    ran = []

    def run_seed(name, experiment, seed, out):
        ran.append((name, seed, out))
        return {**finished, "seed": seed, "solved_frames": None}

    monkeypatch.setattr(reproduce, "run_seed", run_seed)
    runs = reproduce.run_all(["cartpole"], 3, 1, tmp_path)
    assert ran == [("cartpole", 0, tmp_path), ("cartpole", 2, tmp_path)]
    assert [r["seed"] for r in runs["cartpole"]] == [0, 1, 2] and runs["cartpole"][1] == finished

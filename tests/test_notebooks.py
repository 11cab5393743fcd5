"""Every notebook runs top to bottom with a small budget, so none can rot."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KEPT_STUDY = NOTEBOOKS.parent / "benchmarks" / "results" / "ablations" / "cartpole_components"

# Small budgets replacing each notebook's "parameters" cell.
BUDGETS = {
    "01_value_iteration_and_q_learning.ipynb": "RANDOM_STEPS = 50_000\nQ_LEARNING_STEPS = 50_000\nEPISODES = 200\nGAMMA = 0.99",
    "02_dqn_frozenlake.ipynb": (
        "SLIPPERY = False\nDECAY_FRAMES = 3000\nLR = 1e-3\nGAMMA = 0.9\nBOUND = 0.95\nMAX_STEPS = 20_000\nEVAL_EPISODES = 20\nSEED = 0"
    ),
    "03_dqn_atari.ipynb": "CHECKPOINT = None\nMAX_STEPS = 100\nREPLAY_START = 200\nMAX_EPISODE_STEPS = 200\nSEED = 0",
    "04_ablation_report.ipynb": f"STUDY_DIR = {str(KEPT_STUDY)!r}\nBOOTSTRAP_SAMPLES = 500",
}
EXPECTED = {
    "01_value_iteration_and_q_learning.ipynb": ["best fixed policy (exact table)  0.740", "value iteration (estimated p)    0.740"],
    "02_dqn_frozenlake.ipynb": [
        "DQN greedy policy, exact success within 100 steps: 1.000",
        "DQN greedy policy, 20 played episodes:        1.000",
        "best fixed policy (tabular optimum):               1.000",
    ],
    "03_dqn_atari.ipynb": [
        "identical observations over 100 steps: True",
        "bytes per stored row: 7,082",
        "checkpoint at optimizer step 100,",
        "video written: True",
    ],
    "04_ablation_report.ipynb": [  # the kept CartPole study: IQMs, and rliable's bootstrap seeded (500 resamples)
        "  prioritized    {'data.prioritized': True}       runs: 5",
        "shipped        final IQM   274.3",
        "n_step_3       final IQM   425.2 [  409.3,   465.6]   AUC IQM   340.1   better",
        "no_double_q    final IQM   284.2",
        "n_step_3       IQM     425  mean     432  median     432",  # rliable's aggregates, one task
    ],
}


def test_every_notebook_has_a_budget():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted(BUDGETS)


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_notebook_runs(name, tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the kernel's torch: one thread, as the configs and conftest set
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not cell.get("outputs") for cell in book.cells if cell.cell_type == "code"), "stored without outputs"
    (parameters,) = [c for c in book.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source = BUDGETS[name]
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(
        out.get("text", "") for cell in book.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    for line in EXPECTED[name]:
        assert line in printed, printed[-2000:]

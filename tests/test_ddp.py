"""DDP on CPU: two processes (Lightning's launch, or two nodes under torchrun), each with its own envs
and buffer, stop together at the bound."""

import json
import os
import socket
import subprocess
import sys

import yaml

from lightning_dqn.wandb_records import read_offline_run
from test_cli import NONSLIPPERY, ROOT, run_cli


def test_two_process_ddp_run_solves_and_both_ranks_stop_together(tmp_path):
    result = run_cli(
        "fit", "--config", NONSLIPPERY, "--trainer.accelerator", "cpu", "--trainer.devices", "2",
        "--trainer.strategy", "ddp", "--trainer.logger", "false", cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # a rank left behind would hang until the timeout
    assert result.stdout.count("Solved in ") == 1  # printed by rank 0 only, decided by both
    config = yaml.safe_load((tmp_path / "runs" / "config.yaml").read_text())
    assert str(config["trainer"]["devices"]) == "2" and config["trainer"]["strategy"] == "ddp"
    assert (tmp_path / "runs" / "checkpoints" / "best.ckpt").is_file()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_under_torchrun_solve_with_one_run_directory_config_and_wandb_run(tmp_path):
    # Two "nodes" on this machine (gloo over loopback): the README's torchrun command, once per node.
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    env.pop("WANDB_API_KEY", None)
    nodes = [
        subprocess.Popen(
            [
                sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                "--node_rank", str(rank), "--master_addr", "127.0.0.1", "--master_port", str(port),
                "-m", "lightning_dqn", "fit", "--config", NONSLIPPERY, "--trainer.accelerator", "cpu",
                "--trainer.devices", "1", "--trainer.num_nodes", "2", "--trainer.strategy", "ddp",
            ],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    try:
        outputs = [node.communicate(timeout=600)[0] for node in nodes]
    finally:
        for node in nodes:
            node.kill()
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert outputs[0].count("Solved in ") == 1 and "Solved in " not in outputs[1]  # rank 0 reports, both decide
    (run_dir,) = (tmp_path / "runs" / "lightning_dqn").iterdir()
    (wandb_run,) = (tmp_path / "runs" / "wandb").glob("offline-run-*")
    assert wandb_run.name.endswith(run_dir.name)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["trainer"]["num_nodes"] == 2 and config["trainer"]["strategy"] == "ddp"
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()

    # Rank 0's counts, and beside them the sums over both ranks (which play in lockstep: equal frames).
    run = read_offline_run(wandb_run)
    rows = [row for row in run.history if "global/frames" in row]
    assert len(rows) >= 10
    for row in rows:
        assert row["global/frames"] == 2 * row["frames"] and row["global/episodes"] >= row["episodes"]
    assert {"global/reward_100", "reward_100"} <= set(rows[-1])


def test_several_updates_per_step_keep_the_ranks_weights_equal(tmp_path):
    # manual optimization: each update's backward must still average the gradients over the ranks
    probe = {"class_path": "ddp_probe.SameWeightsProbe", "init_args": {"path": str(tmp_path / "probe.json")}}
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "lightning_dqn", "fit", "--config", NONSLIPPERY, "--trainer.accelerator", "cpu",
         "--trainer.devices", "2", "--trainer.strategy", "ddp", "--trainer.logger", "false",
         "--data.updates_per_step", "4", "--trainer.max_steps", "202", f"--trainer.callbacks+={json.dumps(probe)}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "probe.json").read_text())
    assert record == {"same_weights": True, "ranks": 2, "updates": 202}

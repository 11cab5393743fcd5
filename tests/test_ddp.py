"""DDP on CPU: two processes, each with its own envs and buffer, stop together at the bound."""

import yaml

from test_cli import NONSLIPPERY, run_cli


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

"""A callback for DDP tests, loaded by the CLI in the test's subprocesses: at the end of training, rank
0 writes whether every rank holds the same online weights (DDP keeps them equal by averaging the
gradients of every update) and how many updates were made."""

import json
import os

import pytorch_lightning as pl
import torch


class SameWeightsProbe(pl.Callback):
    def __init__(self, path: str):
        self.path = path

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        weights = torch.cat([p.detach().flatten() for p in pl_module.q_net.parameters()])
        gathered = pl_module.all_gather(weights)  # [world_size, n]
        if trainer.is_global_zero:
            same = bool(all(torch.equal(gathered[0], other) for other in gathered[1:]))
            record = {"same_weights": same, "ranks": len(gathered), "updates": trainer.global_step}
            with open(os.path.join(self.path), "w") as f:
                json.dump(record, f)

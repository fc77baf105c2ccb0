"""Run by test_distributed.py under ``torchrun --nproc_per_node 2``.

``same``: train a small batch-normed net on digits (each rank seeds its model differently: fit must start all ranks
from rank 0's weights) and save this rank's weights and history to ``<out>/rank-<r>.safetensors`` / ``.json``; an
unused parameter under AdamW weight decay must stay untouched, as in one process.
``nan``: one row of rank 1's shard is infinite; every rank must stop with a TrainingError (none may hang).
"""

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from torch import nn

from neuralab.errors import TrainingError
from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit

mode, out = sys.argv[1], Path(sys.argv[2])
rank = int(os.environ["RANK"])
x, y = load_digits(return_X_y=True)
x = torch.tensor(x / 16.0, dtype=torch.float32)
y = torch.tensor(y)
torch.manual_seed(rank)  # deliberately different on each rank
model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
model.unused = nn.Parameter(torch.ones(3))
if mode == "nan":
    x[1] = float("inf")  # row 1 lands in rank 1's shard (no shuffling: rank r takes rows r, r + 2, ...)
    try:
        fit(model, (x[:200], y[:200]), TrainerConfig(epochs=2, batch_size=20, shuffle=False), loss="cross_entropy")
    except TrainingError as err:
        (out / f"rank-{rank}.txt").write_text(str(err))
    sys.exit(0)
state = fit(model, FitData((x[:1500], y[:1500]), (x[1500:], y[1500:])),
            TrainerConfig(epochs=3, batch_size=50, seed=0),
            optimizer=OptimizerConfig(name="adamw", lr=0.01, weight_decay=0.5), loss="cross_entropy",
            metrics=["accuracy"])
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"rank-{rank}.safetensors")
(out / f"rank-{rank}.json").write_text(json.dumps({"history": state.history, "steps": state.global_step}))

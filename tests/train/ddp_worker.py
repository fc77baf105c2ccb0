"""Run by test_distributed.py under ``torchrun --nproc_per_node 2``: train a small batch-normed net on digits and save
this rank's weights and history to ``<out>/rank-<r>.safetensors`` / ``.json``."""

import json
import os
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from sklearn.datasets import load_digits
from torch import nn

from neuralab.train import FitData, OptimizerConfig, TrainerConfig, fit

out = Path(sys.argv[1])
x, y = load_digits(return_X_y=True)
x = torch.tensor(x / 16.0, dtype=torch.float32)
y = torch.tensor(y)
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))
state = fit(model, FitData((x[:1500], y[:1500]), (x[1500:], y[1500:])),
            TrainerConfig(epochs=3, batch_size=50, seed=0), optimizer=OptimizerConfig(name="sgd", lr=0.1),
            loss="cross_entropy", metrics=["accuracy"])
rank = os.environ["RANK"]
save_file({k: v.contiguous() for k, v in model.state_dict().items()}, out / f"rank-{rank}.safetensors")
(out / f"rank-{rank}.json").write_text(json.dumps({"history": state.history, "steps": state.global_step}))

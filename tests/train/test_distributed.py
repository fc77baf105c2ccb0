"""Data-parallel training under torchrun (2 CPU processes, Gloo): the ranks stay in step and agree."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from neuralab.train.distributed import World, world

pytestmark = pytest.mark.integration


def test_a_single_process_is_rank_0_of_1(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert world() == World(rank=0, size=1) and not world().distributed


def _torchrun(mode, out):
    worker = Path(__file__).with_name("ddp_worker.py")
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(worker), mode, str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


def test_two_processes_train_identical_models_on_disjoint_shards(tmp_path):
    _torchrun("same", tmp_path)
    a, b = load_file(tmp_path / "rank-0.safetensors"), load_file(tmp_path / "rank-1.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), "weights and batch-norm buffers must agree on every rank"
    assert torch.equal(a["unused"], torch.ones(3)), "a parameter without gradients is skipped, as in one process"
    logs = [json.loads((tmp_path / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert logs[0]["history"][-1]["val_accuracy"] == logs[1]["history"][-1]["val_accuracy"] > 0.8
    assert [h["train_loss"] for h in logs[0]["history"]] == [h["train_loss"] for h in logs[1]["history"]]
    assert logs[0]["steps"] == 3 * (750 // 50)  # each rank: 3 epochs of its 750-row shard



def test_a_non_finite_loss_on_one_rank_stops_every_rank(tmp_path):
    _torchrun("nan", tmp_path)
    # Rank 1 sees a non-finite loss at its first step; the averaged gradient then spoils rank 0 too. Both stop,
    # neither hangs.
    assert "training diverged: loss is nan at epoch 1, step 1" in (tmp_path / "rank-1.txt").read_text()
    assert "training diverged" in (tmp_path / "rank-0.txt").read_text()


@pytest.mark.slow
def test_a_run_trained_under_torchrun_records_its_world_size(tmp_path):
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             "-m", "neuralab.cli.main", "train", "digits-mlp", "--set", "trainer.epochs=1",
                             "--set", "scheduler.warmup_epochs=0", "--quiet", "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "environment.json").read_text())["world_size"] == 2


def test_environment_json_records_the_world_size(tmp_path):
    from neuralab.runs.store import environment

    assert environment(device="cpu", precision="fp32", seed=0, files={}, duration=1.0)["world_size"] == 1
    assert environment(device="cpu", precision="fp32", seed=0, files={}, duration=1.0, world_size=4)["world_size"] == 4

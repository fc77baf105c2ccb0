"""A training process killed with SIGKILL mid-epoch, then resumed, ends bit-identical to an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import pytest
from safetensors.torch import load_file

from neuralab.train.state import load_state

pytestmark = pytest.mark.integration

ARGS = ["train", "digits-mlp", "--set", "trainer.epochs=6", "--set", "trainer.batch_size=16", "--quiet"]


def _cli(*args):
    return [sys.executable, "-m", "neuralab.cli.main", *args]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_resume_after_sigkill_is_bit_identical(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    subprocess.run(_cli(*ARGS, "--out", str(full)), check=True, capture_output=True)
    epoch_seconds = load_state(full / "checkpoints" / "last.ckpt")["history"][2]["time"]

    proc = subprocess.Popen(_cli(*ARGS, "--out", str(killed)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = killed / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not ckpt.exists() or load_state(ckpt)["epoch"] < 2:
        assert proc.poll() is None, "training finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(epoch_seconds / 2)  # now in the middle of epoch 3 (or so)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / "model.safetensors").exists(), "the killed run must not have finished"
    assert load_state(ckpt)["epoch"] < 6

    resumed = subprocess.run(_cli("train", "--resume", str(killed), "--quiet"), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    a, b = load_file(full / "model.safetensors"), load_file(killed / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and (a[key] == b[key]).all(), key
    history = load_state(killed / "checkpoints" / "last.ckpt")["history"]
    assert [h["epoch"] for h in history] == list(range(1, len(history) + 1))


def test_resume_refuses_a_folder_without_a_checkpoint(tmp_path):
    proc = subprocess.run(_cli("train", "--resume", str(tmp_path)), capture_output=True, text=True)
    assert proc.returncode == 2 and "has no config.yaml" in proc.stderr

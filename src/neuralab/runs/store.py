"""The run directory on disk: its lock, its config, its weights file and its environment record.

::

    runs/<recipe>-<timestamp>/
        .lock               held (fcntl) by the process writing the run; a second writer gets a one-line error
        config.yaml         the fully resolved recipe (the model's input and output sizes included)
        model.safetensors   the weights of every ensemble member, the input pipeline's state, the target scaler and
                            the calibration, with the task, classes and member count in the metadata; no pickle
        metrics.json        per-epoch history and final train / val / test metrics
        environment.json    versions, device, seed, git commit, data files' sha256
        checkpoints/        last.ckpt (to resume) and best.ckpt

Nothing here knows what task a run is: a damaged file is a one-line error naming it, whatever the run.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

import neuralab
from neuralab.data.features import is_file
from neuralab.errors import NeuralabError
from neuralab.train.state import atomic_write_text, remove_stale_temporaries, set_default_mode

__all__ = ["RUN_FORMAT", "lock_run", "read_config", "write_config", "save_weights", "read_weights", "Weights",
           "new_run_dir", "environment", "finite_json"]

RUN_FORMAT = "neuralab-run"
LOCK_FILE = ".lock"


@contextmanager
def lock_run(path: Path) -> Iterator[None]:
    """Hold the run directory's lock while writing it; another process holding it is a one-line error.

    The lock is an ``fcntl`` lock on ``path/.lock``: the operating system releases it when the process ends, even
    after kill -9, so a crashed run never stays locked. Temporary files a killed writer left behind are removed
    once the lock is held, since no one else can be writing them.
    """
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise NeuralabError(f"{path} is being written by another neuralab process (pid {owner}); wait for it "
                                "to finish, or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        _remove_stale_temporaries(path)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


RUN_FILES = ("config.yaml", "model.safetensors", "metrics.json", "environment.json", "figures.json", "report.html",
             "sample.txt")
CHECKPOINTS = ("last.ckpt", "best.ckpt", "final.ckpt")


def _remove_stale_temporaries(path: Path) -> None:
    """The temporary files of a run's own files and checkpoints that a killed writer left; nothing else."""
    remove_stale_temporaries(path, RUN_FILES)
    for folder in [path / "checkpoints", *(path / "checkpoints").glob("member-*")]:
        if folder.is_dir():
            remove_stale_temporaries(folder, CHECKPOINTS)


def read_config(path: Path) -> dict[str, Any]:
    """The raw ``config.yaml`` of a run directory; a missing or damaged file is a one-line error naming it."""
    config = path / "config.yaml"
    if not is_file(config):
        raise NeuralabError(f"{path} is not a finished run: config.yaml is missing")
    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NeuralabError(f"{config} is damaged ({reason}); restore it from a copy or train the run again") \
            from None
    if not isinstance(raw, dict):
        raise NeuralabError(f"{config} is damaged: it must be a mapping of recipe sections; got "
                            f"{type(raw).__name__}")
    return raw


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Write ``config.yaml`` atomically."""
    atomic_write_text(path / "config.yaml", yaml.safe_dump(config, sort_keys=False))


class Weights:
    """What ``model.safetensors`` holds: each member's state dict, the other groups (inputs, y_scaler,
    calibration) and the metadata (task, classes, members)."""

    def __init__(self, members: list[dict[str, torch.Tensor]], groups: dict[str, dict[str, torch.Tensor]],
                 task: str, classes: list[Any]) -> None:
        self.members, self.groups, self.task, self.classes = members, groups, task, classes


def save_weights(path: Path, models: list[torch.nn.Module], groups: dict[str, dict[str, torch.Tensor]], *,
                 task: str, classes: list[Any]) -> None:
    """Write every member's weights and the named groups of tensors to one safetensors file, atomically."""
    tensors = {f"model.{i}.{k}": v.detach().cpu().contiguous()
               for i, model in enumerate(models) for k, v in model.state_dict().items()
               if isinstance(v, torch.Tensor)}
    for group, state in groups.items():
        tensors.update({f"{group}.{k}": v.detach().cpu().contiguous() for k, v in state.items()})
    meta = {"format": RUN_FORMAT, "neuralab": neuralab.__version__, "task": task, "classes": json.dumps(classes),
            "members": str(len(models))}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, tmp, metadata=meta)
    set_default_mode(tmp)
    tmp.replace(path)


def read_weights(path: Path) -> Weights:
    """Read ``model.safetensors``; a damaged file or tampered metadata is a one-line error naming the file."""
    file = path / "model.safetensors"
    if not is_file(file):
        raise NeuralabError(f"{path} is not a finished run: model.safetensors is missing")
    members: dict[int, dict[str, torch.Tensor]] = {}
    groups: dict[str, dict[str, torch.Tensor]] = {}
    try:
        with safe_open(file, framework="pt") as f:
            meta = f.metadata() or {}
            for key in f.keys():
                group, _, name = key.partition(".")
                if group == "model":
                    i, _, name = name.partition(".")
                    if not i.isdigit():
                        raise NeuralabError(f"{file} is in a format this neuralab does not read (no ensemble "
                                            "member index); train the run again")
                    members.setdefault(int(i), {})[name] = f.get_tensor(key)
                else:
                    groups.setdefault(group, {})[name] = f.get_tensor(key)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise NeuralabError(f"{file} is damaged or not a neuralab weights file ({_first_line(exc)}); train the "
                            "run again") from None
    classes, count = _metadata(file, meta)
    if sorted(members) != list(range(count)):
        raise NeuralabError(f"{file} is damaged: its metadata says {count} ensemble member(s) but it holds weights "
                            f"for {len(members)}; train the run again")
    return Weights([members[i] for i in range(count)], groups, str(meta.get("task", "")), classes)


def _metadata(file: Path, meta: dict[str, str]) -> tuple[list[Any], int]:
    """The classes and the member count from the metadata, checked: tampered values are one-line errors."""
    try:
        classes = json.loads(meta.get("classes", "[]"))
        count = int(meta.get("members", "1"))
    except ValueError as exc:
        raise NeuralabError(f"{file} has damaged metadata ({_first_line(exc)}); train the run again") from None
    if not isinstance(classes, list) or not all(isinstance(c, (str, int, float, bool)) for c in classes) \
            or count < 1:
        raise NeuralabError(f"{file} has damaged metadata: classes must be a list of labels and members a positive "
                            "count; train the run again")
    return classes, count


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def new_run_dir(root: Path, name: str) -> Path:
    """``root/<name>-<timestamp>``, with ``-2``, ``-3``... when that exists already."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path, i = root / f"{name}-{stamp}", 1
    while path.exists():
        i += 1
        path = root / f"{name}-{stamp}-{i}"
    return path


def finite_json(obj: Any) -> Any:
    """JSON has no NaN: write it as null."""
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_json(v) for v in obj]
    return obj


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def environment(*, device: str, precision: str, seed: int, files: dict[str, str], duration: float,
                world_size: int = 1) -> dict[str, Any]:
    """The record of where and how a run was trained, for ``environment.json``; ``world_size`` is the number of
    processes that trained it together (torchrun), each with ``trainer.batch_size`` rows per step."""
    import sklearn

    return {"neuralab": neuralab.__version__, "python": sys.version.split()[0], "torch": torch.__version__,
            "numpy": np.__version__, "scikit-learn": sklearn.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "torch_threads": torch.get_num_threads(),
            "device": device, "world_size": world_size, "precision": precision, "seed": seed,
            "git_commit": _git_commit(), "data_files": files,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "duration_s": round(duration, 3)}

"""Saving nested training state without pickle.

Checkpoints hold model weights, optimiser and scheduler state, RNG states and callback state: nested dicts and lists of
tensors and plain Python values. Pickle would make a checkpoint able to run code when loaded, so instead every tensor
goes into a safetensors file and the structure around it goes into the file's metadata as JSON. Non-string dict keys
(optimiser state is keyed by int) and tuples (Adam's ``betas``) are tagged so that they come back as they went in.
Python floats go through ``repr`` in JSON, which round-trips exactly, so a resumed run is bit-identical.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from neuralab.errors import NeuralabError

__all__ = ["save_state", "load_state", "atomic_write_bytes", "atomic_write_text", "set_default_mode",
           "remove_stale_temporaries"]

_META_KEY = "neuralab_state"


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    """Replace tensors by references and tag what JSON cannot hold."""
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        # safetensors rejects non-contiguous tensors and tensors that share memory.
        tensors[key] = obj.detach().to("cpu").contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"__float__": repr(obj)}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        items = [[_encode(k, tensors, path), _encode(v, tensors, f"{path}.{k}")] for k, v in obj.items()]
        return {"__dict__": items}
    if isinstance(obj, torch.dtype):
        return {"__dtype__": str(obj).removeprefix("torch.")}
    raise TypeError(f"cannot save {type(obj).__name__} at {path or 'root'} without pickle")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__float__" in obj:
        return float(obj["__float__"])
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__dict__"]}
    if "__dtype__" in obj:
        return getattr(torch, obj["__dtype__"])
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save_state(state: Any, path: str | Path) -> Path:
    """Write a nested state (dicts, lists, tuples, tensors, numbers, strings) to one safetensors file, atomically.

    Parameters
    ----------
    state
        The structure to save. Tensors are moved to the CPU.
    path
        Destination. The file is written to a temporary name in the same folder and renamed, so a crash never leaves
        a half-written checkpoint behind.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    meta = json.dumps(_encode(state, tensors, ""), allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={_META_KEY: meta})
        _fsync(tmp)
        set_default_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def load_state(path: str | Path) -> Any:
    """Read a structure written by :func:`save_state`. Tensors come back on the CPU."""
    path = Path(path)
    if not path.is_file():
        raise NeuralabError(f"checkpoint {path} does not exist")
    try:
        tensors = load_file(path)
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            meta = (f.metadata() or {}).get(_META_KEY)
    except Exception as exc:  # safetensors raises several types for a damaged header
        raise NeuralabError(f"checkpoint {path} is corrupt or not a neuralab checkpoint: {exc}") from exc
    if meta is None:
        raise NeuralabError(f"checkpoint {path} has no neuralab state in its metadata")
    return _decode(json.loads(meta), tensors)


def _fsync(path: str | Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        set_default_mode(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def set_default_mode(path: str | Path) -> None:
    """Give a file written through ``mkstemp`` (mode 0600) the mode a plain ``open`` would: 0666 less the umask."""
    os.chmod(path, 0o666 & ~_umask())


def remove_stale_temporaries(folder: str | Path, names: tuple[str, ...]) -> list[Path]:
    """Delete the temporary files a writer killed mid-write left beside ``names`` in ``folder``: ``.<name>.*tmp``
    (what :func:`atomic_write_bytes` and :func:`save_state` create) for each ``name``; return them.

    Nothing else is touched, whatever else the folder holds. Only call this while holding the folder's lock: a live
    writer's temporary file would be deleted too.
    """
    stale = [p for name in names for p in Path(folder).glob(f".{name}.*tmp") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale

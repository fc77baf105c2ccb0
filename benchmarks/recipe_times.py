"""How long each bundled recipe takes to train, as a user runs it: `neuralab train RECIPE`, start to finish.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/recipe_times.py [--long] [recipe ...]

Each recipe runs once, as shipped, through the command line in a subprocess (so the time includes start-up, data
loading, featurisation, the report and its figures). The long recipes (MNIST, the character language model) run
one epoch only with ``--long``, and the table extrapolates from it: start-up plus epochs × the epoch's time, an
estimate that early stopping can only shorten. Writes benchmarks/recipe_times.json and prints a Markdown table;
the load average is recorded beside each run, since a busy machine makes every number longer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine

from neuralab.recipes import list_recipes, load_recipe

LONG = {"mnist-mlp", "mnist-cnn", "mnist-ae", "mnist-sparse-ae", "mnist-denoising-ae", "mnist-contractive-ae",
        "mnist-vae", "mnist-conv-vae", "shakespeare-char-lstm", "mnist-rbm", "mnist-rbm-pcd", "mnist-dbn",
        "mnist-dbn-finetune", "mnist-gan", "mnist-dcgan", "mnist-cgan", "acrobot-ppo"}


def time_recipe(name: str, one_epoch: bool) -> dict[str, Any]:
    """Train ``name`` through the CLI and return its wall time (and, for one epoch, the epoch's own time)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "run"
        extra = ["--set", "trainer.epochs=1", "--set", "scheduler.warmup_epochs=0"] if one_epoch else []
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "neuralab.cli.main", "train", name, "--quiet", "--out", str(out),
                               *extra], capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{name} failed: {done.stderr[-500:]}")
        history = json.loads((out / "metrics.json").read_text())["history"]
    row = {"recipe": name, "seconds": seconds, "epochs_run": len(history), "loadavg": load,
           "epoch_seconds": [h["time"] for h in history]}
    if one_epoch:
        epochs = load_recipe(name).trainer.epochs
        row.update(epochs=epochs, estimate=seconds + (epochs - 1) * history[0]["time"])
    return row


def table(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}; `neuralab train RECIPE` as "
             "shipped, one run each, wall time from start to finish (report included).", "",
             "| recipe | epochs | measured | load average | note |", "|---|---|---|---|---|"]
    for r in rows:
        if "estimate" in r:
            lines.append(f"| {r['recipe']} | {r['epochs']} | about {r['estimate'] / 60:.0f} min (one epoch "
                         f"{r['epoch_seconds'][0]:.0f} s) | {r['loadavg']:.1f} | estimated from one epoch |")
        else:
            note = "stopped early" if r["epochs_run"] < load_recipe(r["recipe"]).trainer.epochs else ""
            lines.append(f"| {r['recipe']} | {r['epochs_run']} | {r['seconds']:.0f} s | {r['loadavg']:.1f} | "
                         f"{note} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*")
    parser.add_argument("--long", action="store_true", help="Also time one epoch of the long recipes.")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("recipe_times.json"))
    args = parser.parse_args()
    names = args.recipes or [n for n, _ in list_recipes() if n not in LONG or args.long]
    info, rows = machine(), []
    for name in names:
        rows.append(time_recipe(name, one_epoch=name in LONG))
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    print()
    print(table(rows, info))


if __name__ == "__main__":
    main()

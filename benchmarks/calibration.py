"""Calibrated probabilities: ECE and log-loss before and after temperature scaling, accuracy unchanged.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/calibration.py [--seeds 3] [recipe ...]

Each recipe is trained as shipped (seed 0..N-1); the temperature is fitted on its validation split, never on the
test split. For the test split the table gives the accuracy of the raw and of the scaled probabilities (equal by
construction: the class never changes), the expected calibration error (15 equal-width bins) and the log-loss,
before and after. Writes benchmarks/calibration.json (``--out`` to change; rows of recipes not rerun are kept) and
prints a Markdown section.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine

from neuralab.recipes import load_recipe
from neuralab.tasks import load_run, prepare_data, train_recipe

DEFAULT = ["digits-mlp", "digits-cnn", "mnist-mlp"]


def measure(name: str, seed: int, runs: Path) -> dict[str, Any]:
    """Train one recipe at one seed and read its test calibration, checking the accuracy from both probabilities."""
    start = time.perf_counter()
    out = runs / f"{name}-{seed}"
    train_recipe(load_recipe(name, [f"trainer.seed={seed}"]), out_dir=out, write_report=False)
    run = load_run(out)
    calibration = run.metrics()["calibration"]
    data = prepare_data(run.recipe)
    split = data.splits["test"]
    labels = np.searchsorted(run.classes, data.targets["test"])
    raw = run.task._proba(run, split, calibrated=False)
    scaled = run.task._proba(run, split)
    return {"recipe": name, "seed": seed, "seconds": time.perf_counter() - start,
            "temperature": calibration["temperature"], "label_smoothing": run.recipe.loss.options.get(
                "label_smoothing", 0.0),
            "accuracy_raw": float((raw.argmax(1) == labels).mean()),
            "accuracy_calibrated": float((scaled.argmax(1) == labels).mean()),
            **{key: calibration["test"][key] for key in ("ece_raw", "ece", "nll_raw", "nll")},
            "val_ece_raw": calibration["val"]["ece_raw"], "val_ece": calibration["val"]["ece"]}


def report(rows: list[dict[str, Any]], info: dict[str, Any]) -> str:
    """The Markdown section for BENCHMARKS.md: mean ± std over seeds per recipe."""
    def stat(values: list[float], digits: int = 4) -> str:
        v = np.array(values, dtype=float)
        return f"{v.mean():.{digits}f} ± {v.std(ddof=1) if len(v) > 1 else 0:.{digits}f}"

    lines = [f"Machine: {info['cpu']}, {info['cores']} cores, {info['torch_threads']} torch threads, torch "
             f"{info['torch']}. Test split; the temperature is fitted on the validation split. Mean ± std over "
             f"seeds {sorted({r['seed'] for r in rows})}.", "",
             "| recipe | label smoothing | T | accuracy raw | accuracy calibrated | ECE raw | ECE calibrated | "
             "log-loss raw | log-loss calibrated |", "|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["recipe"] for r in rows):
        sel = [r for r in rows if r["recipe"] == name]
        lines.append(f"| {name} | {sel[0]['label_smoothing']} | {stat([r['temperature'] for r in sel], 3)} | "
                     f"{stat([r['accuracy_raw'] for r in sel])} | {stat([r['accuracy_calibrated'] for r in sel])} | "
                     f"{stat([r['ece_raw'] for r in sel])} | {stat([r['ece'] for r in sel])} | "
                     f"{stat([r['nll_raw'] for r in sel])} | {stat([r['nll'] for r in sel])} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("calibration.json"))
    parser.add_argument("--runs", type=Path, default=Path(f"runs/bench-calibration-{time.strftime('%Y%m%d-%H%M%S')}"))
    parser.add_argument("--report", action="store_true", help="Only reprint the section from --out.")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.out.read_text())
        print(report(saved["rows"], saved["machine"]))
        return
    # Rows of other recipes already in --out stay: a rerun of some recipes replaces only their rows.
    info = machine()
    rows = json.loads(args.out.read_text())["rows"] if args.out.is_file() else []
    for name in args.recipes:
        for seed in range(args.seeds):
            row = measure(name, seed, args.runs)
            rows = [r for r in rows if (r["recipe"], r["seed"]) != (name, seed)] + [row]
            print(json.dumps(row), flush=True)
            args.out.write_text(json.dumps({"machine": info, "rows": rows}, indent=1))
    print()
    print(report(rows, info))


if __name__ == "__main__":
    main()

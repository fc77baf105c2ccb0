"""Bundled recipes trained as shipped, over several seeds: test metrics and wall time.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/recipes.py [--seeds 5] [recipe ...]
Prints a Markdown table (mean ± std over seeds; the seed-0 value, which is what `neuralab train RECIPE` gives) and
writes benchmarks/recipes.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from neuralab.recipes import load_recipe
from neuralab.tasks import train_recipe

DEFAULT = ["digits-mlp", "solubility", "solubility-mpnn"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", default=DEFAULT)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path(f"runs/bench-recipes-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = parser.parse_args()
    rows = []
    for name in args.recipes:
        for seed in range(args.seeds):
            start = time.perf_counter()
            run = train_recipe(load_recipe(name, [f"trainer.seed={seed}"]), out_dir=args.out / f"{name}-{seed}",
                               write_report=False)
            rows.append({"recipe": name, "seed": seed, "seconds": time.perf_counter() - start,
                         "test": run.metrics()["final"]["test"], "intervals": run.metrics().get("intervals", {})})
            print(json.dumps(rows[-1]), flush=True)
    Path(__file__).with_name("recipes.json").write_text(json.dumps(rows, indent=2))
    print(f"\nMachine: {torch.get_num_threads()} torch threads, torch {torch.__version__}. "
          f"Mean ± std over {args.seeds} seeds (seed 0 in brackets).\n")
    print("| recipe | metric | test | wall time (s) |\n|---|---|---|---|")
    for name in args.recipes:
        sel = [r for r in rows if r["recipe"] == name]
        for metric in sel[0]["test"]:
            if metric == "loss":
                continue
            v = np.array([r["test"][metric] for r in sel])
            print(f"| {name} | {metric} | {v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f} "
                  f"({sel[0]['test'][metric]:.4f}) | {np.mean([r['seconds'] for r in sel]):.1f} |")


if __name__ == "__main__":
    main()

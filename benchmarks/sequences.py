"""Sequence benchmarks (issue 6): glass-box LSTM against nn.LSTM, LSTM training throughput, forecasting against
baselines, the tiny-Shakespeare char-LSTM under a 30-minute budget, and the vanishing-gradient demonstration.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/sequences.py --part PART [--threads 1]
with PART one of glassbox, throughput, forecast, charlm, vanishing or all (all takes about 45 minutes). Each part runs alone and is merged into ``benchmarks/sequences.json`` (``--out`` for another file) under its own key,
beside the machine, torch threads and ``/proc/loadavg`` before and after it, so parts can run at different times.
The Markdown section for BENCHMARKS.md is printed from the whole JSON at the end (``--report`` prints it and runs
nothing); a part not in the JSON is printed as "not yet run". ``--quick`` is a smoke run (fewer sizes, seeds and
repetitions, a 1-minute char-LM budget) that writes to ``/tmp/sequences-quick.json``; its numbers mean nothing.

1. **glassbox**: :class:`~neuralab.models.rnn.GlassBoxLSTM` copied from a random ``nn.LSTM`` (``from_torch``), in
   float64, on several sizes and seeds, with a random initial state. The loss is a random weighted sum of the
   outputs, ``h_n`` and ``c_n``; the maximum absolute differences are taken over the outputs, ``h_n``, ``c_n`` and
   the gradients with respect to the input, ``h_0``, ``c_0`` and all four parameters. Goal ≤ 1e-6.
2. **throughput**: steps/s of :func:`neuralab.train.fit` on a :class:`~neuralab.models.rnn.CharRNN` (embedding 64,
   2 LSTM layers of 256, vocabulary 65, blocks of 64 characters, batch 32: the expensive case) against a plain
   PyTorch loop on the same model class and tensors: per-epoch ``randperm`` on a seeded generator, index slicing,
   ``F.cross_entropy`` on the flattened logits, ``zero_grad``/``backward``, gradient-norm clipping at 1.0, Adam lr
   2e-3 and the epoch's mean loss. Runs alternate (a b, b a, ...) as in ``benchmarks/engine.py``; the ratio of the
   medians and the median of the side-by-side ratios are reported. A cheap step for comparison: an
   :class:`~neuralab.models.rnn.RNN` LSTM forecaster (1 feature, 64 units, windows of 24, batch 32, MSE). Goal ≥ 0.95.
3. **forecast**: the ``airline-lstm``, ``temperatures-lstm`` and ``sunspots-lstm`` recipes as shipped, seeds 0-4,
   through ``train_recipe``; the test-tail RMSE and MASE of the model and of the naive, seasonal naive and linear
   AR forecasts from ``metrics.json``'s ``forecast`` (the model's own scores come from
   ``neuralab.tasks.forecasting.model_scores`` when ``train_recipe(write_report=False)`` left them out). Goal: the model's mean beats seasonal naive and linear AR on
   every series, on both RMSE and MASE.
4. **charlm**: the ``shakespeare-char-lstm`` recipe as shipped (``--set key=value`` to change it), stopped at the
   end of the last epoch that fits in the wall-clock budget (``--budget``, 30 minutes); validation loss in nats and
   bits per character against wall time. Goal ≤ 1.50 nats/char. With ``--quick`` the budget is 1 minute and the
   recipe shrinks (:data:`QUICK_CHARLM`), since the budget can only stop training between epochs.
5. **vanishing**: :func:`neuralab.experiments.run_vanishing` with its defaults on the adding problem, with one torch
   thread as ``neuralab vanishing`` uses.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models.rnn import RNN, CharRNN, GlassBoxLSTM
from neuralab.train import Callback, FitData, OptimizerConfig, TrainerConfig, fit

from _common import machine, timed_pair  # noqa: E402  (benchmarks/ is on sys.path)

CHAR = {"vocab_size": 65, "embedding_dim": 64, "hidden_size": 256, "num_layers": 2}  # throughput's char-LSTM
CHAR_BLOCK, CHAR_BATCH = 64, 32
FORECAST_RECIPES = ("airline-lstm", "temperatures-lstm", "sunspots-lstm")
BASELINES = ("seasonal_naive", "linear_ar", "naive")


def loadavg() -> list[float]:
    """The 1-, 5- and 15-minute load averages (other agents share this machine)."""
    return [round(v, 2) for v in os.getloadavg()]


# --- 1. glass-box LSTM ----------------------------------------------------------------------------------------------

def _lstm_pass(module: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
               weights: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """Outputs, final state and every gradient of a random weighted sum of them."""
    out, (h, c) = module(x, state)
    loss = (out * weights[0]).sum() + (h * weights[1]).sum() + (c * weights[2]).sum()
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    params = dict(module.named_parameters())
    grads = torch.autograd.grad(loss, [x, *state, *(params[n] for n in names)])
    return {"output": out, "h_n": h, "c_n": c,
            **{f"grad_{n}": g for n, g in zip(["x", "h_0", "c_0", *names], grads)}}


def bench_glassbox(quick: bool) -> dict[str, Any]:
    """Max abs differences between GlassBoxLSTM and nn.LSTM, float64, per case and overall."""
    sizes = [(1, 8, 5, 3), (3, 16, 20, 4)] if quick else [(1, 8, 5, 3), (3, 16, 20, 4), (10, 64, 50, 8),
                                                          (32, 128, 100, 16)]  # (F, H, T, B)
    cases = []
    for f, h, t, b in sizes:
        for seed in (0, 1) if quick else (0, 1, 2):
            torch.manual_seed(seed)
            lstm = nn.LSTM(f, h, batch_first=True).double()
            glass = GlassBoxLSTM.from_torch(lstm)
            x = torch.randn(b, t, f, dtype=torch.float64, requires_grad=True)
            state = tuple(torch.randn(1, b, h, dtype=torch.float64, requires_grad=True) for _ in range(2))
            weights = (torch.randn(b, t, h, dtype=torch.float64), *(torch.randn(1, b, h, dtype=torch.float64)
                                                                    for _ in range(2)))
            ref, ours = _lstm_pass(lstm, x, state, weights), _lstm_pass(glass, x, state, weights)
            diffs = {k: (ref[k] - ours[k]).abs().max().item() for k in ref}
            cases.append({"F": f, "H": h, "T": t, "B": b, "seed": seed, "max_abs_diff": diffs,
                          "max_output_scale": ref["output"].abs().max().item()})
    keys = cases[0]["max_abs_diff"]
    overall = {k: max(c["max_abs_diff"][k] for c in cases) for k in keys}
    return {"dtype": "float64", "cases": cases, "max_abs_diff": overall,
            "max_abs_diff_outputs": max(overall[k] for k in ("output", "h_n", "c_n")),
            "max_abs_diff_gradients": max(v for k, v in overall.items() if k.startswith("grad_"))}


# --- 2. throughput ---------------------------------------------------------------------------------------------------


def _new(kind: str) -> nn.Module:
    """A freshly initialised model, the same weights every call."""
    torch.manual_seed(0)
    return CharRNN(**CHAR) if kind == "char" else RNN(1, 64, 1, cell="lstm")


def _run_fit(kind: str, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float) -> None:
    """One epoch of ``fit`` (CharRNN through its own ``loss``, the forecaster through ``loss="mse"``)."""
    config = TrainerConfig(epochs=1, batch_size=batch, device="cpu", seed=0, grad_clip=1.0)
    fit(_new(kind), FitData((x, y)), config, optimizer=OptimizerConfig(name="adam", lr=lr),
        loss=None if kind == "char" else "mse")


def _run_plain(kind: str, x: torch.Tensor, y: torch.Tensor, batch: int, lr: float) -> float:
    """The hand-written reference: one epoch of randperm + index slicing; returns the mean loss."""
    model = _new(kind)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=lr)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    losses = []
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        out = model(x[idx])
        if kind == "char":
            loss = F.cross_entropy(out.reshape(-1, CHAR["vocab_size"]), y[idx].reshape(-1))
        else:
            loss = F.mse_loss(out, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.detach())
    return torch.stack(losses).mean().item()


def bench_throughput(quick: bool) -> dict[str, Any]:
    """Steps/s of fit against the plain loop, alternating pairs, for the char-LSTM (goal) and a small forecaster."""
    reps = 2 if quick else 15
    g = torch.Generator().manual_seed(0)
    out: dict[str, Any] = {"reps": reps}
    for kind, steps, batch, lr in (("char", 3 if quick else 12, CHAR_BATCH, 2e-3),
                                   ("forecaster", 20 if quick else 150, 32, 1e-3)):
        n = steps * batch
        if kind == "char":
            x = torch.randint(0, CHAR["vocab_size"], (n, CHAR_BLOCK), generator=g)
            y = torch.randint(0, CHAR["vocab_size"], (n, CHAR_BLOCK), generator=g)
        else:
            x, y = torch.randn(n, 24, 1, generator=g), torch.randn(n, 1, generator=g)
        args = (kind, x, y, batch, lr)
        t_fit, t_plain = timed_pair(lambda a=args: _run_fit(*a), lambda a=args: _run_plain(*a), reps)
        paired = [p / f for f, p in zip(t_fit, t_plain)]  # each fit run against the plain run beside it
        out[kind] = {"steps": steps, "batch_size": batch, "rows": n, "fit_s": t_fit, "plain_s": t_plain,
                     "fit_steps_per_s": steps / statistics.median(t_fit),
                     "plain_steps_per_s": steps / statistics.median(t_plain),
                     "ratio": statistics.median(t_plain) / statistics.median(t_fit), "paired_ratios": paired,
                     "paired_ratio_median": statistics.median(paired)}
    out["char"]["model"] = {**CHAR, "cell": "lstm", "block": CHAR_BLOCK}
    out["forecaster"]["model"] = {"in_features": 1, "hidden_size": 64, "cell": "lstm", "window": 24}
    return out


# --- 3. forecasting --------------------------------------------------------------------------------------------------

def bench_forecast(quick: bool) -> dict[str, Any]:
    """Test-tail RMSE and MASE of each forecasting recipe over seeds, with the baselines beside them."""
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    seeds = [0] if quick else [0, 1, 2, 3, 4]
    out: dict[str, Any] = {"seeds": seeds}
    with tempfile.TemporaryDirectory() as tmp:
        for name in FORECAST_RECIPES:
            runs = []
            for seed in seeds:
                overrides = [f"trainer.seed={seed}"] + (["trainer.epochs=2"] if quick else [])
                start = time.perf_counter()
                run = train_recipe(load_recipe(name, overrides), out_dir=Path(tmp) / f"{name}-{seed}",
                                   write_report=False)
                forecast, source = run.metrics()["forecast"], "metrics.json"
                if "model" not in forecast:  # older runs: train_recipe adds the model's scores to metrics.json
                    from neuralab.tasks import prepare_data
                    from neuralab.tasks.forecasting import model_scores

                    forecast["model"] = model_scores(run, prepare_data(run.recipe))[0]
                    source = "model_scores()"
                runs.append({"seed": seed, "time_s": time.perf_counter() - start, "model_scores_from": source,
                             **{k: forecast.get(k) for k in ("model", *BASELINES)}})
            out[name] = {"runs": runs, "horizon": forecast.get("horizon"), "origins": forecast.get("origins"),
                         **{f"{who}_{m}": _mean_std([r[who][m] for r in runs if r[who]])
                            for who in ("model", *BASELINES) for m in ("rmse", "mase")}}
    return out


def _mean_std(values: list[float]) -> list[float] | None:
    """[mean, sample std] (std 0 for one value), or None when there are none."""
    if not values:
        return None
    return [statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0]


# --- 4. char-LM ------------------------------------------------------------------------------------------------------

class WallClockBudget(Callback):
    """Stop at the end of an epoch when the next one would overrun ``seconds`` since training began."""

    def __init__(self, seconds: float) -> None:
        self.seconds, self.start, self.curve = seconds, 0.0, []

    def on_fit_start(self, state: Any) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, state: Any) -> None:
        elapsed = time.perf_counter() - self.start
        self.curve.append({"wall_s": elapsed, **state.logs})
        if elapsed + state.logs["time"] > self.seconds:
            state.stop = True


# A smoke run must end within its 1-minute budget, and the budget can only stop training between epochs: train on
# the first 10% of the text (the last 80% becomes a test part) with a small model.
QUICK_CHARLM = ["data.test=0.8", "model.hidden_size=128", "model.embedding_dim=32", "trainer.epochs=100"]


def bench_charlm(quick: bool, budget: float, overrides: list[str]) -> dict[str, Any]:
    """shakespeare-char-lstm as shipped (or with ``overrides``), under a wall-clock budget; validation loss against
    wall time."""
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    overrides = (QUICK_CHARLM if quick else []) + overrides
    recipe = load_recipe("shakespeare-char-lstm", overrides)
    stopper = WallClockBudget(budget)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        run = train_recipe(recipe, out_dir=Path(tmp) / "charlm", callbacks=[stopper], write_report=False)
        total = time.perf_counter() - start
        final = run.metrics()["final"]
    curve = [{"wall_s": p["wall_s"], "epoch": p["epoch"], "train_loss": p.get("train_loss"),
              "val_loss": p.get("val_loss"), "val_bits": p["val_loss"] / math.log(2) if "val_loss" in p else None}
             for p in stopper.curve]
    best = min((p for p in curve if p["val_loss"] is not None), key=lambda p: p["val_loss"], default=None)
    return {"budget_s": budget, "overrides": overrides, "recipe_epochs": recipe.trainer.epochs, "epochs_run": len(curve),
            "stopped_by_budget": len(curve) < recipe.trainer.epochs, "total_s": total, "curve": curve, "best": best,
            "final": final, "recipe": recipe.model_dump(mode="json")}


# --- 5. vanishing gradients ------------------------------------------------------------------------------------------

def bench_vanishing(quick: bool) -> dict[str, Any]:
    """run_vanishing's defaults (adding problem), one torch thread as the CLI uses."""
    from neuralab.experiments import run_vanishing

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        kwargs = {"lengths": (10, 25), "epochs": 1, "n_train": 512} if quick else {}
        results = run_vanishing(**kwargs)
        results["total_s"] = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return results


# --- report ----------------------------------------------------------------------------------------------------------

def _pm(v: list[float] | None, digits: int = 3) -> str:
    """``mean ± std``; a bare value when the std is 0 (the baselines do not depend on the seed)."""
    if v is None:
        return "—"
    return f"{v[0]:.{digits}f}" if v[1] == 0 else f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}"


def _conditions(part: dict[str, Any]) -> str:
    return (f"{part['threads']} torch thread{'s' if part['threads'] != 1 else ''}; load average "
            f"{part['loadavg_before'][0]:.2f} before, {part['loadavg_after'][0]:.2f} after; "
            f"{part['wall_s']:.0f} s{' (QUICK RUN: not for BENCHMARKS.md)' if part.get('quick') else ''}")


def report(r: dict[str, Any]) -> str:
    """The Markdown section for BENCHMARKS.md, from whatever parts the JSON holds."""
    m = r.get("machine", machine())
    lines = ["## Sequences (issue 6): `benchmarks/sequences.py`", "",
             (f"Machine: {m['cpu']}, {m['cores']} cores, no GPU, torch {m['torch']}, Python {m['python']}. The "
              "machine is shared with other agents, so each part gives its torch threads and the 1-minute "
              "`/proc/loadavg` before and after it."), "",
             "| metric | result | goal | met? |", "|---|---|---|---|"]
    yes = lambda ok: "yes" if ok else "**missed**"
    notes: list[str] = []
    c = r.get("charlm")
    if c:
        best = c["best"]
        lines.append(f"| tiny Shakespeare char-LSTM, best validation loss within {c['budget_s'] / 60:.0f} min | "
                     f"{best['val_loss']:.3f} nats/char ({best['val_bits']:.3f} bits/char) at "
                     f"{best['wall_s'] / 60:.1f} min | ≤ 1.50 nats/char | {yes(best['val_loss'] <= 1.5)} |")
        changed = f" with {', '.join(c['overrides'])}" if c["overrides"] else " as shipped"
        notes.append(f"- charlm ({_conditions(c)}): `shakespeare-char-lstm`{changed}, {c['epochs_run']} of "
                     f"{c['recipe_epochs']} epochs"
                     f"{', stopped by the budget' if c['stopped_by_budget'] else ''}. Curve (minutes: val nats/char): "
                     + ", ".join(f"{p['wall_s'] / 60:.1f}: {p['val_loss']:.3f}" for p in c["curve"]) + ".")
    else:
        lines.append("| tiny Shakespeare char-LSTM validation loss | not yet run (`--part charlm`, 30 minutes on a "
                     "quiet machine) | ≤ 1.50 nats/char within 30 min | — |")
    f = r.get("forecast")
    if f:
        for name in FORECAST_RECIPES:
            s = f[name]
            beats = all(s[f"model_{k}"] is not None and all(
                s[f"{b}_{k}"] is None or s[f"model_{k}"][0] < s[f"{b}_{k}"][0] for b in ("seasonal_naive", "linear_ar"))
                for k in ("rmse", "mase"))
            lines.append(f"| {name}: test RMSE / MASE, model (mean ± std, {len(f['seeds'])} seeds) | "
                         f"{_pm(s['model_rmse'])} / {_pm(s['model_mase'])} | beats seasonal naive "
                         f"({_pm(s['seasonal_naive_rmse'])} / {_pm(s['seasonal_naive_mase'])}) and linear AR "
                         f"({_pm(s['linear_ar_rmse'])} / {_pm(s['linear_ar_mase'])}) | {yes(beats)} |")
        sources = sorted({run.get("model_scores_from", "metrics.json") for n in FORECAST_RECIPES for run in f[n]["runs"]})
        notes.append(f"- forecast ({_conditions(f)}): each recipe as shipped, seeds {f['seeds']}; the baselines do "
                     f"not depend on the seed. The model's scores come from {' and '.join(sources)}. Naive "
                     "forecast RMSE / MASE: " + "; ".join(
            f"{n} {_pm(f[n]['naive_rmse'])} / {_pm(f[n]['naive_mase'])}" for n in FORECAST_RECIPES) + ".")
    else:
        lines.append("| forecasting RMSE and MASE on the test tail, three series | not yet run (`--part forecast`; "
                     "needs the `*-lstm` forecasting recipes) | beats seasonal naive and linear AR on every series | — |")
    g = r.get("glassbox")
    if g:
        worst = max(g["max_abs_diff_outputs"], g["max_abs_diff_gradients"])
        lines.append(f"| glass-box LSTM against `nn.LSTM`, float64: max abs difference of outputs / gradients | "
                     f"{g['max_abs_diff_outputs']:.1e} / {g['max_abs_diff_gradients']:.1e} | ≤ 1e-6 | "
                     f"{yes(worst <= 1e-6)} |")
        sizes = sorted({(k["F"], k["H"], k["T"], k["B"]) for k in g["cases"]})
        notes.append(f"- glassbox ({_conditions(g)}): {len(g['cases'])} cases, (F, H, T, B) in "
                     f"{', '.join(map(str, sizes))}, seeds 0-{max(k['seed'] for k in g['cases'])}, random initial "
                     "state; per quantity: " + ", ".join(f"{k} {v:.1e}" for k, v in g["max_abs_diff"].items()) + ".")
    t = r.get("throughput")
    if t:
        ch, fc = t["char"], t["forecaster"]
        lines.append(f"| LSTM training throughput, `fit` / plain loop, char-LSTM (2×256, batch {ch['batch_size']}×"
                     f"{CHAR_BLOCK} chars) | {ch['fit_steps_per_s']:.2f} / {ch['plain_steps_per_s']:.2f} steps/s = "
                     f"**{ch['ratio']:.3f}** (side-by-side median {ch['paired_ratio_median']:.3f}) | ≥ 0.95 | "
                     f"{yes(ch['ratio'] >= 0.95)} |")
        lines.append(f"| (for comparison) small LSTM forecaster (64 units, window 24, batch {fc['batch_size']}) | "
                     f"{fc['fit_steps_per_s']:.0f} / {fc['plain_steps_per_s']:.0f} steps/s = {fc['ratio']:.3f} "
                     f"(side-by-side median {fc['paired_ratio_median']:.3f}) | (≥ 0.95) | {yes(fc['ratio'] >= 0.95)} |")
        notes.append(f"- throughput ({_conditions(t)}): {t['reps']} alternating pairs after a warm-up; each run is "
                     f"one epoch of {ch['steps']} (char) or {fc['steps']} (forecaster) steps including building the "
                     f"optimiser. Side-by-side ratios: char {min(ch['paired_ratios']):.3f}–"
                     f"{max(ch['paired_ratios']):.3f}, forecaster {min(fc['paired_ratios']):.3f}–"
                     f"{max(fc['paired_ratios']):.3f}.")
    lines += ["", *notes]
    v = r.get("vanishing")
    if v:
        lines += ["", *vanishing_table(v)]
    return "\n".join(lines)


def vanishing_table(v: dict[str, Any]) -> list[str]:
    """The vanishing-gradient table: test MSE per cell and length, solved marked, and gradient ratios."""
    cfg = v["config"]
    out = [(f"**Vanishing gradients** (`run_vanishing()` defaults, the adding problem; {_conditions(v)}). "
            f"One-layer cells of {cfg['hidden_size']} units trained by `fit`: Adam lr {cfg['lr']}, gradient-norm "
            f"clipping {cfg['grad_clip']}, LSTM forget-gate bias +{cfg['forget_bias']:g}, {cfg['epochs']} epochs of "
            f"{cfg['n_train']:,} sequences (batch {cfg['batch_size']}), scored on {cfg['n_test']:,} test sequences; "
            f"seed {cfg['seed']}. Test MSE (solved, **bold**, below {v['solved_threshold']:.4f}; predicting 1.0 "
            f"scores {v['baseline']:.3f}):"), "",
           "| cell | " + " | ".join(f"T = {t}" for t in v["lengths"]) + " | training time (s) |",
           "|---|" + "---|" * (len(v["lengths"]) + 1)]
    for cell in v["cells"]:
        runs = {r["length"]: r for r in v["runs"] if r["cell"] == cell}
        cells = [f"**{runs[t]['test_mse']:.4f}**" if runs[t]["solved"] else f"{runs[t]['test_mse']:.4f}"
                 for t in v["lengths"]]
        out.append(f"| {cell} | " + " | ".join(cells) + f" | {sum(r['time_s'] for r in runs.values()):.0f} |")
    ref = 100 if 100 in v["lengths"] else max(v["lengths"])
    ratio = lambda g: g[0] / g[-1] if g[-1] > 0 else 0.0
    out += ["", f"‖∂ℓ/∂h_1‖ / ‖∂ℓ/∂h_T‖ at T = {ref} (the share of the loss's gradient that reaches the first "
                "step), at initialisation → after training: " + "; ".join(
                    f"{r['cell']} {ratio(r['grad_norm_init']):.1e} → {ratio(r['grad_norm_trained']):.1e}"
                    for r in v["runs"] if r["length"] == ref) + "."]
    return out


PARTS = ("glassbox", "throughput", "vanishing", "forecast", "charlm")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", default="all", choices=[*PARTS, "all"], help="which part to run")
    parser.add_argument("--quick", action="store_true", help="smoke run; writes /tmp/sequences-quick.json")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/sequences.json)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--budget", type=float, default=None, help="charlm wall-clock budget, s (1800; quick 60)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="charlm: override a recipe value, e.g. --set trainer.epochs=6 (repeatable)")
    parser.add_argument("--report", action="store_true", help="print the Markdown from the JSON, run nothing")
    args = parser.parse_args(argv)
    out = args.out or (Path("/tmp/sequences-quick.json") if args.quick else Path(__file__).with_name("sequences.json"))
    results = json.loads(out.read_text()) if out.is_file() else {}
    if args.threads:
        torch.set_num_threads(args.threads)
    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "glassbox": lambda: bench_glassbox(args.quick), "throughput": lambda: bench_throughput(args.quick),
        "forecast": lambda: bench_forecast(args.quick), "vanishing": lambda: bench_vanishing(args.quick),
        "charlm": lambda: bench_charlm(args.quick, args.budget or (60.0 if args.quick else 1800.0), args.overrides)}
    for part in ([] if args.report else PARTS if args.part == "all" else [args.part]):
        before, threads, start = loadavg(), torch.get_num_threads(), time.perf_counter()
        result = runners[part]()
        result.update({"threads": 1 if part == "vanishing" else threads, "loadavg_before": before,
                       "loadavg_after": loadavg(), "wall_s": time.perf_counter() - start, "quick": args.quick})
        results.update({"machine": machine(), part: result})
        out.write_text(json.dumps(results, indent=1) + "\n")  # after each part: an interrupted run keeps the rest
        print(f"{part}: done in {result['wall_s']:.0f} s", file=sys.stderr)
    print(report(results))


if __name__ == "__main__":
    sys.exit(main())

"""Reinforcement learning against Stable-Baselines3, side by side in one run: CartPole-v1 (DQN and PPO), Acrobot-v1
(PPO), and tabular Q-learning on slippery FrozenLake against value iteration's optimum.

Run:  NEURALAB_DATA=../shared/data .venv/bin/python benchmarks/rl.py [--parts cartpole acrobot frozenlake]
      [--seeds 5] [--quick]

Needs the ``bench`` extra (``pip install -e ".[bench]"``: stable-baselines3). Results merge into benchmarks/rl.json
(``--out``) after every run; ``--report`` reprints the Markdown section.

Protocol. Both sides use the same hyper-parameters (the recipes', which are Stable-Baselines3 zoo's), the same
environment-step budget and the same torch threads. Every ``eval_every`` environment steps each side's
deterministic policy plays 10 episodes on the seeds 10,000-10,009 (neuralab's per-epoch evaluation; a callback for
SB3); the first evaluation with a mean ≥ 475 (CartPole) gives the environment steps and the training wall-clock
to the goal, evaluation time excluded. After the whole budget the final policy plays 100 episodes on the seeds
1,000,000-1,000,099. FrozenLake: the greedy policy's success rate over 1,000 seeded episodes against value
iteration's optimal policy on the same episodes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import machine

from neuralab.train import Callback

ROOT = Path(__file__).resolve().parent
PARTS = ("cartpole", "acrobot", "frozenlake")
GOAL = 475.0
EVAL_SEEDS = list(range(10_000, 10_010))
FINAL_SEEDS = list(range(1_000_000, 1_000_100))


def play(policy: Any, env_id: str, seeds: list[int]) -> list[float]:
    from neuralab.data.environments import make_env
    from neuralab.models.agent import run_episodes

    returns, _, _ = run_episodes(policy, lambda seed: make_env(env_id, seed=seed), seeds)
    return returns


class Clock(Callback):
    """neuralab's side: training time without the per-epoch evaluation, and the first epoch at the goal."""

    order = 5

    def __init__(self, model: Any) -> None:
        self.evaluating, self.start, self.curve = 0.0, time.perf_counter(), []
        original = model.evaluate

        def timed(batches: Any) -> dict[str, float]:
            begin = time.perf_counter()
            try:
                return original(batches)
            finally:
                self.evaluating += time.perf_counter() - begin
        model.evaluate = timed

    def on_fit_start(self, state: Any) -> None:
        self.start, self.evaluating = time.perf_counter(), 0.0

    def on_epoch_end(self, state: Any) -> None:
        self.curve.append({"env_steps": int(state.model.env_steps), "return": state.logs.get("val_return"),
                           "train_seconds": time.perf_counter() - self.start - self.evaluating})


def neuralab_run(recipe_name: str, seed: int, quick: bool) -> dict[str, Any]:
    from neuralab.recipes import load_recipe
    from neuralab.runs.recipe import build_model
    from neuralab.tasks import get_task, prepare_data
    from neuralab.train import FitData, fit

    sets = [f"trainer.seed={seed}"] + (["trainer.epochs=2"] if quick else [])
    recipe = load_recipe(recipe_name, sets)
    task = get_task(recipe.task)
    data = prepare_data(recipe)
    torch.manual_seed(seed)
    model = build_model(task_resolved(recipe, data, task))
    task.init_model(model, data)
    clock = Clock(model)
    fit(model, FitData(None), recipe.trainer, [clock], optimizer=recipe.optimizer, scheduler=recipe.scheduler)
    final = play(lambda o: model.act(o, True), recipe.data.name, FINAL_SEEDS[:10] if quick else FINAL_SEEDS)
    reached = next((c for c in clock.curve if c["return"] is not None and c["return"] >= GOAL), None)
    return {"side": "neuralab", "recipe": recipe_name, "seed": seed, "curve": clock.curve,
            "final_mean": float(np.mean(final)), "final_std": float(np.std(final)),
            "goal_steps": reached["env_steps"] if reached else None,
            "goal_seconds": reached["train_seconds"] if reached else None,
            "train_seconds": clock.curve[-1]["train_seconds"], "env_steps": clock.curve[-1]["env_steps"]}


def task_resolved(recipe: Any, data: Any, task: Any) -> Any:
    from neuralab.runs.train import resolve

    return resolve(recipe, data, task)


def sb3_run(recipe_name: str, seed: int, quick: bool) -> dict[str, Any]:
    """The same algorithm and settings in Stable-Baselines3, evaluated as neuralab is."""
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from neuralab.recipes import load_recipe

    recipe = load_recipe(recipe_name, [f"trainer.seed={seed}"] + (["trainer.epochs=2"] if quick else []))
    m, t = recipe.model.options, recipe.trainer
    env_id = recipe.data.name
    arch = dict(net_arch=list(m.get("hidden_sizes", [64, 64])))
    if recipe.model.name == "dqn":
        per_epoch = t.steps_per_epoch * m["train_frequency"]
        budget = t.epochs * per_epoch
        algo = DQN("MlpPolicy", env_id, learning_rate=recipe.optimizer.lr, buffer_size=m["buffer_size"],
                   learning_starts=m["learning_starts"], batch_size=m["batch_size"], gamma=m["gamma"],
                   train_freq=m["train_frequency"], gradient_steps=m["gradient_steps"],
                   target_update_interval=m["target_update"], exploration_fraction=m["decay_steps"] / budget,
                   exploration_initial_eps=m["start"], exploration_final_eps=m["end"], policy_kwargs=arch,
                   seed=seed, device="cpu", verbose=0)
    else:
        per_epoch = t.steps_per_epoch * m["n_envs"] * m["n_steps"]
        budget = t.epochs * per_epoch
        env = make_vec_env(env_id, n_envs=m["n_envs"], seed=seed)
        algo = PPO("MlpPolicy", env, learning_rate=recipe.optimizer.lr, n_steps=m["n_steps"],
                   batch_size=m["n_envs"] * m["n_steps"] // m.get("minibatches", 4), n_epochs=m["update_epochs"],
                   gamma=m["gamma"], gae_lambda=m["gae_lambda"], clip_range=m.get("clip", 0.2),
                   ent_coef=m.get("entropy_coef", 0.01), vf_coef=m.get("value_coef", 0.5),
                   max_grad_norm=t.grad_clip or 0.5, policy_kwargs=dict(net_arch=dict(pi=arch["net_arch"],
                                                                                     vf=arch["net_arch"]),
                                                                       activation_fn=torch.nn.Tanh),
                   seed=seed, device="cpu", verbose=0)

    class Every(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.curve, self.evaluating, self.start, self.next = [], 0.0, time.perf_counter(), per_epoch

        def _on_step(self) -> bool:
            if self.num_timesteps >= self.next:
                self.next += per_epoch
                begin = time.perf_counter()
                returns = play(lambda o: int(self.model.predict(o, deterministic=True)[0]), env_id, EVAL_SEEDS)
                self.evaluating += time.perf_counter() - begin
                self.curve.append({"env_steps": int(self.num_timesteps), "return": float(np.mean(returns)),
                                   "train_seconds": time.perf_counter() - self.start - self.evaluating})
            return True

    callback = Every()
    algo.learn(total_timesteps=budget, callback=callback)
    final = play(lambda o: int(algo.predict(o, deterministic=True)[0]), env_id,
                 FINAL_SEEDS[:10] if quick else FINAL_SEEDS)
    reached = next((c for c in callback.curve if c["return"] >= GOAL), None)
    return {"side": "sb3", "recipe": recipe_name, "seed": seed, "curve": callback.curve,
            "final_mean": float(np.mean(final)), "final_std": float(np.std(final)),
            "goal_steps": reached["env_steps"] if reached else None,
            "goal_seconds": reached["train_seconds"] if reached else None,
            "train_seconds": callback.curve[-1]["train_seconds"] if callback.curve else None, "env_steps": budget}


def frozenlake_run(seed: int, quick: bool) -> dict[str, Any]:
    import tempfile

    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    with tempfile.TemporaryDirectory() as out:
        sets = [f"trainer.seed={seed}"] + (["trainer.epochs=2", "data.eval_episodes=100"] if quick else [])
        start = time.perf_counter()
        run = train_recipe(load_recipe("frozenlake-q", sets), out_dir=Path(out) / "run", write_report=False)
        metrics = run.metrics()
    return {"seed": seed, "success_rate": metrics["final"]["test"]["success_rate"],
            "optimum": metrics["optimum"]["success_rate"], "episodes": metrics["evaluation"]["episodes"],
            "seconds": time.perf_counter() - start}


def report(results: dict[str, Any]) -> str:
    info = results.get("machine", {})
    lines = [f"Machine: {info.get('cpu')}, {info.get('cores')} cores, {info.get('torch_threads')} torch threads, "
             f"torch {info.get('torch')}, stable-baselines3 {results.get('sb3')}."
             + (" QUICK RUN: not for BENCHMARKS.md." if results.get("quick") else ""), ""]
    rows = results.get("runs", [])
    recipes = list(dict.fromkeys(r["recipe"] for r in rows))
    if recipes:
        lines += ["| recipe | side | final return, 100 episodes (mean ± std over seeds) | seeds ≥ 475 | env steps to "
                  "goal (median) | wall-clock to goal, s (median) |", "|---|---|---|---|---|---|"]
        for recipe in recipes:
            for side in ("neuralab", "sb3"):
                sel = [r for r in rows if r["recipe"] == recipe and r["side"] == side]
                if not sel:
                    continue
                finals = [r["final_mean"] for r in sel]
                steps = [r["goal_steps"] for r in sel if r["goal_steps"] is not None]
                secs = [r["goal_seconds"] for r in sel if r["goal_seconds"] is not None]
                lines.append(f"| {recipe} | {side} | {np.mean(finals):.1f} ± {np.std(finals):.1f} "
                             f"({', '.join(f'{f:.0f}' for f in finals)}) | {sum(f >= GOAL for f in finals)} of "
                             f"{len(sel)} | {np.median(steps) if steps else '—'} ({len(steps)} reached) | "
                             f"{f'{np.median(secs):.1f}' if secs else '—'} |")
        lines.append("")
    lake = results.get("frozenlake")
    if lake:
        rates = [r["success_rate"] for r in lake]
        lines += [f"**FrozenLake 4×4 slippery, Q-learning** ({lake[0]['episodes']} seeded episodes each): success "
                  f"rate {np.mean(rates):.3f} ± {np.std(rates):.3f} over {len(rates)} seeds "
                  f"({', '.join(f'{r:.3f}' for r in rates)}); value iteration's optimal policy on the same episodes: "
                  f"{lake[0]['optimum']:.3f}.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=["cartpole", "frozenlake"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="A smoke run; not for BENCHMARKS.md.")
    parser.add_argument("--out", type=Path, default=ROOT / "rl.json")
    parser.add_argument("--report", action="store_true", help="Only reprint the section from --out.")
    args = parser.parse_args()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if not args.report:
        import stable_baselines3

        results.update(machine=machine(), quick=args.quick, sb3=stable_baselines3.__version__)
        runs = results.setdefault("runs", [])
        for part in args.parts:
            if part == "frozenlake":
                results["frozenlake"] = [frozenlake_run(seed, args.quick) for seed in range(args.seeds)]
                args.out.write_text(json.dumps(results, indent=1))
                continue
            recipes = ["cartpole-dqn", "cartpole-ppo"] if part == "cartpole" else ["acrobot-ppo"]
            for recipe in recipes:
                for seed in range(args.seeds):
                    for side in ("neuralab", "sb3"):  # alternating, so that a change of load hits both
                        row = neuralab_run(recipe, seed, args.quick) if side == "neuralab" else \
                            sb3_run(recipe, seed, args.quick)
                        runs[:] = [r for r in runs if (r["recipe"], r["seed"], r["side"]) != (recipe, seed, side)]
                        runs.append(row)
                        print(json.dumps({k: v for k, v in row.items() if k != "curve"}), flush=True)
                        args.out.write_text(json.dumps(results, indent=1))
    print(report(results))


if __name__ == "__main__":
    main()

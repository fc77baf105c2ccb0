"""Control: an agent learns to act in an environment (gymnasium's, or a gridworld the recipe draws) to maximise its
return.

There is no data set: the agent makes its own data by acting, through the engine (``trainer.steps_per_epoch``
calls of its ``train_step`` an epoch). After each epoch the deterministic policy plays ``model.eval_episodes``
seeded episodes (``val_return``, the monitor); at the end it plays ``data.eval_episodes`` (100) more, on seeds
``data.eval_seed`` onwards, for the final mean ± std return. For an environment with a known model (FrozenLake, a
gridworld) value iteration gives the optimal policy, played on the same seeds, beside it. Every finished training
episode is kept (``checkpoints/episodes.npy``): the report draws the return per episode with its moving average,
exploration or entropy, the losses and Q-values, the values and greedy policy of a grid, and a GIF of an episode.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field

from neuralab.data.environments import make_env, transition_model
from neuralab.data.prepared import PreparedData
from neuralab.errors import DataError, NeuralabError
from neuralab.models.agent import run_episodes
from neuralab.models.tabular import TabularQ, value_iteration
from neuralab.report.control import plot_grid_policy, plot_returns, plot_training, save_episode_gif
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.runs.run import Run
from neuralab.tasks.base import Task
from neuralab.train import Callback
from neuralab.train.engine import FitState
from neuralab.train.state import atomic_write_bytes

__all__ = ["Control", "ControlData"]

EPISODES = "episodes.npy"  # every finished training episode: (environment steps, return, length)


class ControlData(DataConfig):
    """The environment: a gymnasium id (``CartPole-v1``, ``Acrobot-v1``, ``MountainCar-v0``, ``FrozenLake-v1`` ...)
    or ``gridworld`` with its ``grid`` rows. ``options`` go to the environment (``is_slippery``, ``map_name``);
    ``slip``, ``step_reward`` and ``hole_reward`` shape a gridworld. The final evaluation plays ``eval_episodes``
    episodes on seeds ``eval_seed`` onwards."""

    name: str = "CartPole-v1"
    options: dict[str, Any] = Field(default_factory=dict)
    grid: list[str] | None = None
    slip: float = Field(0.0, ge=0, lt=1)
    step_reward: float = 0.0
    hole_reward: float = 0.0
    max_episode_steps: int | None = Field(None, ge=1)
    eval_episodes: int = Field(100, ge=1, le=100_000)
    eval_seed: int = Field(1_000_000, ge=0)
    val: float = 0.0
    test: float = 0.0


def env_factory(recipe: Recipe, render_mode: str | None = None) -> Any:
    """``seed → environment`` for the recipe's environment."""
    d = recipe.data
    options = dict(d.options)
    if d.name == "gridworld":
        if d.grid is None:
            raise DataError("data.grid: a gridworld needs its rows, e.g. grid: ['S..', '.#.', '..G']")
        options.update(grid=list(d.grid), slip=d.slip, step_reward=d.step_reward, hole_reward=d.hole_reward)

    def make(seed: int) -> Any:
        return make_env(d.name, seed=seed, render_mode=render_mode, max_episode_steps=d.max_episode_steps,
                        **dict(options))
    return make


class EpisodeLog(Callback):
    """Collects the agent's finished episodes each epoch into ``episodes.npy`` and the epoch's logs
    (``train_episodes``, ``train_episode_return``, ``env_steps``); kept across a resume."""

    order = 10

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, []

    def on_epoch_end(self, state: FitState) -> None:
        done = state.model.pop_episodes()
        self.rows += [list(map(float, row)) for row in done]
        state.logs["env_steps"] = float(state.model.env_steps)
        state.logs["train_episodes"] = float(len(done))
        if done:
            state.logs["train_episode_return"] = float(np.mean([row[1] for row in done]))
        buffer = io.BytesIO()
        np.save(buffer, np.array(self.rows, dtype=np.float64).reshape(-1, 3), allow_pickle=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.path, buffer.getvalue())

    def state_dict(self) -> dict[str, Any]:
        return {"rows": torch.tensor(self.rows, dtype=torch.float64).reshape(-1, 3)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = state["rows"].tolist() if "rows" in state else []


@dataclass(frozen=True)
class Control(Task):
    """An agent acting in an environment (tabular Q-learning and SARSA, DQN, REINFORCE, PPO)."""

    name: str = "control"
    summary: str = "an agent that learns to act in an environment (Q-learning, SARSA, DQN, REINFORCE, PPO)"
    verbs: tuple[str, ...] = ("play", "optimum")
    keep_best: bool = True

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return ControlData

    def loss_note(self, recipe: Recipe) -> str:
        return ("return is the sum of rewards of an episode: val_return is the deterministic policy's mean over the "
                "agent's evaluation episodes after each epoch, train_episode_return the mean of the episodes it "
                "played while learning (exploring); loss is the agent's own objective (TD error, policy loss).")

    # --- training ---------------------------------------------------------------------------------------------

    def prepare(self, recipe: Recipe) -> PreparedData:
        if recipe.trainer.steps_per_epoch is None:
            raise DataError("trainer.steps_per_epoch: an agent makes its own data, so say how many train steps make "
                            "an epoch, e.g. --set trainer.steps_per_epoch=100")
        make = env_factory(recipe)
        probe = make(recipe.trainer.seed)
        obs, act = probe.observation_space, probe.action_space
        if not hasattr(act, "n"):
            raise DataError(f"{recipe.data.name} has continuous actions ({act}); the agents here choose among "
                            "discrete actions: use CartPole-v1, Acrobot-v1, MountainCar-v0, FrozenLake-v1 or a "
                            "gridworld")
        discrete = hasattr(obs, "n")
        args = {"in_features": int(obs.n) if discrete else int(np.prod(obs.shape)), "n_actions": int(act.n)}
        if discrete:
            args["n_states"] = int(obs.n)
        probe.close()
        return PreparedData({"train": None, "test": "evaluation"}, {"train": np.zeros(0), "test": np.zeros(0)},
                            _NoInputs(), None, self.name, args,
                            extras={"make_env": make, "seed": recipe.trainer.seed})

    def make_inputs(self, recipe: Recipe) -> Any:
        return _NoInputs()

    def init_model(self, model: torch.nn.Module, data: PreparedData) -> None:
        if not hasattr(model, "attach"):
            raise NeuralabError(f"{type(model).__name__} is not an agent; a control recipe needs one of tabular_q, "
                                "dqn, reinforce, ppo")
        if isinstance(model, TabularQ) and "n_states" not in data.model_args:
            raise DataError("tabular Q-learning needs discrete states (FrozenLake, a gridworld); use dqn or ppo for "
                            "continuous observations")
        model.attach(data.extras["make_env"], seed=int(data.extras.get("seed", 0)))

    def callbacks(self, recipe: Recipe, data: PreparedData, out: Path) -> list[Callback]:
        return [EpisodeLog(out / EPISODES)]

    def monitor(self, recipe: Recipe, data: PreparedData) -> str:
        return recipe.trainer.monitor or "val_return"

    # --- scoring ----------------------------------------------------------------------------------------------

    def _seeds(self, recipe: Recipe, episodes: int | None = None) -> list[int]:
        first = recipe.data.eval_seed
        return list(range(first, first + (episodes or recipe.data.eval_episodes)))

    def score(self, run: Run, split: Any, targets: Any) -> dict[str, float]:
        if split is None:  # the training "split" is the agent's own experience: nothing to score
            return {}
        returns, lengths, _ = self._play(run, self._seeds(run.recipe))
        result = {"return": float(np.mean(returns)), "return_std": float(np.std(returns)),
                  "episode_length": float(np.mean(lengths))}
        if transition_model(env_factory(run.recipe)(0)) is not None:  # a goal to reach: how often it is reached
            result["success_rate"] = float(np.mean(np.array(returns) > 0))
        return result

    def _play(self, run: Run, seeds: Sequence[int], frames: bool = False) -> tuple[list, list, list]:
        model = run.model
        return run_episodes(lambda o: model.act(o, True), env_factory(run.recipe, "rgb_array" if frames else None),
                            list(seeds), frames=frames)

    def optimum(self, run: Run) -> dict[str, Any] | None:
        """Value iteration's optimal policy, played on the evaluation seeds, for an environment with a known model
        (FrozenLake, a gridworld); None otherwise."""
        make = env_factory(run.recipe)
        env = make(0)
        P = transition_model(env)
        if P is None:
            return None
        n_states, n_actions = env.observation_space.n, env.action_space.n
        _, policy, sweeps = value_iteration(P, n_states, n_actions, gamma=float(getattr(run.model, "gamma", 0.99)))
        returns, _, _ = run_episodes(lambda o: int(policy[int(o)]), make, self._seeds(run.recipe))
        return {"method": "value iteration", "sweeps": sweeps, "return": float(np.mean(returns)),
                "success_rate": float(np.mean(np.array(returns) > 0)), "policy": policy.tolist()}

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        seeds = self._seeds(run.recipe)
        result: dict[str, Any] = {"evaluation": {"episodes": len(seeds), "seeds": [seeds[0], seeds[-1]],
                                                 "policy": "deterministic"}}
        optimum = self.optimum(run)
        if optimum is not None:
            result["optimum"] = optimum
        return result

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        figures = []
        path = out / "checkpoints" / EPISODES
        if path.is_file():
            episodes = np.load(path, allow_pickle=False)
            if len(episodes):
                file = plot_returns(episodes, out / "returns.png", evaluations=metrics.get("history", []))
                figures.append({"file": file.name, "title": "Return per episode", "caption": "Each training episode "
                                "(exploring), its moving average, and the deterministic policy's evaluation after "
                                "each epoch."})
        file = plot_training(metrics.get("history", []), out / "training.png")
        figures.append({"file": file.name, "title": "Exploration and losses", "caption": "ε, the softmax "
                        "temperature or the policy's entropy; the agent's losses; its mean Q-value."})
        grid = self._grid_shape(run)
        if grid is not None:
            values, policy = self._values(run, metrics)
            file = plot_grid_policy(values, policy, grid, out / "policy.png", cells=self._cells(run))
            figures.append({"file": file.name, "title": "Values and greedy policy", "caption": "max_a Q(s, a) "
                            "(or V* from value iteration) as a heat map, and the greedy action as arrows."})
        try:
            _, _, frames = self._play(run, [self._seeds(run.recipe)[0]], frames=True)
        except Exception as exc:  # rendering needs pygame for classic control
            frames, note = [], str(exc).splitlines()[0]
            figures.append({"file": "", "title": "Episode", "caption": f"not rendered: {note}"})
        if frames:
            file = save_episode_gif(frames, out / "episode.gif")
            figures.append({"file": file.name, "title": "An evaluation episode", "caption": "The deterministic "
                            "policy on the first evaluation seed."})
        return [f for f in figures if f["file"]]

    def _grid_shape(self, run: Run) -> tuple[int, int] | None:
        d = run.recipe.data
        if d.name == "gridworld" and d.grid:
            return len(d.grid), len(d.grid[0])
        if d.name == "FrozenLake-v1":
            side = int(round(run.model.n_states ** 0.5)) if getattr(run.model, "n_states", None) else 4
            return side, side
        return None

    def _cells(self, run: Run) -> list[str] | None:
        d = run.recipe.data
        if d.name == "gridworld":
            return list(d.grid)
        env = env_factory(run.recipe)(0)
        desc = getattr(env.unwrapped, "desc", None)
        return [b"".join(row).decode() for row in desc] if desc is not None else None

    def _values(self, run: Run, metrics: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        model = run.model
        if hasattr(model, "q"):
            return model.values(), model.policy()
        env = env_factory(run.recipe)(0)
        V, policy, _ = value_iteration(transition_model(env), env.observation_space.n, env.action_space.n)
        return V, policy

    # --- inference --------------------------------------------------------------------------------------------

    def play(self, run: Run, episodes: int = 10, *, seed: int | None = None, render: str | None = None,
             output: Path | None = None) -> dict[str, Any]:
        """Play ``episodes`` episodes with the deterministic policy on seeds ``seed`` onwards (default the
        evaluation seeds); ``render="gif"`` writes the first as an animated GIF to ``output``."""
        if isinstance(episodes, bool) or not isinstance(episodes, int) or not 1 <= episodes <= 10_000:
            raise NeuralabError(f"episodes must be a whole number from 1 to 10,000; got {episodes!r}")
        if render not in (None, "gif"):
            raise NeuralabError(f"render must be gif; got {render!r}")
        first = run.recipe.data.eval_seed if seed is None else int(seed)
        returns, lengths, frames = self._play(run, range(first, first + episodes), frames=render == "gif")
        result: dict[str, Any] = {"returns": returns, "lengths": lengths, "seeds": [first, first + episodes - 1],
                                  "mean": float(np.mean(returns)), "std": float(np.std(returns))}
        if render == "gif":
            result["gif"] = str(save_episode_gif(frames, Path(output or run.path / f"episode-{first}.gif")))
        return result


class _NoInputs:
    """A control run reads observations straight from its environment: nothing to fit or save."""

    def fit(self, *args: Any) -> _NoInputs:
        return self

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        return None


"""What every reinforcement-learning agent shares: its environments, the episodes it finishes, its evaluation, and
the state a checkpoint needs to resume it exactly.

An agent is an ``nn.Module`` that trains through the engine like any model: the engine calls ``train_step(None,
optimizers)`` ``trainer.steps_per_epoch`` times an epoch (a stream: the agent makes its own data by acting), and
``evaluate(None)`` after each epoch. The control task hands it an environment factory with :meth:`Agent.attach`
before training; the weights never depend on it, so a saved agent loads without one.

Evaluation is the deterministic policy (greedy, or the mean action) over ``eval_episodes`` episodes whose seeds are
fixed (``eval_seed``, ``eval_seed + 1`` ...), so every epoch, and every run, is scored on the same episodes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints

__all__ = ["Agent", "run_episodes", "env_state", "set_env_state"]


def run_episodes(policy: Callable[[np.ndarray], Any], make_env: Callable[[int], Any], seeds: list[int], *,
                 frames: bool = False, max_frames: int = 500) -> tuple[list[float], list[int], list[np.ndarray]]:
    """Play one episode per seed with ``policy(observation) -> action``; return the returns, the lengths and, with
    ``frames``, the rendered frames of the first episode."""
    returns, lengths, images = [], [], []
    for n, seed in enumerate(seeds):
        env = make_env(seed)
        obs, _ = env.reset(seed=seed)
        total, steps, done = 0.0, 0, False
        while not done:
            if frames and n == 0 and len(images) < max_frames:
                images.append(env.render())
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            steps += 1
            done = terminated or truncated
        if frames and n == 0 and len(images) < max_frames:
            images.append(env.render())
        env.close()
        returns.append(total), lengths.append(steps)
    return returns, lengths, images


class Agent(nn.Module):
    """The environment side of an agent. Subclasses define ``act`` and ``train_step``, and call :meth:`_step_envs`.

    Parameters
    ----------
    n_envs
        Environments acting side by side (PPO's vectorised rollouts); 1 for the others.
    gamma
        The discount factor.
    eval_episodes, eval_seed
        The evaluation after each epoch: this many episodes, seeds ``eval_seed``, ``eval_seed + 1`` ...
    """

    def __init__(self, *, n_envs: int = 1, gamma: float = 0.99, eval_episodes: int = 10,
                 eval_seed: int = 10_000) -> None:
        super().__init__()
        if not 0.0 <= gamma <= 1.0:
            raise NeuralabError(f"gamma must be in [0, 1]; got {gamma}")
        check_positive_ints(n_envs=n_envs, eval_episodes=eval_episodes)
        self.n_envs, self.gamma = n_envs, float(gamma)
        self.eval_episodes, self.eval_seed = eval_episodes, int(eval_seed)
        self.make_env: Callable[[int], Any] | None = None
        self.envs: list[Any] = []
        self.obs: list[Any] = []
        self.env_steps = 0
        self.running: list[list[float]] = []  # per environment: [return so far, length so far]
        self.finished: list[tuple[int, float, int]] = []  # (env steps at the end, return, length), until collected

    # --- environments ---------------------------------------------------------------------------------------

    def attach(self, make_env: Callable[[int], Any], seed: int) -> None:
        """Create the training environments from ``make_env(seed)``, seeded ``seed``, ``seed + 1`` ..."""
        self.make_env = make_env
        self.envs = [make_env(seed + i) for i in range(self.n_envs)]
        self.obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)]
        self.running = [[0.0, 0] for _ in self.envs]

    def _require_envs(self) -> None:
        if not self.envs:
            raise NeuralabError(f"{type(self).__name__} has no environment: the control task attaches one before "
                                "training (neuralab train cartpole-dqn)")

    def _step_envs(self, actions: list[Any]) -> tuple[list[Any], list[float], list[bool], list[bool], list[Any]]:
        """One step of every environment; a finished episode is recorded and its environment reset. Returns the
        observations before the step, the rewards, terminated and truncated flags, and the next observations (the
        true last observation for a finished episode, whose environment has already been reset)."""
        before, rewards, terms, truncs, nexts = list(self.obs), [], [], [], []
        for i, (env, action) in enumerate(zip(self.envs, actions)):
            obs, reward, terminated, truncated, _ = env.step(action)
            self.running[i][0] += float(reward)
            self.running[i][1] += 1
            rewards.append(float(reward)), terms.append(bool(terminated)), truncs.append(bool(truncated))
            nexts.append(obs)
            if terminated or truncated:
                self.finished.append((self.env_steps + 1, *self.running[i]))
                self.running[i] = [0.0, 0]
                obs, _ = env.reset()
            self.obs[i] = obs
        self.env_steps += len(self.envs)
        return before, rewards, terms, truncs, nexts

    def pop_episodes(self) -> list[tuple[int, float, int]]:
        """The episodes finished since the last call: (environment steps so far, return, length)."""
        done, self.finished = self.finished, []
        return done

    # --- evaluation -------------------------------------------------------------------------------------------

    def act(self, obs: Any, deterministic: bool = True) -> Any:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate_policy(self, episodes: int | None = None, seed: int | None = None,
                        make_env: Callable[[int], Any] | None = None) -> dict[str, float]:
        """Mean and std of the deterministic policy's return over ``episodes`` seeded episodes."""
        make_env = make_env or self.make_env
        if make_env is None:
            raise NeuralabError("no environment to evaluate in")
        first = self.eval_seed if seed is None else seed
        was_training = self.training
        self.eval()
        returns, lengths, _ = run_episodes(lambda o: self.act(o, True), make_env,
                                           list(range(first, first + (episodes or self.eval_episodes))))
        self.train(was_training)
        return {"return": float(np.mean(returns)), "return_std": float(np.std(returns)),
                "episode_length": float(np.mean(lengths))}

    def evaluate(self, batches: Any) -> dict[str, float]:
        """The engine's per-epoch evaluation: the deterministic policy's mean return (logged as ``val_return``)."""
        if self.make_env is None:
            return {}
        return self.evaluate_policy()

    # --- checkpoints ------------------------------------------------------------------------------------------

    def train_state_dict(self) -> dict[str, Any]:
        """The environments' exact state, the current observations, the step counter and unfinished episodes."""
        return {"envs": [env_state(env) for env in self.envs], "obs": [_jsonable(o) for o in self.obs],
                "env_steps": self.env_steps, "running": self.running, **self._extra_state()}

    def load_train_state_dict(self, state: dict[str, Any] | None) -> None:
        if not state:
            return
        self._require_envs()
        for env, saved in zip(self.envs, state["envs"]):
            set_env_state(env, saved)
        self.obs = [_from_jsonable(o) for o in state["obs"]]
        self.env_steps, self.running = int(state["env_steps"]), [list(r) for r in state["running"]]
        self._load_extra_state(state)

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        return None


def _jsonable(obs: Any) -> Any:
    if isinstance(obs, np.ndarray):
        return {"__array__": obs.tolist(), "dtype": str(obs.dtype)}
    return int(obs) if isinstance(obs, (np.integer, int)) else obs


def _from_jsonable(obs: Any) -> Any:
    if isinstance(obs, dict) and "__array__" in obs:
        return np.array(obs["__array__"], dtype=obs["dtype"])
    return obs


# --- checkpoints ------------------------------------------------------------------------------------------------

_SIMPLE = (bool, int, float, str, type(None), np.integer, np.floating, np.bool_)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__array__": value.tolist(), "dtype": str(value.dtype)}
    if isinstance(value, (np.integer, np.bool_)):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, (list, tuple)) and all(isinstance(v, _SIMPLE) for v in value):
        return [_plain(v) for v in value]
    return value


def _layers(env: Any) -> list[Any]:
    layers = [env]
    while True:
        nxt = getattr(layers[-1], "env", None)
        if nxt is None or nxt is layers[-1]:
            return layers
        layers.append(nxt)


def env_state(env: Any) -> list[dict[str, Any]]:
    """Everything needed to continue an environment exactly: each wrapper's and the core's plain attributes (the
    physical state, step counters) and the random generator's state. JSON-ready."""
    out = []
    for layer in _layers(env):
        attrs = {}
        for key, value in vars(layer).items():
            if key in ("spec", "metadata", "render_mode") or key.startswith("__"):
                continue
            if isinstance(value, np.ndarray) and value.dtype.kind not in "biuf":
                continue  # a map drawn in bytes (FrozenLake's desc) is fixed at construction
            if isinstance(value, _SIMPLE) or isinstance(value, np.ndarray) or (
                    isinstance(value, (list, tuple)) and all(isinstance(v, _SIMPLE) for v in value)):
                attrs[key] = _plain(value)
            elif isinstance(value, np.random.Generator):
                attrs[key] = {"__rng__": value.bit_generator.state}
        out.append(attrs)
    return out


def set_env_state(env: Any, state: list[dict[str, Any]]) -> None:
    """Put back what :func:`env_state` captured (into an environment made by the same :func:`make_env` call)."""
    layers = _layers(env)
    if len(layers) != len(state):
        raise NeuralabError("the checkpoint's environment does not match this run's")
    for layer, attrs in zip(layers, state):
        for key, value in attrs.items():
            if isinstance(value, dict) and "__array__" in value:
                value = np.array(value["__array__"], dtype=value["dtype"])
            elif isinstance(value, dict) and "__rng__" in value:
                rng = getattr(layer, key)
                rng.bit_generator.state = value["__rng__"]
                continue
            elif isinstance(value, list):
                value = tuple(value) if isinstance(getattr(layer, key, None), tuple) else value
            setattr(layer, key, value)

"""Environments an agent learns in: gymnasium's (CartPole-v1, Acrobot-v1, MountainCar-v0, FrozenLake-v1 ...) and a
gridworld that a recipe draws in YAML, plus what a checkpoint needs to put an environment back exactly where it was.

A gridworld is rows of characters: ``S`` the start, ``G`` a goal (reward +1, the episode ends), ``H`` a hole (the
episode ends, reward ``hole_reward``), ``#`` a wall (moving into it leaves the agent in place), ``.`` free ground.
Every step costs ``step_reward``; with ``slip`` > 0 the agent moves at right angles to its choice with that
probability, split between the two sides, as on FrozenLake. Actions are FrozenLake's: 0 left, 1 down, 2 right, 3 up.
Environments with a known model (FrozenLake and gridworlds) expose it as ``P[s][a] = [(p, s', r, done), ...]``, the
form value iteration reads.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from neuralab.errors import DataError, did_you_mean

__all__ = ["ENVIRONMENTS", "GridWorld", "make_env", "transition_model"]

#: Environments that need nothing beyond gymnasium (classic control is pure Python and NumPy).
ENVIRONMENTS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "FrozenLake-v1", "CliffWalking-v1",
                "Taxi-v3", "gridworld")
MAX_GRID_CELLS = 10_000


class GridWorld(gym.Env):
    """A gridworld drawn as rows of characters (see the module docstring); a gymnasium environment."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, grid: Sequence[str], *, slip: float = 0.0, step_reward: float = 0.0,
                 hole_reward: float = 0.0, render_mode: str | None = None) -> None:
        rows = [str(r) for r in grid]
        if not rows or any(len(r) != len(rows[0]) for r in rows) or not rows[0]:
            raise DataError("data.grid must be rows of equal length, e.g. ['S..', '.#.', '..G']")
        if len(rows) * len(rows[0]) > MAX_GRID_CELLS:
            raise DataError(f"data.grid has {len(rows) * len(rows[0]):,} cells; at most {MAX_GRID_CELLS:,}")
        bad = sorted({c for r in rows for c in r} - set("SGH#."))
        if bad:
            raise DataError(f"data.grid: unknown cell {bad[0]!r}; use S (start), G (goal), H (hole), # (wall), "
                            ". (free)")
        starts = [(i, j) for i, r in enumerate(rows) for j, c in enumerate(r) if c == "S"]
        if len(starts) != 1 or not any("G" in r for r in rows):
            raise DataError("data.grid needs exactly one start S and at least one goal G")
        if not 0.0 <= slip < 1.0:
            raise DataError(f"data.slip must be in [0, 1); got {slip}")
        self.grid, self.slip = rows, float(slip)
        self.n_rows, self.n_cols = len(rows), len(rows[0])
        self.observation_space = gym.spaces.Discrete(self.n_rows * self.n_cols)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode, self.start = render_mode, starts[0][0] * self.n_cols + starts[0][1]
        self.P = self._model(float(step_reward), float(hole_reward))
        self.s = self.start

    def _model(self, step_reward: float, hole_reward: float) -> dict[int, dict[int, list[tuple]]]:
        moves = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}
        P: dict[int, dict[int, list[tuple]]] = {}
        for s in range(self.n_rows * self.n_cols):
            i, j = divmod(s, self.n_cols)
            P[s] = {}
            for a in range(4):
                if self.grid[i][j] in "GH":  # absorbing
                    P[s][a] = [(1.0, s, 0.0, True)]
                    continue
                outcomes = [(a, 1.0 - self.slip)] + ([((a - 1) % 4, self.slip / 2), ((a + 1) % 4, self.slip / 2)]
                                                      if self.slip else [])
                P[s][a] = []
                for move, p in outcomes:
                    di, dj = moves[move]
                    ni, nj = min(max(i + di, 0), self.n_rows - 1), min(max(j + dj, 0), self.n_cols - 1)
                    if self.grid[ni][nj] == "#":
                        ni, nj = i, j
                    cell = self.grid[ni][nj]
                    reward = step_reward + (1.0 if cell == "G" else hole_reward if cell == "H" else 0.0)
                    P[s][a].append((p, ni * self.n_cols + nj, reward, cell in "GH"))
        return P

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        self.s = self.start
        return self.s, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        outcomes = self.P[self.s][int(action)]
        k = self.np_random.choice(len(outcomes), p=[o[0] for o in outcomes]) if len(outcomes) > 1 else 0
        _, self.s, reward, done = outcomes[k]
        return self.s, reward, done, False, {}

    def render(self) -> np.ndarray:
        colours = {"S": (200, 220, 255), "G": (120, 200, 120), "H": (60, 60, 90), "#": (90, 90, 90), ".": (235,) * 3}
        cell = 24
        image = np.zeros((self.n_rows * cell, self.n_cols * cell, 3), dtype=np.uint8)
        for i, row in enumerate(self.grid):
            for j, c in enumerate(row):
                image[i * cell:(i + 1) * cell, j * cell:(j + 1) * cell] = colours[c]
        i, j = divmod(self.s, self.n_cols)
        image[i * cell + 6:(i + 1) * cell - 6, j * cell + 6:(j + 1) * cell - 6] = (220, 60, 60)
        return image


def make_env(name: str, *, seed: int | None = None, render_mode: str | None = None,
             max_episode_steps: int | None = None, **options: Any) -> Any:
    """A fresh environment, reset with ``seed``. ``options`` go to its constructor (``is_slippery``, ``map_name``
    for FrozenLake; ``grid``, ``slip``, ``step_reward``, ``hole_reward`` for a gridworld)."""
    if render_mode is not None:  # frames are drawn off screen: SDL (pygame) must not look for a display
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    if name == "gridworld":
        if "grid" not in options:
            raise DataError("a gridworld needs data.grid: rows such as ['S..', '.#.', '..G']")
        try:
            env = GridWorld(options.pop("grid"), render_mode=render_mode, **options)
        except TypeError as exc:
            raise DataError(f"gridworld: {exc}") from None
        env = gym.wrappers.TimeLimit(env, max_episode_steps or 4 * env.n_rows * env.n_cols)
    else:
        if name not in gym.registry:
            raise DataError(f"unknown environment {str(name)[:80]!r}{did_you_mean(str(name), ENVIRONMENTS)}; "
                            f"choose from {', '.join(ENVIRONMENTS)}")
        try:
            env = gym.make(name, render_mode=render_mode, max_episode_steps=max_episode_steps, **options)
        except TypeError as exc:
            raise DataError(f"{name}: {exc}") from None
        except gym.error.DependencyNotInstalled as exc:
            raise DataError(f"{name} needs a package that is not installed: {str(exc).splitlines()[0]}") from None
    env.reset(seed=seed)
    return env


def transition_model(env: Any) -> dict[int, dict[int, list[tuple]]] | None:
    """``P[s][a] = [(p, s', r, done), ...]`` of an environment with a known model (FrozenLake, Taxi, CliffWalking,
    gridworlds), else None."""
    model = getattr(env.unwrapped, "P", None)
    return model if isinstance(model, dict) else None

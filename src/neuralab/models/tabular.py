"""Tabular reinforcement learning: dynamic programming on a known model, and Q-learning and SARSA from experience.

- :func:`value_iteration` and :func:`policy_iteration` (Sutton & Barto 2018, sections 4.3-4.4) solve a finite MDP
  given as ``P[s][a] = [(p, s', r, done), ...]`` (gymnasium's toy-text form).
- :class:`TabularQ` learns ``Q(s, a)`` by acting: Q-learning (Watkins 1989, off-policy: the target takes the best
  next action) or SARSA (on-policy: the next action actually chosen), exploring ε-greedily or by softmax (Boltzmann)
  with a schedule. The table is a parameter, and each update ``Q(s, a) += α (target − Q(s, a))`` is one SGD step of
  ``½ (target − Q(s, a))²`` with learning rate α, its gradient handed to the engine's optimiser (as an RBM's
  contrastive divergence is), so that weight decay, clipping and the NaN check apply as to any other update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.models.agent import Agent

__all__ = ["TabularQ", "greedy_success", "linear_schedule", "policy_iteration", "value_iteration"]

Model = dict[int, dict[int, list[tuple[float, int, float, bool]]]]


def _arrays(P: Model, n_states: int, n_actions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model as arrays: probabilities ``T[s, a, s']``, expected rewards ``R[s, a]``, and ``C[s, a, s']``, the
    probability of moving to ``s'`` *and going on* (the transitions that end the episode left out)."""
    T = np.zeros((n_states, n_actions, n_states))
    R = np.zeros((n_states, n_actions))
    C = np.zeros((n_states, n_actions, n_states))
    for s in range(n_states):
        for a in range(n_actions):
            for p, s2, r, done in P[s][a]:
                T[s, a, s2] += p
                R[s, a] += p * r
                C[s, a, s2] += p * (0.0 if done else 1.0)
    return T, R, C


def value_iteration(P: Model, n_states: int, n_actions: int, gamma: float = 0.99, *, tol: float = 1e-10,
                    max_iter: int = 100_000) -> tuple[np.ndarray, np.ndarray, int]:
    """``V*``, the greedy policy and the number of sweeps: ``V ← max_a R(s, a) + γ Σ_s' C(s, a, s') V(s')`` until
    the largest change is under ``tol``."""
    _, R, C = _arrays(P, n_states, n_actions)
    V = np.zeros(n_states)
    for sweep in range(1, max_iter + 1):
        Q = R + gamma * np.einsum("sat,t->sa", C, V)
        new = Q.max(1)
        if np.abs(new - V).max() < tol:
            return new, Q.argmax(1), sweep
        V = new
    return V, Q.argmax(1), max_iter


def policy_iteration(P: Model, n_states: int, n_actions: int, gamma: float = 0.99,
                     max_iter: int = 1000) -> tuple[np.ndarray, np.ndarray, int]:
    """``V^π`` of the final policy, the policy, and the number of improvements: evaluate the policy exactly (a
    linear solve), make it greedy, until it no longer changes."""
    _, R, C = _arrays(P, n_states, n_actions)
    policy = np.zeros(n_states, dtype=int)
    rows = np.arange(n_states)
    for step in range(1, max_iter + 1):
        V = _solve(np.eye(n_states) - gamma * C[rows, policy], R[rows, policy])
        Q = R + gamma * np.einsum("sat,t->sa", C, V)
        better = np.where(Q[rows, policy] >= Q.max(1) - 1e-12, policy, Q.argmax(1))  # keep ties: no cycling
        if np.array_equal(better, policy):
            return V, policy, step
        policy = better
    return V, policy, max_iter


def linear_schedule(start: float, end: float, steps: int, t: int) -> float:
    """``start`` moving linearly to ``end`` over ``steps``, then ``end``."""
    return end if steps <= 0 or t >= steps else start + (end - start) * t / steps


class TabularQ(Agent):
    """A table of action values learned by Q-learning or SARSA, for environments with discrete states.

    Parameters
    ----------
    n_states, n_actions
        The sizes of the table (from the environment).
    method
        ``q_learning`` or ``sarsa``.
    exploration
        ``epsilon`` (ε-greedy) or ``softmax`` (Boltzmann over Q / temperature).
    start, end, decay_steps
        The exploration schedule: ε (or the temperature) moves linearly from ``start`` to ``end`` over
        ``decay_steps`` environment steps.
    steps
        Environment steps per ``train_step``.
    gamma
        The discount factor.
    """

    def __init__(self, n_states: int = 16, n_actions: int = 4, *, method: str = "q_learning",
                 exploration: str = "epsilon", start: float = 1.0, end: float = 0.05, decay_steps: int = 100_000,
                 steps: int = 100, gamma: float = 0.99, eval_episodes: int = 100, eval_seed: int = 10_000) -> None:
        super().__init__(gamma=gamma, eval_episodes=eval_episodes, eval_seed=eval_seed)
        if method not in ("q_learning", "sarsa"):
            raise NeuralabError(f"method must be q_learning or sarsa; got {method!r}")
        if exploration not in ("epsilon", "softmax"):
            raise NeuralabError(f"exploration must be epsilon or softmax; got {exploration!r}")
        if exploration == "softmax" and end <= 0:
            raise NeuralabError("a softmax temperature must stay above 0: set end > 0")
        self.n_states, self.n_actions, self.method, self.exploration = n_states, n_actions, method, exploration
        self.start, self.end, self.decay_steps, self.steps = float(start), float(end), int(decay_steps), int(steps)
        self.q = nn.Parameter(torch.zeros(n_states, n_actions, dtype=torch.float64))
        self.pending: int | None = None  # SARSA: the next action, already chosen

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """The action values of a batch of states, ``(B,) → (B, n_actions)``."""
        return self.q[states.long()]

    def schedule(self) -> float:
        return linear_schedule(self.start, self.end, self.decay_steps, self.env_steps)

    def _choose(self, state: int) -> int:
        values = self.q.detach().numpy()[state]  # a view: no copy per step
        if self.exploration == "epsilon":
            if float(torch.rand(())) < self.schedule():
                return int(torch.randint(self.n_actions, ()))
            best = np.flatnonzero(values == values.max())  # ties broken at random
            return int(best[int(torch.randint(len(best), ()))]) if len(best) > 1 else int(best[0])
        logits = torch.from_numpy(values / self.schedule())
        return int(torch.multinomial(torch.softmax(logits, 0), 1))

    def act(self, obs: Any, deterministic: bool = True) -> int:
        return int(self.q.detach()[int(obs)].argmax()) if deterministic else self._choose(int(obs))

    def train_step(self, batch: Any, optimizers: Any) -> dict[str, torch.Tensor]:
        """``steps`` environment steps, each followed by its update of ``Q(s, a)``: the gradient of
        ``½ (target − Q(s, a))²`` is ``−(target − Q(s, a))`` at (s, a) and 0 elsewhere, handed to the optimiser."""
        self._require_envs()
        q = self.q.detach().numpy()
        errors = np.empty(self.steps)
        grad = torch.zeros_like(self.q)
        for k in range(self.steps):
            state = int(self.obs[0])
            action = self.pending if self.pending is not None else self._choose(state)
            _, rewards, terms, truncs, nexts = self._step_envs([action])
            nxt, done = int(nexts[0]), terms[0]
            following = self._choose(int(self.obs[0])) if self.method == "sarsa" else None
            if done:
                future = 0.0
            elif self.method == "q_learning" or truncs[0]:
                future = float(q[nxt].max())
            else:
                future = float(q[nxt, following])
            error = rewards[0] + self.gamma * future - float(q[state, action])
            grad[state, action] = -error
            optimizers.apply_gradients({self.q: grad}, torch.tensor(0.5 * error * error))  # Q(s, a) += lr · error
            grad[state, action] = 0.0
            errors[k] = error
            self.pending = following if self.method == "sarsa" and not (terms[0] or truncs[0]) else None
        return {"loss": torch.tensor(float(np.mean(errors ** 2)) / 2),
                "td_error": torch.tensor(float(np.mean(np.abs(errors)))), "exploration": torch.tensor(self.schedule())}

    def _extra_state(self) -> dict[str, Any]:
        return {"pending": -1 if self.pending is None else int(self.pending)}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.pending = None if state.get("pending", -1) < 0 else int(state["pending"])

    def values(self) -> np.ndarray:
        """``max_a Q(s, a)`` for every state."""
        return self.q.detach().max(1).values.numpy()

    def policy(self) -> np.ndarray:
        return self.q.detach().argmax(1).numpy()


def greedy_success(policy: Sequence[int], P: Model, start: int, gamma: float = 1.0) -> float:
    """The probability that ``policy`` reaches a reward of +1 from ``start`` (exact, from the model): FrozenLake's
    success rate."""
    n = len(P)
    _, _, C = _arrays(P, n, max(len(P[s]) for s in P))
    policy = np.asarray(policy, dtype=int)
    success = np.array([sum(p for p, _, r, done in P[s][int(policy[s])] if done and r > 0) for s in range(n)])
    return float(_solve(np.eye(n) - gamma * C[np.arange(n), policy], success)[start])


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a⁻¹ b``, by least squares where ``a`` is singular (states the policy never leaves, with γ = 1)."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(a, b, rcond=None)[0]

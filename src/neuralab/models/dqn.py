"""Deep Q-networks: Mnih et al. (2015), "Human-level control through deep reinforcement learning", with van Hasselt,
Guez & Silver (2016), "Deep Reinforcement Learning with Double Q-learning", as an option.

An MLP maps an observation to one value per action. The agent acts ε-greedily (ε falling linearly from ``start``
to ``end`` over ``decay_steps`` environment steps), stores every transition in a replay buffer of ``buffer_size``,
and from ``learning_starts`` on takes ``gradient_steps`` updates every ``train_frequency`` steps on minibatches of
``batch_size`` drawn from it: the Huber loss between ``Q(s, a)`` and ``r + γ max_a' Q_target(s', a')`` (Double DQN:
the online network picks ``a'``, the target network values it). The target network copies the online one every
``target_update`` steps. A truncated episode (a time limit) bootstraps from its last state; a terminated one does not.
The buffer, ε's clock and the environment live in the checkpoint, so a resumed run is the uninterrupted one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neuralab.models._checks import check_positive_ints
from neuralab.models.agent import Agent
from neuralab.models.mlp import MLP
from neuralab.models.tabular import linear_schedule

__all__ = ["DQN"]


class DQN(Agent):
    """A deep Q-network agent for discrete actions (CartPole, Acrobot, MountainCar, FrozenLake one-hot).

    Parameters
    ----------
    in_features, n_actions
        Observation size and number of actions (from the environment).
    hidden_sizes, activation
        The Q-network, an MLP.
    buffer_size, batch_size, learning_starts, train_frequency, gradient_steps, target_update
        Replay and update cadence, in environment steps (see the module docstring).
    start, end, decay_steps
        The ε schedule.
    double
        Double DQN targets.
    gamma
        The discount factor.
    """

    def __init__(self, in_features: int = 4, n_actions: int = 2, *, hidden_sizes: Sequence[int] = (256, 256),
                 activation: str = "relu", buffer_size: int = 100_000, batch_size: int = 64,
                 learning_starts: int = 1000, train_frequency: int = 4, gradient_steps: int = 1,
                 target_update: int = 500, start: float = 1.0, end: float = 0.05, decay_steps: int = 10_000,
                 double: bool = True, gamma: float = 0.99, eval_episodes: int = 10, eval_seed: int = 10_000) -> None:
        super().__init__(gamma=gamma, eval_episodes=eval_episodes, eval_seed=eval_seed)
        check_positive_ints(buffer_size=buffer_size, batch_size=batch_size, train_frequency=train_frequency,
                            gradient_steps=gradient_steps, target_update=target_update)
        self.in_features, self.n_actions = in_features, n_actions
        self.q_net = MLP(in_features, hidden_sizes=tuple(hidden_sizes), out_features=n_actions, activation=activation)
        self.target_net = copy.deepcopy(self.q_net).requires_grad_(False)
        self.buffer_size, self.batch_size, self.learning_starts = buffer_size, batch_size, learning_starts
        self.train_frequency, self.gradient_steps, self.target_update = train_frequency, gradient_steps, target_update
        self.start, self.end, self.decay_steps, self.double = float(start), float(end), int(decay_steps), bool(double)
        self._new_buffer()

    def optimizer_groups(self) -> dict[str, list[nn.Parameter]]:
        return {"model": list(self.q_net.parameters())}  # the target network is copied, never trained

    def _new_buffer(self) -> None:
        self.buffer = {"obs": torch.zeros(self.buffer_size, self.in_features),
                       "next": torch.zeros(self.buffer_size, self.in_features),
                       "action": torch.zeros(self.buffer_size, dtype=torch.long),
                       "reward": torch.zeros(self.buffer_size), "done": torch.zeros(self.buffer_size)}
        self.filled, self.cursor = 0, 0

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Q-values ``(B, n_actions)`` of observations ``(B, in_features)``."""
        return self.q_net(obs.float())

    def _encode(self, obs: Any) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).reshape(-1)
        if x.numel() == 1 and self.in_features > 1:  # a discrete state (FrozenLake): one-hot
            return F.one_hot(x.long(), self.in_features).float().reshape(-1)
        return x

    def epsilon(self) -> float:
        return linear_schedule(self.start, self.end, self.decay_steps, self.env_steps)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> int:
        if not deterministic and float(torch.rand(())) < self.epsilon():
            return int(torch.randint(self.n_actions, ()))
        device = next(self.parameters()).device
        return int(self(self._encode(obs)[None].to(device)).argmax(1))

    def train_step(self, batch: Any, optimizers: Any) -> dict[str, torch.Tensor]:
        """``train_frequency`` environment steps into the buffer, then ``gradient_steps`` updates."""
        self._require_envs()
        for _ in range(self.train_frequency):
            before, rewards, terms, truncs, nexts = self._step_envs([self.act(o, False) for o in self.obs])
            for obs, action, reward, term, nxt in zip(before, self._last_actions, rewards, terms, nexts):
                self._store(obs, action, reward, term, nxt)
            if self.env_steps % self.target_update < len(self.envs):
                self.target_net.load_state_dict(self.q_net.state_dict())
        logs: dict[str, torch.Tensor] = {"epsilon": torch.tensor(self.epsilon())}
        if self.filled < max(self.learning_starts, self.batch_size):
            return logs
        losses, q_values = [], []
        device = next(self.parameters()).device
        for _ in range(self.gradient_steps):
            index = torch.randint(self.filled, (self.batch_size,))
            b = {k: v[index].to(device) for k, v in self.buffer.items()}
            q = self.q_net(b["obs"]).gather(1, b["action"][:, None]).squeeze(1)
            with torch.no_grad():
                following = (self.q_net if self.double else self.target_net)(b["next"]).argmax(1, keepdim=True)
                future = self.target_net(b["next"]).gather(1, following).squeeze(1)
                target = b["reward"] + self.gamma * (1 - b["done"]) * future
            loss = F.smooth_l1_loss(q, target)
            optimizers.update(loss)
            losses.append(loss.detach()), q_values.append(q.detach().mean())
        return {**logs, "loss": torch.stack(losses).mean(), "q": torch.stack(q_values).mean()}

    def _step_envs(self, actions: list[Any]) -> Any:
        self._last_actions = actions
        return super()._step_envs(actions)

    def _store(self, obs: Any, action: int, reward: float, terminated: bool, nxt: Any) -> None:
        i = self.cursor
        self.buffer["obs"][i], self.buffer["next"][i] = self._encode(obs), self._encode(nxt)
        self.buffer["action"][i], self.buffer["reward"][i] = action, reward
        self.buffer["done"][i] = float(terminated)
        self.cursor = (self.cursor + 1) % self.buffer_size
        self.filled = min(self.filled + 1, self.buffer_size)

    def _extra_state(self) -> dict[str, Any]:
        return {"buffer": {k: v[:self.filled].clone() for k, v in self.buffer.items()}, "filled": self.filled,
                "cursor": self.cursor, "target": {k: v.clone() for k, v in self.target_net.state_dict().items()}}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self._new_buffer()
        self.filled, self.cursor = int(state["filled"]), int(state["cursor"])
        for key, value in state["buffer"].items():
            self.buffer[key][:self.filled] = value
        self.target_net.load_state_dict(state["target"])

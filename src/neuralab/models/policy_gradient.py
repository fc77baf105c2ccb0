"""Policy-gradient agents for discrete actions: REINFORCE with a baseline, and PPO.

- :class:`REINFORCE` (Williams 1992): play ``episodes`` whole episodes, then step along
  ``Σ_t ∇ log π(a_t | s_t) (G_t − b(s_t))``, with ``G_t`` the discounted return from ``t`` and ``b`` a learned value
  baseline (its squared error is added to the loss, weighted by ``value_coef``).
- :class:`PPO` (Schulman et al. 2017, "Proximal Policy Optimization Algorithms"): ``n_envs`` environments act side
  by side for ``n_steps`` each; advantages come from GAE (Schulman et al. 2016, λ = ``gae_lambda``); then
  ``update_epochs`` passes over the rollout in ``minibatches`` minimise the clipped surrogate
  ``−min(ρ A, clip(ρ, 1 ± clip) A)`` plus ``value_coef`` times the value error minus ``entropy_coef`` times the
  entropy, each minibatch one step of the engine's optimiser (``trainer.grad_clip`` is PPO's gradient-norm clip).

Both have an actor (logits over actions) and a critic (a value) as separate MLPs, tanh hidden units, as in the
PPO paper's control experiments. The deterministic policy is the most probable action.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from neuralab.errors import NeuralabError
from neuralab.models._checks import check_positive_ints
from neuralab.models.agent import Agent
from neuralab.models.mlp import MLP

__all__ = ["PPO", "REINFORCE"]


class _ActorCritic(Agent):
    def __init__(self, in_features: int, n_actions: int, hidden_sizes: Sequence[int], activation: str,
                 **agent: Any) -> None:
        super().__init__(**agent)
        self.in_features, self.n_actions = in_features, n_actions
        self.actor = MLP(in_features, hidden_sizes=tuple(hidden_sizes), out_features=n_actions, activation=activation)
        self.critic = MLP(in_features, hidden_sizes=tuple(hidden_sizes), out_features=1, activation=activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Action logits ``(B, n_actions)``."""
        return self.actor(obs.float())

    def _encode(self, observations: Sequence[Any]) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(observations, dtype=np.float32)).reshape(len(observations), -1)
        if x.shape[1] == 1 and self.in_features > 1:  # discrete states: one-hot
            x = F.one_hot(x[:, 0].long(), self.in_features).float()
        return x.to(next(self.parameters()).device)

    @torch.no_grad()
    def act(self, obs: Any, deterministic: bool = True) -> int:
        logits = self(self._encode([obs]))[0]
        return int(logits.argmax()) if deterministic else int(torch.multinomial(torch.softmax(logits, 0), 1))


class REINFORCE(_ActorCritic):
    """REINFORCE with a learned value baseline.

    Parameters
    ----------
    in_features, n_actions
        Observation size and number of actions (from the environment).
    hidden_sizes, activation
        Each of the actor and the critic.
    episodes
        Whole episodes per update.
    value_coef, entropy_coef
        Weights of the baseline's squared error and of the entropy bonus.
    normalize
        Standardise the advantages of each update.
    """

    def __init__(self, in_features: int = 4, n_actions: int = 2, *, hidden_sizes: Sequence[int] = (64, 64),
                 activation: str = "tanh", episodes: int = 4, value_coef: float = 0.5, entropy_coef: float = 0.0,
                 normalize: bool = True, gamma: float = 0.99, eval_episodes: int = 10,
                 eval_seed: int = 10_000) -> None:
        super().__init__(in_features, n_actions, hidden_sizes, activation, gamma=gamma,
                         eval_episodes=eval_episodes, eval_seed=eval_seed)
        check_positive_ints(episodes=episodes)
        self.episodes, self.value_coef, self.entropy_coef = episodes, value_coef, entropy_coef
        self.normalize = normalize

    def train_step(self, batch: Any, optimizers: Any) -> dict[str, torch.Tensor]:
        self._require_envs()
        obs, actions, returns = [], [], []
        for _ in range(self.episodes):
            rewards = []
            while True:
                obs.append(self.obs[0])
                action = self.act(self.obs[0], deterministic=False)
                actions.append(action)
                _, r, terms, truncs, _ = self._step_envs([action])
                rewards.append(r[0])
                if terms[0] or truncs[0]:
                    break
            g, out = 0.0, []
            for reward in reversed(rewards):
                g = reward + self.gamma * g
                out.append(g)
            returns += out[::-1]
        x = self._encode(obs)
        a = torch.tensor(actions, device=x.device)
        g = torch.tensor(returns, dtype=torch.float32, device=x.device)
        values = self.critic(x).squeeze(1)
        advantage = (g - values).detach()
        if self.normalize and len(advantage) > 1:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        dist = torch.distributions.Categorical(logits=self(x))
        policy_loss = -(dist.log_prob(a) * advantage).mean()
        value_loss = F.mse_loss(values, g)
        entropy = dist.entropy().mean()
        loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
        optimizers.update(loss)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach()}


class PPO(_ActorCritic):
    """Proximal policy optimisation with GAE over ``n_envs`` environments.

    Parameters
    ----------
    in_features, n_actions
        Observation size and number of actions (from the environment).
    hidden_sizes, activation
        Each of the actor and the critic.
    n_envs, n_steps
        The rollout: ``n_steps`` steps of each of ``n_envs`` environments per update.
    update_epochs, minibatches
        Passes over each rollout, and minibatches per pass.
    clip, value_coef, entropy_coef, gae_lambda, gamma
        The objective (see the module docstring).
    normalize
        Standardise the advantages of each minibatch.
    """

    def __init__(self, in_features: int = 4, n_actions: int = 2, *, hidden_sizes: Sequence[int] = (64, 64),
                 activation: str = "tanh", n_envs: int = 4, n_steps: int = 128, update_epochs: int = 4,
                 minibatches: int = 4, clip: float = 0.2, value_coef: float = 0.5, entropy_coef: float = 0.01,
                 gae_lambda: float = 0.95, gamma: float = 0.99, normalize: bool = True, eval_episodes: int = 10,
                 eval_seed: int = 10_000) -> None:
        super().__init__(in_features, n_actions, hidden_sizes, activation, n_envs=n_envs, gamma=gamma,
                         eval_episodes=eval_episodes, eval_seed=eval_seed)
        check_positive_ints(n_steps=n_steps, update_epochs=update_epochs, minibatches=minibatches)
        if n_envs * n_steps < minibatches:
            raise NeuralabError(f"a rollout of {n_envs * n_steps} steps cannot make {minibatches} minibatches")
        self.n_steps, self.update_epochs, self.minibatches = n_steps, update_epochs, minibatches
        self.clip, self.value_coef, self.entropy_coef = clip, value_coef, entropy_coef
        self.gae_lambda, self.normalize = gae_lambda, normalize

    @torch.no_grad()
    def _rollout(self) -> dict[str, torch.Tensor]:
        E, T = len(self.envs), self.n_steps
        obs, actions, logps, values, rewards, ends = [], [], [], [], [], []
        truncated_values = torch.zeros(T, E)
        for t in range(T):
            x = self._encode(self.obs)
            dist = torch.distributions.Categorical(logits=self(x))
            action = dist.sample()
            value = self.critic(x).squeeze(1)
            _, r, terms, truncs, nexts = self._step_envs(action.tolist())
            for e in range(E):  # a time limit is not the end of the task: bootstrap from the last state
                if truncs[e] and not terms[e]:
                    truncated_values[t, e] = self.critic(self._encode([nexts[e]])).squeeze()
            obs.append(x), actions.append(action), logps.append(dist.log_prob(action)), values.append(value)
            rewards.append(torch.tensor(r) + self.gamma * truncated_values[t])
            ends.append(torch.tensor([float(a or b) for a, b in zip(terms, truncs)]))
        last = self.critic(self._encode(self.obs)).squeeze(1)
        values_t, rewards_t, ends_t = torch.stack(values), torch.stack(rewards).to(last), torch.stack(ends).to(last)
        advantages = torch.zeros_like(rewards_t)
        gae = torch.zeros(E, device=last.device)
        for t in reversed(range(T)):
            following = last if t == T - 1 else values_t[t + 1]
            delta = rewards_t[t] + self.gamma * following * (1 - ends_t[t]) - values_t[t]
            gae = delta + self.gamma * self.gae_lambda * (1 - ends_t[t]) * gae
            advantages[t] = gae
        return {"obs": torch.cat(obs), "action": torch.cat(actions), "logp": torch.cat(logps),
                "advantage": advantages.reshape(-1), "return": (advantages + values_t).reshape(-1)}

    def train_step(self, batch: Any, optimizers: Any) -> dict[str, torch.Tensor]:
        """One rollout, then ``update_epochs`` × ``minibatches`` steps of the clipped objective."""
        self._require_envs()
        data = self._rollout()
        n = len(data["action"])
        size = n // self.minibatches
        logs: dict[str, list[torch.Tensor]] = {k: [] for k in ("loss", "policy_loss", "value_loss", "entropy",
                                                               "clip_fraction", "approx_kl")}
        for _ in range(self.update_epochs):
            order = torch.randperm(n)
            for k in range(self.minibatches):
                i = order[k * size:(k + 1) * size].to(data["obs"].device)
                dist = torch.distributions.Categorical(logits=self(data["obs"][i]))
                logp = dist.log_prob(data["action"][i])
                ratio = (logp - data["logp"][i]).exp()
                advantage = data["advantage"][i]
                if self.normalize and len(i) > 1:
                    advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
                policy_loss = -torch.min(ratio * advantage, ratio.clamp(1 - self.clip, 1 + self.clip) * advantage
                                         ).mean()
                value_loss = F.mse_loss(self.critic(data["obs"][i]).squeeze(1), data["return"][i])
                entropy = dist.entropy().mean()
                loss = policy_loss + self.value_coef * value_loss - self.entropy_coef * entropy
                optimizers.update(loss)
                with torch.no_grad():
                    logs["clip_fraction"].append(((ratio - 1).abs() > self.clip).float().mean())
                    logs["approx_kl"].append(((ratio - 1) - (logp - data["logp"][i])).mean())
                for key, value in (("loss", loss), ("policy_loss", policy_loss), ("value_loss", value_loss),
                                   ("entropy", entropy)):
                    logs[key].append(value.detach())
        return {key: torch.stack(values).mean() for key, values in logs.items()}

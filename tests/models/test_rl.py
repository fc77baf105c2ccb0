"""Reinforcement learning on tiny problems: dynamic programming against closed forms, Q-learning and SARSA on a
deterministic chain, the DQN and PPO machinery, and exact resume of every agent (environments and buffers)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralab.data.environments import GridWorld, make_env, transition_model
from neuralab.errors import DataError, NeuralabError
from neuralab.models import DQN, PPO, REINFORCE, TabularQ
from neuralab.models.agent import env_state, set_env_state
from neuralab.models.tabular import greedy_success, policy_iteration, value_iteration
from neuralab.train import Checkpoint, FitData, OptimizerConfig, TrainerConfig, fit

CHAIN = ["S..G"]  # deterministic: right three times reaches the goal (+1)


def test_value_iteration_matches_the_closed_form_of_a_two_state_mdp():
    # State 0: action 0 stays (+1), action 1 moves to 1 (+0); state 1: action 0 stays (+2), action 1 returns (+0).
    P = {0: {0: [(1.0, 0, 1.0, False)], 1: [(1.0, 1, 0.0, False)]},
         1: {0: [(1.0, 1, 2.0, False)], 1: [(1.0, 0, 0.0, False)]}}
    gamma = 0.9
    V, policy, _ = value_iteration(P, 2, 2, gamma)
    # V(1) = 2 / (1 − γ) = 20; V(0) = max(1 + γ V(0), γ V(1)) = max(10, 18) = 18.
    assert V == pytest.approx([18.0, 20.0], abs=1e-8) and policy.tolist() == [1, 0]
    V2, policy2, _ = policy_iteration(P, 2, 2, gamma)
    assert V2 == pytest.approx(V, abs=1e-8) and policy2.tolist() == [1, 0]


def test_policy_and_value_iteration_agree_on_frozenlake_and_its_optimum_is_known():
    env = make_env("FrozenLake-v1", is_slippery=True, seed=0)
    P = transition_model(env)
    V, policy, _ = value_iteration(P, 16, 4, 0.99)
    V2, policy2, _ = policy_iteration(P, 16, 4, 0.99)
    assert np.abs(V - V2).max() < 1e-6
    assert greedy_success(policy, P, 0) == pytest.approx(0.8235, abs=1e-3)  # without a time limit


def test_a_gridworld_is_drawn_in_characters_and_checked():
    world = GridWorld(["S.#", "..G"], slip=0.0, step_reward=-0.1)
    assert world.observation_space.n == 6 and world.P[0][2] == [(1.0, 1, -0.1, False)]
    assert world.P[1][2] == [(1.0, 1, -0.1, False)], "a wall leaves the agent in place"
    assert world.P[4][2] == [(1.0, 5, 0.9, True)], "the goal pays 1 and ends the episode"
    for grid, match in ((["S.", "G"], "rows of equal length"), (["SXG"], "unknown cell 'X'"),
                        (["..G"], "exactly one start")):
        with pytest.raises(DataError, match=match):
            GridWorld(grid)
    with pytest.raises(DataError, match="unknown environment 'CartPol-v1'.*did you mean 'CartPole-v1'"):
        make_env("CartPol-v1")


@pytest.mark.parametrize("name, options", [("CartPole-v1", {}), ("FrozenLake-v1", {"is_slippery": True}),
                                            ("gridworld", {"grid": ["S..", ".H.", "..G"], "slip": 0.3}),
                                            ("Acrobot-v1", {})])
def test_an_environment_continues_exactly_from_its_saved_state(name, options):
    a, b = make_env(name, seed=3, **dict(options)), make_env(name, seed=99, **dict(options))
    for _ in range(4):
        a.step(0)
    set_env_state(b, env_state(a))
    steps_a = [a.step(t % 2)[:3] for t in range(6)]
    steps_b = [b.step(t % 2)[:3] for t in range(6)]
    for (oa, ra, ta), (ob, rb, tb) in zip(steps_a, steps_b):
        assert np.array_equal(oa, ob) and ra == rb and ta == tb


def train(model, epochs, steps, tmp_path=None, resume=None, lr=0.1, name="sgd"):
    callbacks = [Checkpoint(tmp_path, monitor="none")] if tmp_path is not None else []
    return fit(model, FitData(None), TrainerConfig(epochs=epochs, steps_per_epoch=steps, seed=0), callbacks,
               optimizer=OptimizerConfig(name=name, lr=lr), resume=resume)


def chain_agent(method: str, **kwargs) -> TabularQ:
    torch.manual_seed(0)
    agent = TabularQ(4, 4, method=method, start=1.0, end=0.1, decay_steps=2000, steps=100, gamma=0.9,
                     eval_episodes=3, **kwargs)
    agent.attach(lambda seed: make_env("gridworld", grid=CHAIN, seed=seed), seed=0)
    return agent


@pytest.mark.parametrize("method", ["q_learning", "sarsa"])
def test_tabular_learning_converges_on_a_deterministic_chain(method):
    agent = chain_agent(method)
    state = train(agent, 30, 1, lr=0.5)
    # Q-learning: Q(s, right) = γ^(steps left − 1): 0.81, 0.9, 1.0 from the start; the greedy policy goes right.
    if method == "q_learning":
        assert agent.q.detach()[:3, 2].numpy() == pytest.approx([0.81, 0.9, 1.0], abs=0.02)
    assert agent.policy()[:3].tolist() == [2, 2, 2]
    assert state.history[-1]["val_return"] == 1.0


def test_softmax_exploration_tries_every_action_and_sharpens():
    agent = chain_agent("q_learning", exploration="softmax")
    with torch.no_grad():
        agent.q[0] = torch.tensor([0.0, 0.0, 1.0, 0.0], dtype=torch.float64)
    early = [agent._choose(0) for _ in range(400)]
    agent.env_steps = 10**6  # the temperature has fallen to its end, 0.1
    late = [agent._choose(0) for _ in range(400)]
    assert set(early) == {0, 1, 2, 3} and np.mean(np.array(late) == 2) > 0.99


def assert_same_weights(a, b):
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key]), key


@pytest.mark.parametrize("build", [
    lambda: chain_agent("sarsa"),
    lambda: DQN(4, 2, hidden_sizes=(16,), buffer_size=300, batch_size=16, learning_starts=32, train_frequency=8,
                gradient_steps=2, target_update=40, decay_steps=200, eval_episodes=2),
    lambda: PPO(4, 2, hidden_sizes=(16,), n_envs=2, n_steps=16, update_epochs=2, minibatches=2, eval_episodes=2),
    lambda: REINFORCE(4, 2, hidden_sizes=(16,), episodes=1, eval_episodes=2),
], ids=["sarsa", "dqn", "ppo", "reinforce"])
def test_resume_after_a_kill_equals_the_uninterrupted_run(build, tmp_path):
    def make():
        torch.manual_seed(0)
        agent = build()
        if not agent.envs:
            agent.attach(lambda seed: make_env("CartPole-v1", seed=seed), seed=0)
        return agent

    full = make()
    train(full, 4, 3, lr=1e-3, name="adam")
    half = make()
    train(half, 2, 3, tmp_path, lr=1e-3, name="adam")
    resumed = make()
    state = train(resumed, 4, 3, tmp_path, resume=tmp_path / "last.ckpt", lr=1e-3, name="adam")
    assert state.epoch == 4 and resumed.env_steps == full.env_steps
    assert_same_weights(full, resumed)


def test_dqn_fills_its_buffer_and_targets_with_double_q():
    torch.manual_seed(0)
    agent = DQN(4, 2, hidden_sizes=(8,), buffer_size=50, batch_size=8, learning_starts=16, train_frequency=10,
                target_update=1000, eval_episodes=1)
    agent.attach(lambda seed: make_env("CartPole-v1", seed=seed), seed=0)
    state = train(agent, 1, 7, lr=1e-3, name="adam")
    assert agent.filled == 50 and agent.cursor == 70 % 50, "a ring buffer of 50 after 70 steps"
    assert (agent.buffer["done"] == 1).sum() >= 1 and "train_q" in state.history[-1]
    assert agent.epsilon() < 1.0
    with pytest.raises(NeuralabError, match="batch_size must be a positive int"):
        DQN(4, 2, batch_size=0)


def test_ppo_learns_cartpole_a_little_in_a_few_seconds():
    torch.manual_seed(0)
    agent = PPO(4, 2, n_envs=4, n_steps=64, update_epochs=4, minibatches=4, eval_episodes=5)
    agent.attach(lambda seed: make_env("CartPole-v1", seed=seed), seed=0)
    before = agent.evaluate_policy()["return"]
    train(agent, 1, 25, lr=3e-3, name="adam")
    assert agent.evaluate_policy()["return"] > max(2 * before, 60)


def test_an_agent_without_environments_says_so():
    with pytest.raises(NeuralabError, match="has no environment"):
        DQN(4, 2).train_step(None, None)

"""Control runs end to end: every agent recipe trains a little through the CLI, is evaluated on fixed seeds, draws
its report, plays from the command line, and refuses bad settings in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neuralab.cli.main import main
from neuralab.tasks import load_run

SMALL = {
    "frozenlake-q": ["trainer.epochs=2", "trainer.steps_per_epoch=2", "model.eval_episodes=10",
                     "data.eval_episodes=50"],
    "gridworld-q": ["trainer.epochs=2", "trainer.steps_per_epoch=2", "data.eval_episodes=20"],
    "cartpole-dqn": ["trainer.epochs=2", "trainer.steps_per_epoch=2", "model.learning_starts=100",
                     "model.gradient_steps=4", "data.eval_episodes=5", "model.hidden_sizes=[16]"],
    "cartpole-ppo": ["trainer.epochs=2", "trainer.steps_per_epoch=2", "data.eval_episodes=5"],
    "cartpole-reinforce": ["trainer.epochs=2", "trainer.steps_per_epoch=2", "data.eval_episodes=5"],
    "acrobot-ppo": ["trainer.epochs=1", "trainer.steps_per_epoch=1", "model.n_envs=2", "model.n_steps=64",
                    "data.eval_episodes=2", "model.eval_episodes=1", "data.max_episode_steps=100"],
}


def sets(items):
    return [arg for item in items for arg in ("--set", item)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for recipe, items in SMALL.items():
        out[recipe] = tmp_path_factory.mktemp("runs") / recipe
        assert main(["train", recipe, *sets(items), "--quiet", "--out", str(out[recipe])]) == 0, recipe
    return out


@pytest.mark.parametrize("recipe", sorted(SMALL))
def test_every_agent_trains_through_the_engine_and_is_evaluated_on_fixed_seeds(runs, recipe):
    metrics = json.loads((runs[recipe] / "metrics.json").read_text())
    assert metrics["task"] == "control" and metrics["monitor"] == "val_return" and metrics["mode"] == "max"
    last = metrics["history"][-1]
    assert "val_return" in last and last["env_steps"] > 0
    test = metrics["final"]["test"]
    assert np.isfinite(test["return"]) and test["return_std"] >= 0
    episodes = next(int(i.split("=")[1]) for i in SMALL[recipe] if i.startswith("data.eval_episodes="))
    assert metrics["evaluation"]["episodes"] == episodes and metrics["evaluation"]["seeds"][0] == 1_000_000
    files = [f["file"] for f in json.loads((runs[recipe] / "figures.json").read_text())]
    assert {"training.png", "episode.gif"} <= set(files)
    if recipe in ("frozenlake-q", "gridworld-q"):
        assert "policy.png" in files and "success_rate" in test
        assert metrics["optimum"]["method"] == "value iteration" and 0 <= metrics["optimum"]["success_rate"] <= 1


def test_a_frozenlake_run_is_compared_with_the_optimum_on_the_same_episodes(runs):
    run = load_run(runs["frozenlake-q"])
    optimum = run.optimum()
    assert optimum["success_rate"] == pytest.approx(
        json.loads((runs["frozenlake-q"] / "metrics.json").read_text())["optimum"]["success_rate"])
    assert len(optimum["policy"]) == 16


def test_play_prints_the_returns_and_writes_a_gif(runs, tmp_path, capsys):
    gif = tmp_path / "cart.gif"
    assert main(["play", str(runs["cartpole-ppo"]), "--episodes", "3", "--seed", "7", "--render", "gif",
                 "-o", str(gif)]) == 0
    out = capsys.readouterr().out
    assert "mean return" in out and "over 3 episodes" in out and gif.stat().st_size > 1000
    result = load_run(runs["cartpole-ppo"]).play(3, seed=7)
    assert result["seeds"] == [7, 9] and result == load_run(runs["cartpole-ppo"]).play(3, seed=7)


@pytest.mark.parametrize("args, message", [
    (["--episodes", "0"], "episodes must be a whole number from 1 to 10,000"),
    (["--render", "mp4"], "render must be gif"),
])
def test_play_refuses_bad_requests(runs, capsys, args, message):
    assert main(["play", str(runs["cartpole-dqn"]), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("recipe, items, message", [
    ("cartpole-dqn", ["data.name=Pendulum-v1"], "has continuous actions"),
    ("cartpole-dqn", ["data.name=CartPol-v1"], "did you mean 'CartPole-v1'"),
    ("cartpole-dqn", ["trainer.steps_per_epoch=null"], "trainer.steps_per_epoch: an agent makes its own data"),
    ("frozenlake-q", ["data.name=CartPole-v1", "data.options={}"], "needs discrete states"),
])
def test_bad_control_recipes_stop_with_one_line(tmp_path, capsys, recipe, items, message):
    assert main(["train", recipe, *sets(items), "--quiet", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and not (tmp_path / "x").exists()


def test_a_bad_grid_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "gridworld-q", "--set", "data.grid=['S.', 'G']", "--quiet", "--out",
                 str(tmp_path / "g")]) == 2
    assert "rows of equal length" in capsys.readouterr().err


def test_an_agent_keeps_the_weights_of_its_best_evaluation(runs):
    """An agent's last epoch may be a bad one (DQN's evaluations swing): the run keeps its best val_return."""
    import torch

    from neuralab.train.state import load_state

    metrics = json.loads((runs["cartpole-ppo"] / "metrics.json").read_text())
    returns = [h["val_return"] for h in metrics["history"]]
    assert metrics["kept"] == "best" and metrics["best_epoch"] == 1 + int(np.argmax(returns))
    best = load_state(runs["cartpole-ppo"] / "checkpoints" / "best.ckpt")["model"]
    kept = load_run(runs["cartpole-ppo"]).model.state_dict()
    assert all(torch.equal(best[k], kept[k]) for k in best)

"""The engine's extension points: named parameter groups, train_step through Optimizers.update, streams with
steps_per_epoch, a model's own evaluation, and training state that is not a weight."""

import pytest
import torch
from torch import nn
from torch.utils.data import IterableDataset

from neuralab.errors import ConfigError, NeuralabError, TrainingError
from neuralab.train import (
    Checkpoint,
    FitData,
    OptimizerConfig,
    SchedulerConfig,
    TrainerConfig,
    fit,
)
from neuralab.train.state import load_state, save_state


class Players(nn.Module):
    """Two players, each fitting its own constant through ``optimizers.update``, as a GAN's G and D do."""

    def __init__(self, bad_step: int | None = None):
        super().__init__()
        self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)
        self.bad_step, self.steps = bad_step, 0

    def optimizer_groups(self):
        return {"first": list(self.a.parameters()), "second": list(self.b.parameters())}

    def train_step(self, batch, optimizers):
        (x,) = batch
        self.steps += 1
        loss_a = (self.a(x) - 1).pow(2).mean()
        if self.steps == self.bad_step:
            loss_a = loss_a * float("nan")
        optimizers.update(loss_a, "first")
        loss_b = (self.b(x) + 1).pow(2).mean()
        optimizers.update(loss_b, "second")
        return {"a": loss_a.detach(), "b": loss_b.detach()}


def test_each_group_gets_its_own_optimiser_config_and_schedule():
    model = Players()
    x = torch.randn(64, 2)
    optimizer = OptimizerConfig(name="sgd", lr=0.1, groups={"second": {"lr": 0.01}})
    scheduler = SchedulerConfig(name="step", step_size=1, gamma=0.5, groups={"second": {"gamma": 0.1}})
    state = fit(model, (x,), TrainerConfig(epochs=3, batch_size=16), optimizer=optimizer, scheduler=scheduler)
    assert state.optimizers.names == ["first", "second"]
    assert state.optimizers["first"].param_groups[0]["params"][0] is model.a.weight
    first, last = state.history[0], state.history[-1]
    assert first["lr_first"] == pytest.approx(0.1) and first["lr_second"] == pytest.approx(0.01)
    # both schedules were stepped after each epoch, each with its own gamma
    assert last["lr_first"] == pytest.approx(0.1 * 0.5 ** 2) and last["lr_second"] == pytest.approx(0.01 * 0.1 ** 2)
    assert state.optimizers["first"].param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 3)


def test_a_group_override_naming_another_optimiser_drops_the_first_ones_options():
    model = Players()
    optimizer = OptimizerConfig(name="adam", lr=1e-3, betas=(0.5, 0.9), groups={"second": {"name": "sgd"}})
    state = fit(model, (torch.randn(8, 2),), TrainerConfig(epochs=1, batch_size=8), optimizer=optimizer)
    assert type(state.optimizers["first"]).__name__ == "Adam"
    assert state.optimizers["first"].param_groups[0]["betas"] == (0.5, 0.9)
    assert type(state.optimizers["second"]).__name__ == "SGD"


def test_an_override_for_a_group_the_model_lacks_is_an_error_naming_its_groups():
    with pytest.raises(ConfigError, match=r"optimizer.groups.scond: .*did you mean 'second'.*first, second"):
        fit(Players(), (torch.randn(8, 2),), TrainerConfig(epochs=1),
            optimizer=OptimizerConfig(groups={"scond": {"lr": 0.1}}))


def test_train_step_updates_get_gradient_clipping_and_the_penalty():
    x = torch.randn(32, 2, generator=torch.Generator().manual_seed(0)) * 100  # large inputs: large gradients
    moved = {}
    for clip in (1e-3, None):
        model = Players()
        start = model.a.weight.detach().clone()
        fit(model, (x,), TrainerConfig(epochs=1, batch_size=32, grad_clip=clip, shuffle=False),
            optimizer=OptimizerConfig(name="sgd", lr=1.0))
        moved[clip] = (model.a.weight - start).norm().item()
    assert moved[1e-3] <= 1e-3 + 1e-6 < moved[None]

    decayed = Players()
    x = torch.zeros(16, 2)  # no data gradient on the weights: only the L2 penalty moves them
    before = decayed.a.weight.detach().clone()
    fit(decayed, (x,), TrainerConfig(epochs=1, batch_size=16, l2=0.5, seed=3),
        optimizer=OptimizerConfig(name="sgd", lr=0.1))
    assert torch.allclose(decayed.a.weight, before * (1 - 0.1 * 2 * 0.5))


def test_a_nan_in_a_train_step_update_stops_training_with_the_step():
    with pytest.raises(TrainingError, match=r"a loss \(or a value train_step returned\) is nan at epoch 1, step 3 "):
        fit(Players(bad_step=3), (torch.randn(64, 2),), TrainerConfig(epochs=2, batch_size=8))


def test_a_model_with_two_groups_and_no_train_step_is_refused():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)

        def optimizer_groups(self):
            return {"a": list(self.a.parameters()), "b": list(self.b.parameters())}

        def forward(self, x):
            return self.a(x) + self.b(x)

    with pytest.raises(NeuralabError, match="2 parameter groups .* no train_step"):
        fit(Two(), (torch.randn(8, 2), torch.randn(8, 1)), TrainerConfig(epochs=1), loss="mse")


class Sampler(nn.Module):
    """A model that makes its own data (as an agent does in its environment) and evaluates itself."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("seen", torch.zeros(()))
        self.draws = torch.Generator().manual_seed(0)
        self.evaluated_with = []

    def train_step(self, batch, optimizers):
        assert batch is None
        target = torch.randn(8, generator=self.draws) + 3.0
        loss = (self.w - target).pow(2).mean()
        optimizers.update(loss)
        self.seen += 8
        return {"loss": loss.detach()}

    def evaluate(self, batches):
        self.evaluated_with.append(batches)
        return {"return": -abs(self.w.item() - 3.0)}

    def train_state_dict(self):
        return {"draws": self.draws.get_state()}

    def load_train_state_dict(self, state):
        self.draws.set_state(state["draws"])


def test_a_stream_trains_steps_per_epoch_steps_and_logs_the_models_own_evaluation():
    model = Sampler()
    state = fit(model, FitData(None), TrainerConfig(epochs=3, steps_per_epoch=5), optimizer=OptimizerConfig(lr=0.1))
    assert state.global_step == 15 and model.seen.item() == 120
    assert model.evaluated_with == [None, None, None]
    assert state.history[-1]["val_return"] > state.history[0]["val_return"]


def test_a_stream_without_steps_per_epoch_is_a_clear_error():
    with pytest.raises(NeuralabError, match="needs trainer.steps_per_epoch"):
        fit(Sampler(), FitData(None), TrainerConfig(epochs=1))


def test_an_iterable_dataset_goes_on_where_the_last_epoch_stopped():
    class Counting(IterableDataset):
        def __iter__(self):
            return iter(torch.arange(10.0).reshape(10, 1))

    seen = []

    class Record(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def loss(self, batch):
            seen.append(batch[0].flatten().tolist())
            return (self.w - batch[0]).pow(2).mean()

    fit(Record(), FitData(Counting()), TrainerConfig(epochs=2, batch_size=4, steps_per_epoch=2))
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9], [0, 1, 2, 3]]  # a finite stream starts again


def test_steps_per_epoch_takes_the_first_batches_of_each_pass_and_cannot_exceed_one():
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    state = fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=2, batch_size=8, steps_per_epoch=3), loss="mse")
    assert state.global_step == 6
    with pytest.raises(NeuralabError, match="steps_per_epoch=9 exceeds the 5 batches"):
        fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=1, batch_size=8, steps_per_epoch=9), loss="mse")


def test_train_state_that_is_not_a_weight_is_checkpointed_and_resumed_exactly(tmp_path):
    config = TrainerConfig(epochs=4, steps_per_epoch=3)
    whole = Sampler()
    fit(whole, FitData(None), config, optimizer=OptimizerConfig(lr=0.1))
    half = Sampler()
    fit(half, FitData(None), config.model_copy(update={"epochs": 2}), [Checkpoint(tmp_path)],
        optimizer=OptimizerConfig(lr=0.1))
    resumed = Sampler()  # a fresh process: its generator starts from the seed again
    fit(resumed, FitData(None), config, [Checkpoint(tmp_path)], optimizer=OptimizerConfig(lr=0.1),
        resume=tmp_path / "last.ckpt")
    assert torch.equal(resumed.w, whole.w)


def test_a_tampered_checkpoint_is_a_one_line_error_naming_it(tmp_path):
    x, y = torch.randn(16, 3), torch.randn(16, 1)
    fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=1), [Checkpoint(tmp_path)], loss="mse")
    state = load_state(tmp_path / "last.ckpt")
    state["epoch"] = "three"
    save_state(state, tmp_path / "bad.ckpt")
    with pytest.raises(NeuralabError, match=r"checkpoint .*bad.ckpt is damaged") as info:
        fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=2), loss="mse", resume=tmp_path / "bad.ckpt")
    assert "\n" not in str(info.value)
    state["epoch"], state["optimizers"] = 1, [{"state": {}, "param_groups": "x"}]
    save_state(state, tmp_path / "bad.ckpt")
    with pytest.raises(NeuralabError, match=r"bad.ckpt is damaged"):
        fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=2), loss="mse", resume=tmp_path / "bad.ckpt")


def test_zero_epochs_is_refused():
    with pytest.raises(ValueError, match="epochs"):
        TrainerConfig(epochs=0)


class Counting(IterableDataset):
    """0, 1, ..., n-1 as rows of one feature, in order."""

    def __init__(self, n: int = 40):
        self.n = n

    def __iter__(self):
        return iter(torch.arange(float(self.n)).reshape(self.n, 1))


class Fit(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def loss(self, batch):
        return (self.w - batch[0]).pow(2).mean()


def test_resuming_a_stream_goes_on_where_it_stopped(tmp_path):
    config = TrainerConfig(epochs=4, batch_size=4, steps_per_epoch=3)
    whole = Fit()
    fit(whole, FitData(Counting()), config, optimizer=OptimizerConfig(name="sgd", lr=0.01))
    half = Fit()
    fit(half, FitData(Counting()), config.model_copy(update={"epochs": 2}), [Checkpoint(tmp_path)],
        optimizer=OptimizerConfig(name="sgd", lr=0.01))
    resumed = Fit()
    fit(resumed, FitData(Counting()), config, [Checkpoint(tmp_path)], optimizer=OptimizerConfig(name="sgd", lr=0.01),
        resume=tmp_path / "last.ckpt")
    assert torch.equal(resumed.w, whole.w)


def test_stream_edge_cases_are_clear_errors_or_work():
    with pytest.raises(NeuralabError, match="yields no batch"):
        fit(Fit(), FitData(Counting(0)), TrainerConfig(epochs=1, steps_per_epoch=2))
    from torch.utils.data import DataLoader

    with pytest.raises(NeuralabError, match="needs trainer.steps_per_epoch"):
        fit(Fit(), FitData(DataLoader(Counting(), batch_size=4)), TrainerConfig(epochs=1))
    state = fit(Fit(), FitData(Counting(), Counting(12)), TrainerConfig(epochs=1, batch_size=4, steps_per_epoch=2))
    assert state.history[-1]["val_loss"] > 0  # a finite validation stream is read once


def test_steps_per_epoch_without_shuffling_is_refused():
    x, y = torch.randn(40, 3), torch.randn(40, 1)
    with pytest.raises(NeuralabError, match="same first 2 batches every epoch"):
        fit(nn.Linear(3, 1), (x, y), TrainerConfig(epochs=1, batch_size=4, steps_per_epoch=2, shuffle=False),
            loss="mse")


def test_a_bad_group_override_names_its_section():
    with pytest.raises(ConfigError, match=r"^optimizer\.groups\.second\.lr: "):
        fit(Players(), (torch.randn(8, 2),), TrainerConfig(epochs=1),
            optimizer=OptimizerConfig(groups={"second": {"lr": -1}}))


def test_max_norm_constrains_only_the_group_just_updated():
    from neuralab.nn import apply_max_norm

    model = Players()
    with torch.no_grad():
        model.a.weight.fill_(10.0), model.b.weight.fill_(10.0)
    apply_max_norm(model, 1.0, only=list(model.a.parameters()))
    assert model.a.weight.norm().item() == pytest.approx(1.0) and model.b.weight.norm().item() > 10

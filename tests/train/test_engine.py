import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from neuralab.errors import NeuralabError, TrainingError
from neuralab.train import (
    Checkpoint,
    EarlyStoppingConfig,
    FitData,
    OptimizerConfig,
    SchedulerConfig,
    TrainerConfig,
    evaluate,
    fit,
    load_state,
    predict,
    save_state,
)
from neuralab.train.callbacks import is_improvement


def _blobs(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 4, generator=g) * 0.5 + nn.functional.one_hot(y, 4).float() * 2
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 3))


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_fit_learns_and_logs_history():
    x, y = _blobs()
    model = _model()
    state = fit(model, FitData((x, y), (x, y)), TrainerConfig(epochs=15, batch_size=16),
                optimizer=OptimizerConfig(name="adam", lr=0.01), loss="cross_entropy", metrics=["accuracy"])
    assert len(state.history) == 15
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]
    assert state.history[-1]["val_accuracy"] > 0.9
    assert {"epoch", "train_loss", "val_loss", "val_accuracy", "lr", "time"} <= set(state.history[0])


def test_same_seed_gives_identical_weights_and_other_seed_does_not():
    x, y = _blobs()
    runs = []
    for seed in (3, 3, 4):
        model = _model(seed)
        fit(model, (x, y), TrainerConfig(epochs=3, batch_size=8, seed=seed), loss="cross_entropy")
        runs.append(_weights(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


def test_dataloader_path_trains_and_is_deterministic():
    x, y = _blobs()
    runs = []
    for _ in range(2):
        model = _model()
        state = fit(model, FitData(TensorDataset(x, y), TensorDataset(x, y)), TrainerConfig(epochs=8, batch_size=10),
                    loss="cross_entropy", optimizer=OptimizerConfig(lr=0.01), metrics=["accuracy"])
        runs.append(_weights(model))
    assert state.history[-1]["val_accuracy"] > 0.9
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_model_with_own_loss_trains_without_loss_argument():
    class AutoEncoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Linear(4, 2), nn.Linear(2, 4))

        def forward(self, x):
            return self.net(x)

        def loss(self, batch):
            return nn.functional.mse_loss(self(batch[0]), batch[0])

    x, _ = _blobs()
    state = fit(AutoEncoder(), FitData((x,), (x,)), TrainerConfig(epochs=20, batch_size=16),
                optimizer=OptimizerConfig(lr=0.01))
    assert state.history[-1]["val_loss"] < state.history[0]["val_loss"]


def test_a_loss_dict_backpropagates_its_loss_and_logs_its_terms():
    class Terms(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Linear(4, 4)

        def forward(self, x):
            return self.net(x)

        def loss(self, batch):
            error = nn.functional.mse_loss(self(batch[0]), batch[0])
            size = self.net.weight.pow(2).mean()
            return {"loss": error + 0.1 * size, "reconstruction": error, "size": size}

    x, _ = _blobs()
    model = Terms()
    state = fit(model, FitData((x,), (x,)), TrainerConfig(epochs=15, batch_size=16),
                optimizer=OptimizerConfig(lr=0.01))
    first, last = state.history[0], state.history[-1]
    assert {"train_reconstruction", "train_size", "val_loss", "val_reconstruction", "val_size"} <= set(last)
    assert last["val_reconstruction"] < first["val_reconstruction"]
    val = evaluate(model, (x,), loss=model.loss)
    assert val["loss"] == pytest.approx(val["reconstruction"] + 0.1 * val["size"], rel=1e-5)


class TwoPlayer(nn.Module):
    """A toy model with two optimisers, as a GAN has: each player fits its own target."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(2, 1), nn.Linear(2, 1)

    def optimizer_groups(self):
        return [list(self.a.parameters()), list(self.b.parameters())]

    def train_step(self, batch, optimizers):
        x, = batch
        opt_a, opt_b = optimizers
        loss_a = (self.a(x) - 1).pow(2).mean()
        opt_a.zero_grad()
        loss_a.backward()
        opt_a.step()
        loss_b = (self.b(x) + 1).pow(2).mean()
        opt_b.zero_grad()
        loss_b.backward()
        opt_b.step()
        return {"loss": loss_a.item() + loss_b.item(), "a": loss_a.item(), "b": loss_b.item()}


def test_train_step_extension_point_uses_two_optimizers():
    model = TwoPlayer()
    x = torch.randn(64, 2)
    state = fit(model, (x,), TrainerConfig(epochs=30, batch_size=16), optimizer=OptimizerConfig(name="sgd", lr=0.1))
    assert len(state.optimizers) == 2
    assert state.optimizers[0].param_groups[0]["params"][0] is model.a.weight
    assert state.history[-1]["train_a"] < 0.01 and state.history[-1]["train_b"] < 0.01
    assert torch.allclose(model.a(x), torch.ones(64, 1), atol=0.2)
    assert torch.allclose(model.b(x), -torch.ones(64, 1), atol=0.2)


def test_non_finite_loss_stops_with_one_line_naming_epoch_step_and_lr():
    x, y = _blobs()
    x[37] = float("nan")  # batch 4 of epoch 1 when not shuffled
    with pytest.raises(TrainingError, match=r"loss is nan at epoch 1, step 4 .*lr 0\.01.*smaller learning rate"):
        fit(_model(), (x, y), TrainerConfig(epochs=2, batch_size=12, shuffle=False), loss="cross_entropy",
            optimizer=OptimizerConfig(lr=0.01))


def test_early_stopping_stops_and_restores_best_weights():
    x, y = _blobs()
    xv, yv = _blobs(seed=1)
    yv = (yv + 1) % 3  # validation labels the model cannot learn: val loss gets worse as it trains
    model = _model()
    snapshots = []

    class Snap(Checkpoint):
        def on_epoch_end(self, state):
            snapshots.append(_weights(state.model))

    es = EarlyStoppingConfig(patience=2)
    state = fit(model, FitData((x, y), (xv, yv)), TrainerConfig(epochs=50, batch_size=16, early_stopping=es),
                [Snap(".")], optimizer=OptimizerConfig(lr=0.05), loss="cross_entropy")
    losses = [h["val_loss"] for h in state.history]
    best = min(range(len(losses)), key=losses.__getitem__)
    assert len(state.history) == best + 1 + 2, "stopped after `patience` epochs without improvement"
    assert all(torch.equal(v, snapshots[best][k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("mode, value, best, delta, expected", [
    ("min", 0.9, 1.0, 0.0, True), ("min", 0.95, 1.0, 0.1, False), ("max", 0.9, 0.8, 0.0, True),
    ("max", 0.8, 0.8, 0.0, False), ("min", float("nan"), 1.0, 0.0, False), ("min", 5.0, None, 0.0, True),
])
def test_is_improvement_decision(mode, value, best, delta, expected):
    assert is_improvement(value, best, mode=mode, min_delta=delta) is expected


def test_resume_from_checkpoint_matches_uninterrupted_run(tmp_path):
    x, y = _blobs()
    data = FitData((x, y), (x, y))
    kw = dict(optimizer=OptimizerConfig(name="adamw", lr=0.01), loss="cross_entropy",
              scheduler=SchedulerConfig(name="cosine", warmup_epochs=1),)
    cfg = TrainerConfig(epochs=5, batch_size=8, early_stopping=EarlyStoppingConfig(patience=10))
    full = _model()
    fit(full, data, cfg, [Checkpoint(tmp_path / "a")], **kw)

    class Crash(Checkpoint):
        def on_epoch_start(self, state):
            if state.epoch == 3:
                raise KeyboardInterrupt  # dies mid-run, after epoch 2's checkpoint

    with pytest.raises(KeyboardInterrupt):
        fit(_model(), data, cfg, [Checkpoint(tmp_path / "b"), Crash(tmp_path / "unused")], **kw)
    resumed = _model(seed=99)  # different init: everything must come from the checkpoint
    state = fit(resumed, data, cfg, [Checkpoint(tmp_path / "b")], resume=tmp_path / "b" / "last.ckpt", **kw)
    assert [h["epoch"] for h in state.history] == [1, 2, 3, 4, 5]
    for k, v in full.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k


def test_bad_inputs_raise_clear_errors():
    x, y = _blobs()
    with pytest.raises(NeuralabError, match="differ in length"):
        fit(_model(), (x, y[:5]), TrainerConfig(epochs=1), loss="cross_entropy")
    with pytest.raises(NeuralabError, match="unknown metric 'acuracy'.*did you mean 'accuracy'"):
        fit(_model(), (x, y), TrainerConfig(epochs=1), loss="cross_entropy", metrics=["acuracy"])
    with pytest.raises(NeuralabError, match="no loss method"):
        fit(_model(), (x, y), TrainerConfig(epochs=1))


def test_evaluate_and_predict_batch_over_whole_split():
    x, y = _blobs()
    model = _model()
    out = predict(model, x, batch_size=7)
    assert out.shape == (96, 3)
    full = evaluate(model, (x, y), loss="cross_entropy", metrics=["accuracy", "nll"], batch_size=7)
    assert full["loss"] == pytest.approx(full["nll"], rel=1e-5)
    assert full["accuracy"] == pytest.approx((out.argmax(1) == y).float().mean().item())


def test_bf16_autocast_trains():
    x, y = _blobs()
    state = fit(_model(), (x, y), TrainerConfig(epochs=10, batch_size=16, precision="bf16"), loss="cross_entropy",
                optimizer=OptimizerConfig(lr=0.01))
    assert state.history[-1]["train_loss"] < state.history[0]["train_loss"]


def test_channels_last_trains_the_same_model_in_nhwc(tmp_path):
    torch.manual_seed(0)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 2, (32,))

    def net() -> nn.Module:
        torch.manual_seed(1)
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))

    config = dict(epochs=3, batch_size=8, seed=0)
    plain, nhwc = net(), net()
    a = fit(plain, (x, y), TrainerConfig(**config), loss="cross_entropy")
    b = fit(nhwc, (x, y), TrainerConfig(**config, channels_last=True), loss="cross_entropy")
    assert nhwc[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not nhwc[0].weight.is_contiguous()
    assert [h["train_loss"] for h in b.history] == pytest.approx([h["train_loss"] for h in a.history], rel=1e-4)
    save_state({"model": nhwc.state_dict()}, tmp_path / "w.st")  # safetensors needs contiguous tensors
    plain.load_state_dict(load_state(tmp_path / "w.st")["model"])
    assert torch.allclose(plain(x), nhwc(x), atol=1e-5)


def test_channels_last_leaves_non_2d_convolutions_alone():
    model = nn.Sequential(nn.Conv3d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4 * 4, 2))
    x, y = torch.randn(8, 1, 6, 6, 6), torch.randint(0, 2, (8,))
    state = fit(model, (x, y), TrainerConfig(epochs=1, batch_size=4, channels_last=True), loss="cross_entropy")
    assert len(state.history) == 1 and model[0].weight.is_contiguous()


def test_regularisation_options_are_applied():
    x, y = _blobs()
    model = _model()
    fit(model, (x, y), TrainerConfig(epochs=5, batch_size=16, max_norm=0.5, grad_clip=1.0, l1=1e-3, l2=1e-3),
        loss="cross_entropy", optimizer=OptimizerConfig(lr=0.1))
    assert model[0].weight.norm(dim=1).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 4, False, [4, 4, 2]), (9, 4, False, [4, 5]), (9, 4, True, [4, 4]), (3, 4, False, [3]), (1, 4, False, [1]),
])
def test_fast_path_batches_never_leave_a_single_row_behind(n, batch_size, drop_last, sizes):
    from neuralab.train.batches import Batches

    batches = Batches((torch.arange(n),), batch_size, torch.device("cpu"), torch.Generator(), shuffle=True,
                       drop_last=drop_last)
    got = [len(b[0]) for b in batches]
    assert got == sizes and len(batches) == len(sizes)
    if not drop_last:
        assert sorted(torch.cat([b[0] for b in batches]).tolist()) == list(range(n))


def test_batch_norm_model_trains_when_rows_leave_one_over():
    x, y = _blobs(n=33)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    state = fit(model, (x, y), TrainerConfig(epochs=2, batch_size=8), loss="cross_entropy")
    assert len(state.history) == 2


def test_dataset_with_collate_method_is_batched_with_it():
    class Ragged(torch.utils.data.Dataset):
        """Rows of different lengths; the model sees their padded sums."""

        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.rows = [torch.randn(int(n), generator=g) for n in torch.randint(1, 6, (40,), generator=g)]
            self.y = [r.sum().reshape(1) for r in self.rows]

        def __len__(self):
            return len(self.rows)

        def __getitem__(self, i):
            return self.rows[i], self.y[i]

        @staticmethod
        def collate(items):
            rows, ys = zip(*items)
            padded = torch.nn.utils.rnn.pad_sequence(list(rows), batch_first=True)
            return torch.nn.functional.pad(padded, (0, 5 - padded.shape[1])), torch.stack(ys)

    model = nn.Linear(5, 1)
    state = fit(model, FitData(Ragged(), Ragged()), TrainerConfig(epochs=60, batch_size=8), loss="mse",
                optimizer=OptimizerConfig(lr=0.05))
    assert state.history[-1]["val_loss"] < 1e-3


def test_stack_losses_handles_tensors_and_mixed_values_alike():
    from neuralab.train.callbacks import stack_losses

    assert stack_losses([torch.tensor(1.0), torch.tensor(3.0)]).tolist() == [1.0, 3.0]
    assert stack_losses([torch.tensor(1.0, dtype=torch.bfloat16), 2.5, torch.tensor([4.0])]).tolist() == [1.0, 2.5, 4.0]

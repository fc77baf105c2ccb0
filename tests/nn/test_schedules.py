"""Tests for neuralab.nn.schedules."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from neuralab.errors import NeuralabError
from neuralab.nn.schedules import (
    SCHEDULES,
    WARMUP_START_FACTOR,
    Schedule,
    build_scheduler,
)

PLAIN = (int, float, str, bool, type(None), torch.Tensor)


def sgd(lr: float = 0.1, momentum: float = 0.0) -> torch.optim.SGD:
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=lr, momentum=momentum)


def run(schedule: Schedule, n: int, metric: float = 1.0) -> list[float]:
    """The lr used by each of ``n`` optimiser steps (or epochs), stepping the scheduler after each."""
    opt = schedule.scheduler.optimizer
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if schedule.monitor is None:
            schedule.scheduler.step()
        else:
            schedule.scheduler.step(metric)
    lrs.append(opt.param_groups[0]["lr"])
    return lrs


def assert_plain(value: object, where: str = "state_dict") -> None:
    """Fail unless ``value`` is made only of plain Python values, containers and tensors (no functions/objects)."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert isinstance(key, (str, int)), f"{where} has key {key!r}"
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    else:
        assert isinstance(value, PLAIN), f"{where} holds {type(value).__name__}: {value!r}"


def test_constant_without_warmup_is_none() -> None:
    assert build_scheduler("none", sgd(), epochs=3, steps_per_epoch=2) is None
    assert build_scheduler("constant", sgd(), epochs=3, steps_per_epoch=2) is None


@pytest.mark.parametrize("name", ["constant", "step", "cosine"])
def test_warmup_starts_near_zero_and_reaches_base_lr(name: str) -> None:
    # 1 warm-up epoch of 4 steps; the lr used at step 4 (the first after the warm-up) is the base lr.
    schedule = build_scheduler(name, sgd(0.1), epochs=5, steps_per_epoch=4, warmup_epochs=1)
    assert schedule is not None and schedule.interval == "step"
    lrs = run(schedule, 8)
    assert lrs[0] == pytest.approx(0.1 * WARMUP_START_FACTOR)
    assert all(a < b for a, b in zip(lrs[:4], lrs[1:5], strict=True))
    assert lrs[4] == pytest.approx(0.1)


def test_fractional_warmup_is_rounded_to_steps() -> None:
    # 0.3 epochs of 10 steps = 3 warm-up steps (0, 1, 2); step 3 uses the base lr.
    schedule = build_scheduler("cosine", sgd(0.1), epochs=4, steps_per_epoch=10, warmup_epochs=0.3)
    lrs = run(schedule, 3)
    assert lrs[2] < 0.1
    assert lrs[3] == pytest.approx(0.1)


def test_cosine_ends_at_min_lr() -> None:
    schedule = build_scheduler("cosine", sgd(0.1), epochs=3, steps_per_epoch=5, min_lr=0.01)
    assert schedule.interval == "step"
    lrs = run(schedule, 15)
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[15] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_cosine_after_warmup_still_ends_at_min_lr() -> None:
    schedule = build_scheduler("cosine", sgd(0.1), epochs=3, steps_per_epoch=5, warmup_epochs=1, min_lr=0.01)
    assert run(schedule, 15)[15] == pytest.approx(0.01)


def test_step_decays_every_step_size_epochs() -> None:
    schedule = build_scheduler("step", sgd(0.1), epochs=6, steps_per_epoch=100, step_size=2, gamma=0.5)
    assert schedule.interval == "epoch"
    assert run(schedule, 5) == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025])


@pytest.mark.parametrize("max_lr", [None, 0.5])
def test_one_cycle_peaks_at_max_lr(max_lr: float | None) -> None:
    kwargs = {} if max_lr is None else {"max_lr": max_lr}
    schedule = build_scheduler("one_cycle", sgd(0.1), epochs=4, steps_per_epoch=10, **kwargs)
    assert schedule.interval == "step"
    # One scheduler step per optimiser step, 40 in all, as the engine does (OneCycleLR raises on a 41st).
    lrs = run(schedule, 40)[:40]  # the lr used by each of the 40 optimiser steps
    peak = 0.1 if max_lr is None else max_lr
    assert max(lrs) == pytest.approx(peak)
    assert lrs[0] == pytest.approx(peak / 25)  # div_factor
    assert lrs[-1] == pytest.approx(peak / 25 / 1e4)  # final_div_factor


def test_one_cycle_cycles_momentum_only_when_optimizer_has_it() -> None:
    plain = sgd(0.1)
    build_scheduler("one_cycle", plain, epochs=2, steps_per_epoch=5)
    assert plain.param_groups[0]["momentum"] == 0  # plain SGD stays plain
    heavy = sgd(0.1, momentum=0.9)
    build_scheduler("one_cycle", heavy, epochs=2, steps_per_epoch=5)
    assert heavy.param_groups[0]["momentum"] == pytest.approx(0.95)
    adagrad = torch.optim.Adagrad([nn.Parameter(torch.zeros(2))], lr=0.1)
    assert build_scheduler("one_cycle", adagrad, epochs=2, steps_per_epoch=5) is not None


def test_plateau_reduces_after_patience() -> None:
    schedule = build_scheduler("plateau", sgd(0.1), epochs=10, steps_per_epoch=3, patience=2, factor=0.5)
    assert schedule.interval == "epoch" and schedule.monitor == "val_loss"
    # A flat metric: the first call sets the best value, the next three are bad epochs; the third exceeds patience.
    assert run(schedule, 4, metric=1.0) == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.05])


def test_plateau_monitor_and_mode_are_configurable() -> None:
    schedule = build_scheduler("plateau", sgd(), epochs=5, steps_per_epoch=1, monitor="val_accuracy", mode="max")
    assert schedule.monitor == "val_accuracy"
    assert schedule.scheduler.mode == "max"


def schedules_to_check() -> list[tuple[str, dict, float]]:
    cases = [(name, {}, 0.0) for name in SCHEDULES if name not in ("none", "constant")]
    cases += [(name, {}, 1.0) for name in ("constant", "step", "cosine")]
    return cases


@pytest.mark.parametrize(("name", "kwargs", "warmup"), schedules_to_check())
def test_every_schedule_state_dict_is_pickle_free_and_round_trips(name: str, kwargs: dict, warmup: float) -> None:
    def make() -> Schedule:
        return build_scheduler(name, sgd(0.1, 0.9), epochs=4, steps_per_epoch=5, warmup_epochs=warmup, **kwargs)

    schedule = make()
    run(schedule, 7, metric=1.0)
    state = schedule.scheduler.state_dict()
    assert_plain(state)

    resumed = make()
    resumed.scheduler.optimizer.load_state_dict(schedule.scheduler.optimizer.state_dict())
    resumed.scheduler.load_state_dict(state)
    assert run(resumed, 5, metric=1.0) == pytest.approx(run(schedule, 5, metric=1.0))


def test_unknown_schedule_and_keyword_suggest_closest() -> None:
    with pytest.raises(NeuralabError, match=r"unknown schedule 'cosin' \(did you mean 'cosine'\?\); expected one"):
        build_scheduler("cosin", sgd(), epochs=2, steps_per_epoch=2)
    with pytest.raises(NeuralabError, match=r"'min_lrr' for schedule 'cosine' \(did you mean 'min_lr'\?\)"):
        build_scheduler("cosine", sgd(), epochs=2, steps_per_epoch=2, min_lrr=0.0)
    with pytest.raises(NeuralabError, match=r"'gamma' for schedule 'cosine'; valid keywords: min_lr"):
        build_scheduler("cosine", sgd(), epochs=2, steps_per_epoch=2, gamma=0.5)
    with pytest.raises(NeuralabError, match=r"'gamma' for schedule 'none'; it takes no keywords"):
        build_scheduler("none", sgd(), epochs=2, steps_per_epoch=2, gamma=0.5)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("cosine", {"epochs": 0}, "epochs must be a positive int; got 0"),
        ("cosine", {"steps_per_epoch": 2.5}, "steps_per_epoch must be a positive int; got 2.5"),
        ("cosine", {"warmup_epochs": -1}, "warmup_epochs must be a finite float >= 0; got -1"),
        ("cosine", {"warmup_epochs": 3}, r"warmup_epochs must leave steps for the 'cosine' schedule; got 3 "),
        ("cosine", {"warmup_epochs": 2.9}, r"must leave steps .*\(6 steps\) in a run of 3 epochs \(6 steps\)"),
        ("constant", {"warmup_epochs": 4}, "warmup_epochs must leave steps for the 'constant' schedule"),
        ("one_cycle", {"warmup_epochs": 1}, "not supported with the 'one_cycle' schedule; .*pct_start"),
        ("plateau", {"warmup_epochs": 1}, "not supported with the 'plateau' schedule"),
        ("step", {"step_size": 0}, "step_size must be a positive int; got 0"),
        ("plateau", {"factor": 1.5}, "schedule 'plateau': Factor should be < 1.0"),
        ("plateau", {"monitor": ""}, "monitor must be a metric name"),
    ],
)
def test_bad_schedule_arguments_raise_one_line_errors(name: str, kwargs: dict, message: str) -> None:
    args = {"epochs": 3, "steps_per_epoch": 2, **kwargs}
    with pytest.raises(NeuralabError, match=message) as info:
        build_scheduler(name, sgd(), **args)
    assert "\n" not in str(info.value)


def test_the_momentum_schedule_switches_from_half_to_nine_tenths_and_keeps_the_lr():
    opt = sgd(0.1)
    opt.param_groups[0]["momentum"] = 0.9
    schedule = build_scheduler("momentum", opt, epochs=10, steps_per_epoch=5, switch_epoch=3)
    assert schedule.interval == "epoch"
    seen = [opt.param_groups[0]["momentum"]]
    for _ in range(4):
        opt.step()
        schedule.scheduler.step()
        seen.append(opt.param_groups[0]["momentum"])
    assert seen == [0.5, 0.5, 0.5, 0.9, 0.9] and opt.param_groups[0]["lr"] == 0.1
    adam = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    build_scheduler("momentum", adam, epochs=2, steps_per_epoch=1)
    assert adam.param_groups[0]["betas"][0] == 0.5


def test_the_momentum_schedule_needs_an_optimiser_with_momentum():
    opt = torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(NeuralabError, match="needs an optimiser with momentum"):
        build_scheduler("momentum", opt, epochs=2, steps_per_epoch=1)

"""A plain-English note on over- and under-fitting, read off the learning curves.

The rules are deliberately simple and deterministic: a pure function of the history, so that the same run always
gets the same note and each branch can be tested with a handful of synthetic epochs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from neuralab.directions import direction
from neuralab.errors import NeuralabError

__all__ = ["diagnose", "OVERFIT_RISE", "OVERFIT_GAP", "STEEP_DROP", "STALL_DROP", "EXPLODE"]

OVERFIT_RISE = 0.10  # the monitored val metric ended >10% worse (relative to its best) than at its best epoch
OVERFIT_GAP = 0.50  # the final val loss is >50% above the final train loss
STEEP_DROP = 0.02  # train loss still falls >2% per epoch over the last fifth of the epochs
STALL_DROP = 0.05  # train loss ended <5% below its first epoch
EXPLODE = 10.0  # train loss ended >10x its first epoch
STILL_IMPROVING = 0.02  # the val metric ended within 2% of its best: it has not turned yet
_TINY = 1e-12

Series = list[tuple[float, float]]  # (epoch, value) pairs


def _series(history: Sequence[dict[str, Any]], key: str) -> Series:
    """(epoch, value) for every epoch that logged ``key`` as a number; ``None`` means "not logged"."""
    out = []
    for i, logs in enumerate(history):
        value = logs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            epoch = logs.get("epoch")
            out.append((float(epoch) if isinstance(epoch, (int, float)) else float(i + 1), float(value)))
    return out


def _rel(change: float, reference: float) -> float:
    return change / max(abs(reference), _TINY)


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _epoch(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else _fmt(value)


def _resolve_mode(monitor: str, mode: str) -> str:
    if mode == "auto":
        return direction(monitor)
    if mode not in ("min", "max"):
        raise NeuralabError(f"mode must be one of 'min', 'max', 'auto'; got {mode!r}")
    return mode


def _diverged(history: Sequence[dict[str, Any]], keys: Sequence[str], train: Series) -> str | None:
    for key in keys:
        bad = next(((e, v) for e, v in _series(history, key) if not math.isfinite(v)), None)
        if bad is not None:
            return (f"Training diverged: {key} became {bad[1]} at epoch {_epoch(bad[0])}. Lower the learning rate, "
                    f"clip gradients, or check the inputs for NaN or extreme values.")
    if len(train) >= 2 and train[0][1] > 0 and train[-1][1] > EXPLODE * train[0][1]:
        return (f"Training diverged: train loss grew from {_fmt(train[0][1])} to {_fmt(train[-1][1])}. "
                f"Lower the learning rate or clip gradients.")
    return None


def _worsening(val: Series, mode: str) -> tuple[int, float]:
    """Index of the best value, and how much worse the last value is, relative to the best (>= 0)."""
    pick = min if mode == "min" else max
    best = pick(range(len(val)), key=lambda i: val[i][1])
    change = val[-1][1] - val[best][1] if mode == "min" else val[best][1] - val[-1][1]
    return best, _rel(change, val[best][1])


def _value_at(series: Series, epoch: float) -> float | None:
    """The value at ``epoch``, or at the latest epoch before it; ``None`` when the series starts later."""
    before = [v for e, v in series if e <= epoch]
    return before[-1] if before else None


def _turned(train: Series, val: Series, val_key: str, mode: str) -> str | None:
    """Over-fitting (val turned while train kept falling) or instability (both turned)."""
    if len(val) < 2:
        return None
    best, worse = _worsening(val, mode)
    if best == len(val) - 1 or worse <= OVERFIT_RISE:
        return None
    best_epoch, train_then = val[best][0], _value_at(train, val[best][0])
    where = f"{val_key} was best ({_fmt(val[best][1])}) at epoch {_epoch(best_epoch)} and ended {worse:.0%} worse"
    if train_then is None or train[-1][1] < train_then:
        return (f"Overfitting: {where} while train loss kept falling. Use the best-epoch checkpoint or early "
                f"stopping, add regularisation (dropout, weight decay), or get more data.")
    return (f"Unstable training: {where}, and train loss did not improve either. Lower the learning rate or "
            f"add a schedule that decays it.")


def _stalled(train: Series) -> str | None:
    """Under-fitting: the train loss ended barely below (or above) where it started."""
    first, last = train[0][1], train[-1][1]
    drop = _rel(first - last, first)
    if drop >= STALL_DROP:
        return None
    return (f"Underfitting: train loss barely moved ({_fmt(first)} to {_fmt(last)}, {drop:.1%}). Raise the "
            f"learning rate, use a bigger model, or check that the inputs and targets line up.")


def _gap(train: Series, val_loss: Series) -> str | None:
    """Over-fitting: the final val loss is far above the final train loss."""
    if not val_loss:
        return None
    tl, vl = train[-1][1], val_loss[-1][1]
    gap = _rel(vl - tl, tl)
    if gap <= OVERFIT_GAP:
        return None
    return (f"Overfitting: the final val loss ({_fmt(vl)}) is {gap:.0%} above the train loss ({_fmt(tl)}). Add "
            f"regularisation (dropout, weight decay), augment or collect more data, or use a smaller model.")


def _still_falling(train: Series, val: Series, mode: str) -> str | None:
    """Under-fitting: the train loss still falls steeply at the end, and the val curve has not turned."""
    k = max(1, len(train) // 5)
    reference, last = train[-1 - k][1], train[-1][1]
    rate = _rel(reference - last, reference) / k
    val_still_improving = not val or _worsening(val, mode)[1] <= STILL_IMPROVING
    if rate <= STEEP_DROP or not val_still_improving:
        return None
    span = "epoch" if k == 1 else f"{k} epochs"
    return (f"Underfitting: train loss is still falling steeply ({rate:.1%} per epoch over the last {span}). "
            f"Train for more epochs or raise the learning rate.")


def _without_loss(history: Sequence[dict[str, Any]]) -> str:
    """A model that trains by its own rule (contrastive divergence) and logs no loss: read its free-energy gap."""
    gap = _series(history, "val_free_energy_gap")
    if len(gap) >= 3:
        third = max(1, len(gap) // 3)
        early, late = gap[third - 1][1], gap[-1][1]
        trend = "kept growing" if late > early + abs(early) * OVERFIT_RISE and late > 0 else "stayed level"
        verdict = "Possible overfitting" if trend == "kept growing" else "No sign of overfitting"
        return (f"{verdict}: this model logs no training loss (it trains by its own rule), and the gap between the "
                f"free energy of validation and training data {trend} over the last two thirds of training "
                f"({_fmt(early)} at epoch {_epoch(gap[third - 1][0])}, {_fmt(late)} at the end; Hinton 2010, section "
                "6). Judge it by its samples and its log-likelihood too.")
    return ("No training loss was logged: this model trains by its own rule; judge it by its monitors, its samples "
            "and its likelihood.")


def diagnose(history: list[dict], *, monitor: str = "val_loss", mode: str = "min",
             adversarial: bool = False) -> str:
    """Say in one or two sentences whether a run over-fitted, under-fitted, diverged or fits well.

    The rules, checked in this order (the first that matches wins; thresholds are module constants):

    1. No epochs: nothing to diagnose.
    2. **Diverged**: any ``train_loss``, ``val_loss`` or ``monitor`` value is NaN or inf, or the final train loss
       is more than ``EXPLODE`` (10) times the first.
    3. Adversarial training (``adversarial=True``): the losses of a two-player game do not measure fit; judge the
       samples.
    4. Fewer than two epochs with a train loss: too short to judge.
    5. **Overfitting**: the validation curve (``monitor`` when the history has it and it starts with ``val_``,
       else ``val_loss``, read in the direction ``mode``) ended more than ``OVERFIT_RISE`` (10%, relative to its
       best) worse than at its best epoch while the train loss kept falling. If the train loss rose too, the note
       says **unstable training** instead.
    6. **Underfitting**: the train loss ended less than ``STALL_DROP`` (5%) below its first epoch.
    7. **Overfitting**: the final ``val_loss`` is more than ``OVERFIT_GAP`` (50%) above the final train loss
       (relative to the train loss).
    8. **Underfitting**: the train loss still falls by more than ``STEEP_DROP`` (2%) per epoch over the last fifth
       of the epochs (at least one), and the validation curve ended within ``STILL_IMPROVING`` (2%) of its best.
    9. No validation curve: over-fitting cannot be judged.
    10. Otherwise: converged with a small gap.

    Parameters
    ----------
    history
        Per-epoch logs as in ``metrics.json``. ``None`` counts as "not logged"; NaN and inf count as divergence.
    monitor
        The metric that chose the best epoch, e.g. ``"val_loss"`` or ``"val_accuracy"``.
    mode
        ``"min"``, ``"max"``, or ``"auto"`` (from :func:`neuralab.directions.direction`).
    adversarial
        The run is a two-player game (a GAN, as its task says in ``metrics.json``): its losses are not judged.

    Returns
    -------
    str
        A short note that starts with the verdict (``"Overfitting: ..."``, ``"Underfitting: ..."``,
        ``"Training diverged: ..."``, ``"Good fit: ..."``, ``"No validation set: ..."``) and ends with advice.

    Raises
    ------
    NeuralabError
        If ``mode`` is not one of ``"min"``, ``"max"``, ``"auto"``.

    Examples
    --------
    >>> note = diagnose([{"epoch": 1, "train_loss": 1.0}, {"epoch": 2, "train_loss": float("nan")}])
    >>> note.split(".")[0]
    'Training diverged: train_loss became nan at epoch 2'
    """
    mode = _resolve_mode(monitor, mode)
    if not history:
        return "No epochs were recorded, so there is nothing to diagnose."
    train = _series(history, "train_loss")
    note = _diverged(history, dict.fromkeys(["train_loss", "val_loss", monitor]), train)
    if note:
        return note
    if adversarial:
        return ("Adversarial training: generator and discriminator losses do not measure over- or under-fitting; "
                "judge the generated samples instead.")
    if not train:
        return _without_loss(history)
    if len(train) < 2:
        return "Too short to judge: fewer than two epochs logged a train loss. Train for more epochs."
    if monitor.startswith("val_") and _series(history, monitor):
        val_key, val_mode = monitor, mode
    else:
        val_key, val_mode = "val_loss", "min"
    val = _series(history, val_key)
    val_loss = _series(history, "val_loss")
    note = (_turned(train, val, val_key, val_mode) or _stalled(train) or _gap(train, val_loss)
            or _still_falling(train, val, val_mode))
    if note:
        return note
    if val_loss:
        tl, vl = train[-1][1], val_loss[-1][1]
        return (f"Good fit: converged with a small gap (val loss {_fmt(vl)} vs train loss {_fmt(tl)}, "
                f"{_rel(vl - tl, tl):+.0%}).")
    if not val:
        drop = _rel(train[0][1] - train[-1][1], train[0][1])
        return (f"No validation set: train loss fell {drop:.0%} (to {_fmt(train[-1][1])}) and has levelled off, "
                f"but over-fitting cannot be judged without held-out data.")
    best = _worsening(val, val_mode)[0]
    return (f"Good fit: converged with no clear sign of over-fitting ({val_key} ended at {_fmt(val[-1][1])}; best "
            f"{_fmt(val[best][1])} at epoch {_epoch(val[best][0])}).")

"""Forecasting: the next ``horizon`` values of a series from its last ``window`` rows, beside classical baselines.

The series is split in time order (:func:`~neuralab.data.timeseries.split_series`): train, then validation, then
the test tail. A window belongs to the part that holds its targets, so no target is both trained on and scored; its
inputs may reach back into the previous part, since at forecast time the past is known. Every value column is an
input (a multivariate series works), and one column, ``data.target_column``, is forecast ``data.horizon`` steps
ahead from the last ``data.window`` rows.

The scalers see the training part only: :class:`SeriesInputs` standardises each column, and the target scaler
standardises the target column. The baselines of :func:`baseline_scores` are scored on the same test origins as
the model, in the series' own units: the naive forecast (the last value), the seasonal naive forecast (the value
one season back, read from the whole history, not just the window) and a linear autoregression on ``window`` lags
fitted on the training part. MASE is scaled by the training part's in-sample seasonal naive error (Hyndman &
Koehler 2006), so below 1 beats that naive forecast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

import numpy as np
import torch
from pydantic import Field

from neuralab.data import make_scaler
from neuralab.data.prepared import PreparedData
from neuralab.data.timeseries import (
    SEASONS,
    LinearAR,
    load_series,
    make_windows,
    mase,
    naive_forecast,
    rmse,
    seasonal_naive_forecast,
    split_series,
    walk_forward,
    window_slices,
)
from neuralab.errors import ConfigError, DataError, NeuralabError
from neuralab.report.sequences import plot_forecast, plot_forecast_scores
from neuralab.runs.recipe import DataConfig, Recipe
from neuralab.tasks.base import Predictions, Task
from neuralab.tasks.regression import (
    coverage_metrics,
    interval,
    interval_coverage,
    regression_figures,
    score_values,
    standardised_loss_note,
    validation_residuals,
    values,
)
from neuralab.train.intervals import conformal_quantile

if TYPE_CHECKING:
    from neuralab.runs.run import Run

__all__ = ["Forecasting", "SeriesData", "SeriesInputs", "prepare_forecasting", "baseline_scores", "model_scores",
           "conformal_halfwidth", "forecast_next"]

LEVEL = 0.9  # the nominal coverage of the interval drawn around forecasts


class SeriesData(DataConfig):
    """A time series: a registered one (``airline-passengers``, ``sunspots``...) or a CSV at ``path``.

    ``date_column`` is the time axis (found by name when not given), every other numeric column is an input, and
    ``target_column`` (default: the first value column) is forecast ``horizon`` steps ahead from the last
    ``window`` rows. ``fill`` fills gaps (``linear``, ``ffill``) or refuses them (``none``). The split is in time
    order: training, then validation, then the test tail.
    """

    path: str | None = None
    date_column: str | None = None
    target_column: str | None = None
    window: int = Field(24, ge=1)
    horizon: int = Field(1, ge=1)
    fill: Literal["none", "linear", "ffill"] = "none"
    target_scaling: Literal["standard", "none"] = "standard"


class SeriesInputs:
    """The input pipeline of a forecasting run: windows of a series, standardised per column.

    :meth:`fit` learns each column's mean and standard deviation from the training part ``(T_train, F)`` only;
    :meth:`transform` scales windows ``(N, window, F)`` (or one window ``(window, F)``) of raw values.

    ``tail`` holds the last ``window`` raw rows of the whole series. It is saved with the weights, so that
    ``Run.forecast()`` can forecast past the end of the data with no data file at hand.
    """

    def __init__(self) -> None:
        self.scaler = make_scaler("standard")
        self.tail: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Number of columns ``F`` the pipeline was fitted on."""
        if self.scaler.shift is None:
            raise DataError("the series pipeline is not fitted; call fit(train_values) first")
        return int(self.scaler.shift.shape[0])

    def fit(self, values: np.ndarray) -> Self:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or len(values) == 0:
            raise DataError(f"SeriesInputs.fit expects the training part as (T, F) values; got shape {values.shape}")
        self.scaler.fit(values)
        return self

    def transform(self, windows: Any, y: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        x = torch.as_tensor(np.asarray(windows, dtype=np.float32))
        n_features = self.n_features
        if x.ndim == 2:  # one window
            x = x.unsqueeze(0)
        if x.ndim != 3 or x.shape[-1] != n_features or x.shape[1] == 0:
            raise DataError(f"windows must have shape (N, window, {n_features}) or (window, {n_features}): one "
                            f"column per series column; got {tuple(x.shape)}")
        x = self.scaler.transform(x.reshape(-1, n_features)).reshape(x.shape)  # (N, W, F)
        return (x,) if y is None else (x, y)

    def state_dict(self) -> dict[str, torch.Tensor]:
        state = self.scaler.state_dict()
        if self.tail is not None:
            state["tail"] = torch.as_tensor(self.tail, dtype=torch.float64)
        return state

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.scaler.load_state_dict({k: v for k, v in state.items() if k != "tail"})
        self.tail = state["tail"].numpy() if "tail" in state else None


def prepare_forecasting(recipe: Recipe) -> PreparedData:
    """Load the recipe's series, split it in time order, window it, and score the baselines on the test tail."""
    cfg = recipe.data
    window, horizon = cfg.window, cfg.horizon
    given = recipe.model.options.get("horizon", horizon)
    if given != horizon:
        raise ConfigError(f"model.horizon={given} differs from data.horizon={horizon}; set only data.horizon")
    series = load_series(cfg.path or cfg.name, date_column=cfg.date_column, fill=cfg.fill, data_dir=cfg.data_dir)
    target = _target_index(series.columns, cfg.target_column)
    values, T = series.values, len(series)
    train_end, val_end = split_series(T, val=cfg.val, test=cfg.test)
    x, y = make_windows(values, window, horizon, target=target)  # (N, W, F), (N, H); raises when T < W + H
    parts = dict(zip(("train", "val", "test"), window_slices(T, window, horizon, train_end, val_end)))
    if parts["train"].stop - parts["train"].start < 1:
        raise DataError(f"the training part has {train_end} of the {T} steps; window {window} + horizon {horizon} "
                        f"needs at least {window + horizon}; shorten the window or lower data.val / data.test")
    inputs = SeriesInputs().fit(values[:train_end])
    inputs.tail = values[-window:].copy()
    y_scaler = None
    if cfg.target_scaling == "standard":  # one mean and std for every horizon step: those of the target column
        y_scaler = make_scaler("standard").fit(np.repeat(values[:train_end, target, None], horizon, axis=1))
    splits, targets = {}, {}
    for name, part in parts.items():
        if part.stop > part.start:
            y_part = torch.as_tensor(y[part])
            splits[name] = inputs.transform(x[part], y_scaler.transform(y_part) if y_scaler else y_part)
            targets[name] = y[part]
    season = SEASONS.get(series.name)
    raw = {"values": values, "dates": series.dates, "columns": series.columns, "target": target,
           "train_end": train_end, "val_end": val_end, "season": season}
    extras = {"metrics": {"forecast": baseline_scores(values[:, target], train_end, val_end, window, horizon,
                                                      season)}}
    model_args = {"in_features": values.shape[1], "out_features": 1, "horizon": horizon, "target": target}
    return PreparedData(splits, targets, inputs, y_scaler, "forecasting", model_args, files=dict(series.files),
                        raw=raw, extras=extras)


def _target_index(columns: list[str], target: str | None) -> int:
    """The index of the target column (default the first value column), or a DataError listing the columns."""
    if target is None:
        return 0
    if target not in columns:
        raise DataError(f"data.target_column: no value column {target!r}; the value columns are "
                        f"{', '.join(columns)}")
    return columns.index(target)


def _mase_season(n_train: int, season: int | None) -> int:
    """The season of the MASE scale: the series' season when the training part holds more than one, else 1."""
    return season if season is not None and n_train > season else 1


def baseline_scores(target: np.ndarray, train_end: int, val_end: int, window: int, horizon: int,
                    season: int | None) -> dict[str, Any]:
    """RMSE and MASE of the naive, seasonal naive and linear AR forecasts from every test origin.

    Origin ``t`` runs from ``val_end`` to ``T - horizon``: the same origins as the model's test windows. A baseline
    that cannot be computed (no season known, or a season longer than the history before the test part) is
    ``None``, with the reason under ``notes``. Returns ``{}`` when there is no test part.
    """
    T = len(target)
    if val_end > T - horizon:
        return {}
    m = _mase_season(train_end, season)
    train = target[:train_end]

    def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
        return {"rmse": rmse(y_true, y_pred), "mase": mase(y_true, y_pred, train, season=m)}

    result: dict[str, Any] = {"split": "test", "origins": T - horizon - val_end + 1, "horizon": horizon,
                              "season": season, "mase_season": m, "notes": {}}
    result["naive"] = score(*walk_forward(target, val_end, 1, horizon, lambda w: naive_forecast(w, horizon)))
    if season is None:
        result["seasonal_naive"] = None
        result["notes"]["seasonal_naive"] = "no known season for this series"
    elif val_end < season:
        result["seasonal_naive"] = None
        result["notes"]["seasonal_naive"] = f"season {season} is longer than the {val_end} steps before the test part"
    else:
        result["seasonal_naive"] = score(*walk_forward(
            target, val_end, season, horizon, lambda w: seasonal_naive_forecast(w, horizon, season)))
    ar = LinearAR(lags=window, horizon=horizon).fit(train)
    result["linear_ar"] = score(*walk_forward(target, val_end, window, horizon, ar.predict))
    if not result["notes"]:
        del result["notes"]
    return result


def model_scores(run: Run, data: PreparedData) -> tuple[dict[str, float], np.ndarray]:
    """The model's test RMSE and MASE in the series' units, scored as :func:`baseline_scores` scores the baselines,
    and its test forecasts ``(N, horizon)``."""
    y_true = np.asarray(data.targets["test"], dtype=np.float64)
    y_pred = np.asarray(values(run, data.splits["test"]), dtype=np.float64).reshape(y_true.shape)
    raw = data.raw
    train = raw["values"][: raw["train_end"], raw["target"]]
    m = _mase_season(raw["train_end"], raw["season"])
    return {"rmse": rmse(y_true, y_pred), "mase": mase(y_true, y_pred, train, season=m)}, y_pred


def conformal_halfwidth(run: Run, level: float = 0.9) -> float:
    """The split-conformal half-width of the run's one-step-ahead interval at ``level``, from its validation
    residuals (of the first step, for a multi-step forecast)."""
    residuals = run.calibration.get("residuals")
    if residuals is None:
        return math.nan
    r = residuals.numpy()
    return conformal_quantile(r[:, 0] if r.ndim == 2 else r, level)


def forecast_next(run: Run, history: np.ndarray | None, level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The next ``horizon`` values after ``history`` (raw, ``(T, F)``) or after the run's own series.

    Returns ``(forecast, low, high)``, each ``(horizon,)``, with the split-conformal interval at ``level``.
    """
    window = run.recipe.data.window
    if history is None:
        if run.inputs.tail is None:
            raise DataError("this run saved no end of its series; pass the history to forecast from")
        history = run.inputs.tail
    history = np.asarray(history, dtype=np.float64)
    if history.ndim == 1:
        history = history[:, None]
    n_features = run.inputs.n_features
    if history.ndim != 2 or history.shape[1] != n_features:
        raise DataError(f"history must have shape (T, {n_features}), one column per series column the run was "
                        f"trained on; got {history.shape}")
    if len(history) < window:
        raise DataError(f"history has {len(history)} rows; the model reads a window of {window}; give at least "
                        f"{window} rows")
    if not np.isfinite(history[-window:]).all():
        bad = int(np.flatnonzero(~np.isfinite(history[-window:]).all(1))[0]) + len(history) - window
        raise DataError(f"history row {bad} holds a missing or infinite value; fill it first")
    pred, low, high = interval(run, run.inputs.transform(history[-window:][None]), "conformal", level)
    return tuple(np.asarray(a, dtype=np.float64).reshape(-1) for a in (pred, low, high))  # type: ignore[return-value]


def forecast_figures(run: Run, data: PreparedData, forecast: dict[str, Any], out: Path) -> list[dict[str, str]]:
    """The forecast plot and the model-against-baselines chart (test part only)."""
    if "test" not in data.splits:
        return []
    _, pred = model_scores(run, data)
    raw = data.raw
    target = raw["values"][:, raw["target"]]
    origins = raw["val_end"] + np.arange(len(pred))  # the test windows' first target steps, in order
    horizon = pred.shape[1]
    path = plot_forecast(raw["dates"], target, raw["train_end"], raw["val_end"], origins, pred,
                         conformal_halfwidth(run, LEVEL), out / "forecast.png", column=raw["columns"][raw["target"]],
                         level=LEVEL)
    figures = [{"file": path.name, "title": "Forecasts against the actuals (test)",
                "caption": f"Top: the whole series; validation and test parts shaded. Bottom: the test part with the "
                           f"one-step-ahead forecast from each origin and its {LEVEL:.0%} split-conformal interval "
                           "(from the validation residuals)"
                           + (f", and a few whole {horizon}-step forecasts." if horizon > 1 else ".")}]
    compare = {name: forecast[name] for name in ("model", "linear_ar", "seasonal_naive", "naive")
               if forecast.get(name)}
    path = plot_forecast_scores(compare, out / "forecast_scores.png")
    figures.append({"file": path.name, "title": "Model against baselines (test)",
                    "caption": "RMSE in the series' units and MASE (below 1 beats the seasonal naive forecast "
                               "in-sample) over the same test origins. Baselines: the last value (naive), the value "
                               "one season back (seasonal naive) and least squares on the window (linear AR)."})
    return figures


@dataclass(frozen=True)
class Forecasting(Task):
    """The next values of a series, with a split-conformal interval, beside naive, seasonal and linear AR baselines."""

    name: str = "forecasting"
    summary: str = "the next values of a series with an interval, beside naive and linear AR baselines"
    default_loss: str | None = "mse"
    metrics: tuple[str, ...] = ("rmse", "mae", "r2")
    predict_options: tuple[str, ...] = ("level", "input_file")
    verbs: tuple[str, ...] = ("forecast", "predict_interval", "interval_coverage")

    def data_schema(self, data: dict[str, Any]) -> type[DataConfig]:
        return SeriesData

    def own_data(self, path: str) -> dict[str, Any]:
        return {"name": "csv", "path": path}

    def loss_note(self, recipe: Recipe) -> str:
        return standardised_loss_note(recipe)

    def prepare(self, recipe: Recipe) -> PreparedData:
        return prepare_forecasting(recipe)

    def make_inputs(self, recipe: Recipe) -> SeriesInputs:
        return SeriesInputs()

    def score(self, run: Run, split: Any, targets: np.ndarray) -> dict[str, float]:
        return score_values(run, split, targets)

    def predict_prepared(self, run: Run, split: Any) -> np.ndarray:
        return values(run, split)

    def calibrate(self, run: Run, data: PreparedData) -> dict[str, torch.Tensor]:
        return validation_residuals(run, data)

    def extra_metrics(self, run: Run, data: PreparedData) -> dict[str, Any]:
        """The baselines' and the model's test scores on the same origins, and the intervals' coverage."""
        extra = {**super().extra_metrics(run, data), **coverage_metrics(run, data)}
        if extra.get("forecast"):
            extra["forecast"] = {**extra["forecast"], "model": model_scores(run, data)[0]}
        return extra

    def figures(self, run: Run, data: PreparedData, metrics: dict[str, Any], out: Path) -> list[dict[str, str]]:
        return regression_figures(run, data, metrics, out) + forecast_figures(run, data,
                                                                               metrics.get("forecast", {}), out)

    def forecast(self, run: Run, history: np.ndarray | None = None, *, level: float = 0.9
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The next ``horizon`` values of a forecasting run, with a split-conformal interval.

        Parameters
        ----------
        history
            Raw past values ``(T, F)`` (``(T,)`` for one column), in the columns and order of training, with
            ``T >= data.window``; by default the end of the run's own series (saved with the weights).
        level
            Nominal coverage of the interval.

        Returns
        -------
        (np.ndarray, np.ndarray, np.ndarray)
            The forecast, its lower and its upper bound, each ``(horizon,)``, in the target's units.
        """
        return forecast_next(run, history, level)

    def predict_interval(self, run: Run, windows: Any, *, method: str = "conformal", level: float = 0.9
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Forecasts with an interval for raw windows ``(N, window, F)``: ``(prediction, low, high)``."""
        return interval(run, run.inputs.transform(windows), method, level)

    def interval_coverage(self, run: Run, split: Any, targets: np.ndarray,
                          levels: Sequence[float] = (0.9, 0.95)) -> dict[str, dict[str, float]]:
        """Empirical coverage and mean width of each interval method at each level, on prepared windows."""
        return interval_coverage(run, split, targets, levels)

    def predict(self, run: Run, inputs: Sequence[Any], **options: Any) -> Predictions:
        """The next ``horizon`` values after a history CSV (one input, or ``input_file``), or after the run's own
        series when none is given."""
        self.check_options("predict", self.predict_options, options)
        given = [*inputs, *([options["input_file"]] if options.get("input_file") is not None else [])]
        if len(given) > 1:
            raise NeuralabError("a forecasting run takes one history CSV (--input series.csv), or none to forecast "
                                "after the end of its own series")
        level = LEVEL if options.get("level") is None else options["level"]
        history = None
        if given:
            cfg = run.recipe.data
            history = load_series(given[0], date_column=cfg.date_column, fill=cfg.fill).values
        pred, low, high = self.forecast(run, history, level=level)
        rows = [{"step": h, "forecast": float(p), "low": float(a), "high": float(b)}
                for h, (p, a, b) in enumerate(zip(pred, low, high), 1)]
        table = [("step", lambda r: f"+{r['step']}"), ("forecast", lambda r: f"{r['forecast']:.4g}"),
                 (f"{level:.0%} interval", lambda r: f"[{r['low']:.4g}, {r['high']:.4g}]")]
        after = str(given[0]) if given else "the run's own series"
        return Predictions(["step", "forecast", "low", "high"], rows, table,
                           title=f"forecast after the end of {after}:")

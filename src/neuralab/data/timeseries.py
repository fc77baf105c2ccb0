"""Forecasting data: series from CSV files, sliding windows, chronological splits, baselines and metrics.

A :class:`Series` is one CSV file in memory: the date column as strings and the target columns as a float64 array
of shape (T, F). :func:`make_windows` cuts it into (input window, future targets) pairs for a neural forecaster;
:func:`split_series` and :func:`window_slices` give a chronological train/validation/test split; the baselines
(:func:`naive_forecast`, :func:`seasonal_naive_forecast`, :class:`LinearAR`) and :func:`walk_forward` give the
numbers a model has to beat, scored with :func:`rmse` and :func:`mase` (R. J. Hyndman and A. B. Koehler, Another
look at measures of forecast accuracy, International Journal of Forecasting 22(4), 2006).

The natural season of each registered series, for :func:`seasonal_naive_forecast` and :func:`mase`, is in
:data:`SEASONS`: 12 months for the airline passengers, 365 days for the Melbourne temperatures (1984 and 1988 lack
31 December, so the lag drifts by a day per leap year) and about 132 months for the sunspots (the 11-year solar
cycle, which varies from 9 to 14 years, so a seasonal naive forecast of sunspots is weak by nature).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from neuralab.data.registry import DATASETS, dataset_info, fetch, sha256_file
from neuralab.errors import DataError, did_you_mean

__all__ = ["SEASONS", "LinearAR", "Series", "load_series", "make_windows", "mase", "naive_forecast", "rmse",
           "seasonal_naive_forecast", "split_series", "walk_forward", "window_slices"]

Fill = Literal["none", "linear", "ffill"]
_FILLS = ("none", "linear", "ffill")
_MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?"})

#: The natural season (period, in rows) of each registered series.
SEASONS: dict[str, int] = {"airline-passengers": 12, "daily-min-temperatures": 365, "monthly-sunspots": 132}


@dataclass
class Series:
    """A time series read from a CSV file.

    ``dates`` holds the date column as written (not parsed: the rows are taken to be in time order and evenly
    spaced, and dates absent from the file are not inserted); ``values`` the F target columns named in ``columns``,
    float64 of shape (T, F); ``name`` the registry name or the file's stem; ``files`` ``filename -> sha256``.
    """

    dates: list[str]
    values: np.ndarray
    columns: list[str]
    name: str
    files: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.values)


def load_series(name_or_path: str | Path, *, date_column: str | None = None,
                target_columns: Sequence[str] | None = None, fill: Fill = "none",
                data_dir: str | Path | None = None) -> Series:
    """Load a series from a registered data set or a CSV file with a header row.

    Parameters
    ----------
    name_or_path : str or Path
        A registered one-file data set (``"airline-passengers"``, ``"daily-min-temperatures"``,
        ``"monthly-sunspots"``), fetched through :func:`~neuralab.data.registry.fetch`; otherwise a CSV path.
    date_column : str, optional
        The column of dates; by default the first column.
    target_columns : sequence of str, optional
        The value columns, in the order wanted; by default every column but the date column.
    fill : {"none", "linear", "ffill"}, default "none"
        What to do with missing values (an empty field, ``NA``, ``NaN``, ``null``, ``?``): ``"none"`` raises,
        ``"linear"`` interpolates linearly between the neighbouring rows, ``"ffill"`` carries the last value
        forward. In both fill modes a gap at the start of a column takes the first value present. Text that is not
        a number is always an error.
    data_dir : str or Path, optional
        A folder searched first for a registered data set's file.

    Returns
    -------
    Series

    Raises
    ------
    DataError
        For a missing or empty file, an unknown column (the message lists the columns), a short row, a missing value
        when ``fill="none"`` or a value that is not a number (the message names the file line and the column).

    Examples
    --------
    >>> s = load_series("airline-passengers")  # doctest: +SKIP
    >>> s.values.shape, s.columns  # doctest: +SKIP
    ((144, 1), ['Passengers'])
    """
    if fill not in _FILLS:
        raise DataError(f"fill must be one of {', '.join(_FILLS)}; got {fill!r}{did_you_mean(str(fill), _FILLS)}")
    path, name = _resolve(name_or_path, data_dir)
    header, rows, lines = _read_csv(path)
    date_idx = 0 if date_column is None else _column_index(header, date_column, "date_column", path)
    if target_columns is None:
        target_idx = [i for i in range(len(header)) if i != date_idx]
    else:
        target_idx = [_column_index(header, c, "target_columns", path) for c in target_columns]
    if not target_idx:
        raise DataError(f"{path} has only the date column {header[date_idx]!r}; a series needs at least one value "
                        "column")
    if date_idx in target_idx:
        raise DataError(f"{header[date_idx]!r} in {path} cannot be both the date column and a target column")
    values = np.empty((len(rows), len(target_idx)), dtype=np.float64)
    for j, col in enumerate(target_idx):
        values[:, j] = _parse_column(rows, lines, col, header[col], path, fill)
    return Series(dates=[row[date_idx] for row in rows], values=values, columns=[header[i] for i in target_idx],
                  name=name, files={path.name: sha256_file(path)})


def _resolve(name_or_path: str | Path, data_dir: str | Path | None) -> tuple[Path, str]:
    """The CSV file to read and the series' name: a registered data set's single file, or an existing path."""
    if isinstance(name_or_path, str) and name_or_path in DATASETS:
        info = dataset_info(name_or_path)
        if len(info.files) != 1 or not info.files[0].filename.endswith(".csv"):
            raise DataError(f"dataset {name_or_path!r} is not a one-file CSV data set; load_series reads "
                            f"{', '.join(SEASONS)} or a CSV path")
        return fetch(name_or_path, info.files[0].filename, data_dir=data_dir), name_or_path
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        hint = did_you_mean(str(name_or_path), SEASONS)
        raise DataError(f"{str(name_or_path)!r} is neither a registered series{hint} ({', '.join(SEASONS)}) nor an "
                        "existing CSV file; fix the name or the path")
    return path, path.stem


def _read_csv(path: Path) -> tuple[list[str], list[list[str]], list[int]]:
    """The header, the non-blank data rows (fields stripped) and each row's 1-based file line."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            rows, lines = [], []
            for row in reader:
                if any(cell.strip() for cell in row):
                    rows.append([cell.strip() for cell in row])
                    lines.append(reader.line_num)
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8 CSV") from None
    except (OSError, csv.Error) as e:
        raise DataError(f"cannot read {path} as CSV: {e}") from None
    if not any(header):
        raise DataError(f"{path} is empty; expected a CSV file with a header row and one row per time step")
    if not rows:
        raise DataError(f"{path} has a header ({', '.join(header)}) but no data rows")
    for row, line in zip(rows, lines, strict=True):
        if len(row) < len(header):
            raise DataError(f"{path} line {line} has {len(row)} fields but the header has {len(header)}; every row "
                            "needs a field per column (leave a field empty for a missing value)")
    return header, rows, lines


def _column_index(header: list[str], column: str, arg: str, path: Path) -> int:
    """The index of ``column`` in ``header``, or a DataError listing the columns."""
    if column not in header:
        raise DataError(f"{arg}: no column {column!r} in {path}{did_you_mean(str(column), header)}; columns: "
                        f"{', '.join(header)}")
    return header.index(column)


def _parse_column(rows: list[list[str]], lines: list[int], col: int, column: str, path: Path,
                  fill: Fill) -> np.ndarray:
    """One column as float64, its missing values filled as ``fill`` says."""
    out = np.empty(len(rows), dtype=np.float64)
    missing = np.zeros(len(rows), dtype=bool)
    for i, (row, line) in enumerate(zip(rows, lines, strict=True)):
        text = row[col]
        if text.lower() in _MISSING:
            if fill == "none":
                raise DataError(f"{path} line {line}, column {column!r}: missing value {text!r}; fix the file or "
                                "pass fill='linear' or fill='ffill'")
            missing[i] = True
            continue
        try:
            out[i] = float(text)
        except ValueError:
            out[i] = math.nan
        if not math.isfinite(out[i]):
            raise DataError(f"{path} line {line}, column {column!r}: {text!r} is not a finite number; fix the file, "
                            "or leave the field empty and pass fill='linear' or fill='ffill'")
    if missing.all():
        raise DataError(f"{path}: column {column!r} has no values at all; choose other target_columns")
    if missing.any():
        present = np.flatnonzero(~missing)
        if fill == "linear":
            out[missing] = np.interp(np.flatnonzero(missing), present, out[present])
        else:  # ffill: each row takes the last row at or before it that has a value; a leading gap takes the first
            last = np.maximum.accumulate(np.where(missing, -1, np.arange(len(out))))
            out = out[np.where(last < 0, present[0], last)]
    return out


def make_windows(values: np.ndarray, window: int, horizon: int, *,
                 target: int | slice = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into overlapping (input window, next ``horizon`` targets) pairs, one per time step.

    Pair ``i`` has ``x[i] = values[i : i + window]`` and ``y[i] = values[i + window : i + window + horizon,
    target]``, for ``i`` in ``0 .. T - window - horizon``.

    Parameters
    ----------
    values : np.ndarray
        Shape (T, F), or (T,) for one feature.
    window, horizon : int
        The input length (look-back) and how many future steps to predict, both at least 1.
    target : int or slice, default 0
        The feature column(s) to predict.

    Returns
    -------
    x : np.ndarray
        float32 of shape (N, window, F), with ``N = T - window - horizon + 1``.
    y : np.ndarray
        float32 of shape (N, horizon) for an int ``target``; (N, horizon, K) for a slice of K columns.

    Raises
    ------
    DataError
        For a non-positive ``window`` or ``horizon``, a bad ``target``, or fewer than ``window + horizon`` points.

    Examples
    --------
    >>> x, y = make_windows(np.arange(6.0), window=3, horizon=2)
    >>> x[:, :, 0].tolist(), y.tolist()
    ([[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]], [[3.0, 4.0], [4.0, 5.0]])
    """
    values = np.asarray(values)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2:
        raise DataError(f"values must have shape (T, F) or (T,); got shape {values.shape}")
    _check_window(len(values), window, horizon)
    n_features = values.shape[1]
    if isinstance(target, int) and not -n_features <= target < n_features:
        raise DataError(f"target must be a column index in 0..{n_features - 1}; got {target}")
    x = sliding_window_view(values[: len(values) - horizon], window, axis=0)  # (N, F, window)
    y = sliding_window_view(values[window:, target], horizon, axis=0)  # (N, horizon) or (N, K, horizon)
    if y.shape[1:-1] == (0,):
        raise DataError(f"target {target} selects no column of the {n_features}")
    y = y if y.ndim == 2 else y.transpose(0, 2, 1)
    return np.ascontiguousarray(x.transpose(0, 2, 1), dtype=np.float32), np.ascontiguousarray(y, dtype=np.float32)


def _check_window(n_points: int, window: int, horizon: int) -> None:
    """Raise a DataError unless ``window`` and ``horizon`` are positive and fit in ``n_points``."""
    _positive_int("window", window)
    _positive_int("horizon", horizon)
    if n_points < window + horizon:
        raise DataError(f"the series has {n_points} points; window {window} + horizon {horizon} needs at least "
                        f"{window + horizon}; shorten the window or use a longer series")


def _positive_int(arg: str, value: object) -> None:
    """Raise a DataError unless ``value`` is an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise DataError(f"{arg} must be a positive int; got {value!r}")


def split_series(T: int, *, val: float, test: float) -> tuple[int, int]:
    """Split ``T`` time steps chronologically: train ``[0, train_end)``, val ``[train_end, val_end)``, test the tail.

    A forecasting window belongs to the part that holds its targets. Its input window may reach back into the
    previous part, which is legitimate: at forecast time the past is known. Only the targets must not overlap, so
    that no value is both trained on and scored. :func:`window_slices` turns the boundaries into slices of the
    windows of :func:`make_windows`.

    Parameters
    ----------
    T : int
        Length of the series.
    val, test : float or int
        A float in [0, 1) is a fraction of ``T`` (rounded); an int is a number of steps.

    Returns
    -------
    train_end, val_end : int

    Raises
    ------
    DataError
        For a negative or non-numeric size, or when nothing is left for training.

    Examples
    --------
    >>> split_series(100, val=0.1, test=12)
    (78, 88)
    """
    sizes = []
    for arg, size in (("val", val), ("test", test)):
        if isinstance(size, bool) or not isinstance(size, int | float | np.integer | np.floating) or size < 0:
            raise DataError(f"{arg} must be a fraction in [0, 1) or a number of steps >= 0; got {size!r}")
        if isinstance(size, float | np.floating) and size >= 1:
            raise DataError(f"{arg}={size} is a float, so a fraction, and must be below 1; pass an int for a "
                            "number of steps")
        sizes.append(round(size * T) if isinstance(size, float | np.floating) else int(size))
    n_val, n_test = sizes
    if T - n_val - n_test < 1:
        raise DataError(f"val={val} ({n_val} steps) and test={test} ({n_test} steps) leave nothing of the {T} steps "
                        "for training; lower val or test")
    return T - n_val - n_test, T - n_test


def window_slices(T: int, window: int, horizon: int, train_end: int, val_end: int) -> tuple[slice, slice, slice]:
    """Slices of the windows of :func:`make_windows` whose targets lie wholly in train, val and test.

    Window ``i`` has targets ``i + window .. i + window + horizon - 1``. Windows whose targets straddle two parts
    are in none, so no target is shared; with ``horizon=1`` every window is in exactly one part.

    Examples
    --------
    >>> window_slices(20, 4, 1, 12, 16)
    (slice(0, 8, None), slice(8, 12, None), slice(12, 16, None))
    """
    _check_window(T, window, horizon)
    n = T - window - horizon + 1

    def part(lo: int, hi: int) -> slice:
        start = min(max(0, lo - window), n)
        return slice(start, max(start, min(n, hi - window - horizon + 1)))

    return part(0, train_end), part(train_end, val_end), part(val_end, T)


def naive_forecast(history: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last value: shape (horizon,) for a (T,) history, (N, horizon) for a batch of (N, T) windows."""
    history = np.asarray(history, dtype=np.float64)
    if history.shape[-1] < 1:
        raise DataError("naive_forecast needs a history of at least one value; got an empty one")
    return np.repeat(history[..., -1:], horizon, axis=-1)


def seasonal_naive_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """Repeat the last full season: step ``h`` (0-based) gets the value ``season - h % season`` steps back.

    Works on a (T,) history, giving (horizon,), or on (N, T) windows, giving (N, horizon).
    """
    history = np.asarray(history, dtype=np.float64)
    _positive_int("season", season)
    if history.shape[-1] < season:
        raise DataError(f"seasonal_naive_forecast needs at least one season of history: season {season} but the "
                        f"history has {history.shape[-1]} values")
    return history[..., -season:][..., np.arange(horizon) % season]


class LinearAR:
    """A linear autoregressive baseline fitted by least squares, with an intercept.

    Multi-step forecasts use the *direct* strategy: one linear model per horizon step, each regressing
    ``y[t + h]`` on the ``lags`` values before ``t`` (solved together by one ``np.linalg.lstsq`` with ``horizon``
    right-hand sides), rather than feeding one-step forecasts back in (the recursive strategy).

    ``lags`` is how many past values each forecast uses, ``horizon`` how many steps ahead it forecasts. After
    :meth:`fit`, ``coef_`` (lags, horizon) weighs the window's values oldest first and ``intercept_`` is (horizon,).
    """

    def __init__(self, lags: int, horizon: int = 1) -> None:
        self.lags = lags
        self.horizon = horizon
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None

    def fit(self, series_train: np.ndarray) -> LinearAR:
        """Fit on a 1-D training series (at least ``lags + horizon`` values); return ``self``."""
        series_train = np.asarray(series_train, dtype=np.float64)
        if series_train.ndim != 1:
            raise DataError(f"LinearAR.fit expects a 1-D series; got shape {series_train.shape}")
        _check_window(len(series_train), self.lags, self.horizon)
        x = sliding_window_view(series_train[: len(series_train) - self.horizon], self.lags)  # (N, lags)
        y = sliding_window_view(series_train[self.lags:], self.horizon)  # (N, horizon)
        design = np.hstack([x, np.ones((len(x), 1))])
        solution = np.linalg.lstsq(design, y, rcond=None)[0]  # (lags + 1, horizon)
        self.coef_, self.intercept_ = solution[:-1], solution[-1]
        return self

    def predict(self, windows: np.ndarray) -> np.ndarray:
        """Forecast from windows of shape (N, W) with ``W >= lags`` (the last ``lags`` are used): (N, horizon)."""
        if self.coef_ is None or self.intercept_ is None:
            raise DataError("LinearAR is not fitted; call fit(series_train) first")
        windows = np.asarray(windows, dtype=np.float64)
        if windows.ndim != 2 or windows.shape[1] < self.lags:
            raise DataError(f"windows must have shape (N, W) with W >= lags={self.lags}; got {windows.shape}")
        return windows[:, windows.shape[1] - self.lags:] @ self.coef_ + self.intercept_


def walk_forward(values_1d: np.ndarray, start: int, window: int, horizon: int,
                 predict: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Forecast from every origin ``t = start .. T - horizon``, each from the ``window`` values before it.

    Origin ``t`` predicts ``values_1d[t : t + horizon]`` from ``values_1d[t - window : t]`` only, so no forecast
    sees its future. All windows go to ``predict`` in one batched call.

    ``start`` is usually the start of the validation or test part, and at least ``window``. ``predict`` maps
    windows (N, window) to forecasts (N, horizon): ``LinearAR(...).fit(train).predict``, ``lambda w:
    seasonal_naive_forecast(w, horizon, 12)`` or a model. Returns ``y_true`` and ``y_pred``, float64 of shape
    (N, horizon) with ``N = T - horizon - start + 1``.
    """
    values_1d = np.asarray(values_1d, dtype=np.float64)
    if values_1d.ndim != 1:
        raise DataError(f"walk_forward expects a 1-D series; got shape {values_1d.shape}")
    _check_window(len(values_1d), window, horizon)
    if not window <= start <= len(values_1d) - horizon:
        raise DataError(f"start must be in {window}..{len(values_1d) - horizon} (window {window} before it, horizon "
                        f"{horizon} after it in a series of {len(values_1d)}); got {start}")
    x = np.array(sliding_window_view(values_1d[start - window: len(values_1d) - horizon], window))
    y_true = np.array(sliding_window_view(values_1d[start:], horizon))
    y_pred = np.asarray(predict(x), dtype=np.float64)
    if y_pred.shape != y_true.shape:
        raise DataError(f"predict returned shape {y_pred.shape} for {len(x)} windows; expected {y_true.shape}")
    return y_true, y_pred


def rmse(y: np.ndarray, yhat: np.ndarray) -> float:
    """Root mean squared error over all entries; ``y`` and ``yhat`` must have the same shape."""
    y, yhat = _same_shape(y, yhat)
    return float(np.sqrt(np.mean((y - yhat) ** 2)))


def mase(y: np.ndarray, yhat: np.ndarray, train: np.ndarray, season: int = 1) -> float:
    """Mean absolute scaled error (Hyndman and Koehler, 2006).

    The mean absolute error of the forecasts divided by the in-sample mean absolute error of the seasonal naive
    forecast on the training part: ``mean(|train[t] - train[t - season]|)``. Below 1 beats that naive forecast.

    Raises
    ------
    DataError
        When the shapes differ, the training part has ``season`` values or fewer, or the scale is 0 (a training
        part that repeats exactly every ``season`` steps).

    Examples
    --------
    >>> mase(np.array([3.0, 5.0]), np.array([4.0, 4.0]), train=np.array([1.0, 3.0, 2.0]))
    0.6666666666666666
    """
    y, yhat = _same_shape(y, yhat)
    train = np.asarray(train, dtype=np.float64).ravel()
    _positive_int("season", season)
    if len(train) <= season:
        raise DataError(f"mase needs more than season={season} training values; got {len(train)}")
    scale = float(np.mean(np.abs(train[season:] - train[:-season])))
    if scale == 0:
        raise DataError(f"mase is undefined: the training part repeats exactly every {season} steps, so the "
                        "seasonal naive scale is 0; use rmse, or another season")
    return float(np.mean(np.abs(y - yhat))) / scale


def _same_shape(y: np.ndarray, yhat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64, or a DataError showing both shapes."""
    y, yhat = np.asarray(y, dtype=np.float64), np.asarray(yhat, dtype=np.float64)
    if y.shape != yhat.shape:
        raise DataError(f"y has shape {y.shape} but yhat has shape {yhat.shape}; they must match")
    return y, yhat

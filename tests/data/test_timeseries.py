"""Tests for neuralab.data.timeseries: CSV loading, windows, chronological splits, baselines and metrics."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from neuralab.data.registry import DATASETS, sha256_file
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
from neuralab.errors import DataError


def write_csv(tmp_path: Path, text: str, name: str = "toy.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------------------- loading


def test_load_series_reads_quoted_header_dates_values_and_sha(tmp_path: Path) -> None:
    path = write_csv(tmp_path, '"Month","Passengers","Other"\r\n"1949-01",112,1.5\r\n"1949-02",118,2\r\n')
    s = load_series(path)
    assert s.dates == ["1949-01", "1949-02"] and s.columns == ["Passengers", "Other"] and s.name == "toy"
    assert s.values.dtype == np.float64 and s.values.tolist() == [[112.0, 1.5], [118.0, 2.0]]
    assert s.files == {"toy.csv": sha256_file(path)} and len(s) == 2


def test_load_series_picks_date_and_target_columns_in_the_order_asked(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "a,when,b\n1,d1,10\n2,d2,20\n")
    s = load_series(path, date_column="when", target_columns=["b", "a"])
    assert s.dates == ["d1", "d2"] and s.columns == ["b", "a"] and s.values.tolist() == [[10, 1], [20, 2]]


def test_unknown_column_lists_the_columns_and_suggests_the_closest(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "Month,Passengers\n1949-01,112\n")
    with pytest.raises(DataError, match=r"no column 'Pasengers' .*did you mean 'Passengers'.*columns: Month, "
                                        r"Passengers"):
        load_series(path, target_columns=["Pasengers"])
    with pytest.raises(DataError, match="date_column: no column 'Date'"):
        load_series(path, date_column="Date")


def test_missing_value_names_the_file_line_and_column_and_suggests_fill(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "t,x,y\n1,1.0,2\n2,3.0,\n3,4.0,5\n")
    with pytest.raises(DataError, match=r"line 3, column 'y': missing value ''.*fill='linear'"):
        load_series(path)


def test_non_numeric_value_is_an_error_even_with_fill(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "t,x\n1,1.0\n2,oops\n")
    for fill in ("none", "linear", "ffill"):
        with pytest.raises(DataError, match=r"line 3, column 'x': 'oops' is not a finite number"):
            load_series(path, fill=fill)  # type: ignore[arg-type]


def test_fill_linear_interpolates_and_ffill_carries_forward(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "t,x\n0,NA\n1,1\n2,\n3,\n4,4\n5,NaN\n")
    assert load_series(path, fill="linear").values[:, 0].tolist() == [1, 1, 2, 3, 4, 4]
    assert load_series(path, fill="ffill").values[:, 0].tolist() == [1, 1, 1, 1, 4, 4]
    with pytest.raises(DataError, match="fill must be one of none, linear, ffill; got 'lin'"):
        load_series(path, fill="lin")  # type: ignore[arg-type]


def test_empty_header_only_short_row_and_missing_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        load_series(write_csv(tmp_path, "", "empty.csv"))
    with pytest.raises(DataError, match=r"has a header \(t, x\) but no data rows"):
        load_series(write_csv(tmp_path, "t,x\n\n", "header.csv"))
    with pytest.raises(DataError, match="line 3 has 1 fields but the header has 2"):
        load_series(write_csv(tmp_path, "t,x\n1,2\n3\n", "short.csv"))
    with pytest.raises(DataError, match=r"neither a registered series \(did you mean 'airline-passengers'\?\)"):
        load_series("airline-passenger")
    with pytest.raises(DataError, match="only the date column"):
        load_series(write_csv(tmp_path, "t\n1\n", "one.csv"))


# ----------------------------------------------------------------------------------------------- windows and splits


def test_make_windows_pairs_each_window_with_the_following_targets() -> None:
    values = np.stack([np.arange(10.0), 100 + np.arange(10.0)], axis=1)  # (10, 2)
    x, y = make_windows(values, window=3, horizon=2, target=1)
    assert x.shape == (6, 3, 2) and y.shape == (6, 2) and x.dtype == y.dtype == np.float32
    for i in range(6):
        np.testing.assert_array_equal(x[i], values[i:i + 3])
        np.testing.assert_array_equal(y[i], values[i + 3:i + 5, 1])
    _, y_all = make_windows(values, window=3, horizon=2, target=slice(0, 2))
    assert y_all.shape == (6, 2, 2) and y_all[0].tolist() == [[3, 103], [4, 104]]


def test_make_windows_on_a_short_series_states_both_numbers_and_the_length() -> None:
    with pytest.raises(DataError, match=r"the series has 20 points; window 24 \+ horizon 1 needs at least 25"):
        make_windows(np.zeros(20), window=24, horizon=1)
    with pytest.raises(DataError, match="horizon must be a positive int; got 0"):
        make_windows(np.zeros(20), window=2, horizon=0)


def test_split_series_takes_the_test_part_from_the_tail() -> None:
    assert split_series(100, val=0.1, test=0.2) == (70, 80)
    assert split_series(144, val=12, test=12) == (120, 132)
    assert split_series(10, val=0, test=0) == (10, 10)
    with pytest.raises(DataError, match="leave nothing of the 10 steps for training"):
        split_series(10, val=5, test=5)
    with pytest.raises(DataError, match="is a float, so a fraction"):
        split_series(10, val=1.5, test=0)


@pytest.mark.parametrize("horizon", [1, 3])
def test_window_slices_keep_every_target_inside_its_part(horizon: int) -> None:
    n, window = 40, 5
    train_end, val_end = split_series(n, val=8, test=8)
    values = np.arange(float(n))
    _, y = make_windows(values, window, horizon)
    parts = window_slices(n, window, horizon, train_end, val_end)
    for (lo, hi), part in zip([(0, train_end), (train_end, val_end), (val_end, n)], parts, strict=True):
        targets = y[part]
        assert len(targets) > 0 and targets.min() >= lo and targets.max() < hi
        inside = [(row.min() >= lo) and (row.max() < hi) for row in y]
        assert sum(inside) == len(targets)  # no window wholly inside the part is left out
    if horizon == 1:
        assert sum(p.stop - p.start for p in parts) == len(y)


# ------------------------------------------------------------------------------------------ baselines and metrics


def test_seasonal_naive_is_exact_on_a_perfectly_seasonal_series() -> None:
    pattern = np.array([3.0, 1.0, 4.0, 1.0, 5.0, 9.0])
    values = np.tile(pattern, 10)
    y_true, y_pred = walk_forward(values, start=24, window=12, horizon=4,
                                  predict=lambda w: seasonal_naive_forecast(w, 4, season=6))
    assert y_true.shape == (33, 4) and rmse(y_true, y_pred) == 0.0
    assert seasonal_naive_forecast(pattern, 8, season=6).tolist() == [3, 1, 4, 1, 5, 9, 3, 1]
    assert naive_forecast(pattern, 3).tolist() == [9, 9, 9]
    assert naive_forecast(np.array([[1.0, 2.0], [3.0, 4.0]]), 2).tolist() == [[2, 2], [4, 4]]


def test_linear_ar_recovers_an_ar1_process_with_the_direct_strategy() -> None:
    rng = np.random.default_rng(0)
    c, phi, n = 2.0, 0.7, 4000
    y = np.empty(n)
    y[0] = c / (1 - phi)
    for t in range(1, n):
        y[t] = c + phi * y[t - 1] + rng.normal(scale=0.1)
    model = LinearAR(lags=1, horizon=2).fit(y)
    assert model.coef_ is not None and model.intercept_ is not None and model.coef_.shape == (1, 2)
    # Direct two-step model: y[t+2] = c (1 + phi) + phi^2 y[t] + noise.
    np.testing.assert_allclose(model.coef_[0], [phi, phi**2], atol=0.03)
    np.testing.assert_allclose(model.intercept_, [c, c * (1 + phi)], atol=0.2)
    assert model.predict(np.array([[5.0, 10.0]])).shape == (1, 2)  # a wider window uses its last value
    with pytest.raises(DataError, match="not fitted"):
        LinearAR(lags=2).predict(np.zeros((1, 2)))


def test_walk_forward_gives_each_origin_only_the_past() -> None:
    values = np.random.default_rng(1).normal(size=50)
    seen: list[np.ndarray] = []

    def predict(w: np.ndarray) -> np.ndarray:
        seen.append(w.copy())
        return np.repeat(w.sum(axis=1, keepdims=True), 3, axis=1)

    y_true, y_pred = walk_forward(values, start=20, window=5, horizon=3, predict=predict)
    assert len(seen) == 1 and seen[0].shape == (28, 5) and y_true.shape == y_pred.shape == (28, 3)
    for i, t in enumerate(range(20, 48)):
        np.testing.assert_array_equal(seen[0][i], values[t - 5:t])
        np.testing.assert_array_equal(y_true[i], values[t:t + 3])
    future_hidden = values.copy()
    future_hidden[30:] = np.nan  # origins up to 30 must not notice
    _, y_hidden = walk_forward(future_hidden, start=20, window=5, horizon=3, predict=predict)
    np.testing.assert_array_equal(y_hidden[:11], y_pred[:11])
    with pytest.raises(DataError, match=r"predict returned shape \(28,\) for 28 windows; expected \(28, 3\)"):
        walk_forward(values, start=20, window=5, horizon=3, predict=lambda w: w[:, 0])


def test_rmse_and_mase_on_hand_worked_examples() -> None:
    assert rmse(np.array([1.0, 2.0]), np.array([2.0, 4.0])) == pytest.approx(np.sqrt(2.5))
    # MAE = 1; in-sample naive scale = mean(|3 - 1|, |2 - 3|) = 1.5.
    assert mase(np.array([3.0, 5.0]), np.array([4.0, 4.0]), train=np.array([1.0, 3.0, 2.0])) == pytest.approx(2 / 3)
    # Season 2: scale = mean(|2 - 1|, |5 - 2|) = 2; MAE = 3.
    assert mase(np.array([0.0]), np.array([3.0]), train=np.array([1.0, 2.0, 2.0, 5.0]), season=2) == 1.5
    with pytest.raises(DataError, match="repeats exactly every 2 steps"):
        mase(np.zeros(2), np.ones(2), train=np.array([1.0, 2.0, 1.0, 2.0]), season=2)
    with pytest.raises(DataError, match=r"y has shape \(2,\) but yhat has shape \(3,\)"):
        rmse(np.zeros(2), np.zeros(3))


# ------------------------------------------------------------------------------------------------------- real mirror


def _mirror() -> Path | None:
    """The real data mirror when it holds timeseries/: $NEURALAB_DATA, else shared/data beside the repository."""
    for candidate in (os.environ.get("NEURALAB_DATA"), Path(__file__).resolve().parents[3] / "shared" / "data"):
        if candidate and (Path(candidate) / "timeseries").is_dir():
            return Path(candidate)
    return None


MIRROR = _mirror()


@pytest.mark.skipif(MIRROR is None, reason="the real data mirror (shared/data or $NEURALAB_DATA) is absent")
@pytest.mark.parametrize(("name", "length", "column"), [
    ("airline-passengers", 144, "Passengers"),
    ("daily-min-temperatures", 3650, "Temp"),
    ("monthly-sunspots", 2820, "Sunspots"),
])
def test_registered_series_load_with_their_documented_lengths(name: str, length: int, column: str) -> None:
    s = load_series(name, data_dir=MIRROR)
    assert s.values.shape == (length, 1) and s.columns == [column] and len(s.dates) == length
    assert np.isfinite(s.values).all() and name in SEASONS
    assert s.files == {f"{name}.csv": DATASETS[name].files[0].sha256}

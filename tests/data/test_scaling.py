"""Tests for neuralab.data.scaling: train-only statistics, round trips, constant columns and saved state."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from neuralab.data.scaling import (
    SCALERS,
    IdentityScaler,
    MinMaxScaler,
    RobustScaler,
    Standardizer,
    make_scaler,
)
from neuralab.errors import DataError


def _data(n: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=g) * torch.tensor([1.0, 10.0, 0.1]) + torch.tensor([0.0, -5.0, 3.0])


def test_standardizer_uses_training_statistics_only() -> None:
    train, test = _data(seed=0), _data(seed=1) + 2.0
    scaler = Standardizer().fit(train)
    z_train = scaler.transform(train)
    torch.testing.assert_close(z_train.mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(z_train.std(0, correction=0), torch.ones(3), atol=1e-5, rtol=0)
    expected = (test - train.mean(0)) / train.std(0, correction=0)
    torch.testing.assert_close(scaler.transform(test), expected)
    assert not torch.allclose(scaler.transform(test).mean(0), torch.zeros(3), atol=0.1)  # test stats not used


def test_minmax_maps_training_range_to_unit_interval() -> None:
    train = _data()
    scaled = MinMaxScaler().fit(train).transform(train)
    torch.testing.assert_close(scaled.amin(0), torch.zeros(3))
    torch.testing.assert_close(scaled.amax(0), torch.ones(3))


@pytest.mark.parametrize("name", sorted(SCALERS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_inverse_transform_round_trips_and_keeps_dtype(name: str, dtype: torch.dtype) -> None:
    x = _data().to(dtype)
    scaler = make_scaler(name).fit(x)  # type: ignore[arg-type]
    z = scaler.transform(x)
    assert z.dtype == dtype and z.device == x.device and z.shape == x.shape
    back = scaler.inverse_transform(z)
    assert back.dtype == dtype
    torch.testing.assert_close(back, x)


def test_numpy_input_returns_a_tensor() -> None:
    x = _data().numpy()
    z = Standardizer().fit(x).transform(x)
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float32


def test_integer_input_becomes_float32() -> None:
    x = torch.arange(12).reshape(4, 3)
    z = MinMaxScaler().fit(x).transform(x)
    assert z.dtype == torch.float32
    torch.testing.assert_close(z[:, 0], torch.tensor([0.0, 1 / 3, 2 / 3, 1.0]))


@pytest.mark.parametrize("cls", [Standardizer, MinMaxScaler])
@pytest.mark.parametrize("value", [0.0, 0.1, -7.3e5])
def test_constant_column_gets_scale_one(cls: type[Standardizer | MinMaxScaler], value: float) -> None:
    x = torch.cat([_data(16), torch.full((16, 1), value)], dim=1)
    scaler = cls().fit(x)
    assert scaler.state_dict()["scale"][3] == 1.0
    z = scaler.transform(x)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z[:, 3], torch.zeros(16), atol=1e-3, rtol=0)
    torch.testing.assert_close(scaler.inverse_transform(z), x)


def test_per_feature_statistics_for_images() -> None:
    x = torch.rand(8, 1, 4, 4)
    scaler = Standardizer().fit(x)
    assert scaler.state_dict()["mean"].shape == (1, 4, 4)
    torch.testing.assert_close(scaler.inverse_transform(scaler.transform(x)), x)


def test_one_dimensional_targets() -> None:
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    scaler = Standardizer().fit(y)
    assert scaler.state_dict()["mean"].shape == ()
    torch.testing.assert_close(scaler.inverse_transform(scaler.transform(y)), y)


@pytest.mark.parametrize("cls", [Standardizer, MinMaxScaler, RobustScaler])
def test_state_dict_round_trips_through_safetensors(tmp_path: Path, cls: type[Standardizer | MinMaxScaler]) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    x = _data()
    scaler = cls().fit(x)
    state = scaler.state_dict()
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    safetensors_torch.save_file(state, tmp_path / "scaler.safetensors")
    restored = cls()
    restored.load_state_dict(safetensors_torch.load_file(tmp_path / "scaler.safetensors"))
    torch.testing.assert_close(restored.transform(x), scaler.transform(x), rtol=0, atol=0)


def test_state_dict_keys_name_the_statistics() -> None:
    x = _data()
    assert set(Standardizer().fit(x).state_dict()) == {"mean", "scale"}
    assert set(MinMaxScaler().fit(x).state_dict()) == {"min", "scale"}
    assert IdentityScaler().state_dict() == {}


def test_load_state_dict_rejects_wrong_keys() -> None:
    with pytest.raises(DataError, match=r"Standardizer.load_state_dict: expected keys \['mean', 'scale'\]; "
                                        r"got \['min', 'scale'\]"):
        Standardizer().load_state_dict({"min": torch.zeros(3), "scale": torch.ones(3)})
    with pytest.raises(DataError, match=r"must be tensors of one shape; got Tensor\(shape=\(3,\)\) and "
                                        r"Tensor\(shape=\(2,\)\)"):
        Standardizer().load_state_dict({"mean": torch.zeros(3), "scale": torch.ones(2)})


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_input_names_the_column(bad: float) -> None:
    x = _data(8)
    x[2, 1] = bad
    x[5, 1] = bad
    with pytest.raises(DataError, match=r"Standardizer.fit: x has 2 non-finite value\(s\) \(NaN or inf\) in column 1"):
        Standardizer().fit(x)


def test_non_finite_image_pixel_is_named_by_position() -> None:
    x = torch.zeros(4, 1, 3, 3)
    x[0, 0, 2, 1] = float("nan")
    with pytest.raises(DataError, match=r"in column \(0, 2, 1\)"):
        MinMaxScaler().fit(x)


@pytest.mark.parametrize("cls", [Standardizer, MinMaxScaler])
def test_transform_before_fit_is_an_error(cls: type[Standardizer | MinMaxScaler]) -> None:
    with pytest.raises(DataError, match=rf"{cls.__name__}.transform: the scaler is not fitted; call fit"):
        cls().transform(_data())
    with pytest.raises(DataError, match="not fitted"):
        cls().inverse_transform(_data())
    with pytest.raises(DataError, match="not fitted"):
        cls().state_dict()


def test_feature_shape_mismatch_shows_both_shapes() -> None:
    scaler = Standardizer().fit(_data())
    with pytest.raises(DataError, match=r"x has feature shape \(2,\) \(x is \(5, 2\)\) but the scaler was fitted on "
                                        r"feature shape \(3,\)"):
        scaler.transform(torch.zeros(5, 2))


def test_empty_and_wrong_type_inputs() -> None:
    with pytest.raises(DataError, match=r"at least one sample along axis 0; got shape \(0, 3\)"):
        Standardizer().fit(torch.zeros(0, 3))
    with pytest.raises(DataError, match=r"x must be a torch.Tensor or numpy.ndarray; got list"):
        Standardizer().fit([[1.0]])  # type: ignore[arg-type]


def test_make_scaler_by_name() -> None:
    assert isinstance(make_scaler("standard"), Standardizer)
    assert isinstance(make_scaler("minmax"), MinMaxScaler)
    assert isinstance(make_scaler("none"), IdentityScaler)
    assert isinstance(make_scaler("robust"), RobustScaler)
    assert all(make_scaler(name).name == name for name in SCALERS)  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"unknown scaler 'standrad' \(did you mean 'standard'\?\); expected one of: "
                                        r"standard, global, global_minmax, minmax, none, robust$"):
        make_scaler("standrad")  # type: ignore[arg-type]


def test_identity_needs_no_fit_and_changes_nothing() -> None:
    x = np.arange(6, dtype=np.float64).reshape(3, 2)
    out = IdentityScaler().transform(x)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_array_equal(out.numpy(), x)
    with pytest.raises(DataError, match="expected an empty state"):
        IdentityScaler().load_state_dict({"mean": torch.zeros(1)})


# ------------------------------------------------------------------------------------------------------------ robust


def test_robust_scaler_centres_on_median_and_divides_by_iqr() -> None:
    x = torch.tensor([[0.0, 10.0], [1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [4.0, 10.0]])
    scaler = RobustScaler().fit(x)
    state = scaler.state_dict()
    torch.testing.assert_close(state["median"], torch.tensor([2.0, 10.0], dtype=torch.float64))
    torch.testing.assert_close(state["scale"], torch.tensor([2.0, 1.0], dtype=torch.float64))  # IQR 0 -> scale 1
    torch.testing.assert_close(scaler.transform(x)[:, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))


def test_robust_scaler_ignores_outliers_and_clips_them() -> None:
    x = torch.cat([_data(64), torch.tensor([[1e30, 1e30, -1e30]])])
    scaler = RobustScaler(clip=3.0).fit(x)
    clean = RobustScaler(clip=3.0).fit(_data(64))
    torch.testing.assert_close(scaler.state_dict()["median"], clean.state_dict()["median"], rtol=0.1, atol=0.2)
    z = scaler.transform(x)
    assert torch.isfinite(z).all() and z.abs().max() <= 3.0
    torch.testing.assert_close(z[-1], torch.tensor([3.0, 3.0, -3.0]))


def test_robust_scaler_handles_nan_and_inf_in_fit_and_transform() -> None:
    x = np.array([[np.nan, 1.0, np.inf], [np.nan, 2.0, 5.0], [np.nan, 3.0, 6.0], [np.nan, -np.inf, 7.0]],
                 dtype=np.float32)
    scaler = RobustScaler().fit(x)
    state = scaler.state_dict()
    assert state["median"][0] == 0.0 and state["scale"][0] == 1.0  # an all-NaN column
    torch.testing.assert_close(state["median"][1:], torch.tensor([2.0, 6.0], dtype=torch.float64))
    z = scaler.transform(x)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z[:, 0], torch.zeros(4))  # NaN -> the median
    assert z[0, 2] == 5.0 and z[3, 1] == -5.0  # +-inf -> +-clip


def test_robust_scaler_without_clip_keeps_large_values_and_zeroes_non_finite() -> None:
    scaler = RobustScaler(clip=None).fit(torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0]))
    z = scaler.transform(torch.tensor([1002.0, float("nan"), float("inf")]))
    torch.testing.assert_close(z, torch.tensor([500.0, 0.0, 0.0]))


def test_robust_scaler_state_round_trips_with_its_clip() -> None:
    x = _data()
    scaler = RobustScaler(clip=2.5).fit(x)
    restored = RobustScaler()
    restored.load_state_dict(scaler.state_dict())
    assert restored.clip == 2.5
    torch.testing.assert_close(restored.transform(x * 10), scaler.transform(x * 10), rtol=0, atol=0)
    unclipped = RobustScaler(clip=None).fit(x)
    again = RobustScaler()
    again.load_state_dict(unclipped.state_dict())
    assert again.clip is None
    with pytest.raises(DataError, match=r"RobustScaler.load_state_dict: expected a positive scalar tensor 'clip'; "
                                        r"got no clip"):
        RobustScaler().load_state_dict({"median": torch.zeros(3), "scale": torch.ones(3)})


@pytest.mark.parametrize("clip", [0, -1.0, True, "5"])
def test_robust_scaler_rejects_a_bad_clip(clip: object) -> None:
    with pytest.raises(DataError, match=r"clip must be a positive number or None; got"):
        RobustScaler(clip=clip)  # type: ignore[arg-type]


def test_the_global_standardizer_uses_one_mean_and_std_for_every_feature() -> None:
    from neuralab.data.scaling import GlobalStandardizer

    x = torch.tensor([[0.0, 0.0, 4.0], [0.0, 2.0, 6.0]])
    scaler = make_scaler("global").fit(x)
    assert isinstance(scaler, GlobalStandardizer)
    out = scaler.transform(x)
    assert torch.allclose(out.mean(), torch.tensor(0.0), atol=1e-6) and torch.allclose(out.std(correction=0),
                                                                                      torch.tensor(1.0))
    assert out[0, 0] == out[1, 0] == out[0, 1], "the same raw value maps to the same scaled value in every column"
    assert torch.allclose(scaler.inverse_transform(out), x)

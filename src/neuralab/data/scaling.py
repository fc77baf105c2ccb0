"""Feature and target scalers whose state is a dict of tensors, so it can be saved beside the model weights.

A scaler learns per-feature statistics over axis 0 of the training data with :meth:`fit`, then maps any data with
:meth:`transform` and back with :meth:`inverse_transform`. Fit on the training split only: statistics taken from
validation or test data leak them into training.

The scalers that learn something are affine, ``(x - shift) / scale``. Statistics are kept in float64 on the CPU and
cast to the input's dtype and device at use, so a transform returns a tensor of the same dtype and device as its
input. :meth:`state_dict` holds only tensors; the scaler's ``name`` (``"standard"``, ``"minmax"``, ``"robust"``,
``"none"``) is what a caller records in the run config to rebuild it with :func:`make_scaler`.

:class:`RobustScaler` is the one for messy features such as RDKit descriptors: it centres on the median, divides by
the interquartile range, clips outliers (``Ipc`` reaches 1e13 and more) and maps NaN (a descriptor that failed) to
the median instead of refusing it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Literal, Self

import numpy as np
import torch
from torch import Tensor

from neuralab.errors import DataError, did_you_mean

__all__ = ["SCALERS", "GlobalMinMaxScaler", "GlobalStandardizer", "IdentityScaler", "MinMaxScaler", "RobustScaler",
           "Standardizer", "make_scaler"]

ScalerName = Literal["standard", "global", "global_minmax", "minmax", "none", "robust"]


def _as_tensor(x: Tensor | np.ndarray, who: str) -> Tensor:
    """``x`` as a floating tensor (integers and booleans become float32); a DataError for anything else."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise DataError(f"{who}: x must be a torch.Tensor or numpy.ndarray; got {type(x).__name__}")
    return x if x.is_floating_point() else x.to(torch.get_default_dtype())


class _AffineScaler:
    """Shared machinery of ``(x - shift) / scale`` scalers; subclasses define ``_statistics``."""

    name: ClassVar[str]
    shift_key: ClassVar[str]  # the shift's name in the state_dict: "mean" or "min"

    def __init__(self) -> None:
        self.shift: Tensor | None = None
        self.scale: Tensor | None = None

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def fit(self, x: Tensor | np.ndarray) -> Self:
        """Learn per-feature statistics over axis 0 of ``x`` (shape (N, ...)); returns ``self``.

        Raises
        ------
        DataError
            When ``x`` is empty or holds NaN or infinity; the message names the first bad column.
        """
        who = f"{type(self).__name__}.fit"
        x = _as_tensor(x, who)
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"{who}: x must have at least one sample along axis 0; got shape {tuple(x.shape)}")
        _check_finite(x, who)
        shift, scale = self._statistics(x.to(torch.float64))
        tiny = 10 * torch.finfo(torch.float64).eps * shift.abs().clamp(min=1.0)
        # A constant column has zero spread (or rounding dust); dividing by 1 maps it to 0 instead of NaN.
        self.shift, self.scale = shift.cpu(), torch.where(scale > tiny, scale, torch.ones_like(scale)).cpu()
        return self

    def transform(self, x: Tensor | np.ndarray) -> Tensor:
        """Return ``(x - shift) / scale``, with the dtype and device of ``x``."""
        x, shift, scale = self._prepare(x, "transform")
        return (x - shift) / scale

    def inverse_transform(self, x: Tensor | np.ndarray) -> Tensor:
        """Return ``x * scale + shift``: undo :meth:`transform`, for example on predictions."""
        x, shift, scale = self._prepare(x, "inverse_transform")
        return x * scale + shift

    def state_dict(self) -> dict[str, Tensor]:
        """The fitted statistics as float64 CPU tensors, ready for safetensors."""
        if self.shift is None or self.scale is None:
            raise DataError(f"{type(self).__name__}.state_dict: the scaler is not fitted; call fit(x_train) first")
        return {self.shift_key: self.shift.clone(), "scale": self.scale.clone()}

    def load_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Restore statistics saved by :meth:`state_dict`."""
        who = f"{type(self).__name__}.load_state_dict"
        expected = {self.shift_key, "scale"}
        if set(state_dict) != expected:
            raise DataError(f"{who}: expected keys {sorted(expected)}; got {sorted(state_dict)}")
        shift, scale = state_dict[self.shift_key], state_dict["scale"]
        if not isinstance(shift, Tensor) or not isinstance(scale, Tensor) or shift.shape != scale.shape:
            raise DataError(f"{who}: {self.shift_key!r} and 'scale' must be tensors of one shape; got "
                            f"{_describe(shift)} and {_describe(scale)}")
        self.shift = shift.detach().to("cpu", torch.float64).clone()
        self.scale = scale.detach().to("cpu", torch.float64).clone()

    def _prepare(self, x: Tensor | np.ndarray, method: str) -> tuple[Tensor, Tensor, Tensor]:
        """Check that the scaler is fitted and ``x`` has its feature shape; cast the statistics to ``x``."""
        who = f"{type(self).__name__}.{method}"
        if self.shift is None or self.scale is None:
            raise DataError(f"{who}: the scaler is not fitted; call fit(x_train) first")
        x = _as_tensor(x, who)
        if tuple(x.shape[1:]) != tuple(self.shift.shape):
            raise DataError(f"{who}: x has feature shape {tuple(x.shape[1:])} (x is {tuple(x.shape)}) but the "
                            f"scaler was fitted on feature shape {tuple(self.shift.shape)}")
        return x, self.shift.to(x), self.scale.to(x)

    def __repr__(self) -> str:
        fitted = "unfitted" if self.shift is None else f"features={tuple(self.shift.shape)}"
        return f"{type(self).__name__}({fitted})"


class Standardizer(_AffineScaler):
    """Z-score each feature: ``(x - mean) / std``, with the population std; constant features get scale 1.

    Examples
    --------
    >>> scaler = Standardizer().fit(torch.tensor([[1.0, 5.0], [3.0, 5.0]]))
    >>> scaler.transform(torch.tensor([[2.0, 5.0]]))
    tensor([[0., 0.]])
    """

    name = "standard"
    shift_key = "mean"

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x.mean(dim=0), x.std(dim=0, correction=0)


class GlobalStandardizer(_AffineScaler):
    """Z-score every value with one mean and one std over all features: the standardisation of images, whose pixels
    are one quantity (a shift or a rotation moves ink between pixels, which per-pixel statistics would blow up)."""

    name = "global"
    shift_key = "mean"

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ones = torch.ones_like(x[0])
        return x.mean() * ones, x.std(correction=0) * ones


class GlobalMinMaxScaler(_AffineScaler):
    """Map the training data's overall range to [0, 1] with one min and one max for every feature: pixel values
    (0–16 digits) become intensities in [0, 1], as binary units model."""

    name = "global_minmax"
    shift_key = "min"

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        ones = torch.ones_like(x[0])
        return x.min() * ones, (x.max() - x.min()) * ones


class MinMaxScaler(_AffineScaler):
    """Map each feature's training range to [0, 1]: ``(x - min) / (max - min)``; constant features get scale 1."""

    name = "minmax"
    shift_key = "min"

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        low, high = x.amin(dim=0), x.amax(dim=0)
        return low, high - low


class RobustScaler(_AffineScaler):
    """Centre each feature on its median, divide by its interquartile range, clip, and tolerate non-finite values.

    ``transform`` returns ``clamp((x - median) / IQR, -clip, clip)`` with NaN mapped to 0 (the median: a missing or
    failed value is imputed) and ±inf to ±clip. ``fit`` ignores NaN and ±inf when it takes the quantiles, so a few
    bad rows do not stop training; a column with no finite value gets median 0 and scale 1. As in scikit-learn's
    ``RobustScaler``, a column whose IQR is zero (a rare fingerprint bit, a mostly-zero count) keeps scale 1.

    Clipping and imputation cannot be undone: :meth:`inverse_transform` maps back ``z * IQR + median``, which is
    exact only for values that were finite and within ``clip`` IQRs of the median.

    Parameters
    ----------
    clip : float or None, default 5.0
        Bound on the scaled values, in IQRs; ``None`` does not clip (NaN and ±inf then all become 0).

    Examples
    --------
    >>> scaler = RobustScaler().fit(torch.tensor([[0.0], [1.0], [2.0], [3.0], [1e12]]))
    >>> scaler.transform(torch.tensor([[2.0], [float("nan")], [1e12]]))
    tensor([[0.],
            [0.],
            [5.]])
    """

    name = "robust"
    shift_key = "median"

    def __init__(self, clip: float | None = 5.0) -> None:
        super().__init__()
        if clip is not None and (isinstance(clip, bool) or not isinstance(clip, int | float) or not clip > 0):
            raise DataError(f"RobustScaler: clip must be a positive number or None; got {clip!r}")
        self.clip = None if clip is None else float(clip)

    def fit(self, x: Tensor | np.ndarray) -> Self:
        """Learn the median and IQR of each feature over axis 0 of ``x``, skipping NaN and ±inf; returns ``self``.

        Raises
        ------
        DataError
            When ``x`` is empty or not an array.
        """
        who = "RobustScaler.fit"
        x = _as_tensor(x, who)
        if x.ndim == 0 or len(x) == 0:
            raise DataError(f"{who}: x must have at least one sample along axis 0; got shape {tuple(x.shape)}")
        values = x.detach().cpu().to(torch.float64).numpy()
        values = np.where(np.isfinite(values), values, np.nan)
        # numpy, not torch.nanquantile: torch refuses inputs of more than 2**24 elements (MNIST has 47 million).
        with np.errstate(all="ignore"), _quiet_all_nan():
            q25, median, q75 = np.nanquantile(values, [0.25, 0.5, 0.75], axis=0)
        iqr = q75 - q25
        empty = np.isnan(median)  # no finite value in the column
        median, iqr = np.where(empty, 0.0, median), np.where(empty, 1.0, iqr)
        tiny = 10 * np.finfo(np.float64).eps * np.maximum(np.abs(median), 1.0)
        self.shift = torch.from_numpy(np.asarray(median, dtype=np.float64))
        self.scale = torch.from_numpy(np.asarray(np.where(iqr > tiny, iqr, 1.0), dtype=np.float64))
        return self

    def transform(self, x: Tensor | np.ndarray) -> Tensor:
        """Return the clipped ``(x - median) / IQR``, NaN as 0 and ±inf as ±clip, in the dtype and device of ``x``."""
        x, shift, scale = self._prepare(x, "transform")
        z = (x - shift) / scale
        if self.clip is None:
            return torch.where(torch.isfinite(z), z, torch.zeros_like(z))
        return torch.nan_to_num(z, nan=0.0).clamp(-self.clip, self.clip)  # ±inf clamp to ±clip

    def state_dict(self) -> dict[str, Tensor]:
        """The median, the scale and the clip bound (inf for none) as float64 CPU tensors."""
        state = super().state_dict()
        state["clip"] = torch.tensor(math.inf if self.clip is None else self.clip, dtype=torch.float64)
        return state

    def load_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Restore statistics and the clip bound saved by :meth:`state_dict`."""
        state = dict(state_dict)
        clip = state.pop("clip", None)
        if not isinstance(clip, Tensor) or clip.numel() != 1 or not float(clip) > 0:
            raise DataError(f"RobustScaler.load_state_dict: expected a positive scalar tensor 'clip'; got "
                            f"{_describe(clip) if clip is not None else 'no clip'}")
        super().load_state_dict(state)
        self.clip = None if math.isinf(float(clip)) else float(clip)


class IdentityScaler:
    """A scaler that changes nothing, for ``scaler: none``. It needs no fit, and its state is empty."""

    name: ClassVar[str] = "none"

    def fit(self, x: Tensor | np.ndarray) -> Self:
        """Check ``x`` and learn nothing; returns ``self``."""
        _as_tensor(x, "IdentityScaler.fit")
        return self

    def transform(self, x: Tensor | np.ndarray) -> Tensor:
        """Return ``x`` as a tensor."""
        return _as_tensor(x, "IdentityScaler.transform")

    def inverse_transform(self, x: Tensor | np.ndarray) -> Tensor:
        """Return ``x`` as a tensor."""
        return _as_tensor(x, "IdentityScaler.inverse_transform")

    def state_dict(self) -> dict[str, Tensor]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        if state_dict:
            raise DataError(f"IdentityScaler.load_state_dict: expected an empty state; got keys {sorted(state_dict)}")

    def __repr__(self) -> str:
        return "IdentityScaler()"


SCALERS: dict[str, type[Standardizer | GlobalStandardizer | MinMaxScaler | IdentityScaler | RobustScaler]] = {
    "standard": Standardizer,
    "global": GlobalStandardizer,
    "global_minmax": GlobalMinMaxScaler,
    "minmax": MinMaxScaler,
    "none": IdentityScaler,
    "robust": RobustScaler,
}


def make_scaler(name: ScalerName) -> Standardizer | MinMaxScaler | IdentityScaler | RobustScaler:
    """Return a new, unfitted scaler by name: ``"standard"``, ``"global"``, ``"global_minmax"``, ``"minmax"``,
    ``"none"`` or ``"robust"``.

    Raises
    ------
    DataError
        For an unknown name; the message lists the valid names.
    """
    if name not in SCALERS:
        raise DataError(f"unknown scaler {name!r}{did_you_mean(str(name), SCALERS)}; expected one of: "
                        f"{', '.join(SCALERS)}")
    return SCALERS[name]()


def _check_finite(x: Tensor, who: str) -> None:
    """Raise a DataError naming the first feature column of ``x`` that holds NaN or infinity."""
    bad_rows = ~torch.isfinite(x.reshape(len(x), -1))  # (N, F)
    if not bad_rows.any():
        return
    column = int(bad_rows.any(dim=0).nonzero()[0])
    count = int(bad_rows[:, column].sum())
    where = "" if x.ndim == 1 else f" in column {_column_label(column, tuple(x.shape[1:]))}"
    raise DataError(f"{who}: x has {count} non-finite value(s) (NaN or inf){where}; drop or impute them before "
                    "fitting the scaler")


@contextmanager
def _quiet_all_nan() -> Iterator[None]:
    """Silence numpy's "All-NaN slice" warning: an all-NaN column is handled (median 0, scale 1)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="All-NaN slice", category=RuntimeWarning)
        yield


def _column_label(flat: int, feature_shape: tuple[int, ...]) -> str:
    """A flat feature index as ``3`` for 2-D data or ``(0, 4, 2)`` for images."""
    if len(feature_shape) == 1:
        return str(flat)
    return str(tuple(int(i) for i in np.unravel_index(flat, feature_shape)))


def _describe(value: object) -> str:
    """``Tensor(shape=(3,))`` or the type name, for messages."""
    return f"Tensor(shape={tuple(value.shape)})" if isinstance(value, Tensor) else type(value).__name__

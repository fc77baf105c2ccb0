"""Typed configuration of the engine: trainer, optimiser, schedule, loss and early stopping.

Every section rejects unknown keys. :func:`validation_message` turns pydantic's error into one line that names the
bad key and the closest valid one (``trainer.epocs: unknown key (did you mean 'epochs'?)``).
"""

from __future__ import annotations

from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from neuralab.errors import ConfigError, did_you_mean

__all__ = [
    "StrictModel", "OptionsModel", "GroupedConfig", "OptimizerConfig", "SchedulerConfig", "LossConfig",
    "EarlyStoppingConfig", "TrainerConfig", "validation_message",
]


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class OptionsModel(BaseModel):
    """A section with a ``name`` and free options checked later against what the name builds (a signature)."""

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    @property
    def options(self) -> dict[str, Any]:
        """The keys beyond the declared fields, passed on as keyword arguments."""
        return dict(self.model_extra or {})


class GroupedConfig(OptionsModel):
    """A section that may differ per parameter group: ``groups`` maps a group's name to the keys it overrides.

    A GAN's generator and discriminator, for example, share the section's values but each may set its own::

        optimizer: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999], groups: {discriminator: {lr: 1.0e-4}}}
    """

    groups: dict[str, dict[str, Any]] = {}

    def for_group(self, group: str, section: str = "optimizer") -> Self:
        """This section (called ``section`` in messages) with the overrides of ``group`` applied (a group may also
        change ``name``)."""
        override = self.groups.get(group)
        if not override:
            return self
        base = self.model_dump(exclude={"groups"})
        if "name" in override and override["name"] != base.get("name"):  # another optimiser: its own options
            base = {key: value for key, value in base.items() if key in type(self).model_fields}
        try:
            return type(self).model_validate({**base, **override})
        except ValidationError as exc:
            raise ConfigError(validation_message(exc, type(self), f"{section}.groups.{group}")) from None


class OptimizerConfig(GroupedConfig):
    """``name`` of :data:`neuralab.nn.OPTIMIZERS`, ``lr``, that optimiser's own options (``momentum``...), and
    per-group overrides for models with several parameter groups (see :class:`GroupedConfig`)."""

    name: str = "adam"
    lr: float = Field(1e-3, gt=0)


class SchedulerConfig(GroupedConfig):
    """``name`` of a schedule (none, step, cosine, one_cycle, plateau), ``warmup_epochs``, its options, and
    per-group overrides (see :class:`GroupedConfig`)."""

    name: str = "none"
    warmup_epochs: float = Field(0.0, ge=0)


class LossConfig(OptionsModel):
    """``name`` of :data:`neuralab.nn.LOSSES` and its options; ``None`` lets the model's ``loss`` method decide."""

    name: str | None = None


class EarlyStoppingConfig(StrictModel):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    patience: int = Field(10, ge=1)
    min_delta: float = Field(0.0, ge=0)
    monitor: str | None = None
    mode: Literal["auto", "min", "max"] = "auto"
    restore_best: bool = True


class TrainerConfig(StrictModel):
    """How to train: epochs, batches, device, precision, seed and regularisation applied by the engine."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    # Batches per epoch: needed for data without a length (a stream, an environment); with sized data, an epoch is
    # the first ``steps_per_epoch`` batches of each shuffled pass.
    steps_per_epoch: int | None = Field(None, ge=1)
    eval_batch_size: int | None = Field(None, ge=1)
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    channels_last: bool = False
    seed: int = Field(0, ge=0)
    grad_clip: float | None = Field(None, gt=0)
    max_norm: float | None = Field(None, gt=0)
    l1: float = Field(0.0, ge=0)
    l2: float = Field(0.0, ge=0)
    shuffle: bool = True
    drop_last: bool = False
    num_workers: int = Field(0, ge=0)
    early_stopping: EarlyStoppingConfig | None = None
    monitor: str | None = None

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value != "auto" and value.split(":")[0] not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"must be auto, cpu, cuda or cuda:N; got {value!r}")
        return value


def validation_message(exc: ValidationError, model: type[BaseModel], prefix: str = "") -> str:
    """One line for the first error in ``exc``, with a did-you-mean for unknown keys."""
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    where = ".".join(([prefix] if prefix else []) + loc) or prefix or "config"
    if err["type"] == "extra_forbidden":
        parent: Any = model
        for part in loc[:-1]:
            field = getattr(parent, "model_fields", {}).get(part)
            parent = _model_in(field.annotation) if field is not None else None
        options = list(getattr(parent, "model_fields", {}))
        hint = did_you_mean(loc[-1], options)
        valid = f"; valid keys: {', '.join(options)}" if options and not hint else ""
        return f"{where}: unknown key{hint}{valid}"
    value = err.get("input")
    shown = "" if isinstance(value, dict) else f"; got {value!r}"
    return f"{where}: {err['msg']}{shown}"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside an annotation such as ``X | None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None

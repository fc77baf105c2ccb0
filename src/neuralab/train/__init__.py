"""The training engine, its callbacks and its configuration."""

from neuralab.train.callbacks import Callback, Checkpoint, EarlyStopping, LRSchedule, NonFiniteGuard, ProgressBar
from neuralab.train.config import (
    EarlyStoppingConfig,
    LossConfig,
    OptimizerConfig,
    SchedulerConfig,
    TrainerConfig,
)
from neuralab.train.engine import FitData, FitState, evaluate, fit, predict
from neuralab.train.metrics import METRICS
from neuralab.train.state import load_state, save_state

__all__ = [
    "fit", "evaluate", "predict", "FitData", "FitState",
    "TrainerConfig", "OptimizerConfig", "SchedulerConfig", "LossConfig", "EarlyStoppingConfig",
    "Callback", "Checkpoint", "EarlyStopping", "LRSchedule", "NonFiniteGuard", "ProgressBar",
    "METRICS", "save_state", "load_state",
]

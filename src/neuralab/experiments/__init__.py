"""Experiments: small, self-contained studies that train models with the engine and plot what they show.

- :mod:`neuralab.experiments.vanishing`: Elman RNN against LSTM and GRU on synthetic long-range tasks (the adding
  problem, a copy task) over increasing sequence lengths, with the gradient norm ‖∂L/∂h_t‖ against time step.
"""

from neuralab.experiments.vanishing import (
    TASKS,
    adding_problem,
    copy_task,
    plot_vanishing,
    run_vanishing,
)

__all__ = ["TASKS", "adding_problem", "copy_task", "run_vanishing", "plot_vanishing"]

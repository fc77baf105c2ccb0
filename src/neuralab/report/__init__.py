"""Run reports: learning-curve plots, a fit diagnosis, and a self-contained HTML page.

>>> from neuralab.report import write_report
>>> write_report("runs/mnist-cnn")  # doctest: +SKIP
PosixPath('runs/mnist-cnn/report.html')

matplotlib is imported only when a plot is drawn, and always on the Agg backend.
"""

from neuralab.report.classification import classification_figures
from neuralab.report.diagnosis import diagnose
from neuralab.report.filters import KERNELS, apply_kernel, filter_figure
from neuralab.report.html import write_report
from neuralab.report.plots import plot_learning_curves

__all__ = ["write_report", "plot_learning_curves", "diagnose", "KERNELS", "apply_kernel", "filter_figure",
           "classification_figures"]

"""Scikit-learn estimators that build neuralab models and train them with :func:`neuralab.train.fit`."""

from neuralab.estimators.mlp import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]

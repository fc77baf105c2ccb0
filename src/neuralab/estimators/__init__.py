"""Scikit-learn estimators that build neuralab models and train them with :func:`neuralab.train.fit`."""

from neuralab.estimators.autoencoder import AutoencoderTransformer, VAETransformer
from neuralab.estimators.cnn import CNNClassifier
from neuralab.estimators.mlp import MLPClassifier, MLPRegressor
from neuralab.estimators.rbm import RBM
from neuralab.estimators.recommender import RBMRecommender

__all__ = ["AutoencoderTransformer", "CNNClassifier", "MLPClassifier", "MLPRegressor", "RBM", "RBMRecommender",
           "VAETransformer"]

"""scikit-learn's estimator checks on every estimator in ``neuralab.estimators.__all__``, in one parametrized test.

Every class that ``neuralab.estimators.__all__`` exports and that is a scikit-learn estimator is swept: one added
there is checked automatically, from its defaults until :data:`CONFIGS` gives it fast configurations (and
:func:`test_every_estimator_has_fast_check_configurations` fails until it does). Each estimator runs every check of
``sklearn.utils.estimator_checks.parametrize_with_checks`` on each of its configurations: a plain one, and one that
turns on early stopping and the estimator's other training options (batch norm, dropout, a non-default loss, label
smoothing, regularisers, KL warm-up, average pooling).

Skipped checks:

* none are marked as expected failures (every entry of :data:`EXPECTED_FAILED_CHECKS` is empty); a check that a
  network estimator cannot pass would go there, check name → one-line reason;
* ``check_array_api_input`` is skipped by scikit-learn itself unless the environment variable ``SCIPY_ARRAY_API=1``
  is set. The estimators convert every input to NumPy and then to torch, and do not claim Array API support (their
  ``array_api_support`` tag stays False).

The classifiers and regressors use ``lr=0.01`` and 10 epochs so that the accuracy (> 0.83) and R² (> 0.5)
thresholds of ``check_classifiers_train`` and ``check_regressors_train`` hold for any seed drawn with
``random_state=None``; the transformers train for 2 epochs: the checks test the contract, not the quality. The
checks' 1-, 2- and 3-feature tables reach :class:`~neuralab.estimators.CNNClassifier` as a 1×1 image and 1×n strips.
"""

from typing import Any

from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

import neuralab.estimators

# Estimators whose input is not a feature table, which the checks feed; their contract is tested where named.
NOT_TABULAR: dict[str, str] = {
    "RBMRecommender": "fits (user, item, rating) rows, not features: tests/estimators/test_recommender.py tests its "
                      "scikit-learn contract (clone, params, pickling, not-fitted errors, model selection)",
}
ESTIMATORS: list[type[BaseEstimator]] = [
    obj for obj in (getattr(neuralab.estimators, name) for name in neuralab.estimators.__all__)
    if isinstance(obj, type) and issubclass(obj, BaseEstimator) and obj.__name__ not in NOT_TABULAR
]

_MLP = dict(hidden_sizes=(16,), epochs=10, lr=0.01)
_MLP_ALL_ON = dict(_MLP, hidden_sizes=(16, 8), batch_size=16, early_stopping=True, patience=3, batch_norm=True,
                   dropout=0.1)
_CNN = dict(conv_channels=(4,), hidden_sizes=(16,), epochs=10, lr=0.01)
_AE = dict(hidden_sizes=(8,), epochs=2, lr=0.01)
_AE_EARLY = dict(_AE, early_stopping=True, patience=1, batch_size=16)

# Estimator class name → the keyword arguments of each instance the checks run on (kept small and fast).
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "MLPClassifier": [_MLP, dict(_MLP_ALL_ON, label_smoothing=0.1)],
    "MLPRegressor": [_MLP, dict(_MLP_ALL_ON, loss="huber")],
    "CNNClassifier": [_CNN, dict(_CNN, conv_channels=(4, 8), pool="avg", pool_every=2, batch_size=16,
                                 early_stopping=True, patience=3, conv_dropout=0.1, dropout=0.1,
                                 label_smoothing=0.1)],
    "AutoencoderTransformer": [_AE, dict(_AE_EARLY, code_activation="sigmoid", sparsity="kl", sparsity_weight=0.1,
                                         noise="gaussian", noise_level=0.1, contractive_weight=0.01)],
    "VAETransformer": [_AE, dict(_AE_EARLY, beta=0.5, warmup_steps=5)],
    # Gaussian units: Bernoulli units refuse the checks' data outside [0, 1] by design (tests/estimators/test_rbm.py
    # checks their contract on [0, 1] data).
    "RBM": [dict(visible="gaussian", n_components=8, n_iter=2, learning_rate=0.01),
            dict(visible="gaussian", n_components=8, n_iter=2, learning_rate=0.01, batch_size=16, k=2,
                 persistent=False, momentum=0.5, weight_decay=1e-4, verbose=1)],
}
# Estimator class name → {check name: one-line reason it cannot pass}.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {cls.__name__: {} for cls in ESTIMATORS}


def test_every_estimator_has_fast_check_configurations():
    names = [cls.__name__ for cls in ESTIMATORS]
    assert {"MLPClassifier", "MLPRegressor", "CNNClassifier", "AutoencoderTransformer", "VAETransformer"} <= set(names)
    missing = [name for name in names if name not in CONFIGS]
    assert not missing, f"add fast check configurations for {missing} to CONFIGS in {__file__}"
    assert set(CONFIGS) <= set(names), f"CONFIGS names estimators not exported: {sorted(set(CONFIGS) - set(names))}"


@parametrize_with_checks(
    [cls(**params) for cls in ESTIMATORS for params in CONFIGS.get(cls.__name__, [{}])],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS.get(type(est).__name__, {}),
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)

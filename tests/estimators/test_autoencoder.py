"""Tests of the scikit-learn autoencoder transformers.

scikit-learn's generic estimator checks run in ``tests/estimators/test_sweep.py``, with every other estimator.
"""

import copy
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralab.estimators import AutoencoderTransformer, VAETransformer
from neuralab.estimators.autoencoder import ELBO_DRAWS

FAST = dict(hidden_sizes=(8,), epochs=2, lr=0.01)


@pytest.fixture(scope="module")
def digits():
    x, y = load_digits(return_X_y=True)
    return train_test_split(x[:600], y[:600], test_size=0.3, random_state=0, stratify=y[:600])


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_two_dimensional_codes_separate_digits(make, digits):
    x_train, x_test, y_train, y_test = digits
    est = make(hidden_sizes=(64,), latent_dim=2, epochs=30, lr=0.01, random_state=0).fit(x_train)
    z_train, z_test = est.transform(x_train), est.transform(x_test)
    assert z_train.shape == (len(x_train), 2) and z_train.dtype == np.float64
    assert np.isfinite(z_train).all()
    probe = LogisticRegression(max_iter=1000).fit(z_train, y_train)
    assert probe.score(z_test, y_test) > 0.5  # chance is 0.1


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_reconstruction_improves_with_more_epochs(make, digits):
    x = digits[0]
    errors = []
    for epochs in (1, 20):
        est = make(hidden_sizes=(32,), latent_dim=8, epochs=epochs, lr=0.01, random_state=0).fit(x)
        x_hat = est.inverse_transform(est.transform(x))
        assert x_hat.shape == x.shape
        errors.append(((x_hat - x) ** 2).mean())
    assert errors[1] < 0.6 * errors[0]


def test_inverse_transform_undoes_the_standardisation():
    rng = np.random.default_rng(0)
    x = 1000 + 50 * rng.normal(size=(200, 3)) @ np.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0, 0, 0]])
    ae = AutoencoderTransformer(hidden_sizes=(16,), latent_dim=2, epochs=30, lr=0.01, random_state=0).fit(x)
    np.testing.assert_allclose(ae.mean_, x.mean(0), rtol=1e-5)
    x_hat = ae.inverse_transform(ae.transform(x))
    assert np.abs(x_hat - x).mean() < 0.1 * x.std(0).mean()  # the data lie on a plane: two codes suffice


def test_score_samples_is_higher_for_typical_rows(digits):
    x = digits[0]
    ae = AutoencoderTransformer(hidden_sizes=(32,), latent_dim=8, epochs=20, lr=0.01, random_state=0).fit(x)
    vae = VAETransformer(hidden_sizes=(32,), latent_dim=8, epochs=20, lr=0.01, random_state=0).fit(x)
    outliers = np.random.default_rng(0).uniform(0, 16, (50, 64))
    for est in (ae, vae):
        normal, odd = est.score_samples(x[:50]), est.score_samples(outliers)
        assert normal.shape == (50,) and np.median(normal) > np.median(odd)


def test_pipeline_with_scaler_and_grid_search_over_latent_dim(digits):
    x_train, x_test, y_train, _ = digits
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(hidden_sizes=(32,), epochs=5, lr=0.01,
                                                                  random_state=0))
    assert pipe.fit_transform(x_train).shape == (len(x_train), 2)
    # GridSearchCV scores an unsupervised pipeline with its last step's `score`; a transformer has none, so
    # chain a classifier on the codes.
    pipe = make_pipeline(StandardScaler(), AutoencoderTransformer(hidden_sizes=(32,), epochs=5, lr=0.01,
                                                                  random_state=0),
                         LogisticRegression(max_iter=500))
    search = GridSearchCV(pipe, {"autoencodertransformer__latent_dim": [1, 8]}, cv=2).fit(x_train, y_train)
    assert search.best_params_["autoencodertransformer__latent_dim"] == 8
    assert search.best_estimator_[1].transform(x_test).shape == (len(x_test), 8)


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_same_random_state_gives_identical_codes_and_another_differs(make, digits):
    x = digits[0][:200]
    runs = [make(**FAST, random_state=seed).fit(x) for seed in (7, 7, 8)]
    codes = [r.transform(x) for r in runs]
    np.testing.assert_array_equal(codes[0], codes[1])
    assert not np.array_equal(codes[0], codes[2])


def test_fit_leaves_global_random_state_untouched(digits):
    np.random.seed(123)
    torch.manual_seed(123)
    expected = np.random.rand(), torch.rand(1)
    np.random.seed(123)
    torch.manual_seed(123)
    VAETransformer(**FAST, random_state=5).fit(digits[0][:64])
    assert (np.random.rand(), torch.rand(1)) == expected


@pytest.mark.parametrize(("make", "arg"), [(AutoencoderTransformer, "output"), (VAETransformer, "likelihood")])
def test_bernoulli_refuses_values_outside_the_unit_interval(make, arg, digits):
    x = digits[0][:64]
    with pytest.raises(ValueError, match=rf"{arg}='bernoulli' needs X in \[0, 1\]; got values in \[0, 16\]"):
        make(**FAST, **{arg: "bernoulli"}).fit(x)
    est = make(**FAST, **{arg: "bernoulli"}, random_state=0).fit(x / 16)
    np.testing.assert_array_equal(est.mean_, 0.0)
    recon = est.inverse_transform(est.transform(x / 16))
    assert recon.min() >= 0 and recon.max() <= 1  # probabilities
    with pytest.raises(ValueError, match="needs X in"):
        est.transform(x)


def test_vae_sample_shapes_units_and_seed(digits):
    x = digits[0]
    vae = VAETransformer(hidden_sizes=(32,), epochs=10, lr=0.01, random_state=0).fit(x)
    samples = vae.sample(7, random_state=0)
    assert samples.shape == (7, 64) and samples.dtype == np.float64
    assert 0 < samples.mean() < 16  # back in pixel units (0..16), not standardised
    np.testing.assert_array_equal(samples, vae.sample(7, random_state=0))
    assert not np.array_equal(samples, vae.sample(7, random_state=1))
    with pytest.raises(ValueError, match="n_samples must be a positive int; got 0"):
        vae.sample(0)


def test_vae_score_samples_is_deterministic_and_row_independent(digits):
    x = digits[0][:100]
    vae = VAETransformer(**FAST, random_state=0).fit(x)
    full = vae.score_samples(x)
    np.testing.assert_array_equal(full, vae.score_samples(x))
    np.testing.assert_allclose(full[10:20], vae.score_samples(x[10:20]), rtol=1e-6)


@pytest.mark.parametrize("likelihood", ["gaussian", "bernoulli"])
def test_vae_score_samples_is_the_models_elbo_on_standardised_rows(likelihood, digits):
    x = digits[0][:40] / 16
    vae = VAETransformer(**FAST, likelihood=likelihood, random_state=0).fit(x)
    eps = torch.randn((ELBO_DRAWS, 1, vae.model_.latent_dim), generator=torch.Generator().manual_seed(0),
                      dtype=torch.float64)
    model = copy.deepcopy(vae.model_).double().eval()
    expected = model.elbo(torch.from_numpy((x - vae.mean_) / vae.scale_), eps=eps).numpy()
    np.testing.assert_allclose(vae.score_samples(x), expected - np.log(vae.scale_).sum(), rtol=1e-10)


def test_fitted_attributes_and_feature_names_from_a_dataframe():
    x = np.random.default_rng(0).normal(size=(64, 3))
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    ae = AutoencoderTransformer(**FAST, latent_dim=3, random_state=0).fit(frame)
    assert list(ae.feature_names_in_) == ["a", "b", "c"] and ae.n_features_in_ == 3
    assert ae.n_iter_ == 2 == len(ae.history_) and "train_reconstruction" in ae.history_[0]
    assert isinstance(ae.model_, torch.nn.Module)
    assert list(ae.get_feature_names_out()) == [f"autoencodertransformer{i}" for i in range(3)]
    out = ae.set_output(transform="pandas").transform(frame)
    assert list(out.columns) == ["autoencodertransformer0", "autoencodertransformer1", "autoencodertransformer2"]


def test_early_stopping_logs_validation_loss_and_can_stop_early(digits):
    vae = VAETransformer(hidden_sizes=(16,), epochs=300, lr=0.05, early_stopping=True, patience=2,
                         random_state=0).fit(digits[0][:200])
    assert vae.n_iter_ < 300
    assert all("val_loss" in logs and "val_kl" in logs for logs in vae.history_)


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_methods_before_fit_raise_not_fitted(make):
    with pytest.raises(NotFittedError):
        make().transform(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        make().inverse_transform(np.zeros((2, 2)))


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_wrong_shapes_name_what_was_expected(make):
    x = np.random.default_rng(0).normal(size=(32, 3))
    est = make(**FAST, random_state=0).fit(x)
    with pytest.raises(ValueError, match=r"X has 5 features.*expecting 3 features"):
        est.transform(np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"Z must have shape \(n_samples, 2\).*got \(4, 3\)"):
        est.inverse_transform(np.zeros((4, 3)))


@pytest.mark.parametrize(
    ("params", "match"),
    [({"latent_dim": 0}, "'latent_dim' parameter"), ({"noise": "pink"}, "'noise' parameter"),
     ({"sparsity": "kl", "sparsity_weight": 1.0}, "needs code_activation='sigmoid'"),
     ({"hidden_sizes": (8, 0)}, "hidden_sizes must be positive ints"), ({"device": "tpu"}, "device must be")],
)
def test_invalid_parameters_raise_at_fit_with_the_parameter_named(params, match):
    with pytest.raises(ValueError, match=match):
        AutoencoderTransformer(epochs=1, **params).fit(np.zeros((8, 3)))


@pytest.mark.parametrize("make", [AutoencoderTransformer, VAETransformer])
def test_params_round_trip_through_clone_and_pickle(make):
    est = make(hidden_sizes=(8, 4), random_state=3).set_params(lr=0.02, epochs=2, latent_dim=np.int64(3))
    assert clone(est).get_params() == est.get_params()
    x = np.random.default_rng(0).normal(size=(32, 5))
    fitted = est.fit(x)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(fitted)).transform(x), fitted.transform(x))

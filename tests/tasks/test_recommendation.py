"""Recommendation runs end to end on a small generated ratings file: every model trains and is scored against its
baselines, no held-out rating is ever input, and recommend / similar-items / predict answer or refuse clearly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from neuralab.cli.main import main
from neuralab.recipes import load_recipe
from neuralab.tasks import load_run, prepare_data

MIRROR = Path(os.environ.get("NEURALAB_DATA", "")) / "movielens-100k"
TITLES = [f"Film {chr(65 + i)} ({1990 + i})" for i in range(24)]
RECIPES = ["movielens-rbm", "movielens-irbm", "movielens-crbm", "movielens-autorec", "movielens-mf",
           "movielens-biases", "movielens-mean"]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """60 users, 24 items, two tastes (the first half of the items against the second), about 60% rated."""
    folder = tmp_path_factory.mktemp("ratings")
    rng = np.random.default_rng(0)
    taste = rng.choice([-1, 1], 60)
    lines = ["user,item,rating,timestamp"]
    for user in range(60):
        for item in rng.permutation(24)[:rng.integers(8, 20)]:
            side = 1 if item < 12 else -1
            rating = int(np.clip(np.round(3 + 1.5 * taste[user] * side + rng.normal(0, 0.5)), 1, 5))
            lines.append(f"u{user},{item},{rating},{rng.integers(1000)}")
    (folder / "r.csv").write_text("\n".join(lines) + "\n")
    genres = ["Comedy", "Drama"]
    (folder / "items.csv").write_text("item,title,genres\n" + "".join(
        f"{i},{title},{genres[i >= 12]}|Film\n" for i, title in enumerate(TITLES)))
    return folder / "r.csv", folder / "items.csv"


def sets(files, *more: str) -> list[str]:
    ratings, items = files
    args = ["--set", f"data.path={ratings}", "--set", f"data.items={items}", "--set", "data.name=ratings",
            "--set", "data.split=random", "--set", "data.test=0.2", "--set", "data.val=0.1",
            "--set", "trainer.epochs=4", "--quiet"]
    for more_set in more:
        args += ["--set", more_set]
    return args


@pytest.fixture(scope="module")
def runs(files, tmp_path_factory) -> dict[str, Path]:
    out = {}
    for recipe in RECIPES:
        out[recipe] = tmp_path_factory.mktemp("runs") / recipe
        small = ["model.hidden_size=16"] if recipe in ("movielens-rbm", "movielens-irbm", "movielens-crbm",
                                                       "movielens-autorec") else []
        if recipe == "movielens-mf":
            small = ["model.factors=4"]
        assert main(["train", recipe, *sets(files, *small), "--out", str(out[recipe])]) == 0, recipe
    return out


def test_no_held_out_rating_is_ever_input_when_it_is_predicted(files):
    ratings, items = files
    for by in ("user", "item"):
        recipe = load_recipe("movielens-rbm", [f"data.path={ratings}", "data.name=ratings", "data.split=random",
                                               "data.test=0.2", "data.val=0.1", f"data.by={by}"])
        data = prepare_data(recipe)
        rows, seen, target, implicit = data.splits["train"]
        assert torch.equal(seen, target), "training rows reconstruct their own ratings"
        for name in ("val", "test"):
            rows, seen, target, implicit = data.splits[name]
            held = target > 0
            assert held.any() and (seen[held] == 0).all(), f"a {name} rating is visible as input ({by})"
            assert implicit[held].all(), "the conditional RBM is told which items are queried, not their ratings"
        # The test input is train + val: the val ratings, not the test ones, are known when the test is asked.
        train, val, test = (data.inputs.matrix((part,)) for part in (0, 1, 2))
        if by == "item":
            train, val, test = train.T, val.T, test.T
        test_rows, test_seen, _, _ = data.splits["test"]
        assert torch.equal(test_seen, (train + val)[test_rows])
        val_rows, val_seen, _, _ = data.splits["val"]
        assert torch.equal(val_seen, train[val_rows])
        assert not ((train > 0) & (test > 0)).any() and not ((val > 0) & (test > 0)).any()


@pytest.mark.parametrize("recipe", RECIPES)
def test_every_model_trains_and_is_scored_against_its_baselines(runs, recipe):
    metrics = json.loads((runs[recipe] / "metrics.json").read_text())
    test = metrics["final"]["test"]
    assert 0 < test["mae"] <= test["rmse"] < 4
    assert metrics["monitor"] == "val_rmse" and "val_rmse" in metrics["history"][-1]
    ranking = metrics["ranking"]
    assert ranking["k"] == 10 and ranking["split"] == "test" and ranking["relevant"] == "held-out ratings >= 4"
    for who in ("model", "popularity"):
        assert {"precision_at_10", "recall_at_10", "ndcg_at_10", "coverage", "users"} <= set(ranking[who])
        assert 0 <= ranking[who]["ndcg_at_10"] <= 1 and 0 < ranking[who]["coverage"] <= 1
    base = metrics["baselines"]["global_mean"]
    assert base["split"] == "test" and base["rmse"] > 0
    assert metrics["by_activity"]["model"] and metrics["by_activity"]["global_mean"]
    files = [f["file"] for f in json.loads((runs[recipe] / "figures.json").read_text())]
    vectors = recipe not in ("movielens-biases", "movielens-mean")
    assert {"predicted_vs_true.png", "rmse_by_activity.png", *(["item_map.png"] if vectors else [])} == set(files)
    for name in files:
        assert (runs[recipe] / name).stat().st_size > 1000


def test_models_that_learn_beat_the_global_mean_on_tastes_it_cannot_see(files, tmp_path):
    out = tmp_path / "mf"
    assert main(["train", "movielens-mf", *sets(files, "trainer.epochs=40", "model.factors=2", "trainer.batch_size=8",
                                                "optimizer.lr=0.05", "model.reg=0.02"),
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["final"]["test"]["rmse"] < 0.8 * metrics["baselines"]["global_mean"]["rmse"]
    assert metrics["ranking"]["model"]["ndcg_at_10"] > metrics["ranking"]["popularity"]["ndcg_at_10"]


def test_recommend_a_known_user_lists_unseen_titles_best_first(runs, capsys):
    run = load_run(runs["movielens-rbm"])
    rows = run.recommend(user="u3", k=5, min_ratings=0)
    assert len(rows) == 5 and all(r["title"] in TITLES for r in rows)
    predicted = [r["predicted_rating"] for r in rows]
    assert predicted == sorted(predicted, reverse=True) and all(1 <= p <= 5 for p in predicted)
    rated = {TITLES[int(i)] for i in np.flatnonzero(run.inputs.matrix((0, 1, 2))[run.inputs.find_user("u3")] > 0)}
    assert not rated & {r["title"] for r in rows}, "a user is never recommended what they rated"
    assert main(["recommend", str(runs["movielens-rbm"]), "--user", "u3", "-k", "3", "--min-ratings", "0"]) == 0
    assert "top 3 for user u3" in capsys.readouterr().out


def test_a_new_user_rates_titles_on_the_command_line(runs, capsys):
    path = str(runs["movielens-rbm"])
    assert main(["recommend", path, "--rate", f"{TITLES[0]}=5", "--rate", "film b=5", "--min-ratings", "0"]) == 0
    out = capsys.readouterr().out
    assert "a new user with 2 ratings" in out and TITLES[0] not in out and TITLES[1] not in out
    # An empty history is a user the model knows nothing about: the prior, not an error.
    assert len(load_run(path).recommend(ratings={}, k=4, min_ratings=0)) == 4


@pytest.mark.parametrize("args, message", [
    (["--rate", "Flim A (1990)=5"], "did you mean 'Film A (1990)'"),
    (["--rate", "Film A (1990)=7"], "must be a whole number from 1 to 5"),
    (["--rate", "Film A (1990)=five"], "is not a number"),
    (["--rate", "no equals sign"], "--rate takes TITLE=RATING"),
    (["--user", "nobody"], "unknown user 'nobody'"),
    (["--user", "u1", "--rate", "Film A (1990)=5"], "not both"),
    ([], "give --user ID"),
    (["--user", "u1", "-k", "0"], "k must be a positive int"),
])
def test_recommend_refuses_bad_input_in_one_line(runs, capsys, args, message):
    assert main(["recommend", str(runs["movielens-rbm"]), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_item_based_run_cannot_place_a_new_user_and_says_so(runs, capsys):
    assert main(["recommend", str(runs["movielens-irbm"]), "--rate", f"{TITLES[0]}=5"]) == 2
    assert "models items (by: item)" in capsys.readouterr().err
    assert len(load_run(runs["movielens-irbm"]).recommend(user="u3", k=3, min_ratings=0)) == 3


def test_min_ratings_leaves_out_rarely_rated_items(runs):
    run = load_run(runs["movielens-rbm"])
    counts = run.inputs.counts()
    threshold = int(np.median(counts)) + 1
    rows = run.recommend(user="u3", k=24, min_ratings=threshold)
    allowed = {run.inputs.titles[i] for i in np.flatnonzero(counts >= threshold)}
    assert rows and {r["title"] for r in rows} <= allowed


@pytest.mark.parametrize("recipe", ["movielens-rbm", "movielens-irbm", "movielens-mf", "movielens-autorec"])
def test_similar_items_are_ranked_by_the_learned_item_vectors(runs, recipe, capsys):
    pairs = load_run(runs[recipe]).similar_items("Film A (1990)", k=5)
    assert len(pairs) == 5 and "Film A (1990)" not in [t for t, _ in pairs]
    scores = [s for _, s in pairs]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 + 1e-9 for s in scores)
    assert main(["similar-items", str(runs[recipe]), "Film A (1990)", "-k", "2"]) == 0
    assert main(["similar-items", str(runs[recipe]), "Flim A"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_a_run_without_item_vectors_says_it_cannot_find_similar_items(runs, capsys):
    assert main(["similar-items", str(runs["movielens-biases"]), "Film A (1990)"]) == 2
    assert "learns no item vectors" in capsys.readouterr().err


def test_predict_hides_the_rating_it_is_asked_about(runs, files):
    """Asked about a pair it was trained on, a run predicts it as a held-out rating: with that rating removed."""
    run = load_run(runs["movielens-rbm"])
    inputs = run.inputs
    user, item = next((u, i) for u, i in zip(*np.nonzero(inputs.matrix((0,)).numpy())))
    asked = run.predict_ratings([(inputs.users[user], inputs.items[item])])[0]
    seen = inputs.matrix((0, 1, 2))[user:user + 1].clone()
    implicit = seen > 0
    with_it = run.task._predict(run, seen, implicit, torch.tensor([user]))[0, item]
    seen[0, item] = 0
    without = run.task._predict(run, seen, implicit, torch.tensor([user]))[0, item]
    assert asked == pytest.approx(float(without), abs=1e-5)
    assert float(with_it) != pytest.approx(float(without), abs=1e-5), "the rating would have been an input"


def test_predict_rates_pairs_and_flags_unknown_users_and_items(runs, tmp_path, capsys):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\nu1,3\nghost,3\nu1,999\n")
    out = tmp_path / "p.csv"
    assert main(["predict", str(runs["movielens-mf"]), str(pairs), "u2:5", "-o", str(out)]) == 0
    header, *rows = out.read_text().splitlines()
    assert header == "user,item,title,predicted_rating,error" and len(rows) == 4
    assert rows[0].startswith("u1,3,Film D (1993),") and rows[0].endswith(",")
    assert rows[1].endswith("unknown user 'ghost'") and rows[2].endswith("unknown item '999'")
    assert main(["predict", str(runs["movielens-mf"]), "not-a-pair"]) == 2
    assert "neither a file nor a USER:ITEM pair" in capsys.readouterr().err


def test_bad_ratings_files_stop_training_with_one_line(files, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,rating\n1,1,4\n1,2,6\n")
    assert main(["train", "movielens-rbm", "--data", str(bad), "--quiet", "--out", str(tmp_path / "a")]) == 2
    assert "rating 6 is not a whole number from 1 to 5" in capsys.readouterr().err
    twice = tmp_path / "twice.csv"
    twice.write_text("user,item,rating\n" + "".join(f"{u},{i},{1 + (u + i) % 5}\n" for u in range(20)
                                                    for i in range(6)) + "3,2,5\n")
    assert main(["train", "movielens-mean", "--data", str(twice), "--quiet", "--out", str(tmp_path / "b")]) == 2
    assert "rated item '2' 2 times" in capsys.readouterr().err
    assert main(["train", "movielens-mean", "--data", str(twice), "--set", "data.duplicates=last", "--quiet",
                 "--out", str(tmp_path / "c")]) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["train", "movielens-rbm", "--data", str(empty), "--quiet", "--out", str(tmp_path / "d")]) == 2
    assert "is empty" in capsys.readouterr().err


@pytest.mark.skipif(not (MIRROR / "u.data").exists(), reason="MovieLens-100K mirror not found")
def test_movielens_splits_are_the_published_ones():
    data = prepare_data(load_recipe("movielens-rbm", ["data.split=u1"]))
    sizes = data.extras["sizes"]
    assert sizes == {"users": 943, "items": 1682, "train": 76000, "val": 4000, "test": 20000}
    assert data.inputs.titles[data.inputs.item_index["50"]] == "Star Wars (1977)"
    ua = prepare_data(load_recipe("movielens-rbm", ["data.split=ua", "data.val=0"])).extras["sizes"]
    assert ua["test"] == 9430 and ua["train"] == 90570, "ua.test holds exactly 10 ratings of each user"


def test_final_scores_are_those_of_the_saved_run_even_with_dropout(files, tmp_path):
    """The engine hands the model back in training mode; scoring it so would drop units at random."""
    out = tmp_path / "ae"
    assert main(["train", "movielens-autorec", *sets(files, "model.hidden_size=16", "model.dropout=0.5"),
                 "--out", str(out)]) == 0
    final = json.loads((out / "metrics.json").read_text())["final"]["test"]
    run = load_run(out)
    data = prepare_data(run.recipe)
    assert run.score_split(data.splits["test"], data.targets["test"])["rmse"] == pytest.approx(final["rmse"],
                                                                                               abs=1e-6)

import pytest

from neuralab.errors import ConfigError
from neuralab.recipes import list_recipes, load_recipe


def test_bundled_recipes_are_listed_with_descriptions_and_all_validate():
    listed = dict(list_recipes())
    assert "digits-mlp" in listed and listed["digits-mlp"]
    for name in listed:
        assert load_recipe(name).name == name


def test_set_overrides_values_with_yaml_types():
    recipe = load_recipe("digits-mlp", ["trainer.epochs=5", "model.hidden_sizes=[32, 16]", "optimizer.lr=0.1",
                                        "trainer.early_stopping=null"])
    assert recipe.trainer.epochs == 5
    assert recipe.model.options["hidden_sizes"] == [32, 16]
    assert recipe.optimizer.lr == 0.1
    assert recipe.trainer.early_stopping is None


def test_naming_another_optimiser_drops_the_recipes_options_for_the_old_one():
    sgd = load_recipe("movielens-rbm").optimizer
    assert sgd.name == "sgd" and sgd.momentum == 0.9
    adam = load_recipe("movielens-rbm", ["optimizer.name=adam", "optimizer.lr=0.01"]).optimizer.model_dump()
    assert adam == {"groups": {}, "name": "adam", "lr": 0.01}, "Adam has no momentum option"
    kept = load_recipe("movielens-rbm", ["optimizer.name=nesterov", "optimizer.momentum=0.5"]).optimizer
    assert kept.name == "nesterov" and kept.momentum == 0.5 and kept.lr == sgd.lr, "options given with it stay"


@pytest.mark.parametrize("override, message", [
    ("trainer.epocs=5", r"trainer\.epocs: unknown key \(did you mean 'epochs'\?\)"),
    ("trainer.early_stopping.patients=3", r"trainer\.early_stopping\.patients: unknown key \(did you mean 'patience'"),
    ("datta.name=x", r"datta: unknown key \(did you mean 'data'\?\)"),
    ("model.hiden_sizes=[3]", r"model\.hiden_sizes: unknown key \(did you mean 'hidden_sizes'\?\)"),
    ("trainer.epochs=-1", r"trainer\.epochs: .*greater than or equal to 1; got -1"),
    ("trainer.epochs=0", r"trainer\.epochs: .*greater than or equal to 1; got 0"),
    ("trainer.epochs=many", r"trainer\.epochs: .*integer.*got 'many'"),
    ("trainer.device=tpu", r"trainer\.device: .*auto, cpu, cuda"),
    ("model.name=mpl", r"unknown model 'mpl' \(did you mean 'mlp'\?\)"),
    ("trainer.epochs", r"--set expects KEY=VALUE"),
    ("trainer.epochs.x=1", r"trainer\.epochs is a value, not a section"),
])
def test_bad_overrides_give_one_line_errors_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_recipe("digits-mlp", [override])
    assert "\n" not in str(info.value)


def test_unknown_recipe_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"no recipe or file named 'digits-mpl' \(did you mean 'digits-mlp'\?\)"):
        load_recipe("digits-mpl")


def test_recipe_from_a_yaml_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("data: {name: digits}\nmodel: {name: mlp, hidden_sizes: [8]}\ntrainer: {epochs: 1}\n")
    recipe = load_recipe(path)
    assert recipe.name == "mine" and recipe.model.options == {"hidden_sizes": [8]}
    path.write_text("data: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


def test_bare_keys_are_short_for_the_one_section_that_has_them():
    recipe = load_recipe("digits-mlp", ["epochs=4", "split=random", "lr=0.5", "batch_size=16"])
    assert recipe.trainer.epochs == 4 and recipe.data.split == "random"
    assert recipe.optimizer.lr == 0.5 and recipe.trainer.batch_size == 16
    with pytest.raises(ConfigError, match="name"):
        load_recipe("digits-mlp", ["name=1"])  # in every section: not a shorthand, and a top-level str

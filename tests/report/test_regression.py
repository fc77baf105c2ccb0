import json

import numpy as np

from neuralab.report.regression import plot_coverage, plot_parity, plot_residuals

PNG = b"\x89PNG\r\n\x1a\n"


def test_regression_figures_are_written_as_png(tmp_path):
    rng = np.random.default_rng(0)
    y = {s: rng.normal(size=n) for s, n in (("train", 50), ("val", 10), ("test", 10))}
    p = {s: v + rng.normal(scale=0.3, size=len(v)) for s, v in y.items()}
    paths = [plot_parity(y, p, tmp_path / "parity.png"), plot_residuals(y["test"], p["test"], tmp_path / "res.png"),
             plot_coverage({"normal@0.9": {"coverage": 0.88}, "conformal@0.9": {"coverage": 0.91},
                            "normal@0.95": {"coverage": 0.93}, "conformal@0.95": {"coverage": 0.96}},
                           tmp_path / "cov.png")]
    for path in paths:
        assert path.read_bytes()[:8] == PNG


def test_a_regression_run_lists_its_figures_for_the_report(tmp_path):
    from neuralab.recipes import load_recipe
    from neuralab.tasks import train_recipe

    recipe = load_recipe("solubility", ["epochs=2", "scheduler.warmup_epochs=0", "model.hidden_sizes=[16]"])
    run = train_recipe(recipe, out_dir=tmp_path / "run")
    figures = json.loads((run.path / "figures.json").read_text())
    assert [f["file"] for f in figures] == ["parity.png", "residuals.png", "coverage.png"]
    html = (run.path / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4 and "Interval coverage" in html

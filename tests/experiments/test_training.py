"""The batch-size and confidence-interval experiments: their pages and the claims on them."""

from __future__ import annotations

import numpy as np
import pytest

from neuralab.experiments.training import interval_coverage, run_batch_size, run_intervals


def test_coverage_counts_the_points_inside():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert interval_coverage(np.array([-1, 0, 2.5, 2]), np.array([1, 2, 3, 4]), y) == 0.75


def test_the_batch_size_experiment_takes_one_19_and_600_steps_an_epoch(tmp_path):
    rows = run_batch_size(tmp_path, epochs=5)["rows"]
    assert [r[3] for r in rows] == [5, 95, 3000], "1, 19 (the last one short) and 600 steps an epoch"
    assert rows[2][4] < rows[0][4], "per epoch, online learning gets further than one full-batch step"
    page = (tmp_path / "index.html").read_text()
    assert all(label in page for label in ("full batch (600)", "mini-batch (32)", "online (1)"))


@pytest.mark.slow
def test_conformal_and_the_course_cover_about_90_percent_and_the_ensemble_far_less(tmp_path):
    rows = {r[0]: r for r in run_intervals(tmp_path, seed=1)["rows"]}
    assert abs(rows["split conformal"][1] - 0.9) < 0.03
    assert abs(rows["ŷ ± z·√MSE_val (the course)"][1] - 0.9) < 0.04
    assert rows["ensemble of 5: ŷ ± z·s"][1] < 0.5
    assert rows["split conformal"][3] < 0.85 < rows["split conformal"][2], "too narrow at the edges, wide inside"

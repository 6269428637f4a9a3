"""The evaluation budget's rule, read off learning curves: the smallest budget whose next doubling gains < 0.5."""
import math

import pandas as pd
import pytest

from gsnas.report import budget


def _res(curves: dict):
    """curves: {cell: {train_size: [test accuracy per seed]}} at 4 epochs; a stand-in for Results."""
    rows = [{"cell": cell, "train_size": n, "images_seen": 4 * n, "seed_eval": s, "test_acc": a, "train_acc": a - 1,
             "wall_seconds": n / 100, "profile": "cpu"}
            for cell, points in curves.items() for n, accs in points.items() for s, a in enumerate(accs)]
    return {"learning_curve": pd.DataFrame(rows)}


def test_the_budget_is_where_the_next_doubling_gains_under_half_a_point_for_every_cell():
    res = _res({"A": {5000: [80.0, 80.2], 10000: [84.0, 84.2], 20000: [84.3, 84.5], 40000: [84.6, 84.6]},
                "B": {5000: [78.0, 78.0], 10000: [82.0, 82.0], 20000: [83.5, 83.5], 40000: [83.8, 83.8]}})
    curves = budget.learning_curves(res)
    a = curves[curves["cell"] == "A"].set_index("train_size")["gain_next_doubling"]
    assert a[5000] == pytest.approx(4.0) and a[10000] == pytest.approx(0.3) and math.isnan(a[40000])
    # A alone would stop at 40k images (10k an epoch); B gains 1.5 there, and 0.3 from 80k: 80k for both
    assert budget.chosen_budget(curves) == (80000.0, True)
    assert budget.chosen_budget(curves[curves["cell"] == "A"]) == (40000.0, True)


def test_without_a_budget_that_meets_the_rule_the_largest_measured_is_named_and_the_rule_unmet():
    res = _res({"A": {5000: [70.0], 10000: [75.0], 20000: [80.0]}})
    assert budget.chosen_budget(budget.learning_curves(res)) == (80000.0, False)
    res = _res({"A": {5000: [70.0], 20000: [80.0]}})  # not a doubling: no gain to read
    assert budget.learning_curves(res)["gain_next_doubling"].isna().all()
    assert budget.chosen_budget(budget.learning_curves(res)) == (80000.0, False)

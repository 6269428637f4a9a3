"""The claims ledger: verdicts follow from the result tables, and say so when a claim fails."""
import math

import pandas as pd
import pytest

from gsnas import claims


def _table2(gsnas, darts):
    rows = [{"method": m, "seed_search": i, "seed_eval": 0, "test_acc": a, "param_free_share": 0.0}
            for m, accs in (("gsnas", gsnas), ("darts", darts)) for i, a in enumerate(accs)]
    return {"table2_darts_space": pd.DataFrame(rows)}


@pytest.mark.parametrize("gsnas,darts,verdict", [
    ([90.0, 90.2, 89.8], [90.1, 89.9, 90.0], "reproduced"),       # interval [-0.42, +0.36] inside the margin 0.75
    ([85.0, 85.2, 84.8], [90.1, 89.9, 90.0], "not reproduced"),   # clearly worse
    ([88.0, 90.0, 92.0], [90.1, 89.9, 90.0], "inconclusive"),     # a noisy tie: the interval straddles the margin
    ([90.0], [90.1, 89.9], "inconclusive"),                       # one search
])
def test_competitive_with_darts(gsnas, darts, verdict):
    assert claims.competitive_with_darts(_table2(gsnas, darts))["verdict"] == verdict


def test_zero_gap_fails_on_any_difference():
    rows = [{"mu": 0.1, "threshold": t, "seed": 0, "acc_before": 90.0, "acc_after": a}
            for t, a in ((1e-6, 90.0), (1e-3, 89.99), (0.5, 50.0))]
    row = claims.zero_gap_pruning({"table1_operation_pruning": pd.DataFrame(rows)})
    assert row["verdict"] == "not reproduced" and "0.01" in row["our_evidence"]
    rows[1]["acc_after"] = 90.0  # the 0.5 threshold is not part of the claim
    assert claims.zero_gap_pruning({"table1_operation_pruning": pd.DataFrame(rows)})["verdict"] == "reproduced"


def test_eval_seeds_are_averaged_before_the_spread():
    df = pd.DataFrame([{"method": "gsnas", "seed_search": s, "seed_eval": e, "test_acc": 90 + s + e / 10}
                       for s in (0, 1) for e in (0, 1)])
    assert claims.per_search(df, "test_acc")["test_acc"].tolist() == pytest.approx([90.05, 91.05])


def test_missing_experiments_are_inconclusive_not_errors():
    df = claims.ledger({})
    assert list(df.columns) == claims.COLUMNS and len(df) == len(claims.CLAIMS)
    assert set(df["verdict"]) == {"inconclusive"} and df["paper_evidence"].str.len().min() > 0


def _figure1(pairs):
    """pairs: {mu: (group-sparsity accuracies, random accuracies)}; each mu prunes a network of its own."""
    return {"figure1_pruning_tradeoff": pd.DataFrame(
        [{"selection": sel, "mu": mu, "seed": i, "acc_retrained": a, "params": int(1000 * (1 - mu))}
         for mu, accs in pairs.items() for sel, a_s in zip(("group_sparsity", "random"), accs)
         for i, a in enumerate(a_s)])}


def test_random_control_is_stratified_by_pruned_network():
    # group sparsity is 1 point better at both sparsities; pooled over sparsities the 10-point change in
    # accuracy between them would swamp that; stratified it is 1.0 with SE sqrt(0.02 + 0.02) / 2 on 4 df
    row = claims.better_than_random_pruning(_figure1({0.1: ([90.1, 89.9], [89.1, 88.9]),
                                                       0.5: ([80.1, 79.9], [79.1, 78.9])}))
    assert row["verdict"] == "reproduced" and "mean difference +1.00 [+0.72, +1.28] (95 %, df 4.0)" in row["our_evidence"]
    row = claims.better_than_random_pruning(_figure1({0.1: ([89.1, 88.9], [90.1, 89.9])}))
    assert row["verdict"] == "not reproduced"
    row = claims.better_than_random_pruning(_figure1({0.1: ([90.0], [89.0, 89.2])}))  # one retraining
    assert row["verdict"] == "inconclusive" and "not scored: one retraining" in row["our_evidence"]


def test_random_control_counts_a_network_once_and_skips_one_at_chance():
    t = _figure1({0.1: ([90.1, 89.9], [89.1, 88.9]), 0.6: ([10.0, 10.0], [45.0, 46.0])})
    row = claims.better_than_random_pruning(t)  # at chance nothing was left to choose: shown, not scored
    assert row["verdict"] == "reproduced" and "not scored: at chance" in row["our_evidence"]
    df = t["figure1_pruning_tradeoff"]
    twin = df[df["mu"] == 0.1].assign(mu=0.2)  # mu 0.2 pruned the very same network: the same runs again
    row = claims.better_than_random_pruning({"figure1_pruning_tradeoff": pd.concat([df, twin])})
    assert "mu 0.1/0.2:" in row["our_evidence"] and "mean difference +1.00 [+0.39, +1.61] (95 %, df 2.0)" in row["our_evidence"]


def _table3(darts_share, darts_err, gsnas_err, space="s2"):
    rows = [{"space": space, "method": m, "seed_search": i, "seed_eval": 0, "param_free_share": sh, "test_error": e,
             "noise_ops": 0} for m, shares, errs in (("darts", darts_share, darts_err), ("gsnas", (0.0,) * 3, gsnas_err))
            for i, (sh, e) in enumerate(zip(shares, errs))]
    return {"table3_subspaces": pd.DataFrame(rows)}


@pytest.mark.parametrize("shares,verdict", [
    ((0.8, 0.85, 0.9), "reproduced"),        # above random cells' 0.50 on S2
    ((0.3, 0.35, 0.4), "not reproduced"),    # below: DARTS chose fewer than chance
    ((0.2, 0.5, 0.9), "inconclusive"),       # the interval straddles chance
])
def test_darts_degenerates_against_random_cells(shares, verdict):
    row = claims.darts_degenerates(_table3(shares, (5, 5, 5), (4, 4, 4)))
    assert row["verdict"] == verdict and "- 0.50 =" in row["our_evidence"]


def test_random_cells_share_is_computed_per_space():
    assert claims.random_share("s2", 400) == pytest.approx(0.5, abs=0.03)
    assert claims.random_share("s1", 400) == pytest.approx(0.62, abs=0.03)


@pytest.mark.parametrize("darts,gsnas,verdict", [
    ((5.0, 5.2, 4.8), (4.0, 4.1, 3.9), "reproduced"),
    ((4.0, 4.1, 3.9), (5.0, 5.2, 4.8), "not reproduced"),
    ((5.0, 3.0, 4.0), (4.0, 4.5, 3.5), "inconclusive"),
])
def test_table3_error_claim(darts, gsnas, verdict):
    assert claims.subspace_error(_table3((0.5,) * 3, darts, gsnas))["verdict"] == verdict


@pytest.mark.parametrize("bound,verdict", [(0.58, "holds by construction"), (math.inf, "reproduced"),
                                           (math.nan, "reproduced")])
def test_a_claim_no_result_could_refute_is_said_to_hold_by_construction(bound, verdict):
    tables = _table2([90.0, 90.1], [90.0, 90.1])
    tables["searches"] = pd.DataFrame([{"method": "gsnas", "space": "darts", "seed": s, "gate_bound": bound}
                                       for s in range(2)])
    row = claims.no_param_free_ops(tables)
    assert row["verdict"] == verdict and (("gate bound 0.58" in row["our_evidence"]) == (bound == 0.58))


def _controls(jaccards, drops):
    real = pd.DataFrame([{"method": "gsnas", "space": "darts", "seed": s, "control": "none",
                          "train_acc_best": 60.0, "train_acc_last": 60.0 - d} for s, d in enumerate(drops)])
    ctrl = pd.DataFrame([{"method": "gsnas", "space": "darts", "seed": s, "control": "shuffled_labels",
                          "jaccard_half_dead": j, "k_compared": 50, "half_dead_epoch": 4}
                         for s, j in enumerate(jaccards)])
    return {"searches": real, "search_controls": ctrl}


@pytest.mark.parametrize("jaccards,drops,verdict", [
    ([0.3, 0.5, 0.6], [0, 1, 2], "reproduced"),
    ([0.3, 0.5, 0.61], [0, 1, 2], "not reproduced"),     # one seed kept its control's groups
    ([0.3, 0.5, 0.6], [0, 1, 2.5], "not reproduced"),    # a supernet that stopped learning
    ([0.3, 0.5], [0, 1], "inconclusive"),                # two seeds
    ([0.3, 0.5, math.nan], [0, 1, 0], "inconclusive"),   # a control with nothing left to rank
])
def test_selection_reads_data(jaccards, drops, verdict):
    assert claims.selection_reads_data(_controls(jaccards, drops))["verdict"] == verdict


def test_every_claim_says_what_would_have_refuted_it():
    from gsnas.report.discussion import REFUTED_BY

    assert set(claims.ledger({})["claim_id"]) == set(REFUTED_BY)


def _width(gs: dict, width: dict, unpruned=(90.0, 90.2)):
    """gs: {params: accuracies} of pruned networks; width: {(channels, params): accuracies}; unpruned at 1000."""
    rows = [{"selection": "group_sparsity", "mu": 0.0, "channels": 8, "seed": i, "acc_retrained": a, "params": 1000}
            for i, a in enumerate(unpruned)]
    rows += [{"selection": "group_sparsity", "mu": round(1 - p / 1000, 3), "channels": 8, "seed": i,
              "acc_retrained": a, "params": p} for p, accs in gs.items() for i, a in enumerate(accs)]
    rows += [{"selection": "width", "mu": 0.0, "channels": c, "seed": i, "acc_retrained": a, "params": p}
             for (c, p), accs in width.items() for i, a in enumerate(accs)]
    return {"figure1_pruning_tradeoff": pd.DataFrame(rows)}


def test_width_claim_reads_the_width_curve_at_each_pruned_networks_weights():
    width = {(6, 600): [86.0, 86.2], (7, 800): [88.0, 88.2]}
    # 650 weights: a quarter of the way from C=6 to C=7, the curve is 86.6 there; 87.4 is 0.8 above it
    row = claims.better_than_width(_width({650: [87.3, 87.5]}, width))
    assert row["verdict"] == "reproduced" and row["difference"] == pytest.approx(0.8)
    assert "between C=6 and C=7" in row["our_evidence"]
    row = claims.better_than_width(_width({650: [85.7, 85.9]}, width))
    assert row["verdict"] == "not reproduced" and row["difference"] == pytest.approx(-0.8)
    # 900 weights: between C=7 and the unpruned network (89.1 there); 500: narrower than the curve, not scored
    row = claims.better_than_width(_width({900: [89.0, 89.2], 500: [70.0, 71.0]}, width))
    assert row["difference"] == pytest.approx(0.0) and row["verdict"] == "inconclusive"
    assert "between C=7 and unpruned" in row["our_evidence"] and "not scored: outside the width curve" in row["our_evidence"]
    assert claims.better_than_width(_width({700: [87.8, 88.0]}, {}))["verdict"] == "inconclusive"  # no baseline


def test_width_discussion_reads_the_curve_where_pruning_falls_furthest_below_it():
    from gsnas.report.discussion import _width_facts

    f = _width({650: [84.0, 84.2], 750: [88.0, 88.2]}, {(6, 600): [86.0, 86.2], (7, 800): [88.0, 88.2]})
    f = f["figure1_pruning_tradeoff"]
    f = pd.concat([f, pd.DataFrame({"selection": "random", "mu": 0.35, "channels": 8, "seed": [0, 1],
                                    "acc_retrained": [85.0, 85.4], "params": 650})], ignore_index=True)
    f["ops_pruned"] = (f["mu"] * 40).round()
    text = _width_facts(f)
    # C=6: 40 % fewer weights than the unpruned 1000; at 650 weights the curve reads 86.1 + 0.25 * 2 = 86.6
    assert "C=6 with 40 % fewer weights than the unpruned network, retrains to 86.10 % against 90.10 %" in text
    assert "(mu 0.35, 14 operations removed) retrains to 84.10 % where the curve reads 86.60 %" in text
    assert text.endswith("the matched random removal of as many operations there, to 85.20 %.")


def test_width_claim_counts_width_runs_shared_by_two_networks_once():
    """Two networks read between the same widths share those runs: the mean difference is one contrast, with the
    width groups' coefficients summed, not two independent differences (``combined``) that would halve their variance."""
    width = {(6, 600): [86.0, 86.4], (7, 800): [88.0, 88.6]}
    t = _width({650: [87.3, 87.5], 750: [87.9, 88.3]}, width)
    row = claims.better_than_width(t)
    from gsnas import stats
    # 650: 0.75 * C6 + 0.25 * C7; 750: 0.25 * C6 + 0.75 * C7; the mean: 0.5 each, both networks 0.5
    ref = stats.contrast([[87.3, 87.5], [87.9, 88.3], [86.0, 86.4], [88.0, 88.6]], [0.5, 0.5, -0.5, -0.5])
    assert (row["difference"], row["ci_low"], row["ci_high"], row["df"]) == pytest.approx((ref.diff, ref.lo, ref.hi, ref.df))
    parts = [stats.interpolated([87.3, 87.5], [86.0, 86.4], [88.0, 88.6], 0.75),
             stats.interpolated([87.9, 88.3], [86.0, 86.4], [88.0, 88.6], 0.25)]
    assert stats.combined(parts).se < ref.se  # what treating them as independent would have claimed

"""The paper's claims, each with a verdict computed from our result CSVs: ``claims.csv``.

One function per claim reads the result tables (``gsnas.report.Results``) and returns its row:
what the paper claims and shows (from ``gsnas.paper`` or the paper's text), what we measured,
the criterion in words (the code below it is the criterion), and the verdict: "reproduced",
"not reproduced" or "inconclusive" (too few runs, or the experiment is missing). Nothing is
typed in; a claim that does not hold here says so.

Spreads are over search seeds (evaluation seeds averaged first), with ddof=1; a comparison of
two methods uses Welch's standard error of the difference of means. Two standard errors is a
lenient bar at n = 2-3 per side (a t-test at those degrees of freedom asks for 4-13): a verdict
on it tells the direction the runs point in, not significance.
"""
from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from . import paper

REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"
BY_CONSTRUCTION = "holds by construction"  # the profile's settings leave no result that could refute it
CHANCE = 10.0  # % test accuracy of a constant prediction on the 10 classes of every dataset here
COLUMNS = ["claim_id", "claim", "paper_evidence", "our_evidence", "criterion", "verdict"]


def _table(tables: dict, name: str, *columns) -> pd.DataFrame | None:
    df = tables.get(name)
    if df is None or df.empty or any(c not in df for c in columns):
        return None
    return df


def _stats(values) -> tuple[float, float, int]:
    s = pd.Series(values, dtype=float).dropna()
    return float(s.mean()) if len(s) else math.nan, float(s.std(ddof=1)) if len(s) > 1 else math.nan, len(s)


def _fmt(mean, std, n) -> str:
    if n == 0:
        return "no runs"
    return f"{mean:.2f} (n=1)" if n == 1 else f"{mean:.2f} ± {std:.2f} (n={n})"


def welch(a, b) -> tuple[float, float]:
    """Difference of means a - b and its standard error (Welch); nan when a side has n < 2."""
    (ma, sa, na), (mb, sb, nb) = _stats(a), _stats(b)
    se = math.sqrt(sa ** 2 / na + sb ** 2 / nb) if na > 1 and nb > 1 else math.nan
    return ma - mb, se


def per_search(df: pd.DataFrame, value: str | list[str]) -> pd.DataFrame:
    """Evaluation seeds averaged: one value (or several columns) per (method, [space,] seed_search)."""
    keys = [k for k in ("space", "method", "seed_search") if k in df]
    return df.groupby(keys, as_index=False)[value].mean()


# --- operation pruning (Table 1, Figure 1) ------------------------------------------------------

def zero_gap_pruning(t: dict) -> dict:
    row = {"claim_id": "zero_gap_pruning",
           "claim": "Operation pruning has no discretization gap: removing the groups below 1e-6 or 1e-3 "
                    "leaves the test accuracy exactly unchanged",
           "paper_evidence": "Table 1: " + "; ".join(
               f"mu {r.mu:g}: {r.acc_before:.2f} before, {r['after_1e-06']:.2f} / {r['after_0.001']:.2f} after"
               for _, r in paper.TABLE1.iterrows()),
           "criterion": "every operation-pruning run has acc_after == acc_before at thresholds 1e-6 and 1e-3"}
    df = _table(t, "table1_operation_pruning", "threshold", "acc_before", "acc_after")
    if df is None:
        return {**row, "our_evidence": "no operation-pruning results", "verdict": INCONCLUSIVE}
    low = df[df["threshold"].isin([1e-6, 1e-3])]
    diff = (low["acc_after"] - low["acc_before"]).abs()
    return {**row, "our_evidence": f"{len(low)} (mu, threshold, seed) rows; largest |after - before| "
                                   f"{diff.max():.4g} points",
            "verdict": INCONCLUSIVE if low.empty else REPRODUCED if (diff == 0).all() else NOT_REPRODUCED}


def _pruning_curve(t: dict) -> pd.DataFrame | None:
    df = _table(t, "figure1_pruning_tradeoff", "mu", "weights_pruned_pct", "acc_retrained")
    if df is None:
        return None
    return df if "selection" not in df else df[df["selection"] == "group_sparsity"]


def graceful_degradation(t: dict) -> dict:
    fig = paper.FIGURE1.groupby("mu").agg(pct=("weights_pruned_pct", "mean"), acc=("acc_retrained", "mean"))
    row = {"claim_id": "accuracy_vs_pruned",
           "claim": "Retrained accuracy stays flat while up to ~40 % of the weights are pruned and degrades "
                    "gracefully beyond",
           "paper_evidence": "Figure 1: " + ", ".join(f"{r.pct:.0f} % pruned: {r.acc:.2f} %" for _, r in fig.iterrows()),
           "criterion": "each mu pruning <= 40 % of the weights retrains to within max(1 point, 2 standard errors) "
                        "of the unpruned network (mean over seeds); needs a network pruned >= 30 %. The graceful part beyond "
                        "40 % is shown in Figure 1, not scored"}
    df = _pruning_curve(t)
    if df is None:
        return {**row, "our_evidence": "no retrained pruned networks", "verdict": INCONCLUSIVE}
    base = df[df["mu"] == 0]["acc_retrained"]
    m0, s0, n0 = _stats(base)
    curve = df[df["mu"] > 0].groupby("mu").agg(pct=("weights_pruned_pct", "mean"),
                                                acc=("acc_retrained", "mean"), sd=("acc_retrained", "std"),
                                                n=("acc_retrained", "size"))
    flat = curve[curve["pct"] <= 40]
    evidence = f"unpruned {_fmt(m0, s0, n0)}; " + ", ".join(
        f"mu {mu:g} ({r.pct:.0f} % pruned): {_fmt(r.acc, r.sd, int(r.n))}" for mu, r in curve.iterrows())
    if n0 == 0 or flat.empty or curve["pct"].max() < 30:
        return {**row, "our_evidence": evidence, "verdict": INCONCLUSIVE}
    tolerance = [max(1.0, 2 * math.sqrt((s0 ** 2 / n0 if n0 > 1 else 0) + (r.sd ** 2 / r.n if r.n > 1 else 0)))
                 for _, r in flat.iterrows()]
    ok = all(m0 - r.acc <= tol for (_, r), tol in zip(flat.iterrows(), tolerance))
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


def mu_controls_sparsity(t: dict) -> dict:
    row = {"claim_id": "mu_controls_sparsity",
           "claim": "The regularization gain mu controls the sparsity: a larger mu prunes more weights",
           "paper_evidence": "Figure 1: " + ", ".join(
               f"mu {mu:g}: {g['params_m'].iloc[0]:.2f} M params" for mu, g in paper.FIGURE1.groupby("mu")),
           "criterion": "the share of weights pruned at threshold 1e-6 (mean over seeds) never falls as mu grows, "
                        "and the largest mu prunes more than the smallest"}
    df = _table(t, "table1_operation_pruning", "mu", "threshold", "weights_pruned_pct")
    if df is None:
        return {**row, "our_evidence": "no operation-pruning results", "verdict": INCONCLUSIVE}
    pct = df[df["threshold"] == 1e-6].groupby("mu")["weights_pruned_pct"].mean().sort_index()
    evidence = ", ".join(f"mu {mu:g}: {p:.1f} %" for mu, p in pct.items())
    if len(pct) < 2:
        return {**row, "our_evidence": evidence, "verdict": INCONCLUSIVE}
    ok = pct.is_monotonic_increasing and pct.iloc[-1] > pct.iloc[0]
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


def pruned_network(df: pd.DataFrame) -> pd.Series:
    """Per Figure 1 row, which pruned network it retrains: the weights group sparsity left at its mu (NaN
    where that mu has no group-sparsity row). mus that prune the same network share it, and their
    retrainings with one seed are the same run."""
    gs = df[df["selection"] == "group_sparsity"].groupby("mu")["params"].first()
    return df["mu"].map(gs)


def better_than_random_pruning(t: dict) -> dict:
    row = {"claim_id": "group_sparsity_beats_random",
           "claim": "(beyond the paper) Group sparsity chooses which operations to remove better than chance",
           "paper_evidence": "not tested in the paper",
           "criterion": "per pruned network with a random control (mus that prune the same network count once), "
                        "retrained accuracy of group sparsity minus random removal of as many weights; the mean "
                        "of these differences > 2 standard errors (Welch's per network, combined); < -2: not "
                        "reproduced. A network at chance (every operation pruned: nothing left to choose) or with "
                        "one retraining on a side is shown, not scored"}
    df = _table(t, "figure1_pruning_tradeoff", "selection", "mu", "acc_retrained", "params")
    if df is None or "random" not in set(df["selection"]):
        return {**row, "our_evidence": "no random-pruning control", "verdict": INCONCLUSIVE}
    df = df.assign(network=pruned_network(df)).dropna(subset=["network"])
    parts, diffs, variances = [], [], []
    # stratified by pruned network: accuracy differs more across sparsities than between selections
    for params, at in df[df["network"].isin(df.loc[df["selection"] == "random", "network"])].groupby("network"):
        mus = "/".join(f"{m:g}" for m in sorted(at["mu"].unique()))
        at = at.drop_duplicates(["selection", "seed"])  # mus that prune the same network: one set of runs
        gs, rnd = (at[at["selection"] == s]["acc_retrained"] for s in ("group_sparsity", "random"))
        diff, se = welch(gs, rnd)
        part = f"mu {mus}: {_fmt(*_stats(gs))} vs random {_fmt(*_stats(rnd))}"
        if gs.mean() <= CHANCE + 0.5:
            parts.append(part + " (not scored: at chance)")
        elif math.isnan(se):
            parts.append(part + " (not scored: one retraining)")
        else:
            parts.append(part + f" ({diff:+.2f} ± {se:.2f})")
            diffs.append(diff)
            variances.append(se ** 2)
    if not diffs:
        return {**row, "our_evidence": "; ".join(parts) or "no sparsity with both selections", "verdict": INCONCLUSIVE}
    mean, se = sum(diffs) / len(diffs), math.sqrt(sum(variances)) / len(diffs)
    evidence = f"group sparsity vs random: {'; '.join(parts)}; mean difference {mean:+.2f} ± {se:.2f}"
    return {**row, "our_evidence": evidence, "verdict": _significance(mean, se)}


def _significance(diff, se, better=REPRODUCED, worse=NOT_REPRODUCED) -> str:
    if math.isnan(se):
        return INCONCLUSIVE
    return better if diff > 2 * se else worse if diff < -2 * se else INCONCLUSIVE


# --- NAS on the darts space (Table 2) -----------------------------------------------------------

def competitive_with_darts(t: dict) -> dict:
    p = paper.TABLE2.set_index("method")["accuracy"]
    row = {"claim_id": "competitive_with_darts",
           "claim": "GS-NAS finds cells as accurate as DARTS' on the DARTS search space",
           "paper_evidence": f"Table 2: GS-NAS {p['GS-NAS']} % vs DARTS (2nd order) {p['DARTS (2nd order)']} %",
           "criterion": "mean test accuracy over search seeds, GS-NAS minus DARTS, is not below -2 Welch "
                        "standard errors (not reproduced if it is); inconclusive with fewer than 2 searches each"}
    df = _table(t, "table2_darts_space", "method", "seed_search", "test_acc")
    if df is None:
        return {**row, "our_evidence": "no evaluations on the darts space", "verdict": INCONCLUSIVE}
    acc = per_search(df, "test_acc")
    g, d = (acc[acc["method"] == m]["test_acc"] for m in ("gsnas", "darts"))
    diff, se = welch(g, d)
    evidence = f"test accuracy (%): GS-NAS {_fmt(*_stats(g))}, DARTS {_fmt(*_stats(d))}"
    if not math.isnan(se):
        evidence += f"; difference {diff:+.2f} ± {se:.2f}"
    verdict = INCONCLUSIVE if math.isnan(se) else NOT_REPRODUCED if diff < -2 * se else REPRODUCED
    return {**row, "our_evidence": evidence, "verdict": verdict}


def gate_bound(t: dict, space: str = "darts") -> float:
    """The largest ``gsnas.search.gate_bound`` of the GS-NAS searches on ``space``: at <= 1 no gate-only group
    (pool, stride-1 skip, noise) could survive them. NaN if a search does not say."""
    df = _table(t, "searches", "method", "space", "gate_bound")
    rows = None if df is None else df.query("method == 'gsnas' and space == @space")["gate_bound"]
    return math.nan if rows is None or rows.empty or rows.isna().any() else float(rows.max())


def _unless_by_construction(row: dict, bound: float, what: str) -> dict:
    """A "reproduced" that no result could have refuted is said to hold by construction."""
    if row["verdict"] == REPRODUCED and bound <= 1:
        return {**row, "verdict": BY_CONSTRUCTION,
                "our_evidence": row["our_evidence"] + f"; but {what} could not survive these searches: gate bound "
                                f"{bound:.2f} <= 1 (the prox point of a gate-only group is 0 from the first step)"}
    return row


def no_param_free_ops(t: dict) -> dict:
    row = {"claim_id": "gsnas_cells_without_param_free_ops",
           "claim": "GS-NAS's cells on the DARTS space hold no parameter-free operations (skip, pools)",
           "paper_evidence": "Section 4.2 and Figure 3: the GS-NAS cells contain only convolutions",
           "criterion": "param_free_share == 0 in every GS-NAS cell found on the darts space"}
    df = _table(t, "table2_darts_space", "method", "param_free_share")
    if df is None or (df["method"] == "gsnas").sum() == 0:
        return {**row, "our_evidence": "no GS-NAS cells with their composition", "verdict": INCONCLUSIVE}
    share = per_search(df[df["method"] == "gsnas"], "param_free_share")["param_free_share"]
    row = {**row, "our_evidence": f"share of parameter-free ops per cell: {_fmt(*_stats(share))}",
           "verdict": REPRODUCED if (share == 0).all() else NOT_REPRODUCED}
    return _unless_by_construction(row, gate_bound(t), "pools and stride-1 skips (all but the reduction cells' "
                                                        "input skips, which have weights)")


def no_search_gap(t: dict) -> dict:
    row = {"claim_id": "no_search_gap",
           "claim": "GS-NAS has no discretization gap after the search, where DARTS has one",
           "paper_evidence": "Sections 1 and 3: the pruned supernet computes the same function; DARTS' top-2 "
                             "discretization loses accuracy",
           "criterion": "every GS-NAS search has gap_1e-06 == 0, and DARTS' mean gap_discrete > 2 standard errors"}
    df = _table(t, "searches", "method", "space")
    if df is None or "gap_1e-06" not in df or "gap_discrete" not in df:
        return {**row, "our_evidence": "no searches with both gaps", "verdict": INCONCLUSIVE}
    df = df[df["space"] == "darts"]
    g = df[df["method"] == "gsnas"]["gap_1e-06"].dropna()
    m, s, n = _stats(df[df["method"] == "darts"]["gap_discrete"])
    evidence = f"GS-NAS gaps {', '.join(f'{x:g}' for x in g)}; DARTS gap {_fmt(m, s, n)} points"
    if g.empty or n < 2:
        return {**row, "our_evidence": evidence, "verdict": INCONCLUSIVE}
    ok = (g == 0).all() and m > 2 * s / math.sqrt(n)
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


# --- robustness spaces (Table 3) ----------------------------------------------------------------

def darts_degenerates(t: dict) -> dict:
    row = {"claim_id": "darts_degenerates_gsnas_not",
           "claim": "On S1-S4 DARTS' cells fill up with parameter-free operations (RobustDARTS), GS-NAS's do not",
           "paper_evidence": "Table 3 (test error %): " + "; ".join(
               f"{r.space}: DARTS {r.DARTS}, GS-NAS {r['GS-NAS']}" for _, r in paper.TABLE3.iterrows()),
           "criterion": "in every space, DARTS' mean share of parameter-free ops exceeds GS-NAS's by > 2 Welch "
                        "standard errors, and DARTS' share is >= 0.5 on average"}
    df = _table(t, "table3_subspaces", "space", "method", "param_free_share")
    if df is None or set(df["method"]) < {"gsnas", "darts"}:
        return {**row, "our_evidence": "no DARTS and GS-NAS cells on the robustness spaces", "verdict": INCONCLUSIVE}
    share = per_search(df, "param_free_share")
    parts, verdicts = [], []
    for space, g in share.groupby("space"):
        d, s = (g[g["method"] == m]["param_free_share"] for m in ("darts", "gsnas"))
        diff, se = welch(d, s)
        verdict = NOT_REPRODUCED if se == 0 and diff <= 0 else _significance(diff, se)  # no spread, no excess
        parts.append(f"{space}: DARTS {_fmt(*_stats(d))}, GS-NAS {_fmt(*_stats(s))} ({verdict})")
        verdicts.append(verdict)
    mean_darts = share[share["method"] == "darts"]["param_free_share"].mean()
    if all(v == REPRODUCED for v in verdicts) and mean_darts >= 0.5:
        verdict = REPRODUCED
    elif any(v == NOT_REPRODUCED for v in verdicts) or (INCONCLUSIVE not in verdicts and mean_darts < 0.5):
        verdict = NOT_REPRODUCED
    else:
        verdict = INCONCLUSIVE
    return {**row, "our_evidence": "share of parameter-free ops: " + "; ".join(parts), "verdict": verdict}


def noise_never_survives(t: dict) -> dict:
    row = {"claim_id": "noise_never_survives_s4",
           "claim": "On S4 GS-NAS never keeps the noise operation",
           "paper_evidence": "Section 4.3: the noise op's gate is driven to zero",
           "criterion": "noise_ops == 0 in every GS-NAS cell found on S4"}
    df = _table(t, "table3_subspaces", "space", "method", "noise_ops")
    rows = None if df is None else df[(df["space"] == "s4") & (df["method"] == "gsnas")]
    if rows is None or rows.empty:
        return {**row, "our_evidence": "no GS-NAS cells on S4", "verdict": INCONCLUSIVE}
    noise = per_search(rows, "noise_ops")["noise_ops"]
    row = {**row, "our_evidence": f"noise ops per cell in {len(noise)} searches: {', '.join(f'{x:g}' for x in noise)}",
           "verdict": REPRODUCED if (noise == 0).all() else NOT_REPRODUCED}
    return _unless_by_construction(row, gate_bound(t, "s4"), "noise (a gate alone)")


# --- does the search read the data? (controls) --------------------------------------------------

JACCARD_MAX, ACC_DROP_MAX = 0.6, 2.0


def selection_reads_data(t: dict) -> dict:
    row = {"claim_id": "selection_reads_data",
           "claim": "GS-NAS selects operations by the data, not by the penalty's schedule alone",
           "paper_evidence": "implicit in Sections 3-4: the architecture is the operations the data keeps alive",
           "criterion": f"on the darts space, >= 3 seeds: when the search has lost half its groups (k live), the "
                        f"Jaccard of its live groups and the k largest of its permuted-labels control is <= "
                        f"{JACCARD_MAX} for every seed, and its supernet ends within {ACC_DROP_MAX:g} points of its "
                        f"best train accuracy"}
    controls = _table(t, "search_controls", "method", "control", "jaccard_half_dead")
    if controls is None:
        return {**row, "our_evidence": "no permuted-labels controls with their Jaccard", "verdict": INCONCLUSIVE}
    c = controls.query("method == 'gsnas' and space == 'darts' and control == 'shuffled_labels'").sort_values("seed")
    real = t["searches"].query("method == 'gsnas' and space == 'darts'").set_index("seed")
    drops = (real["train_acc_best"] - real["train_acc_last"]) if "train_acc_best" in real else None
    jac = c.set_index("seed")["jaccard_half_dead"]
    evidence = "Jaccard per seed: " + ", ".join(f"seed {s}: {j:.2f} (k={k:g}, epoch {e:g})" for s, j, k, e in
                                                  zip(c["seed"], c["jaccard_half_dead"], c["k_compared"],
                                                      c["half_dead_epoch"]))
    if drops is not None:
        evidence += "; best - last train accuracy: " + ", ".join(f"{d:.1f}" for d in drops.reindex(jac.index))
    if jac.notna().sum() < 3 or drops is None:
        return {**row, "our_evidence": evidence, "verdict": INCONCLUSIVE}
    ok = (jac <= JACCARD_MAX).all() and (drops.reindex(jac.index) <= ACC_DROP_MAX).all()
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED}


CLAIMS = (zero_gap_pruning, graceful_degradation, mu_controls_sparsity, better_than_random_pruning,
          competitive_with_darts, no_param_free_ops, no_search_gap, darts_degenerates, noise_never_survives,
          selection_reads_data)


def ledger(tables: dict) -> pd.DataFrame:
    """One row per claim, from a dict of result tables (name -> DataFrame)."""
    return pd.DataFrame([claim(tables) for claim in CLAIMS], columns=COLUMNS)


def write(folder) -> pd.DataFrame:
    """Compute ``claims.csv`` from the result CSVs of ``folder`` (results/<profile>)."""
    from .report import Results

    folder = Path(folder)
    df = ledger(Results(folder).tables)
    df.to_csv(folder / "claims.csv", index=False)
    return df

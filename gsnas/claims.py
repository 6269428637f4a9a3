"""The paper's claims, each with a verdict computed from our result CSVs: ``claims.csv``.

One function per claim reads the result tables (``gsnas.report.Results``) and returns its row:
what the paper claims and shows (from ``gsnas.paper`` or the paper's text), what we measured,
the criterion in words (the code below it is the criterion), and the verdict: "reproduced",
"not reproduced", "inconclusive" (the interval straddles the bar, too few runs, or the experiment
is missing), or "holds by construction" (the settings left no result that could refute it).
Nothing is typed in; a claim that does not hold here says so.

Spreads are over search seeds (evaluation seeds averaged first; the unit of replication is the
search, or the pruned network), with ddof=1. Comparisons are read off 95 % t intervals
(``gsnas.stats``): a claim of direction needs its interval on one side of zero, a claim of equality
needs it inside a margin that the criterion states with its reason, derived from the paper's numbers
and not from ours. Each row also says the smallest difference its runs could detect (80 % power,
alpha 0.05) and whether the test could fail under the settings that made the results.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from . import paper
from .stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Difference, against, combined, difference, \
    directional, equivalent

BY_CONSTRUCTION = "holds by construction"  # the profile's settings leave no result that could refute it
CHANCE = 10.0  # % test accuracy of a constant prediction on the 10 classes of every dataset here
COLUMNS = ["claim_id", "claim", "paper_evidence", "our_evidence", "criterion", "verdict", "difference", "ci_low",
           "ci_high", "df", "unit", "margin", "detectable", "could_fail"]


def _scored(d: Difference, margin: float = math.nan, unit: str = "points") -> dict:
    """The interval columns of a row from the difference that decides it (its unit: accuracy points, or a share)."""
    return {"difference": d.diff, "ci_low": d.lo, "ci_high": d.hi, "df": d.df, "unit": unit, "margin": margin,
            "detectable": d.detectable()}


def _all_parts(verdicts: list[str]) -> str:
    """A claim made of parts (spaces, sparsities): reproduced if every part is, not reproduced if any part is not."""
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def _deciding(parts: list[Difference], verdicts: list[str], verdict: str) -> Difference:
    """The part that decides a claim made of parts (the widest interval among those with the claim's verdict)."""
    pick = [d for d, v in zip(parts, verdicts) if v == verdict] or parts
    return max(pick, key=lambda d: d.half_width if d.known else math.inf)


def _mean(text: str) -> float:
    """The mean of a paper cell such as "96.98 ± 0.13"."""
    return float(re.match(r"\s*([0-9.]+)", text).group(1))


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
            "verdict": INCONCLUSIVE if low.empty else REPRODUCED if (diff == 0).all() else NOT_REPRODUCED,
            "could_fail": "yes"}


def _pruning_curve(t: dict) -> pd.DataFrame | None:
    df = _table(t, "figure1_pruning_tradeoff", "mu", "weights_pruned_pct", "acc_retrained")
    if df is None:
        return None
    return df if "selection" not in df else df[df["selection"] == "group_sparsity"]


def flat_margin(unpruned_acc: float) -> float:
    """How far "flat" may fall, set from the authors' logs (not from our runs): their largest mean drop up to
    40 % pruned, as a share of the unpruned network's error, applied to our unpruned error."""
    fig = paper.FIGURE1.groupby("mu").agg(pct=("weights_pruned_pct", "mean"), acc=("acc_retrained", "mean"))
    base = fig.loc[0.0, "acc"]
    drop = (base - fig[(fig.index > 0) & (fig["pct"] <= 40)]["acc"]).max()
    return drop / (100 - base) * (100 - unpruned_acc)


def graceful_degradation(t: dict) -> dict:
    fig = paper.FIGURE1.groupby("mu").agg(pct=("weights_pruned_pct", "mean"), acc=("acc_retrained", "mean"))
    row = {"claim_id": "accuracy_vs_pruned",
           "claim": "Retrained accuracy stays flat while up to ~40 % of the weights are pruned and degrades "
                    "gracefully beyond",
           "paper_evidence": "authors' logs (the points behind Figure 1, a plot in the paper): " + ", ".join(
               f"{r.pct:.0f} % pruned: {r.acc:.2f} %" for _, r in fig.iterrows()),
           "criterion": "each distinct network pruned <= 40 % retrains within the margin of the unpruned one: the 95 % "
                        "interval of (pruned - unpruned) lies inside (-margin, margin); margin: the authors' largest "
                        "mean drop up to 40 % pruned as a share of their unpruned error, times ours. Needs a network "
                        "pruned >= 30 %. The graceful part beyond 40 % is shown in Figure 1, not scored"}
    df = _pruning_curve(t)
    if df is None:
        return {**row, "our_evidence": "no retrained pruned networks", "verdict": INCONCLUSIVE}
    base = df[df["mu"] == 0]["acc_retrained"]
    pruned = df[df["mu"] > 0].assign(network=lambda d: d.groupby("mu")["params"].transform("first"))
    nets = pd.DataFrame([{"mus": "/".join(f"{m:g}" for m in sorted(g["mu"].unique())),
                          "pct": g["weights_pruned_pct"].mean(),
                          "accs": g.drop_duplicates("seed")["acc_retrained"].tolist()}  # one network: one set of runs
                         for _, g in pruned.groupby("network")], columns=["mus", "pct", "accs"]).sort_values("pct")
    if base.empty or nets.empty:
        return {**row, "our_evidence": "no unpruned or pruned retrainings", "verdict": INCONCLUSIVE}
    margin = flat_margin(base.mean())
    diffs = {r.mus: difference(r.accs, base) for _, r in nets.iterrows()}
    flat = nets[nets["pct"] <= 40]
    verdicts = [equivalent(diffs[r.mus], margin) for _, r in flat.iterrows()]
    evidence = f"unpruned {_fmt(*_stats(base))}; pruned - unpruned: " + ", ".join(
        f"mu {r.mus} ({r.pct:.0f} % pruned): {diffs[r.mus]}" for _, r in nets.iterrows())
    parts = [diffs[r.mus] for _, r in flat.iterrows()]
    verdict = INCONCLUSIVE if flat.empty or nets["pct"].max() < 30 else _all_parts(verdicts)
    shown = _deciding(parts, verdicts, verdict) if parts else difference([], [])
    return {**row, "our_evidence": evidence, "verdict": verdict, **_scored(shown, margin), "could_fail": "yes"}


def mu_controls_sparsity(t: dict) -> dict:
    row = {"claim_id": "mu_controls_sparsity",
           "claim": "The regularization gain mu controls the sparsity: a larger mu prunes more weights",
           "paper_evidence": "authors' logs (the points behind Figure 1): " + ", ".join(
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
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED, "could_fail": "yes"}


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
                        "retrained accuracy of group sparsity minus random removal of as many weights; the 95 % "
                        "interval of the mean of these differences (Welch per network, combined) lies above 0; below "
                        "0: not reproduced. A network at chance (every operation pruned: nothing left to choose) or with "
                        "one retraining on a side is shown, not scored"}
    df = _table(t, "figure1_pruning_tradeoff", "selection", "mu", "acc_retrained", "params")
    if df is None or "random" not in set(df["selection"]):
        return {**row, "our_evidence": "no random-pruning control", "verdict": INCONCLUSIVE}
    df = df.assign(network=pruned_network(df)).dropna(subset=["network"])
    parts, diffs = [], []
    # stratified by pruned network: accuracy differs more across sparsities than between selections
    for params, at in df[df["network"].isin(df.loc[df["selection"] == "random", "network"])].groupby("network"):
        mus = "/".join(f"{m:g}" for m in sorted(at["mu"].unique()))
        at = at.drop_duplicates(["selection", "seed"])  # mus that prune the same network: one set of runs
        gs, rnd = (at[at["selection"] == s]["acc_retrained"] for s in ("group_sparsity", "random"))
        d = difference(gs, rnd)
        part = f"mu {mus}: {_fmt(*_stats(gs))} vs random {_fmt(*_stats(rnd))}"
        if gs.mean() <= CHANCE + 0.5:
            parts.append(part + " (not scored: at chance)")
        elif not d.known:
            parts.append(part + " (not scored: one retraining)")
        else:
            parts.append(part + f" ({d})")
            diffs.append(d)
    if not diffs:
        return {**row, "our_evidence": "; ".join(parts) or "no sparsity with both selections", "verdict": INCONCLUSIVE}
    mean = combined(diffs)
    evidence = f"group sparsity vs random: {'; '.join(parts)}; mean difference {mean}"
    return {**row, "our_evidence": evidence, "verdict": directional(mean), **_scored(mean), "could_fail": "yes"}


# --- NAS on the darts space (Table 2) -----------------------------------------------------------

def darts_margin(darts_acc: float) -> float:
    """What "as accurate as" allows, set from the paper (not from our runs): the spread of the methods its Table 2
    calls state of the art, as a share of their mean error, applied to our DARTS cells' error."""
    accs = paper.TABLE2["accuracy"].map(_mean)
    return (accs.max() - accs.min()) / (100 - accs.mean()) * (100 - darts_acc)


def competitive_with_darts(t: dict) -> dict:
    p = paper.TABLE2.set_index("method")["accuracy"]
    row = {"claim_id": "competitive_with_darts",
           "claim": "GS-NAS finds cells as accurate as DARTS' on the DARTS search space",
           "paper_evidence": f"Table 2: GS-NAS {p['GS-NAS']} % vs DARTS (2nd order) {p['DARTS (2nd order)']} %",
           "criterion": "the 95 % interval of GS-NAS minus DARTS mean test accuracy (over searches) lies inside "
                        "(-margin, margin); margin: the spread of Table 2's methods (the paper's) as a share of their "
                        "mean error, times our DARTS cells' error; wholly outside: not reproduced"}
    df = _table(t, "table2_darts_space", "method", "seed_search", "test_acc")
    if df is None:
        return {**row, "our_evidence": "no evaluations on the darts space", "verdict": INCONCLUSIVE}
    acc = per_search(df, "test_acc")
    g, d = (acc[acc["method"] == m]["test_acc"] for m in ("gsnas", "darts"))
    diff = difference(g, d)
    margin = darts_margin(d.mean()) if len(d) else math.nan
    evidence = f"test accuracy (%): GS-NAS {_fmt(*_stats(g))}, DARTS {_fmt(*_stats(d))}; difference {diff}"
    return {**row, "our_evidence": evidence, "verdict": equivalent(diff, margin), **_scored(diff, margin),
            "could_fail": "yes"}


def gate_bound(t: dict, space: str = "darts") -> float:
    """The largest ``gsnas.search.gate_bound`` of the GS-NAS searches on ``space``: at <= 1 no gate-only group
    (pool, stride-1 skip, noise) could survive them. NaN if a search does not say."""
    df = _table(t, "searches", "method", "space", "gate_bound")
    rows = None if df is None else df.query("method == 'gsnas' and space == @space")["gate_bound"]
    return math.nan if rows is None or rows.empty or rows.isna().any() else float(rows.max())


def _unless_by_construction(row: dict, bound: float, what: str) -> dict:
    """A "reproduced" that no result could have refuted is said to hold by construction."""
    if bound <= 1:
        row = {**row, "could_fail": f"no: gate bound {bound:.2f} <= 1"}
        if row["verdict"] == REPRODUCED:
            return {**row, "verdict": BY_CONSTRUCTION,
                    "our_evidence": row["our_evidence"] + f"; but {what} could not survive these searches: gate "
                                    f"bound {bound:.2f} <= 1 (the prox point of a gate-only group is 0 from the first step)"}
        return row
    return {**row, "could_fail": "yes" if bound > 1 else "unknown: the searches do not give their gate bound"}


def no_param_free_ops(t: dict) -> dict:
    row = {"claim_id": "gsnas_cells_without_param_free_ops",
           "claim": "GS-NAS's cells on the DARTS space hold no parameter-free operations (skip, pools)",
           "paper_evidence": "the authors' published cells (SPEC §6): only sep_conv_3x3 / sep_conv_5x5 survive",
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
           "paper_evidence": "Sections 1 and 2: the pruned supernet computes the same function; DARTS' top-2 "
                             "discretization loses accuracy",
           "criterion": "every GS-NAS search has gap_1e-06 == 0, and the 95 % interval of DARTS' mean gap_discrete "
                        "(over searches) lies above 0"}
    df = _table(t, "searches", "method", "space")
    if df is None or "gap_1e-06" not in df or "gap_discrete" not in df:
        return {**row, "our_evidence": "no searches with both gaps", "verdict": INCONCLUSIVE}
    df = df[df["space"] == "darts"]
    g = df[df["method"] == "gsnas"]["gap_1e-06"].dropna()
    gap = against(df[df["method"] == "darts"]["gap_discrete"], 0.0)
    evidence = f"GS-NAS gaps {', '.join(f'{x:g}' for x in g)}; DARTS gap {gap} points"
    scored = {**_scored(gap), "could_fail": "yes"}
    if g.empty or not gap.known:
        return {**row, "our_evidence": evidence, "verdict": INCONCLUSIVE, **scored}
    verdict = NOT_REPRODUCED if (g != 0).any() else directional(gap)
    return {**row, "our_evidence": evidence, "verdict": verdict, **scored}


# --- robustness spaces (Table 3) ----------------------------------------------------------------

def random_share(space: str, draws: int = 2000) -> float:
    """The share of parameter-free operations in random cells of ``space`` (``random_genotype``, seeds 0..draws-1):
    what a search that ignored the data would give."""
    from .genotype import random_genotype
    from .spaces import get_space

    return sum(random_genotype(get_space(space), k).param_free_share() for k in range(draws)) / draws


def darts_degenerates(t: dict) -> dict:
    row = {"claim_id": "darts_degenerates",
           "claim": "(RobustDARTS, quoted by the paper) On S1-S4 DARTS' cells fill up with parameter-free operations",
           "paper_evidence": "RobustDARTS (Zela et al., 2020), whose DARTS numbers the paper's Table 3 quotes",
           "criterion": "in every space searched, the 95 % interval of DARTS' mean share of parameter-free ops "
                        "(over searches) minus the share in random cells of that space (2000 draws) lies above 0; "
                        "below 0 in any space: not reproduced"}
    df = _table(t, "table3_subspaces", "space", "method", "param_free_share")
    if df is None or "darts" not in set(df["method"]):
        return {**row, "our_evidence": "no DARTS cells on the robustness spaces", "verdict": INCONCLUSIVE}
    share = per_search(df[df["method"] == "darts"], "param_free_share")
    diffs = {space: against(g["param_free_share"], random_share(space)) for space, g in share.groupby("space")}
    verdicts = [directional(d) for d in diffs.values()]
    verdict = _all_parts(verdicts)
    evidence = "DARTS' share minus random cells': " + "; ".join(
        f"{space}: {_fmt(*_stats(share[share['space'] == space]['param_free_share']))} - {random_share(space):.2f} "
        f"= {d}" for space, d in diffs.items())
    shown = _deciding(list(diffs.values()), verdicts, verdict)
    return {**row, "our_evidence": evidence, "verdict": verdict, **_scored(shown, unit="share of ops"),
            "could_fail": "yes"}


def subspace_cells_without_param_free_ops(t: dict) -> dict:
    row = {"claim_id": "gsnas_subspace_cells_without_param_free_ops",
           "claim": "On S1, S2 and S4 GS-NAS's cells hold no parameter-free operations",
           "paper_evidence": "Table 3 and the authors' published cells (SPEC §6)",
           "criterion": "param_free_share == 0 in every GS-NAS cell found on S1, S2 and S4"}
    df = _table(t, "table3_subspaces", "space", "method", "param_free_share")
    rows = None if df is None else df[df["method"] == "gsnas"]
    if rows is None or rows.empty:
        return {**row, "our_evidence": "no GS-NAS cells on the robustness spaces", "verdict": INCONCLUSIVE}
    share = per_search(rows, "param_free_share")
    row = {**row, "our_evidence": "share of parameter-free ops per cell: " + "; ".join(
               f"{space}: {_fmt(*_stats(g['param_free_share']))}" for space, g in share.groupby("space")),
           "verdict": REPRODUCED if (share["param_free_share"] == 0).all() else NOT_REPRODUCED}
    bound = max((gate_bound(t, space) for space in set(share["space"])), default=math.nan)
    return _unless_by_construction(row, bound, "pools, stride-1 skips and noise")


def subspace_error(t: dict) -> dict:
    row = {"claim_id": "table3_gsnas_beats_darts",
           "claim": "GS-NAS performs amongst the best on S1, S2 and S4: a lower test error than DARTS in each",
           "paper_evidence": "Table 3 (test error %; DARTS and ES-DARTS from RobustDARTS' Table 1): " + "; ".join(
               f"{r.space}: DARTS {r.DARTS}, ES-DARTS {r['ES-DARTS']}, GS-NAS {r['GS-NAS']}"
               for _, r in paper.TABLE3.iterrows()),
           "criterion": "in every space searched, the 95 % interval of DARTS minus GS-NAS mean test error (over "
                        "searches) lies above 0; below 0 in any space: not reproduced"}
    df = _table(t, "table3_subspaces", "space", "method", "seed_search", "test_error")
    if df is None or set(df["method"]) < {"gsnas", "darts"}:
        return {**row, "our_evidence": "no DARTS and GS-NAS evaluations on the robustness spaces",
                "verdict": INCONCLUSIVE}
    err = per_search(df, "test_error")
    diffs = {space: difference(g[g["method"] == "darts"]["test_error"], g[g["method"] == "gsnas"]["test_error"])
             for space, g in err.groupby("space")}
    verdicts = [directional(d) for d in diffs.values()]
    verdict = _all_parts(verdicts)
    evidence = "DARTS minus GS-NAS test error (points): " + "; ".join(f"{space}: {d}" for space, d in diffs.items())
    shown = _deciding(list(diffs.values()), verdicts, verdict)
    return {**row, "our_evidence": evidence, "verdict": verdict, **_scored(shown), "could_fail": "yes"}


def noise_never_survives(t: dict) -> dict:
    row = {"claim_id": "noise_never_survives_s4",
           "claim": "On S4 GS-NAS never keeps the noise operation",
           "paper_evidence": "the authors' published S4 cells (SPEC §6): noise never survives",
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
           "paper_evidence": "implicit in Sections 2-3: the architecture is the operations the data keeps alive",
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
    return {**row, "our_evidence": evidence, "verdict": REPRODUCED if ok else NOT_REPRODUCED, "could_fail": "yes"}


CLAIMS = (zero_gap_pruning, graceful_degradation, mu_controls_sparsity, better_than_random_pruning,
          competitive_with_darts, no_param_free_ops, no_search_gap, subspace_error, darts_degenerates,
          subspace_cells_without_param_free_ops, noise_never_survives, selection_reads_data)


def ledger(tables: dict) -> pd.DataFrame:
    """One row per claim, from a dict of result tables (name -> DataFrame)."""
    rows = [claim(tables) for claim in CLAIMS]
    return pd.DataFrame([{"could_fail": "yes", **row} for row in rows], columns=COLUMNS)


def write(folder) -> pd.DataFrame:
    """Compute ``claims.csv`` from the result CSVs of ``folder`` (results/<profile>)."""
    from .report import Results

    folder = Path(folder)
    df = ledger(Results(folder).tables)
    df.to_csv(folder / "claims.csv", index=False)
    return df

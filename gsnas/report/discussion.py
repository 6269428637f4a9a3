"""The claims chapter: the ledger as a table, a forest plot of its intervals, and what each verdict can tell."""
from __future__ import annotations

from statistics import fmean as mean

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import paper
from ..claims import CHANCE, per_search
from ..results import Results
from .table import Table, n_range

# What result would have refuted each claim (the negation of its criterion, in words).
REFUTED_BY = {
    "zero_gap_pruning": "a pruning run's test accuracy had changed when the groups below 1e-6 or 1e-3 were removed",
    "accuracy_vs_pruned": "a network pruned up to 40 % had retrained, with its whole interval, more than the margin away "
                          "from the unpruned one",
    "mu_controls_sparsity": "a larger mu had pruned fewer weights than a smaller one",
    "group_sparsity_beats_random": "random removal of as many weights had retrained better, with the whole interval",
    "group_sparsity_beats_width": "the pruned networks had retrained worse than the width curve at their weights, "
                                  "with the whole interval of the mean difference",
    "competitive_with_darts": "GS-NAS's cells had differed from DARTS' by more than the margin, with the whole interval",
    "gsnas_cells_without_param_free_ops": "a GS-NAS cell on the darts space had kept a skip or a pool",
    "no_search_gap": "a GS-NAS search had lost accuracy at the 1e-6 threshold, or DARTS' gap had an interval below 0",
    "table3_gsnas_beats_darts": "in some space DARTS' cells had a lower error than GS-NAS's, with the whole interval",
    "darts_degenerates": "in some space DARTS' cells had fewer parameter-free operations than random cells, with the "
                         "whole interval",
    "gsnas_subspace_cells_without_param_free_ops": "a GS-NAS cell on S1, S2 or S4 had kept a parameter-free operation",
    "noise_never_survives_s4": "a GS-NAS cell on S4 had kept the noise operation",
    "selection_reads_data": "a search had kept its permuted-labels control's groups (Jaccard > 0.6) when half were "
                            "dead, on any seed, or its supernet had stopped learning",
}


def _refutable(r) -> str:
    """Would the claim have failed, and could that result have happened under these results' settings?"""
    if r.claim_id not in REFUTED_BY:
        return ""
    could = str(r.could_fail) if "could_fail" in r._fields and pd.notna(r.could_fail) else "yes"
    here = ("That result was possible here." if could == "yes" else
            f"Here no result could have refuted it ({could.removeprefix('no: ')}).")
    return f" It would have failed if {REFUTED_BY[r.claim_id]}. {here}"


def claim_discussion(res: Results) -> str:
    """One short paragraph per claim (markdown): its verdict, and what at this scale the test can and
    cannot tell, with the facts computed from the result CSVs (a fact whose data is missing is left out)."""
    df = pd.read_csv(res.folder / "claims.csv")
    paragraphs = []
    for r in df.itertuples():
        why = _WHY.get(r.claim_id)
        try:
            text = why(res) if why else ""
        except ValueError:  # Results: the table is missing
            text = "Its experiment has not run in these results."
        except (KeyError, AttributeError) as e:  # a column or a group it needs
            text = f"(Not discussed: these results lack {e}.)"
        evidence = "".join(f"\n- *{label}:* {value}" for label, value in
                           (("the paper's evidence", r.paper_evidence), ("our evidence", r.our_evidence),
                            ("the criterion", r.criterion)) if isinstance(value, str) and value)
        paragraphs.append(f"**{r.claim}.** *{r.verdict.capitalize()}.* {text}{_refutable(r)}{evidence}")
    return "\n\n".join(paragraphs)


def _pruning_ops(res) -> int | None:
    """Operations (groups) of the operation-pruning network: DARTS_V2 has 8 in either cell."""
    from ..config import config, load_profile

    try:
        return 8 * config(load_profile(res["table1_operation_pruning"]["profile"].iloc[0]), "operation_pruning").layers
    except ValueError:  # a profile this checkout does not have
        return None


def _why_zero_gap(res):
    t = res["table1_operation_pruning"]
    text = ("Once the gradient can no longer hold a group against mu, ProxSGD's prox point for it is exactly "
            "zero and the group decays by (1 - lr) a step; the groups below 1e-6 or 1e-3 at the end of training "
            "are such groups. Removing them perturbs the logits far less than the margins of the predictions, "
            "which is what the test checks, on the full test set: it is a measurement, not an identity.")
    high = t[t["threshold"] > 1e-3]
    if not high.empty:
        text += (f" The {high['threshold'].max():g} threshold, not part of the claim, removes groups that are still "
                 f"alive: there the accuracy changes by up to "
                 f"{(high['acc_after'] - high['acc_before']).abs().max():.2f} points.")
    return text


def _why_graceful(res):
    f, t = res["figure1_pruning_tradeoff"], res["table1_operation_pruning"]
    gs = f[f["selection"] == "group_sparsity"] if "selection" in f else f
    text = (f"Each network is retrained from scratch with {res.scale('retrain', 'figure1_pruning_tradeoff')}. "
            "A network with fewer weights may also learn more slowly, so in a short training it can fall behind "
            "for lack of steps, not only of capacity.")
    sizes = gs.groupby("mu")["acc_retrained"].agg(["size", "max", "min"])
    sizes = sizes[sizes["size"] > 1]
    if not sizes.empty:
        text += (f" Retrainings of one network differ by up to {(sizes['max'] - sizes['min']).max():.2f} points "
                 f"({n_range(sizes['size'])} per network).")
    last = t[(t["threshold"] == t["threshold"].min()) & (t["acc_before"] <= CHANCE + 0.5)]
    total = _pruning_ops(res)
    dead = last[last["ops_pruned"] == total] if total else last.iloc[:0]
    if not dead.empty:
        text += (f" At mu {', '.join(f'{m:g}' for m in sorted(dead['mu'].unique()))} every one of the {total} "
                 f"operations was pruned ({dead['weights_pruned_pct'].max():.1f} % of the weights; the stem, the "
                 "preprocessing and the classifier hold the rest) and the network is at chance: it has nothing left "
                 f"to prune, so the authors' curve beyond that (to {paper.FIGURE1['weights_pruned_pct'].max():.0f} % "
                 "in their logs) has no counterpart here.")
    return text


def _why_mu(res):
    t = res["table1_operation_pruning"]
    t = t[t["threshold"] == t["threshold"].min()]
    pct = t.groupby("mu")["weights_pruned_pct"].mean().round(1)
    ties = [g.index.tolist() for _, g in pct.groupby(pct) if len(g) > 1]
    text = ("The prox removes a group whose gradient cannot hold its norm against mu, so a larger mu tends to "
            "remove more; the verdict checks that it did at every step of the grid.")
    if ties:
        text += " Some steps prune nothing more: " + "; ".join(
            f"mu {', '.join(f'{m:g}' for m in mus)} pruned the same {pct[mus[0]]:.1f} % of the weights"
            for mus in ties) + "."
    return text


def _why_random(res):
    f = res["figure1_pruning_tradeoff"]
    if "random" not in set(f["selection"]):
        raise ValueError("no random-pruning control")
    per = f.groupby(["mu", "selection"])[["ops_pruned", "weights_pruned_pct"]].mean().unstack()
    per = per[per[("ops_pruned", "random")].notna() & per[("ops_pruned", "group_sparsity")].notna()]
    rnd = f[f["selection"] == "random"]
    matched = "random_control" in rnd and (rnd["random_control"] == "matched").all()
    how = ("The control is matched: it removes as many operations of each type as group sparsity did "
           "(parameter-free ones included), at random places, redrawn until the weights left are within 1 % of "
           "the pruned network's, so the two differ only in which operations go. "
           if matched else
           "These rows predate the matched control: this one removed operations with weights, drawn at random, "
           "until the network had no more weights than the pruned one; it never removed a parameter-free "
           "operation (skip, pool), while group sparsity also removes their gates, and it stopped at the first "
           "draw that met the budget, so it removed a little more than group sparsity did, which favours group "
           "sparsity. ")
    return (how + "Operations and weights removed, group sparsity vs random (mean over seeds): " + "; ".join(
                f"mu {mu:g}: {r[('ops_pruned', 'group_sparsity')]:.0f} ops ({r[('weights_pruned_pct', 'group_sparsity')]:.1f} %)"
                f" vs {r[('ops_pruned', 'random')]:.1f} ops ({r[('weights_pruned_pct', 'random')]:.1f} %)"
                for mu, r in per.iterrows()) + ".")


def _why_width(res):
    f = res["figure1_pruning_tradeoff"]
    if "width" not in set(f["selection"]):
        raise ValueError("no width baseline")
    return ("A pruned network has fewer weights than the unpruned one, and so has the same network made narrower "
            "(fewer channels in every cell, every operation kept). If pruning chose well, a pruned network should "
            "retrain better than the narrower one of as many weights; the width baseline (retrained like the "
            f"pruned networks, {res.scale('retrain', 'figure1_pruning_tradeoff')}) is read at each pruned "
            "network's weights by linear interpolation between its two neighbouring widths (Figure 1 draws the "
            "curve). The test asks whether the choice of operations beats shrinking every operation alike, not "
            "whether the pruned network is good." + _width_facts(f))


def _width_facts(f: pd.DataFrame) -> str:
    """How steep the width curve is, and, at the pruned network furthest below it, how the matched random
    removal of as many operations fared: whether the shortfall goes with which operations or with how many."""
    from ..claims import width_curve

    curve = width_curve(f)
    if len(curve) < 2:
        return ""
    narrow, wide = curve.iloc[0], curve.iloc[-1]
    text = (f" Here the narrowest width, {narrow['label']} with {100 * (1 - narrow['params'] / wide['params']):.0f} % "
            f"fewer weights than the {wide['label']} network, retrains to {mean(narrow['accs']):.2f} % against "
            f"{mean(wide['accs']):.2f} %.")
    gs = f[(f["selection"] == "group_sparsity") & (f["mu"] > 0) & (f["acc_retrained"] > CHANCE + 0.5)]
    gs = gs[gs["params"].between(narrow["params"], wide["params"])]
    if gs.empty:
        return text
    below = gs.groupby("mu").agg(acc=("acc_retrained", "mean"), params=("params", "first"), ops=("ops_pruned", "first"))
    below["curve"] = np.interp(below["params"], curve["params"], curve["accs"].map(mean))
    mu = (below["acc"] - below["curve"]).idxmin()
    worst = below.loc[mu]
    text += (f" The pruned network furthest below the curve (mu {mu:g}, {worst['ops']:.0f} operations removed) "
             f"retrains to {worst['acc']:.2f} % where the curve reads {worst['curve']:.2f} %")
    rnd = f[(f["selection"] == "random") & (f["mu"] == mu)]["acc_retrained"]
    return text + (f"; the matched random removal of as many operations there, to {rnd.mean():.2f} %." if len(rnd)
                   else ".")


def training_spread(res: Results):
    """The SD of one training, pooled over the networks of Figure 1 retrained more than once (a network once per
    set of runs: mus that prune the same network share them): (sd, networks, df), or None."""
    from ..stats import pooled_sd

    f = res.tables.get("figure1_pruning_tradeoff")
    if f is None or "params" not in f:
        return None
    groups = [g.drop_duplicates("seed")["acc_retrained"] for _, g in f.groupby(["selection", "params"])]
    groups = [g for g in groups if len(g) > 1 and g.mean() > CHANCE + 0.5]  # a network at chance has no spread to learn
    df = sum(len(g) - 1 for g in groups)
    return (pooled_sd(groups), len(groups), df) if df else None


def _why_competitive(res):
    t2 = res["table2_darts_space"]
    t = per_search(t2, ["test_acc", "params_m"])
    size = t.groupby("method")["params_m"].mean()
    evals = t2.groupby(["method", "seed_search"]).size()
    text = (f"Every cell is trained from scratch with {res.scale('evaluate', 'table2_darts_space')}, "
            f"{n_range(evals)} time(s) per search.")
    if "DARTS_V2" in size:
        text += f" The published DARTS_V2 cell reaches {t.loc[t['method'] == 'DARTS_V2', 'test_acc'].mean():.2f} % under it."
    spread = training_spread(res)
    if spread is not None:
        sd, nets, df = spread
        text += (f" One training's spread in this protocol, pooled over {nets} networks each retrained with other "
                 f"seeds (Figure 1's): {sd:.2f} points (df {df}); the ledger's detectable differences come from the "
                 "compared runs' own spread.")
    if {"gsnas", "darts"} <= set(size.index):
        text += (f" GS-NAS's evaluation networks have {size['gsnas'] / size['darts']:.1f}x the parameters of "
                 "DARTS' (the figure of accuracy against parameters shows every cell).")
    return text


def _why_param_free(res):
    t = res["table2_darts_space"]
    share = per_search(t, "param_free_share").groupby("method")["param_free_share"].mean()
    text = ("A parameter-free operation's group is only its gates (one in [0, 1] per cell); with clipped gradients "
            "its prox argument is at most sqrt(n) + clip, and where that is below its threshold mu_k (gate bound "
            "<= 1, `gsnas.search.gate_bound`) the prox removes it at the first step whatever the data. "
            "Convolutions carry weights that the data can hold against the penalty.")
    if "darts" in share:
        text += (f" For comparison, parameter-free operations make up {share['darts']:.2f} of DARTS' cells here "
                 "(mean share per cell).")
    return text


def _why_search_gap(res):
    s = res["searches"]
    s = s[(s["space"] == "darts") & (s["method"] == "darts")]
    text = ("GS-NAS hands over its trained supernet minus the operations whose weights are below 1e-6 (those the "
            "prox kept at zero for long enough already left it during the search), so what it drops is numerically "
            "negligible. DARTS keeps the two strongest edges per node and their strongest "
            "operation, drops the softmax weighting, and is not retrained before this test")
    if not s.empty:
        text += (f": its supernet's test accuracy goes from {s['acc_before'].mean():.2f} % to "
                 f"{s['acc_after_discrete'].mean():.2f} % (mean of {len(s)} searches)")
    return text + ". Both are measured on the search's own held-out images."


def _why_degenerates(res):
    s = res["searches"]
    s = s[(s["method"] == "darts") & (s["space"] != "darts")]
    text = ("RobustDARTS saw DARTS fill S1-S4 cells with parameter-free operations after its 50-epoch searches "
            f"on CIFAR-10, as the architecture weights drifted towards them. Our searches run {res.scale('darts')}.")
    if not s.empty and "alpha_max_mean" in s:
        from ..spaces import get_space

        text += (" How far softmax(alpha) left uniform, as the mean over edges of its largest weight (uniform in "
                 "brackets): " + ", ".join(
                     f"{sp} {g['alpha_max_mean'].mean():.2f} ({1 / len(get_space(sp).normal[0]):.2f})"
                     for sp, g in s.groupby("space")) + ".")
    return text


def _why_noise(res):
    t = res["table3_subspaces"]
    t = t[t["space"] == "s4"]
    text = ("The noise operation has no weights: its group is its gates, and at a gate bound <= 1 "
            "(`gsnas.search.gate_bound`) the prox removes it at the first step whatever the data.")
    d = t[t["method"] == "darts"]
    if not d.empty:
        text += (f" DARTS' S4 genotypes keep {per_search(d, 'noise_ops')['noise_ops'].mean():.1f} noise operations "
                 "on average (normal and reduction cell together).")
    return text


def _why_subspace_param_free(res):
    return ("On S1, S2 and S4 a parameter-free operation's group is only its gates, as on the DARTS space: at a gate "
            "bound <= 1 (`gsnas.groups.gate_bound`) it is cut at the first step whatever the data.")


def _why_table3(res):
    return (f"Each cell found on S1, S2 and S4 is trained from scratch with "
            f"{res.scale('evaluate', 'table3_subspaces')}. The paper's DARTS and ES-DARTS errors come from "
            "RobustDARTS' 50-epoch searches on CIFAR-10; ours are DARTS searches in our code at the cpu budget.")


def _why_reads_data(res):
    return ("Group size sets the order in which a group-sparse search kills operations when the penalty, not the "
            "loss, drives the norms: conv groups end in a BatchNorm without affine weights, so the loss gradient "
            "cannot shrink them, and the penalty shrinks every group by lr * mu_k a step. A search that reads the "
            "data keeps other groups than the same search on permuted labels; the regime study measures when.")


_WHY = {"zero_gap_pruning": _why_zero_gap, "accuracy_vs_pruned": _why_graceful, "mu_controls_sparsity": _why_mu,
        "group_sparsity_beats_random": _why_random, "group_sparsity_beats_width": _why_width,
        "competitive_with_darts": _why_competitive,
        "gsnas_cells_without_param_free_ops": _why_param_free, "no_search_gap": _why_search_gap,
        "darts_degenerates": _why_degenerates, "gsnas_subspace_cells_without_param_free_ops": _why_subspace_param_free,
        "table3_gsnas_beats_darts": _why_table3, "noise_never_survives_s4": _why_noise,
        "selection_reads_data": _why_reads_data}


def claims(res: Results) -> Table:
    """The claims ledger (``claims.csv``), with the chapter that shows each claim."""
    df = pd.read_csv(res.folder / "claims.csv")
    chapter = {"zero_gap_pruning": "operation_pruning", "accuracy_vs_pruned": "operation_pruning",
               "mu_controls_sparsity": "operation_pruning", "group_sparsity_beats_random": "operation_pruning",
               "group_sparsity_beats_width": "operation_pruning",
               "competitive_with_darts": "nas", "gsnas_cells_without_param_free_ops": "nas", "no_search_gap": "nas",
               "darts_degenerates": "robustness", "gsnas_subspace_cells_without_param_free_ops": "robustness",
               "table3_gsnas_beats_darts": "robustness", "noise_never_survives_s4": "robustness",
               "selection_reads_data": "regime"}
    titles = {"operation_pruning": "Operation pruning", "nas": "NAS on the DARTS space",
              "robustness": "Robustness on S1, S2, S4", "regime": "Does the search read the data?"}
    df["shown in"] = df["claim_id"].map(lambda c: f'<a href="{chapter[c]}.html">{titles[chapter[c]]}</a>'
                                        if c in chapter else "")
    df["difference [95 % interval]"] = [
        "" if pd.isna(r.difference) else f"{r.difference:+.2f}" + (
            "" if pd.isna(r.ci_low) else f" [{r.ci_low:+.2f}, {r.ci_high:+.2f}], df {r.df:.1f}") + f" ({r.unit})"
        for r in df.itertuples()]
    df = df.rename(columns={"paper_evidence": "paper's evidence", "our_evidence": "our evidence",
                            "detectable": "detectable difference", "could_fail": "could it fail here?"})
    df = df[["claim", "verdict", "shown in", "difference [95 % interval]", "margin", "detectable difference",
             "could it fail here?"]]  # the evidence and the criterion, in words, are in claim_discussion
    return Table(df, "claims", {"margin": "{:.2f}", "detectable difference": "{:.2f}"}, min_width="6em")


def forest(res: Results):
    """Each scored comparison of the ledger: our difference and its 95 % interval, zero, and (claims of equality)
    the margin shaded; one panel per claim, in the claim's own unit."""
    df = pd.read_csv(res.folder / "claims.csv")
    df = df[df["difference"].notna()].reset_index(drop=True)
    if df.empty:
        return None
    fig, axes = plt.subplots(len(df), 1, figsize=(6.6, 0.9 * len(df) + 0.6), squeeze=False)
    colours = {"reproduced": "#2e7d32", "not reproduced": "#c62828", "inconclusive": "#757575"}
    for ax, r in zip(axes[:, 0], df.itertuples()):
        lo, hi = (r.ci_low, r.ci_high) if pd.notna(r.ci_low) else (r.difference, r.difference)
        span = [lo, hi, 0.0] + ([-r.margin, r.margin] if pd.notna(r.margin) else [])
        pad = 0.15 * (max(span) - min(span) or 1.0)
        if pd.notna(r.margin):
            ax.axvspan(-r.margin, r.margin, color="#f3e8c8", label="margin")
        ax.axvline(0, color="black", lw=0.8)
        ax.errorbar([r.difference], [0], xerr=[[r.difference - lo], [hi - r.difference]], fmt="o",
                    color=colours.get(r.verdict, "black"), capsize=4)
        if pd.notna(r.paper_difference):  # the paper's own interval, from its table, beside ours
            ax.errorbar([r.paper_difference], [-0.6], fmt="s", mfc="white", color="#8d6e63", capsize=4,
                        xerr=[[r.paper_difference - r.paper_ci_low], [r.paper_ci_high - r.paper_difference]])
            ax.annotate("paper's (CIFAR-10, from its table)", (r.paper_ci_high, -0.6), fontsize=8,
                        xytext=(4, -2), textcoords="offset points")
            span += [r.paper_ci_low, r.paper_ci_high]
            ax.set_ylim(-1.1, 0.5)
        pad = 0.15 * (max(span) - min(span) or 1.0)
        ax.set(xlim=(min(span) - pad, max(span) + pad), yticks=[])
        ax.set_title(f"{r.claim_id}: {r.verdict} ({r.unit})", fontsize=8, loc="left")
        ax.tick_params(labelsize=8)
    fig.suptitle(f"Our differences with 95 % intervals; shaded: the margin of a claim of equality\n"
                 f"({res.short('searches')})", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig

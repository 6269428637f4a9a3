"""Table 1 and Figure 1: operation pruning, ours beside the paper's (and the authors' logs)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .. import paper
from ..claims import pruned_network
from ..results import Results
from .table import Table, n_range

def table1(res: Results) -> Table:
    """Ours: per mu, the weights pruned and the test accuracy before and after pruning at each threshold."""
    t = res["table1_operation_pruning"]
    first = t["threshold"].min()  # the threshold that decides what survives
    rows = []
    for mu, g in t.groupby("mu"):
        row = {"mu": mu, "runs": g["seed"].nunique(),
               "weights pruned % (at 1e-6)": g.loc[g["threshold"] == first, "weights_pruned_pct"].mean(),
               "accuracy before %": g["acc_before"].mean()}
        for th, h in g.groupby("threshold"):
            row[f"after {th:g} %"] = h["acc_after"].mean()
        rows.append(row)
    df = pd.DataFrame(rows)
    return Table(df, "table1_operation_pruning", {c: "{:.2f}" for c in df.columns if c not in ("mu", "runs")}
                 | {"mu": "{:g}"})


def paper_table1() -> Table:
    df = paper.TABLE1.rename(columns={"acc_before": "paper: accuracy before %", "after_1e-06": "paper: after 1e-6 %",
                                      "after_0.001": "paper: after 0.001 %", "after_0.5": "paper: after 0.5 %"})
    return Table(df, "paper_table1", {"mu": "{:g}"} | {c: "{:.2f}" for c in df.columns if c != "mu"})


SELECTION_LABELS = {"group_sparsity": "group sparsity (ProxSGD)", "random": "random removal (control)",
                    "width": "narrower unpruned network (width baseline)"}


def figure1(res: Results):
    """Accuracy after retraining vs % of weights pruned, same axes: ours (left; each retraining a point, the
    line joins the means; group sparsity, the random-pruning control and the width baseline) and the authors'
    logs (right)."""
    ours = res["figure1_pruning_tradeoff"].copy()
    if "selection" not in ours:
        ours["selection"] = "group_sparsity"
    n = ours.groupby(["selection", "mu", *(["channels"] if "channels" in ours else [])], dropna=False).size()
    # mus that prune the very same network ran the same retrainings: one point each
    ours["network"] = pruned_network(ours).fillna(ours["params"])
    ours = ours.drop_duplicates(["selection", "network", "seed"])
    ours["selection"] = ours["selection"].map(SELECTION_LABELS)
    base = ours[(ours["mu"] == 0) & (ours["selection"] == SELECTION_LABELS["group_sparsity"])]
    others = [s for s in (SELECTION_LABELS["random"], SELECTION_LABELS["width"]) if (ours["selection"] == s).any()]
    both = pd.concat([ours, *(base.assign(selection=s) for s in others)])  # the unpruned network starts every curve
    fig, (a, b) = plt.subplots(1, 2, figsize=(9.2, 4.4), sharex=True)
    palette = dict(zip(SELECTION_LABELS.values(), ("tab:blue", "tab:orange", "tab:green")))
    sns.scatterplot(data=ours, x="weights_pruned_pct", y="acc_retrained", hue="selection", palette=palette,
                    alpha=0.6, ax=a)
    means = both.groupby(["selection", "network"], as_index=False)[["weights_pruned_pct", "acc_retrained"]].mean()
    for sel, g in means.groupby("selection"):
        a.plot(g.sort_values("weights_pruned_pct")["weights_pruned_pct"],
               g.sort_values("weights_pruned_pct")["acc_retrained"], color=palette[sel], lw=1.5)
    per_point = n_range(n)
    a.set(title=f"ours ({res.short('figure1_pruning_tradeoff')})\n{per_point} retraining(s) per setting",
          xlabel="weights pruned (%)", ylabel="test accuracy after retraining (%)")
    _chance_below_axis(a, ours, palette)
    a.legend(title=None, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)
    theirs = paper.FIGURE1
    sns.scatterplot(data=theirs, x="weights_pruned_pct", y="acc_retrained", color="tab:blue", alpha=0.6, ax=b)
    m = theirs.groupby("mu", as_index=False)[["weights_pruned_pct", "acc_retrained"]].mean()
    b.plot(m["weights_pruned_pct"], m["acc_retrained"], color="tab:blue", lw=1.5)
    b.set(title="authors' logs (CIFAR-10, DARTS_V2)\nnot in the paper's text", xlabel="weights pruned (%)",
          ylabel="")
    fig.tight_layout()
    return fig


def _chance_below_axis(ax, ours: pd.DataFrame, palette: dict):
    """Networks at chance (every operation pruned) as markers under a y-axis that spans the networks that
    learn: on an axis down to 10 % the differences among the others would vanish."""
    from ..claims import CHANCE

    dead = ours["acc_retrained"] <= CHANCE + 0.5
    if not dead.any() or dead.all():
        return
    alive = ours.loc[~dead, "acc_retrained"]
    low = alive.min() - 0.15 * (alive.max() - alive.min() + 1)
    ax.set_ylim(low, alive.max() + 0.1 * (alive.max() - alive.min() + 1))
    for sel, g in ours[dead].groupby("selection"):
        ax.scatter(g["weights_pruned_pct"], [low] * len(g), marker="v", s=60, color=palette[sel], clip_on=False,
                   zorder=5, label=f"{sel}: at chance ({CHANCE:g} %), below the axis")


def pruning_speed(res: Results) -> pd.DataFrame | None:
    """Params, MFLOPs and CPU latency of the physically pruned networks (written by ``make bench``), or None."""
    path = res.folder / "pruning_speed.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    speed = df.drop(columns=["machine", "date"], errors="ignore").rename(columns=SPEED_COLUMNS)
    speed["network"] = speed["network"].str.replace(r"mu=([^,]+), threshold=(.+)", r"mu \1 (groups below \2 removed)",
                                                    regex=True)
    speed.attrs.update(measured_on=f"{df['machine'].iloc[0]}, {df['date'].iloc[0]}" if "machine" in df else "")
    return speed


SPEED_COLUMNS = {"network": "network", "params": "parameters", "mflops": "MFLOPs",
                 "latency_b1_ms": "latency, batch 1 (ms)", "latency_b64_ms": "latency, batch 64 (ms)",
                 "speedup_b1": "speed-up, batch 1 (x)", "speedup_b64": "speed-up, batch 64 (x)"}
SPEED_FORMATS = {"parameters": "{:,.0f}", "MFLOPs": "{:.2f}", "latency, batch 1 (ms)": "{:.1f}",
                 "latency, batch 64 (ms)": "{:.1f}", "speed-up, batch 1 (x)": "{:.2f}", "speed-up, batch 64 (x)": "{:.2f}"}


def mu_vs_sparsity(res: Results):
    """Sparsity rises with mu: % of weights pruned at the smallest threshold."""
    t = res["table1_operation_pruning"]
    first = t["threshold"].min()
    t = t[t["threshold"] == first]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    sns.lineplot(data=t, x="mu", y="weights_pruned_pct", marker="o", ax=ax)
    ax.set(xscale="log", xlabel="regularisation gain mu", ylabel=f"weights pruned at {first:g} (%)",
           title=res.short("table1_operation_pruning"))
    if t["mu"].max() < 20 * t["mu"].min():  # a linear grid reads better on a linear axis
        ax.set_xscale("linear")
    fig.tight_layout()
    return fig


def accuracy_vs_pruned(figure1: pd.DataFrame, ax=None):
    """Accuracy of the retrained network against the percentage of weights pruned (one run's rows)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    sns.scatterplot(data=figure1, x="weights_pruned_pct", y="acc_retrained", hue="mu", palette="viridis", ax=ax)
    ax.set(xlabel="weights pruned (%)", ylabel="test accuracy after retraining (%)")
    return ax

"""Tables and figures of the book, computed from result CSVs (never from typed-in numbers), and the workflow's rule graph.

Our numbers come from ``results/<profile>/*.csv``; the paper's from ``gsnas.paper``,
always in separate, labelled columns or panels.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import paper
from .claims import per_search, pruned_network  # as the claims count them
from .genotype import Genotype

TABLES = ("searches", "table1_operation_pruning", "figure1_pruning_tradeoff", "table2_darts_space",
          "table3_subspaces")


class Results:
    """The result CSVs of one profile; ``describe()`` says what was run, for captions."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"no results at {self.folder}: run `make reproduce` first")
        tables = {name: pd.read_csv(self.folder / f"{name}.csv") for name in TABLES
                  if (self.folder / f"{name}.csv").exists()}
        searches = tables.get("searches")
        if searches is not None and "gate_bound" not in searches:  # rows that predate the column: their run's config
            searches["gate_bound"] = [self._gate_bound(r.run_dir) if r.method == "gsnas" else float("nan")
                                      for r in searches.itertuples()]
        if searches is not None and "control" in searches:  # controls are not searches: rows of their own
            is_control = searches["control"].fillna("none") != "none"
            tables["searches"], tables["search_controls"] = searches[~is_control], searches[is_control]
        self.tables = {name: df for name, df in tables.items() if len(df)}  # no rows: its experiment did not run

    def _gate_bound(self, run_dir: str) -> float:
        import json

        from .config import SearchConfig
        from .groups import gate_bound

        path = self.folder / run_dir / "result.json"
        if not path.exists():
            return float("nan")
        cfg = json.loads(path.read_text())["config"]
        return gate_bound(SearchConfig(**{k: v for k, v in cfg.items() if k in SearchConfig.__dataclass_fields__}))

    def __getitem__(self, name) -> pd.DataFrame:
        if name not in self.tables:
            raise ValueError(f"{self.folder} has no {name}.csv: run its notebook first")
        return self.tables[name]

    def describe(self, name: str) -> str:
        df = self[name]
        return f"{df['dataset'].iloc[0]}, profile `{df['profile'].iloc[0]}`, device {df['device'].iloc[0]}"

    def short(self, name: str) -> str:
        """For plot titles: dataset and profile."""
        df = self[name]
        return f"{df['dataset'].iloc[0]}, profile {df['profile'].iloc[0]}"

    RUNS = {"search": "search/gsnas-*", "darts": "search/darts-*", "evaluate": "evaluate/*",
            "operation_pruning": "operation_pruning/*", "retrain": "retrain/*"}

    def run_config(self, section: str):
        """The settings one run of ``section`` in these results was made with (its result.json, as read: not
        validated again, its paths are the run's), or None."""
        import json
        from types import SimpleNamespace

        for path in sorted((self.folder / "runs").glob(f"{self.RUNS[section]}/result.json")):
            cfg = json.loads(path.read_text()).get("config")
            if cfg:
                return SimpleNamespace(**cfg)
        return None

    def stale(self) -> dict[str, list[str]]:
        """Per routine, the settings on which these results' runs differ from their profile as it reads now
        (a profile changed after the results were made: ``make reproduce`` reruns those jobs)."""
        from dataclasses import asdict

        from .config import config, load_profile

        prof = load_profile(self["searches"]["profile"].iloc[0])
        per_run = {"out", "seed", "space", "resume", "progress", "control", "genotype", "data_root"}
        per_job = {"operation_pruning": {"mu"}, "retrain": {"mu", "model", "channels", "layers"}}  # set by the job
        out = {}
        for section in self.RUNS:
            ran = self.run_config(section)
            if ran is None:
                continue
            now = asdict(config(prof, section))
            skip = per_run | per_job.get(section, set())
            changed = [k for k, v in vars(ran).items() if k in now and k not in skip and now[k] != v]
            if changed:
                out[section] = changed
        return out

    def scale(self, section: str, table: str = "searches") -> str:
        """The protocol of one routine as these results ran it (a run's own config; else their profile's), in
        words (for captions)."""
        from .config import config, load_profile

        prof = load_profile(self[table]["profile"].iloc[0])
        cfg = self.run_config(section)
        if cfg is None:
            cfg = config(prof, section)
            if section == "retrain":  # the network is operation pruning's; retrain sets only how it trains
                net = config(prof, "operation_pruning")
                cfg.channels, cfg.layers = net.channels, net.layers
        size = f"{cfg.train_size:,} training images" if cfg.train_size else "the full training set"
        words = [f"C={cfg.channels}, {cfg.layers} cells", size, f"{cfg.epochs} epochs", f"batch {cfg.batch_size}"]
        if hasattr(cfg, "image_size") and cfg.image_size:
            words.insert(1, f"{cfg.image_size}x{cfg.image_size} images")
        return ", ".join(words)


def mean_std(values, digits: int = 2) -> str:
    """``mean ± std (n=k)`` with ddof=1; a single value shows no ±."""
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f} (n=1)"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f} (n={len(values)})"


def n_range(counts) -> str:
    """How many runs each group holds, for captions: "3", or "2-3" when groups differ."""
    lo, hi = int(min(counts)), int(max(counts))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


class Table:
    """A result table as a reader sees it: no index column, formatted numbers, scrolls inside the page
    when wide, ours and the paper's columns visibly apart, and its CSV to download."""

    def __init__(self, df: pd.DataFrame, name: str, formats: dict | None = None, min_width: str = "6em"):
        self.df, self.name, self.formats = df.reset_index(drop=True), name, formats or {}
        self.min_width = min_width  # of a column: wide tables scroll rather than squeeze text to a word a line

    def _repr_html_(self) -> str:
        import base64

        theirs = [c for c in self.df.columns if str(c).startswith(("paper", "authors", "RobustDARTS"))]
        styler = (self.df.style.hide(axis="index").format(self.formats, na_rep="–")
                  .set_table_attributes('class="gsnas-table"')
                  .set_properties(subset=theirs, **{"background-color": "#f3f0e6", "font-style": "italic"})
                  .set_table_styles([{"selector": "th", "props": f"text-align: left; min-width: {self.min_width}"},
                                     {"selector": "td", "props": f"text-align: left; min-width: {self.min_width}"}]))
        if "verdict" in self.df:
            colours = {"reproduced": "#d8f0d8", "not reproduced": "#f6d5d5", "inconclusive": "#ececec",
                       "holds by construction": "#f3e8c8"}
            styler = styler.map(lambda v: f"background-color: {colours.get(v, '')}; font-weight: bold",
                                subset=["verdict"])
        csv = base64.b64encode(self.df.to_csv(index=False).encode()).decode()
        return (f'<div style="overflow-x: auto; max-width: 100%">{styler.to_html()}</div>'
                f'<p style="font-size: 0.85em"><a download="{self.name}.csv" '
                f'href="data:text/csv;base64,{csv}">download {self.name}.csv</a></p>')


# --- Table 1 / Figure 1: operation pruning --------------------------------------------------------

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


def figure1(res: Results):
    """Accuracy after retraining vs % of weights pruned, same axes: ours (left; each retraining a point, the
    line joins the means; group sparsity and the random-pruning control) and the authors' logs (right)."""
    ours = res["figure1_pruning_tradeoff"].copy()
    if "selection" not in ours:
        ours["selection"] = "group_sparsity"
    n = ours.groupby(["selection", "mu"]).size()
    # mus that prune the very same network ran the same retrainings: one point each
    ours["network"] = pruned_network(ours).fillna(ours["params"])
    ours = ours.drop_duplicates(["selection", "network", "seed"])
    ours["selection"] = ours["selection"].map({"group_sparsity": "group sparsity (ProxSGD)",
                                               "random": "random removal (control)"})
    base = ours[ours["mu"] == 0]  # the unpruned network starts both curves
    both = pd.concat([ours, base.assign(selection="random removal (control)")]) \
        if (ours["selection"] == "random removal (control)").any() else ours
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.4), sharex=True)
    palette = {"group sparsity (ProxSGD)": "tab:blue", "random removal (control)": "tab:orange"}
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
    from .claims import CHANCE

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
    speed = df.drop(columns=["machine", "date"], errors="ignore").round(3)
    speed.attrs.update(measured_on=f"{df['machine'].iloc[0]}, {df['date'].iloc[0]}" if "machine" in df else "")
    return speed


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


# --- Table 2 / 3: NAS ---------------------------------------------------------------------------------

METHODS = {"gsnas": "GS-NAS", "darts": "DARTS (1st order)", "random": "random search", "DARTS_V2": "DARTS_V2 cell"}


def table2(res: Results) -> Table:
    """Ours per method (mean ± std over searches, evaluation seeds averaged) beside the paper's numbers."""
    t = res["table2_darts_space"]
    gap = t["gap_1e-06"] if "gap_1e-06" in t else pd.Series(float("nan"), index=t.index)
    if "gap_discrete" in t:
        gap = gap.fillna(t["gap_discrete"])
    t = per_search(t.assign(gap=gap), ["test_acc", "params_m", "param_free_share", "search_hours", "gap"])
    theirs = paper.TABLE2.set_index("method")
    rows = []
    for method in [m for m in METHODS if m in set(t["method"])]:
        g = t[t["method"] == method]
        paper_name = {"gsnas": "GS-NAS", "darts": "DARTS (2nd order)"}.get(method)
        rows.append({"method": METHODS[method], "ours: test accuracy %": mean_std(g["test_acc"]),
                     "ours: params (M)": mean_std(g["params_m"], 3),
                     "ours: parameter-free ops": mean_std(g["param_free_share"]),
                     "ours: search gap (points)": mean_std(g["gap"]),
                     "ours: search hours": mean_std(g["search_hours"]) if method in ("gsnas", "darts") else "–",
                     "paper: accuracy %": theirs.loc[paper_name, "accuracy"] if paper_name else "–",
                     "paper: params (M)": theirs.loc[paper_name, "params_m"] if paper_name else "–"})
    return Table(pd.DataFrame(rows), "table2_darts_space")


def accuracy_vs_params(res: Results):
    """Every cell evaluated on the darts space: test accuracy against its network's size, by method."""
    t = res["table2_darts_space"].assign(method=lambda d: d["method"].map(METHODS).fillna(d["method"]))
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.scatterplot(data=t, x="params_m", y="test_acc", hue="method", style="method", s=70, ax=ax)
    ax.set(xlabel="parameters of the evaluation network (M)", ylabel="test accuracy (%)",
           title=f"every evaluated cell ({res.short('table2_darts_space')})")
    ax.legend(title=None, fontsize=8)
    fig.tight_layout()
    return fig


def searches(res: Results, space: str = "darts") -> Table:
    """Did each search learn? GS-NAS: train accuracy of its first and last epoch, ops kept per cell type;
    DARTS: how far softmax(alpha) left uniform (mean over edges of the largest weight)."""
    s = res["searches"].query("space == @space and method != 'random'")
    cols = {"method": "method", "seed": "seed", "train_acc_first": "train acc. first epoch %",
            "train_acc_last": "train acc. last epoch %", "ops_normal": "ops kept (normal)",
            "ops_reduce": "ops kept (reduce)", "alpha_max_mean": "mean max softmax(alpha)",
            "acc_before": "supernet test acc. %"}
    df = s[[c for c in cols if c in s]].rename(columns=cols).assign(method=lambda d: d["method"].map(METHODS))
    return Table(df, f"searches_{space}", {c: "{:.2f}" for c in df.columns if "%" in c}
                 | {"mean max softmax(alpha)": "{:.3f}", "ops kept (normal)": "{:.0f}", "ops kept (reduce)": "{:.0f}"})


def table3(res: Results) -> Table:
    """Ours: GS-NAS and DARTS per space (test error, share of parameter-free ops, noise ops), beside the
    paper's GS-NAS errors and the DARTS / ES-DARTS errors it quotes from RobustDARTS."""
    t = per_search(res["table3_subspaces"], ["test_error", "param_free_share", "noise_ops", "params_m"])
    rows = []
    for space, g in t.groupby("space"):
        row = {"space": space}
        for method in ("darts", "gsnas"):
            h = g[g["method"] == method]
            row[f"ours: {METHODS[method]} error %"] = mean_std(h["test_error"])
            row[f"ours: {METHODS[method]} parameter-free ops"] = mean_std(h["param_free_share"])
        row["ours: GS-NAS noise ops"] = mean_std(g.loc[g["method"] == "gsnas", "noise_ops"], 1) \
            if space == "s4" else "–"
        rows.append(row)
    theirs = paper.TABLE3.rename(columns={"DARTS": "RobustDARTS: DARTS error %", "ES-DARTS": "RobustDARTS: ES-DARTS error %",
                                          "GS-NAS": "paper: GS-NAS error %"})
    return Table(pd.DataFrame(rows).merge(theirs, on="space", how="left"), "table3_subspaces")


def cell_grid(res: Results, space: str = "darts", methods=("gsnas", "darts", "random")):
    """The cells found, one row per search: method and seed, normal cell, reduction cell (HTML)."""
    from IPython.display import HTML

    s = res["searches"].query("space == @space and method in @methods")
    s = s.assign(order=s["method"].map({m: i for i, m in enumerate(methods)})).sort_values(["order", "seed"])
    def svg(genotype, kind) -> str:  # scaled to its column: no fixed size in points
        text = draw_cell(genotype, kind).pipe(format="svg", encoding="utf-8")
        text = text[text.index("<svg"):]
        return re.sub(r'<svg width="[^"]+" height="[^"]+"', '<svg style="width: 100%; height: auto"', text, count=1)

    rows = []
    for _, r in s.iterrows():
        cells = "".join(f'<td style="vertical-align: middle; width: 44%">{svg(r["genotype"], kind)}</td>'
                        if isinstance(r["genotype"], str) else "<td>whole cell pruned</td>"
                        for kind in ("normal", "reduce"))
        rows.append(f'<tr><th style="width: 12%">{METHODS[r["method"]]}, seed {r["seed"]}</th>{cells}</tr>')
    return HTML('<table class="gsnas-cells" style="table-layout: fixed; width: 100%"><tr><th></th>'
                f'<th>normal cell</th><th>reduction cell</th></tr>{"".join(rows)}</table>')


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
        paragraphs.append(f"**{r.claim}.** *{r.verdict.capitalize()}.* {text}")
    return "\n\n".join(paragraphs)


def _pruning_ops(res) -> int | None:
    """Operations (groups) of the operation-pruning network: DARTS_V2 has 8 in either cell."""
    from .config import config, load_profile

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
    last = t[(t["threshold"] == t["threshold"].min()) & (t["acc_before"] <= 10.5)]  # 10 classes: chance
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
    return ("The control removes operations with weights, drawn at random, until the network has no more weights "
            "than the pruned one; it never removes a parameter-free operation (skip, pool), which holds no weights, "
            "while group sparsity also removes their gates. It stops at the first draw that meets the budget, so "
            "it removes a little more than group sparsity did, which favours group sparsity. Operations and "
            "weights removed, group sparsity vs random (mean over seeds): " + "; ".join(
                f"mu {mu:g}: {r[('ops_pruned', 'group_sparsity')]:.0f} ops ({r[('weights_pruned_pct', 'group_sparsity')]:.1f} %)"
                f" vs {r[('ops_pruned', 'random')]:.1f} ops ({r[('weights_pruned_pct', 'random')]:.1f} %)"
                for mu, r in per.iterrows()) + ".")


def training_spread(res: Results):
    """The SD of one training, pooled over the networks of Figure 1 retrained more than once (a network once per
    set of runs: mus that prune the same network share them): (sd, networks, df), or None."""
    from .stats import pooled_sd

    f = res.tables.get("figure1_pruning_tradeoff")
    if f is None or "params" not in f:
        return None
    groups = [g.drop_duplicates("seed")["acc_retrained"] for _, g in f.groupby(["selection", "params"])]
    groups = [g for g in groups if len(g) > 1 and g.mean() > 10.5]  # a network at chance has no spread to learn
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
        from .spaces import get_space

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
        "group_sparsity_beats_random": _why_random, "competitive_with_darts": _why_competitive,
        "gsnas_cells_without_param_free_ops": _why_param_free, "no_search_gap": _why_search_gap,
        "darts_degenerates": _why_degenerates, "gsnas_subspace_cells_without_param_free_ops": _why_subspace_param_free,
        "table3_gsnas_beats_darts": _why_table3, "noise_never_survives_s4": _why_noise,
        "selection_reads_data": _why_reads_data}


def claims(res: Results) -> Table:
    """The claims ledger (``claims.csv``), with the chapter that shows each claim."""
    df = pd.read_csv(res.folder / "claims.csv")
    chapter = {"zero_gap_pruning": "operation_pruning", "accuracy_vs_pruned": "operation_pruning",
               "mu_controls_sparsity": "operation_pruning", "group_sparsity_beats_random": "operation_pruning",
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
             "could it fail here?", "our evidence", "paper's evidence", "criterion"]]  # verdict in view
    return Table(df, "claims", {"margin": "{:.2f}", "detectable difference": "{:.2f}"}, min_width="9em")


def forest(res: Results):
    """Each scored comparison of the ledger: our difference and its 95 % interval, zero, and (claims of equality)
    the margin shaded; one panel per claim, in the claim's own unit."""
    df = pd.read_csv(res.folder / "claims.csv")
    df = df[df["difference"].notna()].reset_index(drop=True)
    if df.empty:
        return None
    fig, axes = plt.subplots(len(df), 1, figsize=(7.5, 0.85 * len(df) + 0.6), squeeze=False)
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
        ax.set(xlim=(min(span) - pad, max(span) + pad), yticks=[])
        ax.set_title(f"{r.claim_id}: {r.verdict} ({r.unit})", fontsize=8, loc="left")
        ax.tick_params(labelsize=7)
    fig.suptitle(f"Our differences with 95 % intervals; shaded: the margin of a claim of equality "
                 f"({res.short('searches')})", fontsize=9)
    fig.tight_layout()
    plt.close(fig)
    return fig


def gaps(res: Results) -> pd.DataFrame:
    """Discretization gap of each search: supernet accuracy minus the pruned/discretised one, no retraining."""
    s = res["searches"]
    s = s[s["space"] == "darts"]
    rows = []
    for _, r in s.iterrows():
        if r["method"] == "gsnas":
            for t in sorted((c.removeprefix("acc_after_") for c in s if c.startswith("acc_after_")
                             and c != "acc_after_discrete"), key=float):
                rows.append({"method": f"GS-NAS, threshold {t}", "seed": r["seed"],
                             "gap": r["acc_before"] - r[f"acc_after_{t}"]})
        elif r["method"] == "darts":
            rows.append({"method": "DARTS, top-2 discretisation", "seed": r["seed"], "gap": r["gap_discrete"]})
    return pd.DataFrame(rows)


def gap_figure(res: Results):
    fig, ax = plt.subplots(figsize=(7, 3.5))
    sns.barplot(data=gaps(res), y="method", x="gap", errorbar="sd", ax=ax, color="tab:blue")
    sns.stripplot(data=gaps(res), y="method", x="gap", color="black", size=5, ax=ax)
    ax.set(xlabel="accuracy lost by discretising, without retraining (points)", ylabel="",
           title=res.short("searches"))
    fig.tight_layout()
    return fig


def group_norm_trajectories(run_dir, ax=None, log=True, ylabel="group norm"):
    """Norm of every sparsity group per epoch of one run folder, coloured by op."""
    norms = pd.read_csv(Path(run_dir) / "group_norms.csv")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.8))
    sns.lineplot(data=norms.assign(norm=norms["norm"].clip(lower=1e-12)), x="epoch", y="norm", hue="op",
                 units="name", estimator=None, lw=0.8, alpha=0.7, ax=ax)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    return ax


def trajectories(res: Results, method="gsnas", space="darts", seed=None):
    """Group norms (GS-NAS) or softmax weights (DARTS) per epoch of one search (``seed`` None: the lowest run);
    None when no such search ran."""
    s = res["searches"]
    s = s[(s["method"] == method) & (s["space"] == space) & ((s["seed"] == seed) if seed is not None else True)]
    if s.empty:
        return None
    row = s.sort_values("seed").iloc[0]
    seed = row["seed"]
    ax = group_norm_trajectories(res.folder / row["run_dir"], log=method == "gsnas",
                                 ylabel="group norm" if method == "gsnas" else "softmax(alpha)")
    ax.set_title(f"{METHODS.get(method, method)} on {space}, seed {seed} ({res.short('searches')})")
    ax.figure.tight_layout()
    return ax.figure


def search_speed(res: Results, space="darts"):
    """Operations still computed and training images/s per epoch of each GS-NAS search (``prune_dead``).

    None when the searches predate removal (their metrics lack ``ops_computed``).
    """
    s = res["searches"].query("method == 'gsnas' and space == @space")
    frames = []
    for _, row in s.iterrows():
        m = pd.read_csv(res.folder / row["run_dir"] / "metrics.csv")
        if "ops_computed" in m:
            frames.append(m.assign(seed=row["seed"]))
    if not frames:
        return None
    m = pd.concat(frames)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    sns.lineplot(data=m, x="epoch", y="ops_computed", hue="seed", marker="o", ax=axes[0], palette="tab10")
    sns.lineplot(data=m, x="epoch", y="images_per_s", hue="seed", marker="o", ax=axes[1], palette="tab10")
    axes[0].set(ylabel="operations computed (at the epoch's start)", ylim=(0, None))
    axes[1].set(ylabel="training images / s", ylim=(0, None))
    fig.suptitle(f"GS-NAS searches on {space} removing dead operations ({res.short('searches')})", fontsize=10)
    fig.tight_layout()
    return fig


BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "results.json"
REMOVAL_COLUMNS = {"seed": "seed", "seconds_without": "s without removal", "seconds_with": "s with removal",
                   "ratio": "time ratio", "ops_found": "ops found", "ops_differing_removal": "ops changed by removal",
                   "ops_differing_rounding": "ops changed by rounding", "acc_without": "acc without (%)",
                   "acc_with": "acc with (%)", "acc_rounding": "acc 1 thread (%)"}
REMOVAL_FORMATS = {"s without removal": "{:.0f}", "s with removal": "{:.0f}", "time ratio": "{:.2f}",
                   "acc without (%)": "{:.2f}", "acc with (%)": "{:.2f}", "acc 1 thread (%)": "{:.2f}"}


def removal_bench(path: Path = BENCH) -> pd.DataFrame | None:
    """``make bench``'s whole searches with and without removing dead operations, a row per seed, or None.

    "acc": the supernet's final test accuracy. "ops changed by rounding": the genotype of the
    same search without removal on one thread (only the order of floating-point sums differs);
    removal that changes no more than that changes nothing the search can be trusted to find.
    """
    if not Path(path).exists():
        return None
    report = json.loads(Path(path).read_text())
    figure = next((f for f in report["figures"] if "seeds" in f), None)
    if figure is None:
        return None
    df = pd.DataFrame(figure["seeds"]).reindex(columns=list(REMOVAL_COLUMNS)).rename(columns=REMOVAL_COLUMNS)
    df.attrs.update(measured_on=f"{report['machine']}, {report['date']}, commit {report.get('commit', 'unknown')}",
                    figure=figure["figure"], ratio=figure["ratio"], same=figure["same_genotypes"],
                    within=figure.get("within_rounding_floor"))
    return df


def removal_summary(bench: pd.DataFrame) -> str:
    """What ``removal_bench`` shows, in words that follow its numbers."""
    a, yes = bench.attrs, lambda flag: "yes" if flag else "no"
    text = (f"**Whole searches with and without removal** ({a['figure']}; {a['measured_on']}). Wall time with "
            f"removal over all seeds: **{a['ratio']:.2f}×** that without (target ≤ 0.6). Genotypes identical on "
            f"every seed: **{yes(a['same'])}**. Acc: the supernet's test accuracy at the search's end.")
    if a.get("within") is None:
        return text
    text += (" Rounding alone, the same search without removal on one thread instead of torch's default, changes "
             f"{n_range(bench['ops changed by rounding'])} of the operations found: the genotype of this short, "
             "chaotic search is not fixed by its seed. Removal changes no more operations than that on every seed: "
             f"**{yes(a['within'])}**.")
    return text


def accuracy_vs_pruned(figure1: pd.DataFrame, ax=None):
    """Accuracy of the retrained network against the percentage of weights pruned (one run's rows)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    sns.scatterplot(data=figure1, x="weights_pruned_pct", y="acc_retrained", hue="mu", palette="viridis", ax=ax)
    ax.set(xlabel="weights pruned (%)", ylabel="test accuracy after retraining (%)")
    return ax


# --- cells ----------------------------------------------------------------------------------------------

def draw_cell(genotype: Genotype | dict | str, cell_type: str = "normal", fmt: str = "svg",
              group_labels: bool = False):
    """A graphviz drawing of one cell (DARTS style): inputs c_{k-2}, c_{k-1}, nodes, output.

    ``group_labels`` adds each op's sparsity group name to its edge.
    """
    from .spaces import edge_index, edge_key

    import graphviz

    if isinstance(genotype, str):
        genotype = Genotype.from_json(genotype)
    elif isinstance(genotype, dict):
        genotype = Genotype.from_dict(genotype)
    g = graphviz.Digraph(format=fmt, graph_attr={"rankdir": "LR", "fontname": "helvetica"},
                         node_attr={"style": "filled", "shape": "rect", "fontname": "helvetica", "fontsize": "12"},
                         edge_attr={"fontsize": "10", "fontname": "helvetica"})
    names = {0: "c_{k-2}", 1: "c_{k-1}"}
    for i in (0, 1):
        g.node(names[i], fillcolor="darkseagreen2")
    concat = genotype.concat(cell_type)
    for i, node in enumerate(genotype.cell(cell_type)):
        names[i + 2] = str(i)
        if node or (i + 2) in concat:
            g.node(str(i), fillcolor="lightblue")
        for op, state in node:
            group = f"\n{cell_type}/{edge_key(edge_index(i + 2, state))}/{op}" if group_labels else ""
            g.edge(names[state], str(i), label=op + group, fillcolor="gray")
    g.node("c_{k}", fillcolor="palegoldenrod")
    for i in concat:
        g.edge(str(i - 2), "c_{k}", fillcolor="gray")
    return g


def rule_graph(profile: str = "cpu") -> str:
    """The reproduction workflow's rule graph as SVG (``snakemake --rulegraph`` through graphviz's ``dot``)."""
    dot = subprocess.run([sys.executable, "-m", "snakemake", "--rulegraph", "--nolock", "--config", f"profile={profile}"],
                         cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True).stdout
    return subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout

"""Tables 2 and 3, the searches, their gaps and group norms, the cells, and the workflow's rule graph."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from .. import paper
from ..claims import per_search
from ..config import REPO
from ..genotype import Genotype
from ..results import Results
from .table import METHODS, Table, mean_std, n_range



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
    return Table(pd.DataFrame(rows).merge(theirs, on="space", how="left"), "table3_subspaces", min_width="5.5em")


def cell_grid(res: Results, space: str = "darts", methods=("gsnas", "darts", "random")):
    """The cells found, one row per search: method and seed, normal cell, reduction cell (HTML). Each drawing
    is small in its column; a click (or Tab) on it shows it at the size of the window (CSS only:
    ``.cell-zoom:focus`` in ``book/_static/gsnas.css``)."""
    from IPython.display import HTML

    s = res["searches"].query("space == @space and method in @methods")
    s = s.assign(order=s["method"].map({m: i for i, m in enumerate(methods)})).sort_values(["order", "seed"])
    def svg(genotype, kind) -> str:  # scaled to its column: no fixed size in points
        text = draw_cell(genotype, kind).pipe(format="svg", encoding="utf-8")
        text = text[text.index("<svg"):]
        return re.sub(r'<svg width="[^"]+" height="[^"]+"', '<svg style="width: 100%; height: auto"', text, count=1)

    rows = []
    for _, r in s.iterrows():
        cells = "".join(f'<td style="vertical-align: middle; width: 44%"><div class="cell-zoom" tabindex="0" '
                        f'title="click to enlarge">{svg(r["genotype"], kind)}</div></td>'
                        if isinstance(r["genotype"], str) else "<td>whole cell pruned</td>"
                        for kind in ("normal", "reduce"))
        rows.append(f'<tr><th style="width: 12%">{METHODS[r["method"]]}, seed {r["seed"]}</th>{cells}</tr>')
    return HTML('<p class="cell-zoom-hint">Click a cell to see it at full size; click beside it to return.</p>'
                '<table class="gsnas-cells" style="table-layout: fixed; width: 100%"><tr><th></th>'
                f'<th>normal cell</th><th>reduction cell</th></tr>{"".join(rows)}</table>')


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
    fig, ax = plt.subplots(figsize=(6.8, 3.5))
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
        _, ax = plt.subplots(figsize=(6.8, 3.8))
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


BENCH = REPO / "benchmarks" / "results.json"
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




# --- cells ----------------------------------------------------------------------------------------------

def draw_cell(genotype: Genotype | dict | str, cell_type: str = "normal", fmt: str = "svg",
              group_labels: bool = False):
    """A graphviz drawing of one cell (DARTS style): inputs c_{k-2}, c_{k-1}, nodes, output.

    ``group_labels`` adds each op's sparsity group name to its edge.
    """
    from ..spaces import edge_index, edge_key

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
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return subprocess.run(["dot", "-Tsvg"], input=dot, capture_output=True, text=True, check=True).stdout

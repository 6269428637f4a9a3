"""Tables and figures of the book, computed from result CSVs (never from typed-in numbers), and the workflow's rule graph.

Our numbers come from ``results/<profile>/*.csv``; the paper's from ``gsnas.paper``,
always in separate, labelled columns or panels.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from . import paper
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
        self.tables = {name: df for name, df in tables.items() if len(df)}  # no rows: its experiment did not run

    def __getitem__(self, name) -> pd.DataFrame:
        if name not in self.tables:
            raise ValueError(f"{self.folder} has no {name}.csv: run its notebook first")
        return self.tables[name]

    def describe(self, name: str) -> str:
        df = self[name]
        return f"{df['dataset'].iloc[0]}, profile `{df['profile'].iloc[0]}`, device {df['device'].iloc[0]}"


def mean_std(values) -> str:
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.2f} (n=1)"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f} (n={len(values)})"


# --- Table 1 / Figure 1: operation pruning --------------------------------------------------------

def table1(res: Results) -> pd.DataFrame:
    """Ours: accuracy before pruning and after pruning at each threshold, per mu (means over seeds)."""
    t = res["table1_operation_pruning"]
    wide = t.pivot_table(index="mu", columns="threshold", values="acc_after", aggfunc="mean")
    wide.columns = [f"after {c:g}" for c in wide.columns]
    pruned = t.pivot_table(index="mu", columns="threshold", values="weights_pruned_pct", aggfunc="mean")
    first = t["threshold"].min()  # the threshold that decides what survives
    out = pd.concat([t.groupby("mu")["acc_before"].mean().rename("before"), wide,
                     pruned[first].rename(f"weights pruned % ({first:g})")], axis=1)
    return out.round(2).reset_index()


def figure1(res: Results):
    """Accuracy after retraining vs % of weights pruned: ours (left) and the paper's (right)."""
    ours = res["figure1_pruning_tradeoff"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    accuracy_vs_pruned(ours, ax=a)
    a.set_title(f"ours: {res.describe('figure1_pruning_tradeoff')}")
    sns.scatterplot(data=paper.FIGURE1, x="weights_pruned_pct", y="acc_retrained", hue="mu", palette="viridis",
                    s=60, ax=b)
    b.set(title=f"{paper.SOURCE}, DARTS_V2 (authors' logs)", xlabel="weights pruned (%)", ylabel="")
    fig.tight_layout()
    return fig


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
           title=res.describe("table1_operation_pruning"))
    fig.tight_layout()
    return fig


# --- Table 2 / 3: NAS ---------------------------------------------------------------------------------

def table2(res: Results) -> pd.DataFrame:
    """Ours per method (mean ± std over searches x evaluations) beside the paper's accuracy and size."""
    t = res["table2_darts_space"]
    rows = []
    for method, g in t.groupby("method"):
        gap = g["gap_1e-06"] if method == "gsnas" else g.get("gap_discrete", pd.Series(dtype=float))
        rows.append({"method": method, "ours: accuracy %": mean_std(g["test_acc"]),
                     "ours: params (M)": mean_std(g["params_m"]),
                     "ours: search hours": f"{g['search_hours'].mean():.3f}",
                     "ours: gap (points)": mean_std(gap)})
    ours = pd.DataFrame(rows)
    theirs = paper.TABLE2.set_index("method")
    ours["paper: accuracy %"] = ours["method"].map({"gsnas": theirs.loc["GS-NAS", "accuracy"],
                                                    "darts": theirs.loc["DARTS (2nd order)", "accuracy"]})
    ours["paper: params (M)"] = ours["method"].map({"gsnas": theirs.loc["GS-NAS", "params_m"],
                                                    "darts": theirs.loc["DARTS (2nd order)", "params_m"]})
    return ours


def table3(res: Results) -> pd.DataFrame:
    """Ours: GS-NAS test error per space, beside the paper's DARTS, ES-DARTS and GS-NAS errors."""
    t = res["table3_subspaces"]
    ours = t.groupby("space")["test_error"].apply(mean_std).rename("ours: GS-NAS error %").reset_index()
    theirs = paper.TABLE3.rename(columns={c: f"paper: {c} error %" for c in ("DARTS", "ES-DARTS", "GS-NAS")})
    return ours.merge(theirs, on="space", how="left")


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
           title=res.describe("searches"))
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


def trajectories(res: Results, method="gsnas", space="darts", seed=0):
    """Group norms (GS-NAS) or softmax weights (DARTS) per epoch of one search."""
    s = res["searches"]
    row = s[(s["method"] == method) & (s["space"] == space) & (s["seed"] == seed)].iloc[-1]
    ax = group_norm_trajectories(res.folder / row["run_dir"], log=method == "gsnas",
                                 ylabel="group norm" if method == "gsnas" else "softmax(alpha)")
    ax.set_title(f"{method} on {space}, seed {seed} ({res.describe('searches')})")
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
    fig.suptitle(f"GS-NAS searches on {space} removing dead operations ({res.describe('searches')})", fontsize=10)
    fig.tight_layout()
    return fig


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

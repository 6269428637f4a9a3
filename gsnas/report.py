"""Figures and tables from result CSVs (never from typed-in numbers)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def group_norm_trajectories(run_dir, ax=None, log=True):
    """Norm of every sparsity group per epoch, coloured by op (a search or pruning run folder)."""
    norms = pd.read_csv(Path(run_dir) / "group_norms.csv")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    floor = 1e-12  # exact zeros on a log axis
    sns.lineplot(data=norms.assign(norm=norms["norm"].clip(lower=floor)), x="epoch", y="norm", hue="op",
                 units="name", estimator=None, lw=0.8, alpha=0.7, ax=ax)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel("group norm ||w_k||")
    return ax


def accuracy_vs_pruned(figure1: pd.DataFrame, ax=None):
    """Figure 1: accuracy of the retrained network against the percentage of weights pruned."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    sns.scatterplot(data=figure1, x="weights_pruned_pct", y="acc_retrained", hue="mu", palette="viridis", ax=ax)
    ax.set_xlabel("weights pruned (%)")
    ax.set_ylabel("test accuracy after retraining (%)")
    return ax

"""The evaluation budget from measured learning curves: each cell's test accuracy against the images it saw.

Each point is a training of its own at that budget (its cosine schedule ends there). The rule (issue 23): the
budget is the smallest one where one more doubling gains under ``GAIN`` points for every cell measured, or, if
none does, the largest measured; the profile's budget is then read against it.
"""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from ..results import Results
from .table import METHODS, Table

GAIN = 0.5  # points of test accuracy: a doubling of the budget that gains less is not worth its cost


def cell_label(cell: str) -> str:
    """A published cell by name; a search method's cell as the cell its darts-space search with seed 0 found."""
    return METHODS.get(cell, cell) if cell not in ("gsnas", "darts", "random") else f"{METHODS[cell]} cell, search seed 0"


def learning_curves(res: Results) -> pd.DataFrame:
    """Per cell and budget: images seen, test accuracy (mean, SD, n over seeds), last-epoch train accuracy, and
    what the next doubling gains (NaN at the largest budget, or where the next one is not a doubling)."""
    df = res["learning_curve"]
    out = (df.groupby(["cell", "images_seen"], as_index=False)
           .agg(train_size=("train_size", "first"), test_acc=("test_acc", "mean"), test_sd=("test_acc", "std"),
                n=("test_acc", "size"), train_acc=("train_acc", "mean"), minutes=("wall_seconds", "mean")))
    out["minutes"] /= 60
    nxt = out.groupby("cell")[["images_seen", "test_acc"]].shift(-1)
    out["gain_next_doubling"] = (nxt["test_acc"] - out["test_acc"]).where(nxt["images_seen"] == 2 * out["images_seen"])
    out["cell"] = out["cell"].map(cell_label)
    return out


def chosen_budget(curves: pd.DataFrame, gain: float = GAIN) -> tuple[float, bool]:
    """(images seen, whether the rule is met): the smallest budget at which the next doubling gains under
    ``gain`` for every cell; else (the largest budget measured for every cell, False)."""
    common = set.intersection(*(set(g["images_seen"]) for _, g in curves.groupby("cell")))
    for images in sorted(common):
        at = curves[curves["images_seen"] == images]["gain_next_doubling"]
        if at.notna().all() and (at < gain).all():
            return float(images), True
    return float(max(common)) if common else math.nan, False


def budget_table(res: Results) -> Table:
    c = learning_curves(res).drop(columns="train_size").rename(columns={
        "images_seen": "images seen", "test_acc": "test (%)", "test_sd": "SD", "train_acc": "train, last epoch (%)",
        "minutes": "minutes", "gain_next_doubling": "next doubling gains"})
    return Table(c, "learning_curves", {"images seen": "{:,.0f}", "test (%)": "{:.2f}", "SD": "{:.2f}", "n": "{:d}",
                                        "train, last epoch (%)": "{:.2f}", "minutes": "{:.1f}",
                                        "next doubling gains": "{:+.2f}"})


def learning_curve_figure(res: Results, profile_images: float | None = None):
    """Test accuracy (each seed a point, the mean a line) and last-epoch train accuracy (dashed) against the images
    seen, on a log2 axis; a vertical line at the profile's evaluation budget."""
    df = res["learning_curve"].assign(cell=lambda d: d["cell"].map(cell_label))
    curves = learning_curves(res)
    fig, ax = plt.subplots(figsize=(6.6, 3.6))
    palette = dict(zip(sorted(df["cell"].unique()), sns.color_palette("deep")))
    sns.scatterplot(data=df, x="images_seen", y="test_acc", hue="cell", palette=palette, ax=ax, legend=False, s=25)
    for cell, g in curves.groupby("cell"):
        ax.plot(g["images_seen"], g["test_acc"], "-o", color=palette[cell], label=f"{cell}: test", markersize=3)
        ax.plot(g["images_seen"], g["train_acc"], "--", color=palette[cell], label=f"{cell}: train, last epoch")
    if profile_images:
        ax.axvline(profile_images, color="0.5", lw=1, ls=":", label="the profile's budget")
    ax.set_xscale("log", base=2)
    ticks = sorted(curves["images_seen"].unique())
    ax.set_xticks(ticks, [f"{t / 1000:g}k" if t >= 1000 else f"{t:g}" for t in ticks])
    ax.minorticks_off()
    ax.set(xlabel="training images seen (images an epoch x epochs)", ylabel="accuracy (%)", title=res.short("learning_curve"))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def profile_budget(res: Results) -> float:
    """Images an evaluation of these results' profile sees (its evaluate section: train_size x epochs)."""
    from ..config import config, load_profile

    cfg = config(load_profile(res["learning_curve"]["profile"].iloc[0]), "evaluate")
    return float(cfg.train_size * cfg.epochs) if cfg.train_size else math.nan


def budget_text(res: Results, gain: float = GAIN) -> str:
    """The rule, what the curves say, and where the profile's evaluation budget stands against it (markdown)."""
    curves = learning_curves(res)
    images, met = chosen_budget(curves, gain)
    have = profile_budget(res)
    seeds = curves.groupby("cell")["n"].min().min()
    text = (f"**Learning curves of the evaluation protocol.** Test accuracy of {', '.join(sorted(curves['cell'].unique()))} "
            f"trained by the evaluation protocol at doubling budgets (each budget a training of its own, its cosine "
            f"schedule ending there; at least {seeds} seed(s) per point; dashed: the running train accuracy of the last "
            f"epoch). The rule: the budget is the smallest at which one more doubling gains under {gain} points for "
            f"every cell. ")
    if met:
        text += f"It is met at {images:,.0f} images seen. "
    elif not math.isnan(images):
        last = curves.dropna(subset=["gain_next_doubling"]).groupby("cell").last()
        text += (f"No measured budget meets it, up to {images:,.0f} images (the largest measured for every cell): "
                 "the last doubling measured still gains " + ", ".join(
                     f"{r.gain_next_doubling:+.2f} points ({cell}, {r.images_seen:,.0f} to {2 * r.images_seen:,.0f} images)"
                     for cell, r in last.iterrows()) + ". The fallback then applies: the largest budget the "
                 "reproduction's total (12 hours on 2 cores) affords. ")
    if not math.isnan(have):
        where = ("meets the rule" if met and have >= images else
                 f"falls short of it by {math.log2(images / have):.0f} doubling(s)" if met else
                 "is below the largest budget measured" if have < images else "is the largest budget measured")
        text += f"The profile's evaluations see {have:,.0f} images: it {where}."
    return text

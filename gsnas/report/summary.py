"""The reproduction summary that opens the book, in the ML Reproducibility Challenge's structure.

Every number in it is computed from a results folder's CSVs when the book is built (``summary_numbers``);
``summary_markdown`` only puts them into words. ``gsnas.book`` writes it to ``book/generated/summary.md``,
which ``book/intro.md`` includes.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..config import REPO, config, load_profile
from ..results import TABLES, Results
from .table import METHODS

VERDICTS = ("reproduced", "not reproduced", "inconclusive", "holds by construction")
DATASETS = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def summary_numbers(results) -> dict:
    """What the summary says, as numbers: scale, runs, verdicts, the scored comparisons, cost, hardware."""
    res = Results(results)
    folder = Path(results)
    searches = res["searches"]
    claims = pd.read_csv(folder / "claims.csv")
    timings = pd.read_csv(folder / "timings.csv")
    total = timings.loc[timings["notebook"] == "TOTAL", "wall_seconds"]
    speed = folder / "pruning_speed.csv"
    machine = pd.read_csv(speed)["machine"].iloc[0] if speed.exists() else None
    profile = str(searches["profile"].iloc[0])
    paper = load_profile("paper")
    scored = claims.dropna(subset=["difference", "ci_low", "ci_high"])
    return {
        "profile": profile,
        "dataset": DATASETS.get(str(searches["dataset"].iloc[0]), str(searches["dataset"].iloc[0])),
        "device": str(searches["device"].iloc[0]),
        "threads_per_job": max(r["threads"] for r in load_profile(profile)["resources"].values()),
        "machine": machine,
        "supernet": res.scale("search"),
        "evaluation": res.scale("evaluate", "table2_darts_space"),
        "paper_epochs": {"search": config(paper, "search").epochs, "evaluate": config(paper, "evaluate").epochs},
        "searches": searches.query("space == 'darts'").groupby("method").size().to_dict(),
        "searches_total": len(searches),
        "notebooks": int((timings["notebook"] != "TOTAL").sum()),
        "wall_hours": float(total.iloc[0]) / 3600 if len(total) else float("nan"),
        "run_hours": _run_hours(timings),
        "claims": len(claims),
        "verdicts": {v: int((claims["verdict"] == v).sum()) for v in VERDICTS},
        "by_id": dict(zip(claims["claim_id"], claims["verdict"])),
        "by_construction": claims.loc[claims["verdict"] == "holds by construction", "claim"].tolist(),
        "scored": scored[["claim", "verdict", "difference", "ci_low", "ci_high", "df", "unit", "detectable"]]
        .to_dict("records"),
        "commits": sorted({c for name in TABLES if name in res.tables for c in res[name]["git_commit"].astype(str)}),
        "paper_profile_run": (REPO / "results" / "paper" / "timings.csv").exists(),
    }


def _run_hours(timings: pd.DataFrame) -> float:
    """The runs' own clocks summed (job-hours, interrupted runs' parts all counted); older timings lack them."""
    if "run_seconds" not in timings:
        return float("nan")
    return float(timings.loc[timings["notebook"] == "TOTAL", "run_seconds"].sum()) / 3600


def time_spent(results):
    """What the reproduction took, per kind of notebook: a sentence and a table (Snakemake's benchmarks, and the
    runs' own clocks, which count the parts of an interrupted run that the benchmark of its last part misses)."""
    from .table import Table

    timings = pd.read_csv(Path(results) / "timings.csv")
    runs = timings[timings["notebook"] != "TOTAL"]
    total = timings.loc[timings["notebook"] == "TOTAL", "wall_seconds"]
    clocks = "run_seconds" in runs
    kind = (runs.assign(kind=runs["notebook"].str.split("/").str[0], run=runs.get("run_seconds"))
            .groupby("kind").agg(notebooks=("notebook", "size"), **{"minutes in all": ("wall_seconds", "sum"),
                                 "median minutes": ("wall_seconds", "median")},
                                 **({"run minutes in all": ("run", "sum")} if clocks else {})))
    kind[[c for c in kind.columns if "minutes" in c]] /= 60
    text = (f"**Where the time went.** Wall time of the notebooks of this reproduction (Snakemake's benchmarks): "
            f"{len(runs)} notebooks, {runs['wall_seconds'].sum() / 3600:.1f} hours of notebook time in all"
            + (f", {total.iloc[0] / 3600:.1f} hours with at least one notebook running (the reproduction's wall "
               f"time; pauses between its parts not counted)" if len(total) else "")
            + ". Times include any other work that shared the machine while they ran; a notebook interrupted and "
              "resumed counts its last part only.")
    if clocks:
        text += (f" The runs' own clocks (kept in their checkpoints, so every part of an interrupted run counts) add "
                 f"to {_run_hours(timings):.1f} job-hours: what the reproduction costs run without interruption, "
                 f"about half of it in wall time at two jobs at once.")
    formats = {c: "{:.1f}" for c in kind.columns if "minutes" in c}
    return text, Table(kind.reset_index(), "timings_by_kind", formats)


def _interval(row: dict) -> str:
    unit = f" {row['unit']}" if isinstance(row.get("unit"), str) and row["unit"] else ""
    if row["ci_low"] == row["ci_high"]:
        detect = "; no spread between the runs"
    elif pd.notna(row.get("detectable")):
        detect = f"; the runs could detect {row['detectable']:.2g}{unit}"
    else:
        detect = ""
    return (f"{row['difference']:+.2f}{unit} [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}], "
            f"df {row['df']:.1f}{detect}")


def summary_markdown(results) -> str:
    """The summary as MyST Markdown (computed, never typed: see ``summary_numbers``)."""
    s = summary_numbers(results)
    verdicts = ", ".join(f"**{n} {v}**" for v, n in s["verdicts"].items() if n)
    per_method = ", ".join(f"{METHODS.get(m, m)} {n}" for m, n in s["searches"].items())
    scored = "\n".join(f"- {r['claim']}: *{r['verdict']}*, {_interval(r)}" for r in s["scored"])
    construction = ("\n*Holding by construction* (no result at this scale could have refuted them, so they count "
                    "for nothing): " + "; ".join(s["by_construction"]) + ".\n") if s["by_construction"] else ""
    hardware = f"device {s['device']}, {s['threads_per_job']} thread(s) per job"
    if s["machine"]:
        hardware += f"; the machine, as `make bench` recorded it: {s['machine']}"
    run_hours = (f"; {s['run_hours']:.1f} job-hours by the runs' own clocks, interrupted runs' parts included"
                 if pd.notna(s["run_hours"]) else "")
    paper = ("its results are in `results/paper/`" if s["paper_profile_run"] else
             "it has not been run for this book")
    return f"""
## Reproduction summary

:::{{admonition}} Computed from `results/{s['profile']}/` when this book was built
:class: tip
Every number below is read from the result CSVs by `gsnas.report.summary_numbers`; none is typed in.
:::

**Scope of reproducibility.** {s['claims']} claims: the paper's, and tests of our own beside them (marked
*beyond the paper*): no discretization gap after operation pruning or after the search, sparsity set by the gain
mu, accuracy against the share of weights pruned (Figure 1), GS-NAS against DARTS on the DARTS space (Table 2)
and on the RobustDARTS spaces S1-S4 (Table 3), and whether the search reads the data at all. Each has a verdict
in {{doc}}`generated/claims`.

**Methodology.** The paper's method re-implemented from its text (`gsnas`) and run through one workflow on
{s['dataset']} at a CPU scale (profile `{s['profile']}`): supernet {s['supernet']}; evaluation network
{s['evaluation']}. {s['searches_total']} searches in all (on the DARTS space: {per_method}),
{s['notebooks']} notebooks, **{s['wall_hours']:.1f} hours** of wall time ({hardware}{run_hours}); rows made at
{len(s['commits'])} commit(s), which every figure names.

**Results.** Of {s['claims']} claims: {verdicts}. The scored comparisons (our difference, its 95 % interval and
degrees of freedom, and the smallest difference these runs could detect):

{scored}
{construction}
**What was easy.** The method itself: a group-lasso prox step in an SGD optimizer, and reading the architecture
off the groups that survive. Operation pruning's zero gap, which follows from the prox's exact zeros, is
*{s['by_id'].get('zero_gap_pruning', 'not scored')}* here.

**What was difficult.** The scale. CIFAR-10 cannot be downloaded here and there is no GPU, so every number is
{s['dataset']} at a CPU budget, far below the paper's ({s['paper_epochs']['search']} search epochs and
{s['paper_epochs']['evaluate']} evaluation epochs on CIFAR-10, profile `paper`). At this budget the penalty can
set the race between operations, which is why the controls (permuted labels, penalty only) stand beside the
searches. The `paper` profile runs the paper's own protocol (CIFAR-10, downloaded by torchvision) on a GPU;
{paper} ({{doc}}`generated/reproduce`).

**Communication with the original authors.** None. Everything here comes from the paper's text, the authors'
public code and logs where `SPEC.md` quotes them, and the public DARTS code.
"""

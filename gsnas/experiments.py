"""The paper's experiments as functions of a profile: what each notebook calls.

A profile (``gsnas.config``) holds the deviations from the paper's settings per routine.
Every run has a folder ``results/<profile>/runs/<run>/`` (names: ``search_run`` and its
siblings) holding its checkpoints and its result rows, with provenance, in ``rows.json``;
``gsnas.results.aggregate`` builds the result CSVs of ``results/<profile>/`` from the rows
of every run (re-running a configuration rewrites its rows).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import distributed
from .config import REPO, SECTIONS, config, load_profile
from .darts import darts_search
from .evaluate import prune, train
from .genotype import Genotype
from .results import provenance, read_rows, write_rows
from .search import search, tune_mu
from .spaces import get_space


@dataclass(frozen=True)
class Routine:
    section: str          # the profile section (and config class, ``config.SECTIONS``) it runs with
    run: Callable         # the routine: config -> result dict
    command: str | None   # its ``gsnas`` command line (``gsnas search --method darts`` for DARTS)
    notebook: str         # the notebook that runs it


# The one table from commands and notebooks to routines and their configs (CLI and notebooks alike).
ROUTINES = {
    "search": Routine("search", search, "search", "search"),
    "darts": Routine("darts", darts_search, "search --method darts", "darts_baseline"),
    "evaluate": Routine("evaluate", train, "train", "evaluate"),
    "operation_pruning": Routine("operation_pruning", prune, "prune", "operation_pruning"),
    "retrain": Routine("retrain", train, None, "operation_pruning"),
}
assert set(ROUTINES) == set(SECTIONS)

# Result tables: file name -> key columns (SPEC §6 layout; see the experiments issue).
TABLES = {
    "searches": ["method", "space", "seed"],
    "table1_operation_pruning": ["mu", "threshold", "seed"],
    "figure1_pruning_tradeoff": ["mu", "seed"],
    "table2_darts_space": ["method", "seed_search", "seed_eval"],
    "table3_subspaces": ["space", "method", "seed_search", "seed_eval"],
}


def results_dir(prof: dict, base=None) -> Path:
    return Path(base) if base else REPO / "results" / prof["name"]


# Run folders under ``<results>/runs/``: one per configuration, so re-running one replaces its rows.
def search_run(method: str, space: str, seed: int) -> str:
    return f"search/{method}-{space}-seed{seed}"


def evaluate_run(method: str, space: str, seed_search: int, seed_eval: int) -> str:
    return f"evaluate/{method}-{space}-seed{seed_search}-eval{seed_eval}"


def pruning_run(mu: float, seed: int) -> str:
    return f"operation_pruning/mu{mu:g}-seed{seed}"


def baseline_run(seed: int) -> str:
    return f"retrain/unpruned-seed{seed}"


def _prov(prof, res) -> dict:
    return provenance(prof["name"], res["config"]["dataset"], res["device"], res["wall_seconds"])


def launch(section: str, cfg, processes: int = 1) -> dict:
    """Run a routine here, or with ``processes`` > 1 under torchrun (one process per GPU); its result."""
    if processes == 1:
        return ROUTINES[section].run(cfg)
    if not cfg.out:
        raise ValueError("a run under torchrun needs an output folder (out) for its result.json")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(cfg), default=str) + "\n")
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
                    "-m", "gsnas.experiments", section, str(out / "config.json")], check=True)
    return json.loads((out / "result.json").read_text())


# --- searches -----------------------------------------------------------------------------------

def run_search(profile="cpu", space="darts", seed=0, mu=None, target_ops=None, results=None, processes=1,
               **overrides) -> dict:
    """GS-NAS search; with ``target_ops`` (ops per cell), mu is found by bisection first."""
    prof = load_profile(profile)
    get_space(space)
    out = results_dir(prof, results)
    run_dir = out / "runs" / search_run("gsnas", space, seed)
    cfg = config(prof, "search", space=space, seed=seed, mu=mu, out=str(run_dir), **overrides)
    tuning = None
    if target_ops is not None:
        tuning = tune_mu(type(cfg)(**{**asdict(cfg), "epochs": max(1, cfg.epochs // 2)}), target_ops)
        cfg.mu = tuning["mu"]
    res = launch("search", cfg, processes)
    thresholds = cfg.thresholds
    row = {"method": "gsnas", "space": space, "seed": seed, "mu": cfg.mu, "threshold": thresholds[0],
           "acc_before": res["acc_before"],
           **{f"acc_after_{t:g}": res["acc_after"][str(t)] for t in thresholds},
           **{f"gap_{t:g}": res["acc_before"] - res["acc_after"][str(t)] for t in thresholds},
           "groups": res["groups"], "nonzero_groups": res["nonzero_groups"],
           "ops_normal": res["ops_normal"], "ops_reduce": res["ops_reduce"],
           "search_hours": res["wall_seconds"] / 3600, "run_dir": str(run_dir.relative_to(out)),
           "genotype": json.dumps(res["genotype"]), **_prov(prof, res)}
    write_rows(run_dir, {"searches": [row]})
    return {**res, "row": row, "tuning": tuning}


def run_darts(profile="cpu", space="darts", seed=0, results=None, processes=1, **overrides) -> dict:
    """DARTS first-order search and its discretization gap."""
    prof = load_profile(profile)
    get_space(space)
    out = results_dir(prof, results)
    run_dir = out / "runs" / search_run("darts", space, seed)
    res = launch("darts", config(prof, "darts", space=space, seed=seed, out=str(run_dir), **overrides), processes)
    row = {"method": "darts", "space": space, "seed": seed, "mu": float("nan"), "acc_before": res["acc_before"],
           "acc_after_discrete": res["acc_after"], "gap_discrete": res["acc_before"] - res["acc_after"],
           "search_hours": res["wall_seconds"] / 3600, "run_dir": str(run_dir.relative_to(out)),
           "genotype": json.dumps(res["genotype"]), **_prov(prof, res)}
    write_rows(run_dir, {"searches": [row]})
    return {**res, "row": row}


# --- evaluation ---------------------------------------------------------------------------------

def run_evaluate(profile="cpu", method="gsnas", space="darts", seed_search=0, seed_eval=0, results=None,
                 processes=1, **overrides) -> dict:
    """Train the cell found by (method, space, seed_search) from scratch; a row of Table 2 or 3."""
    prof = load_profile(profile)
    out = results_dir(prof, results)
    found = read_rows(out / "runs" / search_run(method, space, seed_search)).get("searches")
    if not found:
        raise ValueError(f"no {method} search on space {space!r} with seed {seed_search} in {out}: run it first")
    search = found[-1]
    if not isinstance(search["genotype"], str) or search["genotype"] in ("null", ""):
        raise ValueError(f"the {method} search on {space!r} (seed {seed_search}) pruned a whole cell: no genotype")
    run_dir = out / "runs" / evaluate_run(method, space, seed_search, seed_eval)
    genotype = Genotype.from_json(search["genotype"]).simplify()
    run_dir.mkdir(parents=True, exist_ok=True)
    genotype.save(run_dir / "genotype.json")
    res = launch("evaluate", config(prof, "evaluate", genotype=str(run_dir / "genotype.json"), seed=seed_eval,
                                    out=str(run_dir), **overrides), processes)
    common = {"method": method, "seed_search": seed_search, "seed_eval": seed_eval, "params_m": res["params"] / 1e6,
              "genotype": json.dumps(genotype.to_dict()), **_prov(prof, res)}
    if space == "darts":
        gap_after = search[f"acc_after_{search['threshold']:g}"] if method == "gsnas" else search["acc_after_discrete"]
        row = {**common, "test_acc": res["test_acc"], "search_hours": search["search_hours"],
               "gap_before": search["acc_before"], "gap_after": gap_after}
        write_rows(run_dir, {"table2_darts_space": [row]})
    else:
        row = {"space": space, **common, "test_error": 100.0 - res["test_acc"]}
        write_rows(run_dir, {"table3_subspaces": [row]})
    return {**res, "row": row}


# --- operation pruning --------------------------------------------------------------------------

def run_operation_pruning(profile="cpu", mus=None, seed=0, retrain=True, baseline=True, results=None, processes=1,
                          resume=False, **overrides) -> dict:
    """Table 1 and Figure 1: prune DARTS_V2 with ProxSGD for each mu, then retrain the pruned networks.

    ``baseline``: with ``retrain``, also retrain the unpruned network (Figure 1's mu = 0).
    """
    prof = load_profile(profile)
    out = results_dir(prof, results)
    mus = list(prof["mus"] if mus is None else mus)
    base = config(prof, "operation_pruning", seed=seed, **overrides)
    first = base.thresholds[0]  # what survives, and what is retrained
    retrain_cfg = dict(genotype=base.genotype, channels=base.channels, layers=base.layers, seed=seed, resume=resume)
    table1, figure1 = [], []
    if retrain and baseline:  # the unpruned baseline of Figure 1
        run_dir = out / "runs" / baseline_run(seed)
        res = launch("retrain", config(prof, "retrain", out=str(run_dir), **retrain_cfg), processes)
        row = {"mu": 0.0, "params": res["params"], "weights_pruned_pct": 0.0, "acc_retrained": res["test_acc"],
               "seed": seed, **_prov(prof, res)}
        write_rows(run_dir, {"figure1_pruning_tradeoff": [row]})
        figure1.append(row)
    for mu in mus:
        run_dir = out / "runs" / pruning_run(mu, seed)
        cfg = type(base)(**{**asdict(base), "mu": mu, "out": str(run_dir), "resume": resume})
        res = launch("operation_pruning", cfg, processes)
        rows = {"table1_operation_pruning": [
            {"mu": mu, "threshold": r["threshold"], "acc_before": res["acc_before"], "acc_after": r["acc_after"],
             "weights_pruned_pct": r["weights_pruned_pct"], "params": r["params"], "ops_pruned": r["ops_pruned"],
             "group_by": res["group_by"], "seed": seed, **_prov(prof, res)} for r in res["after"]]}
        if retrain:
            model = run_dir / f"pruned_{first:g}.json"
            pruned = next(r for r in res["after"] if r["threshold"] == first)
            res2 = launch("retrain", config(prof, "retrain", model=str(model), out=str(run_dir / "retrain"),
                                            **retrain_cfg), processes)
            rows["figure1_pruning_tradeoff"] = [
                {"mu": mu, "params": res2["params"], "weights_pruned_pct": pruned["weights_pruned_pct"],
                 "acc_retrained": res2["test_acc"], "seed": seed, **_prov(prof, res2)}]
        write_rows(run_dir, rows)
        table1 += rows["table1_operation_pruning"]
        figure1 += rows.get("figure1_pruning_tradeoff", [])
    return {"table1": table1, "figure1": figure1}


if __name__ == "__main__":  # one routine from a config file, as ``launch`` starts it under torchrun
    section, path = sys.argv[1:]
    try:
        ROUTINES[section].run(SECTIONS[section].from_dict(json.loads(Path(path).read_text())))
    finally:
        distributed.teardown()

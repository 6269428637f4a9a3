"""The paper's experiments as functions of a profile: what each notebook calls.

A profile (``gsnas.config``) holds the deviations from the paper's settings per routine.
Every run has a folder ``results/<profile>/runs/<run>/`` (names: ``search_run`` and its
siblings) holding its checkpoints and its result rows, with provenance, in ``rows.json``;
``gsnas.results.aggregate`` builds the result CSVs of ``results/<profile>/`` from the rows
of every run (re-running a configuration rewrites its rows).
"""
from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from . import distributed, regime
from .config import REPO, SECTIONS, config, load_profile
from .darts import darts_search
from .data import info as data_info
from .evaluate import matched_removal, prune, train, weights
from .genotype import Genotype, get_genotype, random_genotype
from .groups import gate_bound
from .network import EvalNetwork
from .results import ROWS, provenance, read_rows, write_rows
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
    "retrain": Routine("retrain", train, None, "retrain"),
}
assert set(ROUTINES) == set(SECTIONS)



def results_dir(prof: dict, base=None) -> Path:
    return Path(base) if base else REPO / "results" / prof["name"]


# Run folders under ``<results>/runs/``: one per configuration, so re-running one replaces its rows.
def search_run(method: str, space: str, seed: int, control: str = "none") -> str:
    """A search's run folder; a control's (``config.CONTROLS``) is named after it."""
    return f"search/{method}-{space}-seed{seed}" + ("" if control == "none" else f"-{control}")


def evaluate_run(method: str, space: str, seed_search: int, seed_eval: int) -> str:
    return f"evaluate/{method}-{space}-seed{seed_search}-eval{seed_eval}"


def pruning_run(mu: float, seed: int) -> str:
    return f"operation_pruning/mu{mu:g}-seed{seed}"


def retrain_run(mu: float, seed: int, selection: str = "group_sparsity", channels: int | None = None) -> str:
    """The retraining of the network pruned at ``mu`` (0: the unpruned network), by its selection of ops;
    ``selection`` "width": the unpruned network at ``channels`` (the width baseline)."""
    if selection == "width":
        return f"retrain/width-C{channels}-seed{seed}"
    if mu == 0:
        return f"retrain/unpruned-seed{seed}"
    return f"retrain/{'random-' if selection == 'random' else ''}mu{mu:g}-seed{seed}"


SELECTIONS = ("group_sparsity", "random", "width")  # which ops a network lost: by ProxSGD, by chance; or none, narrower


def _prov(prof, res) -> dict:
    """Where a row's numbers come from; ``same_cell_as``: a training they were taken from (``train_once``)."""
    return {**provenance(prof["name"], res["config"]["dataset"], res["device"], res["wall_seconds"], res.get("origin")),
            **({"same_cell_as": res["same_cell_as"]} if "same_cell_as" in res else {})}


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
               control="none", **overrides) -> dict:
    """GS-NAS search; with ``target_ops`` (ops per cell), mu is found by bisection first.

    ``control``: "shuffled_labels" or "penalty_only" runs that control of the search instead (its own run).
    """
    prof = load_profile(profile)
    get_space(space)
    out = results_dir(prof, results)
    run_dir = out / "runs" / search_run("gsnas", space, seed, control)
    cfg = config(prof, "search", space=space, seed=seed, mu=mu, out=str(run_dir), control=control, **overrides)
    tuning = None
    if target_ops is not None:
        tuning = tune_mu(type(cfg)(**{**asdict(cfg), "epochs": max(1, cfg.epochs // 2)}), target_ops)
        cfg.mu = tuning["mu"]
    res = launch("search", cfg, processes)
    thresholds = cfg.thresholds
    row = {"method": "gsnas", "space": space, "seed": seed, "control": control, "mu": cfg.mu,
           "threshold": thresholds[0], "gate_bound": gate_bound(cfg),
           "acc_before": res["acc_before"],
           **{f"acc_after_{t:g}": res["acc_after"][str(t)] for t in thresholds},
           **{f"gap_{t:g}": res["acc_before"] - res["acc_after"][str(t)] for t in thresholds},
           "groups": res["groups"], "nonzero_groups": res["nonzero_groups"],
           "ops_normal": res["ops_normal"], "ops_reduce": res["ops_reduce"], "ops_removed": res["ops_removed"],
           "train_acc_first": res["train_acc_first"], "train_acc_last": res["train_acc_last"],
           "train_acc_best": res.get("train_acc_best", float("nan")),
           "search_hours": res["wall_seconds"] / 3600, "run_dir": str(run_dir.relative_to(out)),
           "genotype": json.dumps(res["genotype"]), **_prov(prof, res)}
    real = out / "runs" / search_run("gsnas", space, seed)
    if control != "none" and (real / "group_norms.csv").exists():  # what it shares with the search it controls
        row.update(regime.against(real, run_dir, cfg.thresholds[0]))
    write_rows(run_dir, {"searches": [row]})
    return {**res, "row": row, "tuning": tuning}


def run_darts(profile="cpu", space="darts", seed=0, results=None, processes=1, control="none", **overrides) -> dict:
    """DARTS first-order search and its discretization gap; ``control`` "shuffled_labels": on permuted labels."""
    prof = load_profile(profile)
    get_space(space)
    out = results_dir(prof, results)
    run_dir = out / "runs" / search_run("darts", space, seed, control)
    res = launch("darts", config(prof, "darts", space=space, seed=seed, out=str(run_dir), control=control,
                                 **overrides), processes)
    row = {"method": "darts", "space": space, "seed": seed, "control": control, "mu": float("nan"),
           "acc_before": res["acc_before"],
           "acc_after_discrete": res["acc_after"], "gap_discrete": res["acc_before"] - res["acc_after"],
           "alpha_max_mean": res["alpha_max_mean"],
           "train_acc_first": res["train_acc_first"], "train_acc_last": res["train_acc_last"],
           "search_hours": res["wall_seconds"] / 3600, "run_dir": str(run_dir.relative_to(out)),
           "genotype": json.dumps(res["genotype"]), **_prov(prof, res)}
    write_rows(run_dir, {"searches": [row]})
    return {**res, "row": row}


def run_random_search(profile="cpu", space="darts", seed=0, results=None) -> dict:
    """Random search (beyond the paper): a cell drawn uniformly from the space, evaluated like a found one."""
    prof = load_profile(profile)
    out = results_dir(prof, results)
    run_dir = out / "runs" / search_run("random", space, seed)
    genotype = random_genotype(get_space(space), seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    genotype.save(run_dir / "genotype.json")
    row = {"method": "random", "space": space, "seed": seed, "control": "none", "search_hours": 0.0,
           "run_dir": str(run_dir.relative_to(out)), "genotype": json.dumps(genotype.to_dict()),
           **provenance(prof["name"], config(prof, "search").dataset, "cpu", 0.0)}
    write_rows(run_dir, {"searches": [row]})
    return {"genotype": genotype.to_dict(), "row": row}


# --- evaluation ---------------------------------------------------------------------------------

SEARCH_METHODS = ("gsnas", "darts", "random")  # what evaluate reads a cell from; else a genotype name (DARTS_V2)


def found_cell(out: Path, method: str, space: str, seed_search: int) -> tuple[Genotype, dict]:
    """The cell a search found (``method`` in ``SEARCH_METHODS``) and its search row, or a published cell by
    name (DARTS_V2, on the darts space) and no row."""
    if method in SEARCH_METHODS:
        found = read_rows(out / "runs" / search_run(method, space, seed_search)).get("searches")
        if not found:
            raise ValueError(f"no {method} search on space {space!r} with seed {seed_search} in {out}: run it first")
        search = found[-1]
        if not isinstance(search["genotype"], str) or search["genotype"] in ("null", ""):
            raise ValueError(f"the {method} search on {space!r} (seed {seed_search}) pruned a whole cell: no genotype")
        return Genotype.from_json(search["genotype"]).simplify(), search
    if space != "darts":
        raise ValueError(f"reference cell {method!r} is a cell of the darts space, not of {space!r}")
    try:
        return get_genotype(method), {}
    except ValueError:
        raise ValueError(f"unknown method {method!r}; valid: {', '.join(SEARCH_METHODS)} or a genotype name "
                         "(DARTS_V2)") from None


def run_evaluate(profile="cpu", method="gsnas", space="darts", seed_search=0, seed_eval=0, results=None,
                 processes=1, **overrides) -> dict:
    """Train the cell found by (method, space, seed_search) from scratch; a row of Table 2 or 3.

    ``method`` a genotype name (DARTS_V2): that published cell, on the darts space, as a reference row.
    """
    prof = load_profile(profile)
    out = results_dir(prof, results)
    genotype, search = found_cell(out, method, space, seed_search)
    run_dir = out / "runs" / evaluate_run(method, space, seed_search, seed_eval)
    run_dir.mkdir(parents=True, exist_ok=True)
    genotype.save(run_dir / "genotype.json")
    res = train_once(out, config(prof, "evaluate", genotype=str(run_dir / "genotype.json"), seed=seed_eval,
                                 out=str(run_dir), **overrides), processes)
    common = {"method": method, "seed_search": seed_search, "seed_eval": seed_eval, "params_m": res["params"] / 1e6,
              "param_free_share": genotype.param_free_share(), "noise_ops": genotype.count({"noise"}),
              "genotype": json.dumps(genotype.to_dict()), **_prov(prof, res)}
    # the search's supernet accuracy before and after its discretization, and the gaps (points)
    gaps = {k: search[k] for k in search if k.startswith(("acc_before", "acc_after", "gap_"))}
    if space == "darts":
        row = {**common, "test_acc": res["test_acc"], "search_hours": search.get("search_hours", math.nan),
               **{f"search_{k}" if k.startswith("acc_") else k: v for k, v in gaps.items()}}
        write_rows(run_dir, {"table2_darts_space": [row]})
    else:
        row = {"space": space, **common, "test_error": 100.0 - res["test_acc"]}
        write_rows(run_dir, {"table3_subspaces": [row]})
    return {**res, "row": row}


def train_once(out: Path, cfg, processes: int = 1) -> dict:
    """Train an evaluation network, unless a finished evaluation or learning-curve point of these results trained
    the same cell under the same settings and seed on the CPU, where training is deterministic (two searches that
    found one cell gave bitwise the same evaluation): its result then stands for this one (``same_cell_as``)."""
    def settings(c: dict) -> dict:  # what makes the training, as result.json holds it
        return json.loads(json.dumps({k: v for k, v in c.items() if k not in ("out", "genotype", "resume", "progress")},
                                     default=str))

    mine, cell = settings(asdict(cfg)), Genotype.load(cfg.genotype).to_dict()
    for path in sorted((out / "runs").glob("*/*/result.json")):
        if (path.parent.parent.name not in ("evaluate", "learning_curve") or not (path.parent / ROWS).exists()
                or path.parent.resolve() == Path(cfg.out).resolve()):
            continue
        prior = json.loads(path.read_text())
        if prior.get("device") == "cpu" and prior.get("genotype") == cell and settings(prior["config"]) == mine:
            return {**prior, "wall_seconds": 0.0, "origin": None,
                    "same_cell_as": path.parent.relative_to(out / "runs").as_posix()}
    return launch("evaluate", cfg, processes)


def learning_curve_run(cell: str, train_size: int, seed: int) -> str:
    return f"learning_curve/{cell}-n{train_size}-seed{seed}"


def run_learning_curve(profile="cpu", cell="DARTS_V2", train_size=10000, seed=0, results=None, processes=1,
                       **overrides) -> dict:
    """One point of the evaluation budget's learning curve: ``cell`` (a genotype name, or a search method for its
    darts-space search with seed 0) trained by the evaluation protocol on ``train_size`` images an epoch.

    Each budget is a training of its own (its cosine schedule ends at that budget), not a snapshot of a longer
    one: what an evaluation at that budget would report. ``gsnas.report.budget`` applies the doubling rule.
    """
    prof = load_profile(profile)
    out = results_dir(prof, results)
    genotype, _ = found_cell(out, cell, "darts", 0)
    run_dir = out / "runs" / learning_curve_run(cell, train_size, seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    genotype.save(run_dir / "genotype.json")
    cfg = config(prof, "evaluate", genotype=str(run_dir / "genotype.json"), seed=seed, train_size=train_size,
                 out=str(run_dir), **overrides)
    res = train_once(out, cfg, processes)
    row = {"cell": cell, "train_size": train_size, "seed_eval": seed, "epochs": cfg.epochs,
           "images_seen": train_size * cfg.epochs, "params_m": res["params"] / 1e6,
           "train_acc": res["train_acc"], "test_acc": res["test_acc"], **_prov(prof, res)}
    write_rows(run_dir, {"learning_curve": [row]})
    return {**res, "row": row}


# --- operation pruning --------------------------------------------------------------------------

def run_operation_pruning(profile="cpu", mus=None, seed=0, retrain=True, baseline=True, results=None, processes=1,
                          resume=False, **overrides) -> dict:
    """Table 1 (and Figure 1): prune DARTS_V2 with ProxSGD for each mu; with ``retrain``, retrain them too.

    ``baseline``: with ``retrain``, also retrain the unpruned network (Figure 1's mu = 0). The workflow
    runs the retrainings as jobs of their own (``run_retrain``), one per seed.
    """
    prof = load_profile(profile)
    out = results_dir(prof, results)
    mus = list(prof["mus"] if mus is None else mus)
    base = config(prof, "operation_pruning", seed=seed, **overrides)
    table1, figure1 = [], []
    for mu in mus:
        run_dir = out / "runs" / pruning_run(mu, seed)
        cfg = type(base)(**{**asdict(base), "mu": mu, "out": str(run_dir), "resume": resume})
        res = launch("operation_pruning", cfg, processes)
        rows = [{"mu": mu, "threshold": r["threshold"], "acc_before": res["acc_before"], "acc_after": r["acc_after"],
                 "weights_pruned_pct": r["weights_pruned_pct"], "params": r["params"],
                 "params_unpruned": res["params_unpruned"], "ops_pruned": r["ops_pruned"],
                 "group_by": res["group_by"], "seed": seed, **_prov(prof, res)} for r in res["after"]]
        write_rows(run_dir, {"table1_operation_pruning": rows})
        table1 += rows
    if retrain:
        for mu in ([0.0] if baseline else []) + mus:
            figure1.append(run_retrain(profile, mu, seed, prune_seed=seed, results=results, processes=processes,
                                       resume=resume)["row"])
    return {"table1": table1, "figure1": figure1}


def run_retrain(profile="cpu", mu=0.0, seed=0, selection="group_sparsity", prune_seed=0, results=None, processes=1,
                resume=False, channels=None, **overrides) -> dict:
    """Figure 1: train from scratch the network pruned at ``mu`` (0: the unpruned DARTS_V2 network).

    ``selection`` "random" (the random-pruning control, beyond the paper): remove from the unpruned network
    op instances drawn at random (seeded by ``seed``), as many of each type as operation pruning removed at mu,
    redrawn until the weights left match the pruned network's within 1 % (``matched_removal``).
    ``selection`` "width" (the width baseline, beyond the paper): the unpruned network with ``channels``
    instead of operation pruning's C, nothing removed: fewer weights without any choice of operations.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"unknown selection {selection!r}; valid: {', '.join(SELECTIONS)}")
    if (selection == "width") != (channels is not None):
        raise ValueError(f"channels is for selection 'width' only (the width baseline), got selection "
                         f"{selection!r} with channels {channels!r}")
    if selection == "width" and mu != 0:
        raise ValueError(f"the width baseline narrows the unpruned network: mu must be 0, got {mu!r}")
    prof = load_profile(profile)
    out = results_dir(prof, results)
    base = config(prof, "operation_pruning", seed=prune_seed)
    run_dir = out / "runs" / retrain_run(mu, seed, selection, channels)
    cfg = dict(genotype=base.genotype, channels=channels or base.channels, layers=base.layers, seed=seed,
               resume=resume, out=str(run_dir), **overrides)
    model, pruned = None, {"weights_pruned_pct": 0.0, "ops_pruned": 0}
    if mu != 0:
        rows = read_rows(out / "runs" / pruning_run(mu, prune_seed)).get("table1_operation_pruning")
        if not rows:
            raise ValueError(f"no operation pruning at mu {mu:g} (seed {prune_seed}) in {out}: run it first")
        pruned = next(r for r in rows if r["threshold"] == base.thresholds[0])  # what operation pruning keeps
        model = out / "runs" / pruning_run(mu, prune_seed) / f"pruned_{base.thresholds[0]:g}.json"
        same = same_network(out, mu, prune_seed, base.thresholds[0],
                            prof["random_pruning_mus"] if selection == "random" else prof["mus"])
        if same is not None:  # one pruned network, one set of retrainings: that mu's
            row = {"selection": selection, "mu": float(mu), "seed": seed, "channels": cfg["channels"],
                   "params": pruned["params"],
                   "weights_pruned_pct": pruned["weights_pruned_pct"], "ops_pruned": pruned["ops_pruned"],
                   "acc_retrained": math.nan, "same_network_as": same,
                   **provenance(prof["name"], base.dataset, "cpu", 0.0)}
            run_dir.mkdir(parents=True, exist_ok=True)
            write_rows(run_dir, {"figure1_pruning_tradeoff": [row]})
            return {"row": row}
        if selection == "random":
            kept = EvalNetwork.from_config(json.loads(model.read_text()))  # gated: parameter-free ops are groups
            full = EvalNetwork.from_config({**kept.config(), "cell_nodes": None})
            by_pruning = ({(g.cell, g.edge, g.op) for g in full.op_groups()}
                          - {(g.cell, g.edge, g.op) for g in kept.op_groups()})
            removed = matched_removal(full, by_pruning, seed)
            run_dir.mkdir(parents=True, exist_ok=True)
            model = run_dir / "model.json"
            model.write_text(json.dumps(full.without(removed).config()) + "\n")
            pruned = {"weights_pruned_pct": 100.0 * (1 - weights(full.without(removed)) / weights(full)),
                      "ops_pruned": len(removed), "random_control": "matched"}
    res = launch("retrain", config(prof, "retrain", model=str(model) if model else None, **cfg), processes)
    if selection == "width":  # its share of weights "pruned": relative to the unpruned network at full width
        i = data_info(base.dataset)
        full = weights(EvalNetwork(get_genotype(base.genotype), base.channels, base.layers, i["num_classes"],
                                   i["in_channels"]))
        pruned = {"weights_pruned_pct": 100.0 * (1 - res["params"] / full), "ops_pruned": 0}
    row = {"selection": selection if mu or selection == "width" else "group_sparsity",  # mu 0: where curves start
           "mu": float(mu), "seed": seed, "channels": cfg["channels"], "params": res["params"],
           "weights_pruned_pct": pruned["weights_pruned_pct"], "ops_pruned": pruned["ops_pruned"],
           **({"random_control": pruned["random_control"]} if "random_control" in pruned else {}),
           "acc_retrained": res["test_acc"], **_prov(prof, res)}
    write_rows(run_dir, {"figure1_pruning_tradeoff": [row]})
    return {**res, "row": row}


def same_network(out: Path, mu: float, prune_seed: int, threshold: float, mus) -> float | None:
    """The smallest of ``mus`` below ``mu`` whose operation pruning left the same network as ``mu``'s (its
    retrainings stand for this one's; random removal, seeded and matched to that network, draws the same ops), else None."""
    def network(m):
        path = out / "runs" / pruning_run(m, prune_seed) / f"pruned_{threshold:g}.json"
        return json.loads(path.read_text()) if path.exists() else None

    mine = network(mu)
    if mine is None:
        return None
    return next((float(m) for m in sorted(mus) if m < mu and network(m) == mine), None)


if __name__ == "__main__":  # one routine from a config file, as ``launch`` starts it under torchrun
    section, path = sys.argv[1:]
    try:
        ROUTINES[section].run(SECTIONS[section].from_dict(json.loads(Path(path).read_text())))
    finally:
        distributed.teardown()

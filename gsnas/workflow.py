"""A profile's reproduction as jobs, one notebook run each: what the Snakefile runs.

``jobs`` is the one list of what a reproduction runs, from the profile's plan (seeds, spaces,
mus): an experiment is added here, in Python. The Snakefile makes one rule per notebook and one
Snakemake job per ``Job``; a job's command is ``papermill`` with the job's parameters.

A job's output is the rows it leaves in its run folder, ``<results>/runs/<run>/rows.json``, never
the run folder itself: Snakemake deletes the outputs of an interrupted job before it runs the job
again, and the checkpoint beside the rows must survive for the rerun to resume (every job runs
with resume). Its executed notebook ``<results>/notebooks/<run>.ipynb`` is its log, which
Snakemake keeps when the job fails.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, replace

import yaml

from . import experiments as ex
from .config import CONTROLS, REPO, SECTIONS, config, load_profile
from .results import ROWS, TABLES


@dataclass(frozen=True)
class Job:
    notebook: str                 # notebooks/<notebook>.ipynb
    run: str                      # its run folder under <results>/runs/; also names its notebook and benchmark
    params: dict                  # its notebook parameters besides profile, results and resume
    needs: tuple = ()             # the runs whose rows it reads (an evaluation: its search)


def jobs(prof: dict) -> list[Job]:
    """Every job of a profile's reproduction (``load_profile``): searches, evaluations, pruning, retraining.

    Table 2: GS-NAS, DARTS and random search on the darts space (``seeds``, ``random_seeds``) and the
    reference cells; Table 3: GS-NAS and DARTS on each subspace; Figure 1: each mu pruned, the unpruned
    and each pruned network retrained per ``retrain_seeds``, the random-pruning control and the width baseline;
    the evaluation budget's learning curves (``learning_curve_cells`` x ``learning_curve_sizes``).
    """
    searches = ([("gsnas", "search", "darts", s) for s in prof["seeds"]]
                + [("darts", "darts_baseline", "darts", s) for s in prof["seeds"]]
                + [("random", "random_search", "darts", s) for s in prof["random_seeds"]]
                + [(method, notebook, space, s) for space in prof["subspaces"] for s in prof["subspace_seeds"]
                   for method, notebook in (("gsnas", "search"), ("darts", "darts_baseline"))])
    out = [Job(notebook, ex.search_run(method, space, seed), {"space": space, "seed": seed})
           for method, notebook, space, seed in searches]
    # the searches' controls on the darts space (DARTS: permuted labels only; random search has none)
    out += [Job(notebook, ex.search_run(method, "darts", seed, control), {"space": "darts", "seed": seed,
                                                                         "control": control},
                needs=(ex.search_run(method, "darts", seed),))  # its row compares the two
            for method, notebook, valid in (("gsnas", "search", CONTROLS), ("darts", "darts_baseline", CONTROLS[:2]))
            for control in prof["controls"] if control in valid for seed in prof["seeds"]]
    out += [Job("evaluate", ex.evaluate_run(method, space, seed, e),
                {"method": method, "space": space, "seed_search": seed, "seed_eval": e},
                needs=(ex.search_run(method, space, seed),))
            for method, _, space, seed in searches for e in prof["eval_seeds"]]
    out += [Job("evaluate", ex.evaluate_run(cell, "darts", 0, e),
                {"method": cell, "space": "darts", "seed_search": 0, "seed_eval": e})
            for cell in prof["reference_cells"] for e in prof["eval_seeds"]]
    if prof["mus"]:  # Figure 1: each mu pruned; the unpruned and the pruned networks retrained
        out += [Job("operation_pruning", ex.pruning_run(mu, 0), {"mus": [mu], "seed": 0, "retrain": False})
                for mu in prof["mus"]]
        out += [Job("retrain", ex.retrain_run(mu, seed, selection),
                    {"mu": mu, "seed": seed, "selection": selection},
                    # every smaller mu's pruning too: a network pruned the same way is retrained once (ex.same_network)
                    needs=tuple(ex.pruning_run(m, 0) for m in sorted(prof["mus"] if selection == "group_sparsity"
                                                                    else prof["random_pruning_mus"]) if m < mu)
                    + (ex.pruning_run(mu, 0),) if mu else ())
                for mu, selection in ([(0.0, "group_sparsity")] + [(mu, "group_sparsity") for mu in prof["mus"]]
                                      + [(mu, "random") for mu in prof["random_pruning_mus"]])
                for seed in prof["retrain_seeds"]]
        out += [Job("retrain", ex.retrain_run(0.0, seed, "width", c),  # the width baseline: no pruning to wait for
                    {"mu": 0.0, "seed": seed, "selection": "width", "channels": c})
                for c in prof["width_channels"] for seed in prof["retrain_seeds"]]
    # the evaluation budget's learning curves: each cell at each training-set size, the longest first
    out += [Job("learning_curve", ex.learning_curve_run(cell, n, seed), {"cell": cell, "train_size": n, "seed": seed},
                needs=(ex.search_run(cell, "darts", 0),) if cell in ex.SEARCH_METHODS else ())
            for n in sorted(prof["learning_curve_sizes"], reverse=True) for cell in prof["learning_curve_cells"]
            for seed in prof["learning_curve_seeds"]]
    gpus = {notebook: r["gpus"] for notebook, r in prof["resources"].items()}  # > 1: under torchrun
    return [replace(j, params={**j.params, "processes": gpus[j.notebook]}) if gpus[j.notebook] > 1 else j
            for j in out]


class Plan:
    """A profile's jobs and where they write; paths are relative to the repository (the workflow's workdir)."""

    def __init__(self, profile: str, results: str | None = None):
        self.profile, self.prof = str(profile), load_profile(profile)
        self.results = str(results) if results else f"results/{self.prof['name']}"
        self.jobs = {job.run: job for job in jobs(self.prof)}
        check(list(self.jobs.values()))
        for section in SECTIONS:  # a bad value fails here, not in the middle of a reproduction
            config(self.prof, section)

    @property
    def notebooks(self) -> list[str]:
        return list(dict.fromkeys(job.notebook for job in self.jobs.values()))

    def runs(self, notebook: str) -> list[str]:
        return [run for run, job in self.jobs.items() if job.notebook == notebook]

    def rows(self, run: str) -> str:
        return f"{self.results}/runs/{run}/{ROWS}"

    def needs(self, run: str) -> list[str]:
        return [self.rows(r) for r in self.jobs[run].needs]

    def args(self, run: str) -> str:
        """The notebook parameters of a job, as papermill's command line takes them."""
        params = {"profile": self.profile, "results": self.results, **self.jobs[run].params, "resume": True}
        return " ".join(f"-p {k} {shlex.quote(str(v))}" if v is None or isinstance(v, (str, int, float)) else
                        f"-y {shlex.quote(yaml.safe_dump({k: v}, default_flow_style=True).strip())}"
                        for k, v in params.items())

    def settings(self, run: str) -> str:
        """What a job reads of the profile (its routines' sections), so that Snakemake reruns it when they change."""
        job = self.jobs[run]
        sections = [s for s, r in ex.ROUTINES.items() if r.notebook == job.notebook]
        if job.notebook in ("operation_pruning", "retrain"):  # a retraining's network is operation pruning's
            sections = ["operation_pruning", "retrain"]
        settings = {s: {**self.prof["common"], **self.prof[s]} for s in sections}
        if job.notebook == "learning_curve":  # the evaluation protocol at budgets of its own: not the protocol's
            settings = {"evaluate": {k: v for k, v in {**self.prof["common"], **self.prof["evaluate"]}.items()
                                     if k != "train_size"}}
        return json.dumps(settings, sort_keys=True)

    @property
    def tables(self) -> list[str]:
        return [f"{self.results}/{name}.csv" for name in [*TABLES, "timings", "claims"]]


def check(job_list: list[Job]) -> None:
    """Each job's parameters are its notebook's, its run is its own, what it needs is a job before it."""
    import papermill as pm

    seen, parameters = set(), {}
    for job in job_list:
        path = REPO / "notebooks" / f"{job.notebook}.ipynb"
        if not path.is_file():
            raise ValueError(f"no notebook {path.relative_to(REPO)} for run {job.run}")
        if job.notebook not in parameters:  # its parameters cell, as papermill reads it
            parameters[job.notebook] = pm.inspect_notebook(str(path))
        valid = parameters[job.notebook]
        unknown = sorted(set(job.params) - set(valid))
        if unknown:
            raise ValueError(f"unknown parameter(s) {unknown} of notebooks/{job.notebook}.ipynb (run {job.run}); "
                             f"valid: {sorted(valid)}")
        if job.run in seen:
            raise ValueError(f"two jobs write run {job.run}")
        missing = [r for r in job.needs if r not in seen]
        if missing:
            raise ValueError(f"run {job.run} needs {missing}, which no earlier job writes")
        seen.add(job.run)


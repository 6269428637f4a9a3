"""A profile's reproduction as jobs, one notebook run each: what the Snakefile runs.

``jobs`` is the one list of what a reproduction runs, from the profile's plan (seeds, spaces,
mus): an experiment is added here, in Python. The Snakefile makes one rule per notebook and one
Snakemake job per ``Job``; a job's command is ``papermill`` with the job's parameters.

A job's output is the rows it leaves in its run folder, ``<results>/runs/<run>/rows.json``, never
the run folder itself: Snakemake deletes the outputs of an interrupted job before it runs the job
again, and the checkpoint beside the rows must survive for the rerun to resume (every job runs
with resume). Its executed notebook ``<results>/notebooks/<run>.ipynb`` is its log, which
Snakemake keeps when the job fails.

    python -m gsnas.workflow aggregate --profile cpu [--results DIR]   # the tables from the plan's current rows
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from . import experiments as ex
from .config import CONTROLS, REPO, SECTIONS, config, load_profile, parse_profile
from .results import ROWS, TABLES, atomic_write_text, build

SETTINGS = "settings.json"  # beside a run's rows: the settings of the profile they were made with (``settings``)
# what a notebook's jobs read of the profile, where it is not their routines' sections: a retraining's network
# is operation pruning's; a learning curve is the evaluation protocol at a budget it sets itself (``OWN``)
READS = {"operation_pruning": ("operation_pruning", "retrain"), "retrain": ("operation_pruning", "retrain"),
         "learning_curve": ("evaluate",)}
OWN = {"learning_curve": ("train_size",)}


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

    def benchmark(self, run: str) -> str:
        """Where Snakemake writes a job's wall time and memory (an output to it: its time counts as the rows')."""
        return f"{self.results}/benchmarks/{run}.tsv"

    def priority(self, notebook: str) -> int:
        """Snakemake's priority of a notebook's jobs: a run that others need (a search, a pruning) waits while a
        run it made can be evaluated or retrained, so a reproduction in parts completes table rows as it goes."""
        mine = set(self.runs(notebook))
        return 0 if any(need in mine for job in self.jobs.values() for need in job.needs) else 1

    def needs(self, run: str) -> list[str]:
        return [self.rows(r) for r in self.jobs[run].needs]

    def args(self, run: str) -> str:
        """The notebook parameters of a job, as papermill's command line takes them."""
        params = {"profile": self.profile, "results": self.results, **self.jobs[run].params, "resume": True}
        return " ".join(f"-p {k} {shlex.quote(str(v))}" if v is None or isinstance(v, (str, int, float)) else
                        f"-y {shlex.quote(yaml.safe_dump({k: v}, default_flow_style=True).strip())}"
                        for k, v in params.items())

    def settings(self, run: str) -> str:
        return settings(self.prof, self.jobs[run])

    def upstream(self, runs) -> set[str]:
        """These runs and every run they need, directly or not."""
        out, todo = set(), list(runs)
        while todo:
            run = todo.pop()
            if run not in out:
                out.add(run)
                todo += self.jobs[run].needs
        return out

    def status(self) -> dict[str, str]:
        """Each run's rows: ``current``, ``missing``, or ``stale``: made under settings other than the profile's
        now, or under unrecorded ones, or from the rows of a run that is stale or missing (an evaluation of a
        stale search is stale).

        Snakemake reruns a job whose settings changed only from its own metadata (``.snakemake/``), which a
        fresh clone or a copied results folder lacks: it would keep their rows. Each job leaves its settings
        beside its rows (``SETTINGS``, written by the Snakefile), and ``gsnas.reproduce`` reruns these.
        """
        out = {}
        for run, job in self.jobs.items():  # what a job needs comes before it (``check``)
            rows = REPO / self.rows(run)
            stamp = rows.with_name(SETTINGS)
            if not rows.exists():
                out[run] = "missing"
            elif (not stamp.exists() or stamp.read_text().strip() != self.settings(run)
                  or any(out[need] != "current" for need in job.needs)):  # made from such a run
                out[run] = "stale"
            else:
                out[run] = "current"
        return out

    def stale(self) -> list[str]:
        """The runs whose rows ``make reproduce`` makes again (``status``)."""
        return [run for run, kind in self.status().items() if kind == "stale"]

    def current(self) -> list[str]:
        """The runs whose rows are the profile's now: what the tables are built from (``gsnas.results``)."""
        return [run for run, kind in self.status().items() if kind == "current"]

    def pending(self) -> dict[str, dict[str, int]]:
        """What ``make reproduce`` would still run, per notebook: the runs these results lack (``missing``) or
        made under settings other than the profile's now (``stale``)."""
        out = {}
        for run, kind in self.status().items():
            if kind != "current":
                out.setdefault(self.jobs[run].notebook, {"missing": 0, "stale": 0})[kind] += 1
        return out

    def aggregate(self) -> dict:
        """The tables and verdicts (``gsnas.results.build``) from the rows of this plan's current runs only: a table
        never mixes two protocols, nor holds a run the plan no longer has. Says what it left out."""
        current = self.current()
        written = {p.parent.relative_to(REPO / self.results / "runs").as_posix()
                   for p in (REPO / self.results / "runs").rglob(ROWS)}
        others = sorted(written - set(current))
        if others:
            print(f"left out {len(others)} run(s) not in the plan or not made under its settings now: "
                  f"{', '.join(others[:4])}{' ...' if len(others) > 4 else ''}", flush=True)
        return build(REPO / self.results, current)

    @property
    def tables(self) -> list[str]:
        return [f"{self.results}/{name}.csv" for name in [*TABLES, "timings", "claims"]]


def settings(prof: dict, job: Job) -> str:
    """What a job reads of the profile (its routines' sections, ``READS``, less what it sets itself, ``OWN``):
    when this changes, its rows are stale (Snakemake's params; ``Plan.stale``)."""
    sections = READS.get(job.notebook) or [s for s, r in ex.ROUTINES.items() if r.notebook == job.notebook]
    own = OWN.get(job.notebook, ())
    return json.dumps({s: {k: v for k, v in {**prof["common"], **prof[s]}.items() if k not in own}
                       for s in sections}, sort_keys=True)


def stamp_from_git(plan: Plan, profile_at) -> list[str]:
    """Write the settings stamp of each run that has rows but none, where its rows' commit proves them current.

    For results made before stamps existed: ``profile_at(commit)`` is the profile file's text at that
    commit (None if unknown); a run is stamped when its rows come from one clean commit whose profile gives
    the job the settings it has now. Every other unstamped run stays stale. Returns the runs stamped.
    """
    done = []
    for run, job in plan.jobs.items():
        rows = REPO / plan.rows(run)
        if not rows.exists() or rows.with_name(SETTINGS).exists():
            continue
        provenance = {(r.get("git_commit"), r.get("git_dirty")) for table in json.loads(rows.read_text()).values()
                      for r in table}
        if len(provenance) != 1 or next(iter(provenance))[1] is not False:
            continue
        text = profile_at(next(iter(provenance))[0])
        if text is None:
            continue
        try:
            old = parse_profile(text, f"{plan.prof['name']}.yaml")
        except ValueError:  # an older profile the checks no longer accept: not provably current
            continue
        if settings(old, job) == plan.settings(run):
            atomic_write_text(rows.with_name(SETTINGS), plan.settings(run) + "\n")
            done.append(run)
    return done


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsnas.workflow", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["aggregate"])
    parser.add_argument("--profile", default="cpu", help="smoke, cpu, paper or a profile .yaml")
    parser.add_argument("--results", default=None, help="results folder (default: results/<profile>)")
    args = parser.parse_args(argv)
    try:
        tables = Plan(args.profile, args.results).aggregate()
    except ValueError as e:
        print(f"gsnas.workflow: error: {e}", file=sys.stderr)
        return 2
    print(", ".join(f"{name}: {len(df)} rows" for name, df in tables.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Run every notebook of a profile with papermill: ``python -m gsnas.reproduce --profile cpu``.

Executed notebooks go to ``results/<profile>/notebooks/``, their wall times to
``results/<profile>/timings.csv``; the notebooks themselves write the result CSVs.

``--jobs N`` runs N notebooks at once, each kernel with cores/N threads, an
evaluation only after the search it evaluates. On a 2-core CPU two one-thread
kernels do more work than one two-thread kernel: PyTorch's small CPU ops scale
poorly across threads (benchmarks/RESULTS.md).
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

from .config import REPO, load_profile
from .experiments import results_dir
from .results import upsert_rows

NOTEBOOKS = REPO / "notebooks"


def plan(prof: dict) -> list[tuple[str, dict]]:
    """(notebook, parameters) in the order they must run: searches before their evaluations."""
    seeds, eval_seeds, sub_seeds = prof["seeds"], prof["eval_seeds"], prof["subspace_seeds"]
    runs = [("operation_pruning", {})]
    for seed in seeds:
        runs += [("search", {"space": "darts", "seed": seed}), ("darts_baseline", {"space": "darts", "seed": seed})]
    runs += [("search", {"space": space, "seed": seed}) for space in prof["subspaces"] for seed in sub_seeds]
    for method in ("gsnas", "darts"):
        runs += [("evaluate", {"method": method, "space": "darts", "seed_search": s, "seed_eval": e})
                 for s in seeds for e in eval_seeds]
    runs += [("evaluate", {"method": "gsnas", "space": space, "seed_search": s, "seed_eval": e})
             for space in prof["subspaces"] for s in sub_seeds for e in eval_seeds]
    return runs


def output_name(notebook: str, params: dict) -> str:
    return "-".join([notebook, *(f"{k}{v}" if k.startswith("seed") else str(v) for k, v in params.items())]) + ".ipynb"


def needs(notebook: str, params: dict) -> str | None:
    """The run whose output this one reads (an evaluation reads its search's genotype)."""
    if notebook != "evaluate":
        return None
    search = "search" if params["method"] == "gsnas" else "darts_baseline"
    return output_name(search, {"space": params["space"], "seed": params["seed_search"]})


def execute(notebook: str, params: dict, out: Path, profile: str, results, threads: int | None = None) -> dict:
    """Run one notebook with papermill; a row of timings.csv."""
    import papermill as pm

    if threads:  # inherited by the kernel, read by PyTorch when it loads
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    name, t0, status = output_name(notebook, params), time.time(), "ok"
    try:
        pm.execute_notebook(NOTEBOOKS / f"{notebook}.ipynb", out / "notebooks" / name, cwd=str(NOTEBOOKS),
                            parameters={"profile": str(profile), "results": str(results) if results else None,
                                        **params}, kernel_name="python3", progress_bar=False)
    except pm.PapermillExecutionError as e:  # keep going: later notebooks may not depend on this one
        status = f"failed: {e.ename}: {e.evalue}"[:300]
    except Exception as e:  # a dead kernel, a missing notebook: recorded, the other runs go on
        status = f"failed: {type(e).__name__}: {e}"[:300]
    row = {"notebook": name, "status": status, "wall_seconds": round(time.time() - t0, 1)}
    upsert_rows(out / "timings.csv", [row], ["notebook"])
    return row


def run(profile: str, only: list[str] | None = None, results=None, log=print, jobs: int = 1) -> list[dict]:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    prof = load_profile(profile)
    out = results_dir(prof, results)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    todo = [(nb, params) for nb, params in plan(prof)
            if not only or nb in only or output_name(nb, params).removesuffix(".ipynb") in only]
    selected = {output_name(nb, params) for nb, params in todo}
    timings, started = [], time.time()

    def record(row):
        if row["status"] != "ok":
            log(f"  {row['notebook']}: {row['status']}")
        timings.append(row)

    if jobs == 1:
        for notebook, params in todo:
            log(f"[{time.time() - started:7.0f}s] {output_name(notebook, params)}")
            record(execute(notebook, params, out, profile, results))
    else:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        done, running = set(), {}
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            while todo or running:
                for notebook, params in list(todo):
                    dep = needs(notebook, params)
                    if len(running) < jobs and (dep is None or dep in done or dep not in selected):
                        name = output_name(notebook, params)
                        log(f"[{time.time() - started:7.0f}s] {name}")
                        running[pool.submit(execute, notebook, params, out, profile, results, threads)] = name
                        todo.remove((notebook, params))
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    done.add(running.pop(future))
                    record(future.result())
    failed = sum(r["status"] != "ok" for r in timings)
    total = {"notebook": "TOTAL" if not only else "TOTAL(" + ",".join(only) + ")",
             "status": f"{failed} failed" if failed else "ok", "wall_seconds": round(time.time() - started, 1)}
    upsert_rows(out / "timings.csv", [total], ["notebook"])
    log(f"done in {total['wall_seconds']:.0f}s; results in {out}")
    return timings + [total]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsnas.reproduce", description=__doc__)
    parser.add_argument("--profile", default="cpu", help="smoke, cpu, paper or a profile .yaml")
    parser.add_argument("--only", nargs="*", help="run only these notebooks (e.g. search evaluate) or runs "
                                                  "(e.g. evaluate-darts-darts-seed_search0-seed_eval0)")
    parser.add_argument("--results", default=None, help="results folder (default: results/<profile>)")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1; 2 on a 2-core CPU)")
    args = parser.parse_args(argv)
    try:
        timings = run(args.profile, args.only, args.results, jobs=args.jobs)
    except ValueError as e:
        print(f"gsnas.reproduce: error: {e}", file=sys.stderr)
        return 2
    return 0 if timings[-1]["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())

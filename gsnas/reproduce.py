"""Run every notebook of a profile with papermill: ``python -m gsnas.reproduce --profile cpu``.

Executed notebooks go to ``results/<profile>/notebooks/``, their wall times to
``results/<profile>/timings.csv``; the notebooks themselves write the result CSVs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .experiments import REPO, load_profile, results_dir
from .results import upsert_rows

NOTEBOOKS = REPO / "notebooks"


def plan(prof: dict) -> list[tuple[str, dict]]:
    """(notebook, parameters) in the order they must run: searches before their evaluations."""
    seeds, eval_seeds = prof.get("seeds", [0]), prof.get("eval_seeds", [0])
    sub_seeds = prof.get("subspace_seeds", [0])
    runs = [("operation_pruning", {})]
    for seed in seeds:
        runs += [("search", {"space": "darts", "seed": seed}), ("darts_baseline", {"space": "darts", "seed": seed})]
    runs += [("search", {"space": space, "seed": seed}) for space in prof.get("subspaces", []) for seed in sub_seeds]
    for method in ("gsnas", "darts"):
        runs += [("evaluate", {"method": method, "space": "darts", "seed_search": s, "seed_eval": e})
                 for s in seeds for e in eval_seeds]
    runs += [("evaluate", {"method": "gsnas", "space": space, "seed_search": s, "seed_eval": e})
             for space in prof.get("subspaces", []) for s in sub_seeds for e in eval_seeds]
    return runs


def output_name(notebook: str, params: dict) -> str:
    return "-".join([notebook, *(f"{k}{v}" if k.startswith("seed") else str(v) for k, v in params.items())]) + ".ipynb"


def run(profile: str, only: list[str] | None = None, results=None, log=print) -> list[dict]:
    import papermill as pm

    prof = load_profile(profile)
    out = results_dir(prof, results)
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    timings, started = [], time.time()
    for notebook, params in plan(prof):
        name = output_name(notebook, params)
        if only and notebook not in only and name.removesuffix(".ipynb") not in only:
            continue
        log(f"[{time.time() - started:7.0f}s] {name}")
        t0, status = time.time(), "ok"
        try:
            pm.execute_notebook(NOTEBOOKS / f"{notebook}.ipynb", out / "notebooks" / name, cwd=str(NOTEBOOKS),
                                parameters={"profile": str(profile), "results": str(results) if results else None,
                                            **params}, kernel_name="python3", progress_bar=False)
        except pm.PapermillExecutionError as e:  # keep going: later notebooks may not depend on this one
            status = f"failed: {e.ename}: {e.evalue}"[:300]
            log(f"  {status}")
        row = {"notebook": name, "status": status, "wall_seconds": round(time.time() - t0, 1)}
        upsert_rows(out / "timings.csv", [row], ["notebook"])
        timings.append(row)
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
    args = parser.parse_args(argv)
    try:
        timings = run(args.profile, args.only, args.results)
    except ValueError as e:
        print(f"gsnas.reproduce: error: {e}", file=sys.stderr)
        return 2
    return 0 if timings[-1]["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())

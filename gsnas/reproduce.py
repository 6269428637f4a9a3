"""``make reproduce``: the workflow (``Snakefile``) of a profile on this machine, ``JOBS`` notebooks at once.

    python -m gsnas.reproduce --profile cpu --jobs 2 [--results DIR] [-- SNAKEMAKE_ARGS]

runs ``snakemake --cores JOBS --config profile=... --rerun-incomplete --keep-going -p``: only what is
missing or was made under other settings (``Plan.stale``) runs; a job that was interrupted runs again
and resumes from its checkpoint; a failed notebook stops only its dependants, stays to be read (the
job's log) and runs again next time.
Each job gets the threads of its profile's ``resources`` (cpu: one): on a 2-core CPU,
two one-thread jobs do more work than one two-thread job (benchmarks/RESULTS.md).

Whether a run is done is the plan's to say (``Plan.status``), not file times: a clone writes its files in no
particular order, and Snakemake would redo a run whose rows are older than its notebook or than the rows it
needs. Before Snakemake starts, each current run's rows and benchmark are made no older than what it was made from
(``settle``); a changed notebook or package therefore reruns nothing by itself: delete a run's rows, or name
it after ``-- --forcerun``, to make it again.

Snakemake's lock files outlive a killed run; a lock that dies with this process guards the
results folder instead (``--nolock``), so a killed reproduction simply runs again.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import shlex
import subprocess
import sys

from .config import REPO
from .workflow import Plan


def command(profile: str, jobs: int, results: str | None = None, extra=()) -> list[str]:
    config = [f"profile={profile}", *([f"results={results}"] if results else [])]
    return ["snakemake", "--cores", str(jobs), "--config", *config, "--rerun-incomplete", "--keep-going",
            "--printshellcmds", "--nolock", *extra]


def _where(path: str) -> str:
    """A path as Snakemake (run in the repository) finds it: relative paths from there, absolute ones as they are."""
    return os.path.normpath(REPO / path)


def settle(plan: Plan, current: list[str]) -> list[str]:
    """Give each current run's outputs (its rows, its benchmark) the time of its newest input (its notebook, the
    rows it needs) where they are older, so Snakemake, which compares times, keeps what the plan calls current.
    The runs touched."""
    touched, current = [], set(current)
    for run, job in plan.jobs.items():  # what a run needs comes before it
        if run not in current:
            continue
        inputs = [REPO / "notebooks" / f"{job.notebook}.ipynb", *(REPO / plan.rows(need) for need in job.needs)]
        newest = max(path.stat().st_mtime_ns for path in inputs)
        outputs = [REPO / plan.rows(run), REPO / plan.benchmark(run)]
        older = [path for path in outputs if path.exists() and path.stat().st_mtime_ns < newest]
        for path in older:
            os.utime(path, ns=(newest, newest))
        if older:
            touched.append(run)
    return touched


def run(profile: str, jobs: int = 1, results: str | None = None, extra=()) -> int:
    """Check the plan (one line on bad input, before any job), then run Snakemake; its exit status."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an integer >= 1, got {jobs!r}")
    plan = Plan(profile, results)
    folder = REPO / plan.results
    folder.mkdir(parents=True, exist_ok=True)
    planned = {_where(plan.rows(run)): run for run in plan.jobs}  # a run's rows, however spelled: ./x, /abs/x
    named = [planned.get(_where(arg)) for arg in extra]
    asked = [run for run in named if run]
    extra = [plan.rows(run) if run else arg for run, arg in zip(named, extra)]  # spelled as Snakemake's rules
    status = plan.status()
    stale = [run for run, kind in status.items() if kind == "stale"]
    if asked:  # runs named as targets: rerun only what they need (--forcerun makes its files targets too)
        stale = [run for run in stale if run in plan.upstream(asked)]
    if stale:  # made under other or unrecorded settings: Snakemake's metadata may not know (a fresh clone)
        print(f"{len(stale)} run(s) made under other settings, or from such runs, run again: {', '.join(stale[:4])}"
              f"{' ...' if len(stale) > 4 else ''}", flush=True)
        extra = [*extra, "--forcerun", *map(plan.rows, stale)]
    cmd = command(profile, jobs, results, extra)
    bin_dir = os.path.dirname(sys.executable)  # papermill and python of this environment, in every job
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    with open(folder / ".reproduce.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"another reproduction is running in {plan.results}") from None
        touched = settle(plan, [run for run, kind in status.items() if kind == "current"])
        if touched:
            print(f"{len(touched)} current run(s) older than their inputs (as in a fresh clone) kept", flush=True)
        print(shlex.join(cmd), flush=True)
        # Snakemake holds the lock too (pass_fds): it lasts while either process lives
        proc = subprocess.Popen([sys.executable, "-m", *cmd], cwd=REPO, env=env, pass_fds=[lock.fileno()])
        try:
            return proc.wait()
        except KeyboardInterrupt:  # Snakemake got the same Ctrl-C: it stops its jobs and marks them incomplete
            return proc.wait()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsnas.reproduce", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="cpu", help="smoke, cpu, paper or a profile .yaml")
    parser.add_argument("--jobs", type=int, default=1, help="notebooks run at once (snakemake --cores; 2 on 2 cores)")
    parser.add_argument("--results", default=None, help="results folder (default: results/<profile>)")
    parser.add_argument("snakemake", nargs="*", help="more snakemake arguments, after -- (e.g. -- --dry-run)")
    args = parser.parse_args(argv)
    try:
        return run(args.profile, args.jobs, args.results, args.snakemake)
    except ValueError as e:
        print(f"gsnas.reproduce: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

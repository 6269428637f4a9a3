# The reproduction of a profile: one rule per notebook, one job per run of gsnas.workflow.jobs,
# and a last rule that builds the result tables from the rows every run left.
#
#   make reproduce PROFILE=cpu JOBS=2                          # gsnas.reproduce runs the line below
#   snakemake --cores 2 --rerun-incomplete --keep-going --config profile=cpu [results=DIR]
#
# Snakemake alone judges a run done by file times, and a fresh clone writes them in no order: there,
# run `make reproduce` (or `python -m gsnas.reproduce --profile cpu -- -n`, a dry run) once first. It
# settles the times of the runs made under the profile's settings, so Snakemake keeps them.
#   snakemake -n --profile workflow/profiles/slurm --config profile=paper     # a SLURM cluster
#
# A job's output is its run's rows.json, not the run folder: Snakemake deletes the outputs of an
# interrupted job before it runs it again, and the checkpoint beside the rows must survive for the
# rerun to resume from it. The executed notebook is the job's log: Snakemake keeps it when the job
# fails (to be read) and removes the rows, so the next run redoes the job. (--keep-incomplete would
# keep the rows too, and Snakemake 9 then takes them for complete.)
import re
import sys

unknown = sorted(set(config) - {"profile", "results"})
if unknown:  # one line, before any job starts (and before torch loads)
    sys.exit(f"error: unknown config key(s) {unknown}; valid: profile, results")

from gsnas.workflow import Plan

try:
    PLAN = Plan(config.get("profile", "cpu"), config.get("results"))
except ValueError as e:
    sys.exit(f"error: {e}")

workdir: workflow.basedir
localrules: all, aggregate

rule all:
    input: PLAN.tables

for notebook in PLAN.notebooks:
    res = PLAN.prof["resources"][notebook]
    rule:
        name: notebook
        input:
            notebook=f"notebooks/{notebook}.ipynb",
            needs=lambda w: PLAN.needs(w.run),
        output:
            rows=f"{PLAN.results}/runs/{{run}}/rows.json",
        log:
            notebook=f"{PLAN.results}/notebooks/{{run}}.ipynb",
        wildcard_constraints:
            run="|".join(map(re.escape, PLAN.runs(notebook))),
        params:
            args=lambda w: PLAN.args(w.run),
            settings=lambda w: PLAN.settings(w.run),  # a changed setting reruns the job
        benchmark: PLAN.benchmark("{run}")
        threads: res["threads"]
        priority: PLAN.priority(notebook)  # a job that completes rows (an evaluation) before one that opens more
        resources: gpu=res["gpus"], mem_mb=res["mem_mb"], runtime=res["runtime"]
        # the settings beside the rows: a fresh clone (no .snakemake metadata) still knows when they go stale
        shell: "papermill -k python3 --no-progress-bar {input.notebook} {log.notebook} {params.args}"
               " && printf '%s\\n' {params.settings:q} > \"$(dirname {output.rows})/settings.json\""

rule aggregate:
    input:
        rows=[PLAN.rows(run) for run in PLAN.jobs],
        benchmarks=[PLAN.benchmark(run) for run in PLAN.jobs],
    output: PLAN.tables
    shell: "python -m gsnas.workflow aggregate --profile {PLAN.profile:q} --results {PLAN.results:q}"

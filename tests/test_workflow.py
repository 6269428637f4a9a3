"""The reproduction as a Snakemake workflow: the plan, bad input, reruns, a killed run resumed, a failed notebook,
the SLURM profile's dry run."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from papermill.cli import _resolve_type, papermill as papermill_cli

from conftest import ROOT, reproduce
from gsnas import checkpoint, workflow
from gsnas.loop import KILL_AFTER
from gsnas.config import PROFILES, config, load_profile
from gsnas.results import TABLES, Results, aggregate
from gsnas.reproduce import main


def test_smoke_plan_runs_searches_before_their_evaluations():
    plan = workflow.Plan("smoke")
    assert list(plan.jobs) == [
        "search/gsnas-darts-seed0", "search/darts-darts-seed0", "search/random-darts-seed0",
        "search/gsnas-s2-seed0", "search/darts-s2-seed0",
        "search/gsnas-darts-seed0-shuffled_labels", "search/gsnas-darts-seed0-penalty_only",
        "search/darts-darts-seed0-shuffled_labels",
        "evaluate/gsnas-darts-seed0-eval0", "evaluate/darts-darts-seed0-eval0", "evaluate/random-darts-seed0-eval0",
        "evaluate/gsnas-s2-seed0-eval0", "evaluate/darts-s2-seed0-eval0", "evaluate/DARTS_V2-darts-seed0-eval0",
        "operation_pruning/mu0.2-seed0", "operation_pruning/mu0.25-seed0",
        "retrain/unpruned-seed0", "retrain/mu0.2-seed0", "retrain/mu0.25-seed0", "retrain/random-mu0.25-seed0",
        "retrain/width-C3-seed0", "learning_curve/DARTS_V2-n1024-seed0", "learning_curve/DARTS_V2-n512-seed0"]
    assert plan.needs("evaluate/darts-darts-seed0-eval0") == ["results/smoke/runs/search/darts-darts-seed0/rows.json"]
    assert plan.needs("evaluate/DARTS_V2-darts-seed0-eval0") == []  # the published cell: no search
    assert plan.jobs["evaluate/gsnas-s2-seed0-eval0"].params == {"method": "gsnas", "space": "s2", "seed_search": 0,
                                                                 "seed_eval": 0}
    assert plan.jobs["operation_pruning/mu0.25-seed0"].params == {"mus": [0.25], "seed": 0, "retrain": False}
    assert plan.jobs["retrain/random-mu0.25-seed0"].params == {"mu": 0.25, "seed": 0, "selection": "random"}
    pruning = "results/smoke/runs/operation_pruning/mu{:g}-seed0/rows.json".format
    assert plan.needs("retrain/random-mu0.25-seed0") == [pruning(0.25)]
    # a retraining reads every smaller mu's pruned network too: one that pruned the same network is retrained once
    assert plan.needs("retrain/mu0.25-seed0") == [pruning(0.2), pruning(0.25)]
    assert plan.needs("retrain/unpruned-seed0") == []
    assert plan.jobs["retrain/width-C3-seed0"].params == {"mu": 0.0, "seed": 0, "selection": "width", "channels": 3}
    assert plan.needs("retrain/width-C3-seed0") == []  # the width baseline prunes nothing: it waits for nothing
    assert plan.jobs["search/gsnas-darts-seed0-penalty_only"].params == {"space": "darts", "seed": 0,
                                                                         "control": "penalty_only"}
    assert plan.needs("search/gsnas-darts-seed0-penalty_only") == ["results/smoke/runs/search/gsnas-darts-seed0/rows.json"]
    assert not any(plan.needs(j) == ["results/smoke/runs/search/gsnas-darts-seed0-penalty_only/rows.json"]
                   for j in plan.jobs)  # nothing evaluates a control


def test_what_completes_rows_goes_before_what_opens_more():
    """Snakemake's priorities: an evaluation (or retraining) of a finished search (or pruning) before a new search."""
    plan = workflow.Plan("smoke")
    first = {n for n in plan.notebooks if plan.priority(n) > 0}
    assert first == {"evaluate", "retrain", "learning_curve"}, first
    assert all(plan.priority(plan.jobs[need].notebook) == 0 for job in plan.jobs.values() for need in job.needs)


def test_paper_plan_is_the_papers_protocol():
    """3 searches per method, each evaluated 3 times; S1, S2, S4 x 3 seeds x 3 evaluations for GS-NAS and DARTS;
    5 mus, each pruned network and the unpruned one retrained; beyond: 3 random cells and DARTS_V2 evaluated."""
    plan = workflow.Plan("paper")
    count = pd.Series([job.notebook for job in plan.jobs.values()]).value_counts().to_dict()
    assert count == {"search": 3 + 9, "darts_baseline": 3 + 9, "random_search": 3, "evaluate": 27 + 3 + 54,
                     "operation_pruning": 5, "retrain": 1 + 5}
    assert all(plan.prof["resources"][n]["gpus"] == 1 for n in count if n != "random_search")
    assert not any("processes" in job.params for job in plan.jobs.values())


def test_cpu_plan_has_what_the_claims_need():
    """>= 5 searches per method on the darts space (3 on each subspace), >= 6 mus, >= 3 retraining seeds (the
    random control's draws), the random control at >= 3 mus, the width baseline at >= 3 widths."""
    plan = workflow.Plan("cpu")
    runs = set(plan.jobs)
    for method in ("gsnas", "darts", "random"):
        assert {f"search/{method}-darts-seed{s}" for s in range(5)} <= runs
    for space in ("s1", "s2", "s4"):
        assert {f"evaluate/{m}-{space}-seed{s}-eval0" for m in ("gsnas", "darts") for s in range(3)} <= runs
    assert "evaluate/DARTS_V2-darts-seed0-eval0" in runs
    prof = plan.prof
    assert len(prof["mus"]) >= 6 and len(prof["retrain_seeds"]) >= 3 and len(prof["random_pruning_mus"]) >= 3
    assert len(prof["width_channels"]) >= 3
    retrains = (1 + len(prof["mus"]) + len(prof["random_pruning_mus"]) + len(prof["width_channels"])) * len(
        prof["retrain_seeds"])
    assert sum(j.notebook == "retrain" for j in plan.jobs.values()) == retrains


def test_a_learning_curve_reruns_for_the_evaluation_protocol_not_for_its_budget(tmp_path):
    """A learning curve sets its own train_size: the protocol's budget must not rerun it, its other settings must."""
    run, settings = "learning_curve/DARTS_V2-n5000-seed0", {}
    for name, change in (("same", {}), ("budget", {"train_size": 777}), ("lr", {"lr": 0.01})):
        prof = yaml.safe_load((PROFILES / "cpu.yaml").read_text())
        prof["evaluate"].update(change)
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(prof))
        settings[name] = workflow.Plan(tmp_path / f"{name}.yaml").settings(run)
    assert settings["budget"] == settings["same"] != settings["lr"]


def test_gpus_above_one_train_under_torchrun(tmp_path):
    path = tmp_path / "multi.yaml"
    path.write_text((PROFILES / "paper.yaml").read_text() + "resources: {search: {gpus: 8}}\n")
    plan = workflow.Plan(path)
    assert plan.jobs["search/gsnas-darts-seed0"].params["processes"] == 8
    assert "processes" not in plan.jobs["search/darts-darts-seed0"].params  # darts_baseline: one GPU
    assert plan.prof["resources"]["search"] == {"threads": 8, "gpus": 8, "mem_mb": 32000, "runtime": 2880}


@pytest.mark.parametrize("profile, message", [
    ("nope", "unknown profile 'nope'"),
    ("random_pruning_mus: [0.5]", "random_pruning_mus in profile bad.yaml must be a list of the profile's mus"),
    ("width_channels: [6, 0]", "width_channels in profile bad.yaml must be a list of integers >= 1, got [6, 0]"),
    ("reference_cells: [DARTS_V9]", "unknown genotype 'DARTS_V9'"),
    ("subspaces: [s2, s9]", "unknown search space 's9'"),
    ("resources: {search: {gpu: 2}}", "unknown resource(s) ['gpu']"),
    ("search: {lr: -1}", "lr must be a number > 0, got -1"),  # a value that only the routine's config checks
])
def test_bad_input_fails_before_any_job_with_one_line(tmp_path, capsys, profile, message):
    if ":" in profile:
        (tmp_path / "bad.yaml").write_text(profile + "\n")
        profile = str(tmp_path / "bad.yaml")
    assert main(["--profile", profile, "--results", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()  # nothing started


def test_a_notebook_parameter_must_be_the_notebooks(monkeypatch):
    real = workflow.jobs
    monkeypatch.setattr(workflow, "jobs", lambda prof: [*real(prof), workflow.Job("search", "search/x", {"sede": 1})])
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['sede'\] of notebooks/search.ipynb \(run search/x\)"):
        workflow.Plan("smoke")


def test_snakemake_itself_says_one_line_on_bad_input():
    """``snakemake --config ...`` by hand (a cluster's way) gets the same one line as ``make reproduce``."""
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", "profle=cpu"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and proc.stdout == ""
    assert proc.stderr == "error: unknown config key(s) ['profle']; valid: profile, results\n"


def test_make_reproduce_runs_the_workflow_into_results(tmp_path):
    # STAMP: a file newer than pyproject.toml, so nothing is installed. (STAMP=Makefile made make remake the
    # Makefile, which it does even under -n: a real `pip install -e .` that re-pointed .venv at this checkout.)
    stamp = tmp_path / "installed"
    stamp.touch()
    out = subprocess.run(["make", "-n", "reproduce", "PROFILE=smoke", "JOBS=2", "RESULTS=/tmp/x", f"STAMP={stamp}",
                          "APT="], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m gsnas.reproduce --profile smoke --jobs 2 --results /tmp/x" in out


@pytest.mark.slow
def test_second_run_does_nothing(smoke, tmp_path):
    out = shutil.copytree(smoke.results, tmp_path / "results", copy_function=shutil.copy2)  # the shared run stays as is
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p.name != ".reproduce.lock"}
    proc = reproduce("smoke", out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert {p: p.stat().st_mtime_ns for p in files} == files


@pytest.mark.slow
@pytest.mark.parametrize("output", ["runs/evaluate/gsnas-darts-seed0-eval0/rows.json",
                                    "benchmarks/evaluate/gsnas-darts-seed0-eval0.tsv"])
def test_a_fresh_clone_keeps_current_rows_whatever_their_file_times(smoke, tmp_path, output):
    """A clone writes files in no order: rows (or a benchmark, which Snakemake also takes for an output) older than
    their notebook and than the rows they were made from are still current (their settings say so) and nothing
    runs; only that file's time changes."""
    out = shutil.copytree(smoke.results, tmp_path / "results", copy_function=shutil.copy2)
    old = out / output
    os.utime(old, (946684800, 946684800))  # 2000-01-01: older than its notebook and its search's rows
    files = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and p != old and p.suffix != ".lock"}
    proc = reproduce("smoke", out, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "1 current run(s) older than their inputs (as in a fresh clone) kept" in log, log[-3000:]
    assert "Nothing to be done" in log, log[-3000:]
    assert {p: p.stat().st_mtime_ns for p in files} == files
    search = out / "runs" / "search" / "gsnas-darts-seed0" / "rows.json"
    assert old.stat().st_mtime_ns >= search.stat().st_mtime_ns


def _profile(tmp_path, **changes) -> str:
    """The smoke profile with sections changed, as a file also named smoke.yaml (so its rows say profile smoke)."""
    prof = yaml.safe_load((PROFILES / "smoke.yaml").read_text())
    for section, values in changes.items():
        prof[section] = {**prof[section], **values}
    path = tmp_path / "profile" / "smoke.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(prof))
    return str(path)


def _same_rows(results, reference):
    """Every table of ``results`` holds the rows of ``reference`` with the same keys, but for times."""
    volatile = ["wall_seconds", "timestamp", "search_hours"]
    for name, key in TABLES.items():
        got = pd.read_csv(results / f"{name}.csv")
        want = pd.read_csv(reference / f"{name}.csv").merge(got[key], on=key)
        columns = [c for c in got.columns if c not in volatile]
        assert len(want) == len(got), name
        pd.testing.assert_frame_equal(got[columns], want[columns], check_dtype=False, check_exact=True)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint_and_ends_with_the_same_csvs(smoke, tmp_path):
    """A copy of the smoke run without one evaluation, done again under the smoke profile with a checkpoint every
    step (which changes no number), its kernel killing itself (SIGKILL, gsnas.loop.KILL_AFTER) right after the
    checkpoint at step 3: run again, the search it reads is not redone, the evaluation continues from that
    checkpoint, and the rows are those of the uninterrupted smoke run."""
    out = shutil.copytree(smoke.results, tmp_path / "killed")
    run = out / "runs" / "evaluate" / "gsnas-s2-seed0-eval0"
    shutil.rmtree(run)
    for path in out.glob("*.csv"):
        path.unlink()
    profile, target = _profile(tmp_path, evaluate={"checkpoint_every": 1}), run / "rows.json"
    search = out / "notebooks" / "search" / "gsnas-s2-seed0.ipynb"
    searched_at = search.stat().st_mtime_ns
    killed = reproduce(profile, out, target, jobs=1, env={KILL_AFTER: "0:3"})
    assert killed.returncode != 0 and "DeadKernelError" in killed.stdout + killed.stderr, killed.stderr[-3000:]
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["epoch"] == 0 and state["partial"][0] == 3
    assert not target.exists()

    again = reproduce(profile, out, target, jobs=1)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert search.stat().st_mtime_ns == searched_at  # only what was missing ran
    notebook = (out / "notebooks" / "evaluate" / "gsnas-s2-seed0-eval0.ipynb").read_text()
    assert re.search(r"resuming \S*gsnas-s2-seed0-eval0/checkpoint.pt at epoch 1, step 3\b", notebook)
    aggregate(out, TABLES)
    _same_rows(out, smoke.results)


@pytest.mark.slow
def test_a_failed_notebook_stops_its_dependants_only_and_is_redone(smoke, tmp_path):
    """The smoke run without its tables and with two runs to do again, one of which now diverges: it fails, its
    evaluation does not start, the other finishes; the failed notebook stays to be read, and the next run does
    the job again."""
    out = shutil.copytree(smoke.results, tmp_path / "results")
    for path in [*out.glob("*.csv"), *(out / "runs" / r / "rows.json" for r in ("search/gsnas-s2-seed0",
                                                                                 "retrain/unpruned-seed0"))]:
        path.unlink()
    evaluation = out / "runs" / "evaluate" / "gsnas-s2-seed0-eval0" / "rows.json"
    before = evaluation.stat().st_mtime_ns
    profile = _profile(tmp_path, search={"lr": 1.0e30})
    plan = workflow.Plan(profile, out)
    for run in plan.jobs:  # the other runs as if made with it: stale, every search would run (and fail) again
        plan_rows = out / "runs" / run / "rows.json"
        if plan_rows.exists():
            plan_rows.with_name(workflow.SETTINGS).write_text(plan.settings(run) + "\n")
    proc = reproduce(profile, out)
    assert proc.returncode == 1
    assert "loss is nan" in (out / "notebooks" / "search" / "gsnas-s2-seed0.ipynb").read_text()
    assert not (out / "runs" / "search" / "gsnas-s2-seed0" / "rows.json").exists()
    assert (out / "runs" / "retrain" / "unpruned-seed0" / "rows.json").exists()
    assert evaluation.stat().st_mtime_ns == before and not list(out.glob("*.csv"))  # no evaluation, no tables
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--config", f"profile={profile}",
                          f"results={out}"], cwd=ROOT, capture_output=True, text=True)
    assert dry.returncode == 0 and re.search(r"reason: Missing output files: \S*gsnas-s2-seed0/rows.json", dry.stdout)
    assert re.findall(r"^rule (\w+):", dry.stdout, re.M) == ["search", "evaluate", "aggregate", "all"]


def _dry_run_jobs(log: str) -> dict[str, dict]:
    """run -> {"rule", "resources", "command"} from the log of ``snakemake -n`` (with printshellcmds)."""
    jobs = {}
    for block in re.split(r"^rule ", log, flags=re.M)[1:]:
        run = re.search(r"wildcards: run=(\S+)", block)
        if run:
            jobs[run.group(1)] = {"rule": block.split(":")[0],
                                  "resources": re.search(r"resources: (.*)", block).group(1),
                                  "command": re.search(r"^Shell command: (.*)$", block, re.M).group(1)}
    return jobs


def _parameters(command: str) -> dict:
    """The notebook parameters papermill's own command line makes of ``command``."""
    argv = shlex.split(command)
    assert argv[0] == "papermill"
    ctx = papermill_cli.make_context("papermill", argv[1:])
    params = {k: _resolve_type(v) for k, v in ctx.params["parameters"]}
    for text in ctx.params["parameters_yaml"]:
        params.update(yaml.safe_load(text))
    return {"notebook": ctx.params["notebook_path"], "output": ctx.params["output_path"], **params}


@pytest.mark.slow
def test_slurm_dry_run_lists_every_job_with_the_command_a_person_types():
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--profile", "workflow/profiles/slurm",
                           "--config", "profile=paper"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    listed, plan = _dry_run_jobs(proc.stdout + proc.stderr), workflow.Plan("paper")
    assert set(listed) == set(plan.jobs)
    for run, job in plan.jobs.items():
        assert listed[run]["rule"] == job.notebook
        res = plan.prof["resources"][job.notebook]
        assert f"gpu={res['gpus']}, runtime={res['runtime']}, mem_mb={res['mem_mb']}" in listed[run]["resources"]
        notebook, stamp = listed[run]["command"].split(" && ")  # papermill, then the settings beside the rows
        assert stamp.endswith(f"> \"$(dirname results/paper/runs/{run}/rows.json)/settings.json\"")
        assert _parameters(notebook) == {
            "notebook": f"notebooks/{job.notebook}.ipynb", "output": f"results/paper/notebooks/{run}.ipynb",
            "profile": "paper", "results": "results/paper", **job.params, "resume": True}
    assert "rule aggregate:" in proc.stdout + proc.stderr
    assert ("Shell command: python -m gsnas.workflow aggregate --profile paper --results results/paper"
            in proc.stdout + proc.stderr)


def test_total_time_counts_only_when_a_notebook_ran(tmp_path):
    """TOTAL is the union of the notebooks' intervals: overlaps once, gaps between sessions not at all."""
    import json

    from gsnas.results import timings

    for name, start, end in (("a", 0, 10), ("b", 5, 20), ("c", 1000, 1010)):
        (tmp_path / "benchmarks" / "search").mkdir(parents=True, exist_ok=True)
        (tmp_path / "notebooks" / "search").mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks" / "search" / f"{name}.tsv").write_text(f"s\tmax_rss\n{end - start}\t100\n")
        stamp = lambda t: pd.Timestamp(1.8e9 + t, unit="s", tz="UTC").isoformat()
        (tmp_path / "notebooks" / "search" / f"{name}.ipynb").write_text(json.dumps(
            {"metadata": {"papermill": {"start_time": stamp(start), "end_time": stamp(end)}}}))
    df = timings(tmp_path)
    assert df["notebook"].tolist() == ["search/a.ipynb", "search/b.ipynb", "search/c.ipynb", "TOTAL"]
    assert df["wall_seconds"].iloc[-1] == 30.0  # [0, 20] and [1000, 1010]


def test_a_resumed_run_costs_all_its_parts(tmp_path):
    """A notebook resumed from its run's checkpoint ran 10 s in its last part; its rows carry the run's own clock
    (120 s over all parts): run_seconds, which TOTAL sums. A run without rows has none."""
    from gsnas.results import timings, write_rows

    for name, seconds in (("mu0.3-seed0", 10), ("mu0.4-seed0", 50)):
        (tmp_path / "benchmarks" / "retrain").mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks" / "retrain" / f"{name}.tsv").write_text(f"s\tmax_rss\n{seconds}\t100\n")
    write_rows(tmp_path / "runs" / "retrain" / "mu0.3-seed0",
               {"figure1_pruning_tradeoff": [{"mu": 0.3, "wall_seconds": 120.0}], "other": [{"wall_seconds": 7.0}]})
    df = timings(tmp_path).set_index("notebook")
    assert df.loc["retrain/mu0.3-seed0.ipynb", ["wall_seconds", "run_seconds"]].tolist() == [10.0, 120.0]
    assert pd.isna(df.loc["retrain/mu0.4-seed0.ipynb", "run_seconds"])
    assert df.loc["TOTAL", "run_seconds"] == 120.0


def test_a_network_pruned_at_two_mus_is_retrained_once(tmp_path):
    """The retraining at the larger mu reads the smaller mu's pruned network; equal: a row naming that mu, no training
    (no run folder contents but its rows); a different network: no match."""
    from gsnas import experiments as ex
    from gsnas.results import read_rows, write_rows

    net = {"genotype": "DARTS_V2", "channels": 4, "layers": 3, "removed": [[0, "normal", 2]]}
    for mu, removed in ((0.2, net["removed"]), (0.25, net["removed"]), (0.3, [[0, "normal", 3]])):
        run = tmp_path / "runs" / ex.pruning_run(mu, 0)
        run.mkdir(parents=True)
        (run / "pruned_1e-06.json").write_text(json.dumps({**net, "removed": removed}))
        write_rows(run, {"table1_operation_pruning": [{"mu": mu, "seed": 0, "threshold": 1e-6, "params": 100, "ops_pruned": 1,
                                                       "weights_pruned_pct": 5.0}]})
    assert ex.same_network(tmp_path, 0.25, 0, 1e-6, [0.2, 0.25, 0.3]) == 0.2
    assert ex.same_network(tmp_path, 0.3, 0, 1e-6, [0.2, 0.25, 0.3]) is None
    assert ex.same_network(tmp_path, 0.2, 0, 1e-6, [0.2, 0.25, 0.3]) is None  # the smallest is retrained itself
    row = ex.run_retrain("smoke", mu=0.25, seed=0, results=tmp_path)["row"]
    assert row["same_network_as"] == 0.2 and row["mu"] == 0.25 and row["params"] == 100
    assert read_rows(tmp_path / "runs" / ex.retrain_run(0.25, 0))["figure1_pruning_tradeoff"][0]["same_network_as"] == 0.2
    assert sorted(p.name for p in (tmp_path / "runs" / ex.retrain_run(0.25, 0)).iterdir()) == ["rows.json"]
    write_rows(tmp_path / "runs" / ex.retrain_run(0.2, 0), {"figure1_pruning_tradeoff": [
        {"selection": "group_sparsity", "mu": 0.2, "seed": 0, "params": 100, "acc_retrained": 50.0}]})
    aggregate(tmp_path, TABLES)
    assert Results(tmp_path)["figure1_pruning_tradeoff"]["mu"].tolist() == [0.2]  # the evidence lists it once


def _rows(plan, run, commit="abc1234", dirty=False, stamp=None):
    path = ROOT / plan.rows(run)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"searches": [{"git_commit": commit, "git_dirty": dirty}]}))
    if stamp is not None:
        path.with_name(workflow.SETTINGS).write_text(stamp + "\n")


def test_rows_made_under_other_or_unrecorded_settings_are_stale(tmp_path):
    """What a fresh clone's Snakemake cannot see (it has no metadata): the stamp beside the rows decides."""
    plan = workflow.Plan("smoke", tmp_path)
    current, unstamped, changed, missing = list(plan.jobs)[:4]
    _rows(plan, current, stamp=plan.settings(current))
    _rows(plan, unstamped)
    _rows(plan, changed, stamp=plan.settings(changed).replace("}", ", \"lr\": 9}", 1))
    assert plan.stale() == [unstamped, changed]


def test_a_stamp_from_git_needs_one_clean_commit_whose_profile_gives_the_same_settings(tmp_path):
    plan = workflow.Plan("smoke", tmp_path)
    search, other, dirty, unknown, two = [r for r in plan.jobs if r.startswith("search/")][:5]
    now = (PROFILES / "smoke.yaml").read_text()
    before = yaml.safe_load(now)
    before["search"]["epochs"] = before["darts"]["epochs"] = 99  # every search reads one of them
    profiles = {"same": now, "other": yaml.safe_dump(before)}
    _rows(plan, search, "same")
    _rows(plan, other, "other")
    _rows(plan, dirty, "same", dirty=True)
    _rows(plan, unknown, "gone")
    _rows(plan, two, "same")
    rows = json.loads((ROOT / plan.rows(two)).read_text())
    rows["searches"].append({"git_commit": "other", "git_dirty": False})
    (ROOT / plan.rows(two)).write_text(json.dumps(rows))
    assert workflow.stamp_from_git(plan, profiles.get) == [search]
    assert plan.stale() == [other, dirty, unknown, two]


def test_a_fresh_clone_reruns_a_run_whose_settings_changed(smoke, tmp_path):
    """Without Snakemake's metadata (as in a fresh clone) a run made under other settings still runs again."""
    out = shutil.copytree(smoke.results, tmp_path / "results", copy_function=shutil.copy2)
    run = "search/random-darts-seed0"
    stamp = out / "runs" / run / workflow.SETTINGS
    assert stamp.read_text().strip() == workflow.Plan("smoke", out).settings(run)  # the Snakefile wrote it
    stamp.write_text('{"an older setting": 1}\n')
    proc = reproduce("smoke", out, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert f"2 run(s) made under other settings, or from such runs, run again: {run}, " in log, log[-3000:]
    assert f"{run}/rows.json" in log.split("Job stats")[0] and "evaluate/random-darts-seed0-eval0" in log


@pytest.mark.parametrize("spelling", ["as_planned", "relative", "dotted"])
def test_named_targets_rerun_only_the_stale_runs_they_need(tmp_path, spelling):
    """--forcerun makes its files targets: a stale run outside the named targets' needs must stay out of it, however
    the target is spelled."""
    out = tmp_path / "results"
    plan = workflow.Plan("smoke", out)
    search, evaluation = "search/gsnas-darts-seed0", "evaluate/gsnas-darts-seed0-eval0"
    other = "search/darts-darts-seed0"
    for run in (search, evaluation, other):
        _rows(plan, run)  # unstamped: all three stale
    assert plan.upstream([evaluation]) == {evaluation, search}
    target = {"as_planned": plan.rows(evaluation), "relative": os.path.relpath(plan.rows(evaluation), ROOT),
              "dotted": plan.rows(evaluation).replace("/runs/", "/runs/./")}[spelling]
    proc = reproduce("smoke", out, target, "--dry-run")
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    assert "2 run(s) made under other settings, or from such runs, run again" in log and other not in log


def test_pending_counts_the_plans_missing_and_stale_runs(tmp_path):
    """What the ledger's chapter says is left to run: rows absent, or made under other settings than the profile's."""
    plan = workflow.Plan("smoke", tmp_path)
    for run in plan.jobs:
        rows = Path(plan.rows(run))
        rows.parent.mkdir(parents=True)
        rows.write_text("{}")
        rows.with_name(workflow.SETTINGS).write_text(plan.settings(run) + "\n")
    assert plan.pending() == {}
    searches = [r for r in plan.jobs if r.startswith("search/gsnas")]
    Path(plan.rows(searches[0])).unlink()
    Path(plan.rows(searches[1])).with_name(workflow.SETTINGS).write_text("{}\n")
    Path(plan.rows("retrain/unpruned-seed0")).with_name(workflow.SETTINGS).unlink()
    made_from = {run for run, job in plan.jobs.items() if set(job.needs) & set(searches[:2])}  # evaluations, controls
    assert made_from and not any(set(plan.jobs[r].needs) & made_from for r in plan.jobs)  # nothing further down
    assert set(plan.stale()) == {searches[1], "retrain/unpruned-seed0"} | made_from
    pending = plan.pending()
    assert pending["search"]["missing"] == 1 and pending["retrain"] == {"missing": 0, "stale": 1}
    assert sum(n["stale"] for n in pending.values()) == 2 + len(made_from)


def test_tables_are_built_from_the_plans_current_rows_only(tmp_path, capsys):
    """Rows of a run the plan no longer has, or made under other settings, stay out of the tables (and out of the
    timings): a table never mixes two protocols, and its captions give the profile's protocol."""
    from gsnas.results import main as results_main

    plan = workflow.Plan("smoke", tmp_path)
    current, stale = [r for r in plan.jobs if r.startswith("search/gsnas")][:2]
    for run, seed in ((current, 0), (stale, 1), ("search/gsnas-darts-seed99", 99)):
        path = tmp_path / "runs" / run / "rows.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"searches": [{"method": "gsnas", "space": "darts", "seed": seed, "control": "none",
                                                  "profile": "smoke", "dataset": "x", "device": "cpu", "gate_bound": 1.0,
                                                  "run_dir": f"runs/{run}"}]}))
        (tmp_path / "benchmarks" / run).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "benchmarks" / f"{run}.tsv").write_text("s\tmax_rss\n10\t100\n")
    (tmp_path / "runs" / current / workflow.SETTINGS).write_text(plan.settings(current) + "\n")
    assert workflow.main(["aggregate", "--profile", "smoke", "--results", str(tmp_path)]) == 0
    assert "left out 2 run(s) not in the plan or not made under its settings now" in capsys.readouterr().out
    assert pd.read_csv(tmp_path / "searches.csv")["seed"].tolist() == [0]
    assert pd.read_csv(tmp_path / "timings.csv")["notebook"].tolist() == [f"{current}.ipynb", "TOTAL"]
    assert results_main(["aggregate", str(tmp_path)]) == 0  # without a plan: every run's rows
    assert sorted(pd.read_csv(tmp_path / "searches.csv")["seed"]) == [0, 1, 99]
    (tmp_path / "runs" / stale / "result.json").write_text(json.dumps({"config": {"epochs": 99}}))
    epochs = config(load_profile("smoke"), "search").epochs  # captions: the profile's protocol, not a stale run's
    assert f", {epochs} epochs," in Results(tmp_path).scale("search") and epochs != 99


def test_a_cell_trained_before_under_the_same_settings_is_not_trained_again(tmp_path, monkeypatch):
    """Training is deterministic on the CPU: the same cell, settings and seed give bitwise the same result, so an
    evaluation takes it from a finished evaluation or learning-curve point (``same_cell_as``); another seed trains."""
    from gsnas import experiments as ex

    size = config(load_profile("smoke"), "evaluate").train_size
    first = ex.run_learning_curve("smoke", cell="DARTS_V2", train_size=size, seed=0, results=tmp_path)
    again = ex.launch("evaluate", config(load_profile("smoke"), "evaluate", genotype="DARTS_V2", seed=0,
                                         out=str(tmp_path / "again")))
    assert again["test_acc"] == first["test_acc"] and again["train_acc"] == first["train_acc"]  # the premise

    def no_training(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(ex, "launch", no_training)
    row = ex.run_evaluate("smoke", method="DARTS_V2", seed_eval=0, results=tmp_path)["row"]
    assert row["same_cell_as"] == ex.learning_curve_run("DARTS_V2", size, 0)
    assert row["test_acc"] == first["test_acc"] and row["params_m"] * 1e6 == first["params"]
    with pytest.raises(AssertionError, match="trained again"):
        ex.run_evaluate("smoke", method="DARTS_V2", seed_eval=1, results=tmp_path)
    with pytest.raises(AssertionError, match="trained again"):  # other settings
        ex.run_evaluate("smoke", method="DARTS_V2", seed_eval=0, results=tmp_path, lr=0.01)

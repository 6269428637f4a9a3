"""Shared fixtures and helpers: the seed, the smoke reproduction (once per session), nbval-style checks."""
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import nbformat
import pandas as pd
import pytest
import torch
from filelock import FileLock
from nbval.plugin import (
    coalesce_streams, find_comment_markers, find_metadata_tags, get_sanitize_patterns, transform_streams_for_comparison)

NBVAL = Path(__file__).parent / "nbval"
ROOT = Path(__file__).resolve().parents[1]


if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each, and so
    torch.set_num_threads(1)               # do the processes they start (a child must compute as its parent)
    os.environ["OMP_NUM_THREADS"] = "1"


def pytest_collection_modifyitems(items):
    """A test that reads the smoke reproduction is slow (it may have to make it, ~4 min): `make test-fast` skips it."""
    for item in items:
        if "smoke" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def zero_groups(groups):
    """Set every parameter of the given op groups to exactly zero."""
    with torch.no_grad():
        for g in groups:
            for p in g.params:
                p.zero_()


def randomize_bn(model):
    """Non-trivial BN affine weights and running statistics, so eval mode is a real test."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.5, 0.5)
                if m.track_running_stats:
                    m.running_mean.uniform_(-0.5, 0.5)
                    m.running_var.uniform_(0.5, 2.0)


class SmokeRun(NamedTuple):
    results: Path        # result CSVs, runs/, notebooks/ (the executed notebooks), benchmarks/
    timings: list[dict]  # timings.csv: per notebook {"notebook", "status", "wall_seconds", "max_rss_mb"}, then TOTAL
    log: str             # what `make reproduce` printed (Snakemake's log)


def reproduce(profile, results, *snakemake_args, jobs=2, env=None) -> subprocess.CompletedProcess:
    """What ``make reproduce PROFILE=... JOBS=... RESULTS=...`` runs, in a subprocess (``env``: added variables)."""
    return subprocess.run([sys.executable, "-m", "gsnas.reproduce", "--profile", str(profile), "--jobs", str(jobs),
                           "--results", str(results), "--", *map(str, snakemake_args)],
                          capture_output=True, text=True, cwd=ROOT, timeout=900,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def smoke(tmp_path_factory, worker_id) -> SmokeRun:
    """Every notebook under the smoke profile, run once per session through the workflow, shared by all tests
    that read it (under pytest-xdist, by all workers: the first one to need it runs it, the others wait).

    The one place that knows how the smoke run is produced. Tests must not write into it.
    """
    shared = tmp_path_factory.getbasetemp()
    shared = shared.parent if worker_id != "master" else shared
    out, log, failed = shared / "smoke", shared / "smoke.log", shared / "smoke.failed"
    with FileLock(shared / "smoke.lock"):
        if not log.exists() and not failed.exists():
            proc = reproduce("smoke", out)
            (failed if proc.returncode else log).write_text(proc.stdout + proc.stderr)
    assert not failed.exists(), failed.read_text()[-6000:]
    return SmokeRun(out, pd.read_csv(out / "timings.csv").to_dict("records"), log.read_text())


# nbval's comparison (pytest --nbval-lax) without executing the notebook again: nbval's own
# helpers pick the checked cells and normalise their outputs; its skip list is repeated here
# because nbval keeps it on a pytest collector (IPyNbFile.skip_compare, lax, without nbdime).
SKIP_COMPARE = {"metadata", "traceback", "prompt_number", "output_type", "name", "execution_count",
                "application/vnd.jupyter.widget-view+json", "image/png", "image/jpeg"}
SANITIZE = get_sanitize_patterns((NBVAL / "sanitize.cfg").read_text())


def _sanitize(value):
    if isinstance(value, str):
        for regex, replace in SANITIZE:
            value = re.sub(regex, replace, value)
    return value


def checked_outputs(path) -> list[tuple[str, dict]]:
    """Per cell marked ``# NBVAL_CHECK_OUTPUT``: its source and its outputs as nbval compares them
    (streams merged, per stream name or MIME type, sanitized with tests/nbval/sanitize.cfg)."""
    cells = []
    for cell in nbformat.read(path, as_version=4).cells:
        options = dict(find_metadata_tags(cell.metadata))
        options.update(find_comment_markers(cell.source))
        if cell.cell_type != "code" or not options.get("check"):
            continue
        outputs = defaultdict(list)
        for out in transform_streams_for_comparison(coalesce_streams(cell.outputs)):
            for key, value in out.items():
                for k, v in (value.items() if key == "data" else [(key, value)]):
                    if k not in SKIP_COMPARE:
                        outputs[k].append(_sanitize(v))
        cells.append((cell.source, dict(outputs)))
    return cells


def assert_outputs_match(executed, reference) -> None:
    """The checked cells of the ``executed`` notebook give the outputs of the ``reference`` notebook."""
    got, want = checked_outputs(executed), checked_outputs(reference)
    assert [s for s, _ in got] == [s for s, _ in want], \
        f"the checked cells of {executed} differ from {reference}: regenerate it (tests/nbval/README.md)"
    for (source, a), (_, b) in zip(got, want):
        assert a == b, f"outputs of the cell\n{source}\nin {executed}:\n{a}\nreference {reference}:\n{b}"

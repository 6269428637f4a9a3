"""Result rows with provenance, written atomically and keyed by run.

Re-running a configuration replaces its rows; a crash mid-write never leaves a
truncated file (write to a temporary file, fsync, rename); a lock file keeps
two writers of the same CSV from losing each other's rows.
"""
from __future__ import annotations

import fcntl
import os
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

PROVENANCE = ["git_commit", "profile", "dataset", "device", "torch_version", "timestamp", "wall_seconds"]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(profile: str, dataset: str, device: str, wall_seconds: float) -> dict:
    return {"git_commit": git_commit(), "profile": profile, "dataset": dataset, "device": str(device),
            "torch_version": torch.__version__, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "wall_seconds": round(float(wall_seconds), 2)}


def atomic_write_text(path: Path, text: str | bytes) -> None:
    """Write to a temporary file beside ``path``, flush + fsync, rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(text, bytes) else "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def upsert_rows(path, rows: list[dict], key: list[str]) -> pd.DataFrame:
    """Add ``rows`` to the CSV at ``path``, replacing earlier rows with the same ``key`` values."""
    path = Path(path)
    new = pd.DataFrame(rows)
    missing = [k for k in key if k not in new.columns]
    if missing:
        raise ValueError(f"result rows lack key columns {missing}")
    with _locked(path):
        if path.exists():
            old = pd.read_csv(path)
            if set(key) <= set(old.columns):
                same = old[key].astype(str).agg("|".join, axis=1).isin(new[key].astype(str).agg("|".join, axis=1))
                old = old[~same]
            new = pd.concat([old, new], ignore_index=True)
        atomic_write_text(path, new.to_csv(index=False))
    return new


def read(path) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise ValueError(f"no results at {path}: run the experiment first (make reproduce)")
    return pd.read_csv(path)

"""Result rows with provenance: each run writes its own, the tables are built from all of them.

A run writes its rows, per table, to ``rows.json`` in its run folder (``write_rows``);
``aggregate`` builds every table of a results folder from the rows of all its runs, so the
rows of all runs land whatever order they ran in, and re-running a configuration (the same
run folder) replaces its rows. Files are written atomically (a temporary file, fsync,
rename): a crash mid-write never leaves a truncated file.

    python -m gsnas.results aggregate results/cpu             # every run's rows
    python -m gsnas.workflow aggregate --profile cpu          # the workflow's last rule: the plan's runs only
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

# Result tables: file name -> key columns (SPEC §6 layout). The registry the experiments write rows for, the
# workflow aggregates, and ``Results`` reads.
TABLES = {
    "searches": ["method", "space", "seed", "control"],
    "table1_operation_pruning": ["mu", "threshold", "seed"],
    "figure1_pruning_tradeoff": ["selection", "mu", "channels", "seed"],
    "table2_darts_space": ["method", "seed_search", "seed_eval"],
    "table3_subspaces": ["space", "method", "seed_search", "seed_eval"],
    "learning_curve": ["cell", "train_size", "seed_eval"],
}
PROVENANCE = ["git_commit", "git_dirty", "profile", "dataset", "device", "torch_version", "timestamp", "wall_seconds"]
CODE = ["gsnas", "notebooks", "Snakefile", "workflow", "pyproject.toml"]  # what makes a row; results/ is not code


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def git_state() -> dict:
    """The commit the code is at, whether the code (``CODE``) differs from it, and when: a run's origin."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE],
                             capture_output=True, text=True, cwd=Path(__file__).parents[1], timeout=10)
        dirty = bool(out.stdout.strip()) if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        dirty = None
    return {"git_commit": git_commit(), "git_dirty": dirty, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def provenance(profile: str, dataset: str, device: str, wall_seconds: float, origin: dict | None = None) -> dict:
    """A row's provenance; ``origin``: the code state when the run started (``git_state``; by default, now)."""
    origin = origin or git_state()
    return {"git_commit": origin["git_commit"], "git_dirty": origin["git_dirty"], "profile": profile,
            "dataset": dataset, "device": str(device), "torch_version": torch.__version__,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "wall_seconds": round(float(wall_seconds), 2)}


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


ROWS = "rows.json"  # a run's rows, in its run folder


def write_rows(run_dir, tables: dict[str, list[dict]]) -> Path:
    """A run's result rows, per table name, in ``<run_dir>/rows.json``."""
    path = Path(run_dir) / ROWS
    atomic_write_text(path, json.dumps(tables, indent=1) + "\n")
    return path


def read_rows(run_dir) -> dict[str, list[dict]]:
    """The rows a run wrote (``{}`` if it has not finished)."""
    path = Path(run_dir) / ROWS
    return json.loads(path.read_text()) if path.exists() else {}


def aggregate(results, tables: dict[str, list[str]], runs=None) -> dict[str, pd.DataFrame]:
    """Write ``<results>/<table>.csv`` for every table (name -> key columns) from the rows of all runs, or of
    ``runs`` (run folders under ``<results>/runs``: a plan's, ``Plan.current``) only.

    Rows with the same key values: the most recently written run's are kept. A table without
    rows gets its key columns as header. Also writes ``timings.csv`` from Snakemake's benchmarks.
    """
    results = Path(results)
    files = ((results / "runs").rglob(ROWS) if runs is None else
             [p for p in (results / "runs" / run / ROWS for run in runs) if p.exists()])
    files = sorted(files, key=lambda p: (p.stat().st_mtime, str(p)))
    if not files:
        raise ValueError(f"no {ROWS} under {results / 'runs'}: nothing to aggregate (run the notebooks first)")
    written = [json.loads(f.read_text()) for f in files]
    out = {}
    for name, key in tables.items():
        rows = [row for run in written for row in run.get(name, [])]
        df = pd.DataFrame(rows) if rows else pd.DataFrame(columns=key)
        if rows:
            key = [k for k in key if k in df]  # a key column newer than some rows: theirs are empty
            df = df.drop_duplicates(key, keep="last").sort_values(key, kind="stable")
            df = df[list(dict.fromkeys(c for i in df.index for c in rows[i]))]  # columns in row order, not run order
        atomic_write_text(results / f"{name}.csv", df.to_csv(index=False))
        out[name] = df
    out["timings"] = timings(results, runs)
    atomic_write_text(results / "timings.csv", out["timings"].to_csv(index=False))
    return out


def timings(results, runs=None) -> pd.DataFrame:
    """Wall time and peak memory of each notebook (Snakemake's ``benchmarks/<run>.tsv``; of ``runs`` only, if
    given), and in all.

    TOTAL is the time during which at least one notebook ran: the union of the notebooks' intervals
    (papermill's start and end, kept in each executed notebook), so a reproduction run in parts does
    not count the gaps between them. A notebook interrupted and resumed counts its last part only;
    ``run_seconds`` counts all its parts: the run's own clock (kept in its checkpoint, written in its
    rows), which TOTAL sums. Time lost after a run's last checkpoint is in neither.
    """
    rows, spans = [], []
    paths = sorted((Path(results) / "benchmarks").rglob("*.tsv"))
    if runs is not None:
        paths = [p for p in paths if p.relative_to(Path(results) / "benchmarks").with_suffix("").as_posix() in runs]
    for path in paths:
        bench = pd.read_csv(path, sep="\t").iloc[-1]
        name = path.relative_to(Path(results) / "benchmarks").with_suffix("").as_posix()  # search/gsnas-darts-seed0
        run = f"{name}.ipynb"
        clocks = [row["wall_seconds"] for table in read_rows(Path(results) / "runs" / name).values()
                  for row in table if row.get("wall_seconds") is not None]
        rows.append({"notebook": run, "status": "ok", "wall_seconds": round(float(bench["s"]), 1),
                     "run_seconds": round(float(max(clocks)), 1) if clocks else float("nan"),
                     "max_rss_mb": round(float(bench["max_rss"]), 1)})
        spans.append(_interval(Path(results) / "notebooks" / run, path, float(bench["s"])))
    if spans:
        busy, end = 0.0, float("-inf")
        for s, e in sorted(spans):  # merge overlapping intervals
            busy += max(0.0, e - max(s, end))
            end = max(end, e)
        rows.append({"notebook": "TOTAL", "status": "ok", "wall_seconds": round(busy, 1),
                     "run_seconds": round(float(pd.Series([r["run_seconds"] for r in rows]).sum()), 1)})
    return pd.DataFrame(rows, columns=["notebook", "status", "wall_seconds", "run_seconds", "max_rss_mb"])


def _interval(notebook: Path, benchmark: Path, seconds: float) -> tuple[float, float]:
    """(start, end) of a notebook's run in epoch seconds: papermill's, else the benchmark file's mtime."""
    try:
        meta = json.loads(notebook.read_text())["metadata"]["papermill"]
        return (pd.Timestamp(meta["start_time"]).timestamp(), pd.Timestamp(meta["end_time"]).timestamp())
    except (OSError, KeyError, TypeError, ValueError):
        end = benchmark.stat().st_mtime  # written when the job ended
        return end - seconds, end


class Results:
    """The result CSVs of one profile, as the book and the ledger read them; ``describe()`` says what was run,
    for captions."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"no results at {self.folder}: run `make reproduce` first")
        tables = {name: pd.read_csv(self.folder / f"{name}.csv") for name in TABLES
                  if (self.folder / f"{name}.csv").exists()}
        searches = tables.get("searches")
        if searches is not None and "gate_bound" not in searches:  # rows that predate the column: their run's config
            searches["gate_bound"] = [self._gate_bound(r.run_dir) if r.method == "gsnas" else float("nan")
                                      for r in searches.itertuples()]
        if searches is not None and "control" in searches:  # controls are not searches: rows of their own
            is_control = searches["control"].fillna("none") != "none"
            tables["searches"], tables["search_controls"] = searches[~is_control], searches[is_control]
        figure1 = tables.get("figure1_pruning_tradeoff")
        if figure1 is not None and "same_network_as" in figure1:  # retrained once, at the smallest mu that pruned it
            tables["figure1_pruning_tradeoff"] = figure1[figure1["same_network_as"].isna()]
        self.tables = {name: df for name, df in tables.items() if len(df)}  # no rows: its experiment did not run

    def _gate_bound(self, run_dir: str) -> float:
        from .config import SearchConfig
        from .groups import gate_bound

        path = self.folder / run_dir / "result.json"
        if not path.exists():
            return float("nan")
        cfg = json.loads(path.read_text())["config"]
        return gate_bound(SearchConfig(**{k: v for k, v in cfg.items() if k in SearchConfig.__dataclass_fields__}))

    def __getitem__(self, name) -> pd.DataFrame:
        if name not in self.tables:
            raise ValueError(f"{self.folder} has no {name}.csv: run its notebook first")
        return self.tables[name]

    def describe(self, name: str) -> str:
        df = self[name]
        return f"{df['dataset'].iloc[0]}, profile `{df['profile'].iloc[0]}`, device {df['device'].iloc[0]}"

    def short(self, name: str) -> str:
        """For plot titles: dataset and profile."""
        df = self[name]
        return f"{df['dataset'].iloc[0]}, profile {df['profile'].iloc[0]}"

    def scale(self, section: str, table: str = "searches") -> str:
        """The protocol of one routine under these results' profile, in words (for captions). The workflow's
        tables hold only rows made under the profile's settings now (``Plan.aggregate``); a run's own
        result.json could be a stale one's."""
        from .config import config, load_profile

        prof = load_profile(self[table]["profile"].iloc[0])
        cfg = config(prof, section)
        if section == "retrain":  # the network is operation pruning's; retrain sets only how it trains
            net = config(prof, "operation_pruning")
            cfg.channels, cfg.layers = net.channels, net.layers
        size = f"{cfg.train_size:,} training images" if cfg.train_size else "the full training set"
        words = [f"C={cfg.channels}, {cfg.layers} cells", size, f"{cfg.epochs} epochs", f"batch {cfg.batch_size}"]
        if getattr(cfg, "image_size", None):
            words.insert(1, f"{cfg.image_size}x{cfg.image_size} images")
        return ", ".join(words)


def write_claims(folder) -> pd.DataFrame:
    """Compute ``claims.csv`` (``gsnas.claims.ledger``) from the result CSVs of ``folder`` (results/<profile>)."""
    from .claims import ledger  # the claims read tables; they do not write them

    df = ledger(Results(folder).tables)
    df.to_csv(Path(folder) / "claims.csv", index=False)
    return df


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsnas.results", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["aggregate"])
    parser.add_argument("results", help="a results folder (results/<profile>)")
    args = parser.parse_args(argv)
    try:
        tables = build(args.results)
    except ValueError as e:
        print(f"gsnas.results: error: {e}", file=sys.stderr)
        return 2
    print(", ".join(f"{name}: {len(df)} rows" for name, df in tables.items()))
    return 0


def build(folder, runs=None) -> dict[str, pd.DataFrame]:
    """Every table of a results folder from its runs' rows (``aggregate``), then the verdicts from them."""
    tables = aggregate(folder, TABLES, runs)
    tables["claims"] = write_claims(folder)
    return tables


if __name__ == "__main__":
    sys.exit(main())

"""Where each figure and table of the book comes from: the CSV it was drawn from (a short checksum, its rows),
the commits its rows were produced at, and the commands that rebuild the data and the page.

A reader who doubts a number can check that the CSV on their disk is the one the page was drawn from
(``sha256sum``), see which code made its rows, and rerun both. ``Provenance`` is called under every
results figure and table of the report notebooks; ``inventory`` lists every result CSV in the Reproduce chapter.
"""
from __future__ import annotations

import hashlib
import html
import json
import shlex
import subprocess
from pathlib import Path

import pandas as pd

from ..config import REPO
from ..results import TABLES

CHECKSUM_CHARS = 12
DERIVED = ("claims", "timings")  # computed from the tables' rows: their commits are those rows' commits


def checksum(path) -> str:
    """The first ``CHECKSUM_CHARS`` hex digits of the file's sha256 (what ``sha256sum`` prints first)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:CHECKSUM_CHARS]


def _shown(path: Path) -> str:
    """A path as a reader at the repository's root types it."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def rebuild_command(path, profile: str) -> str:
    """The command that rewrites ``path``: the workflow's target for a result table, else its own tool."""
    path = Path(path)
    shown = _shown(path)
    if path.stem in (*TABLES, *DERIVED):
        return f"python -m gsnas.reproduce --profile {profile} --jobs 2 -- {shlex.quote(shown)}"
    if path.stem == "pruning_speed" or path.name == "results.json":
        return "make bench"
    if path.stem.startswith("regime"):
        return f"python -m gsnas.regime run --out {shlex.quote(_shown(path.parent))}"
    raise ValueError(f"no rebuild command is known for {shown}")


def last_committed(path) -> str | None:
    """The commit that last changed ``path`` in git (for files whose rows name no commit), or None."""
    try:
        out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(path)], capture_output=True, text=True,
                             cwd=REPO, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def csv_facts(path) -> dict:
    """One CSV's identity: checksum, rows, the commits of its rows and how many were made from changed code
    (a JSON report such as ``make bench``'s: the commit it names, "+changes" when the code was not committed)."""
    path = Path(path)
    if path.suffix != ".csv":
        commit = str(json.loads(path.read_text()).get("commit", "")) if path.suffix == ".json" else ""
        return {"file": _shown(path), "sha256": checksum(path), "rows": None,
                "commits": [commit.removesuffix("+changes")] if commit else [],
                "dirty": int(commit.endswith("+changes")) if commit else 0, "unflagged": 0 if commit else 1}
    df = pd.read_csv(path)
    commits = sorted(df["git_commit"].dropna().astype(str).unique()) if "git_commit" in df else []
    flag = df["git_dirty"] if "git_dirty" in df else pd.Series([None] * len(df), dtype=object)
    return {"file": _shown(path), "sha256": checksum(path), "rows": len(df), "commits": commits,
            "dirty": int((flag == True).sum()), "unflagged": int(flag.isna().sum())}  # noqa: E712 (NaN: not recorded)


def _dirty_words(dirty: int, unflagged: int, rows: int | None) -> str:
    """How many rows were made from code with uncommitted changes, and for how many that was not recorded."""
    if rows is not None and unflagged >= rows:
        return "whether from uncommitted changes: not recorded"
    return f"{dirty} row(s) from uncommitted changes" + (
        f"; for {unflagged} older row(s) not recorded" if unflagged else "")


def inventory(folder) -> pd.DataFrame:
    """Every CSV of a results folder: checksum, rows, commits (the Reproduce chapter's list)."""
    rows = []
    for path in sorted(Path(folder).glob("*.csv")):
        f = csv_facts(path)
        rows.append({"file": path.name, "sha256 (first 12)": f["sha256"], "rows": f["rows"],
                     "commits": ", ".join(f["commits"]) or "–",
                     "rows from uncommitted code": _dirty_words(f["dirty"], f["unflagged"], f["rows"])})
    return pd.DataFrame(rows)


class Provenance:
    """The line under a results figure or table: ``prov = Provenance(results, "report_nas")``, then
    ``prov("table2_darts_space")`` in the cell after the figure (its own cell: inline figures are drawn at the
    end of the cell that made them). Names are CSVs of the results folder, or paths."""

    def __init__(self, results, notebook: str):
        self.folder = Path(results).resolve()
        self.shown = _shown(self.folder)  # as a reader at the repository's root types it
        self.notebook = notebook
        self.profile = str(pd.read_csv(self.folder / "searches.csv", usecols=["profile"])["profile"].iloc[0])

    def path(self, name) -> Path:
        path = Path(name)
        if path.suffix in (".csv", ".json") and (path.is_absolute() or path.exists()):
            return path
        path = self.folder / f"{name}.csv"
        if not path.exists():
            raise ValueError(f"no {path.name} in {_shown(self.folder)}: cannot say where this figure comes from")
        return path

    def commits(self, facts: list[dict]) -> tuple[list[str], int, int, int]:
        """The commits of the rows drawn (a derived table's are those of the tables it was computed from), and
        of those rows: how many came from uncommitted changes, how many predate that flag, how many in all."""
        sources = list(facts)
        if any(Path(f["file"]).stem in DERIVED for f in facts):
            sources += [csv_facts(p) for p in (self.folder / f"{t}.csv" for t in TABLES) if p.exists()]
        commits = sorted({c for f in sources for c in f["commits"]})
        flagged = [f for f in sources if f["commits"]]
        return commits, sum(f["dirty"] for f in flagged), sum(f["unflagged"] for f in flagged), sum(
            f["rows"] or 1 for f in flagged)

    def commands(self, names) -> list[str]:
        data = list(dict.fromkeys(rebuild_command(self.path(n), self.profile) for n in names))
        page = (f"papermill notebooks/{self.notebook}.ipynb /tmp/{self.notebook}.ipynb "
                f"-p results {shlex.quote(self.shown)}")
        return [*data, page]

    def __call__(self, *names):
        """The line as HTML, small and under the figure: data, commits, then the commands (copyable)."""
        from IPython.display import HTML

        esc = html.escape
        facts = [csv_facts(self.path(n)) for n in names]
        commits, dirty, unflagged, rows = self.commits(facts)
        files = ", ".join(f"<code>{esc(f['file'])}</code> (sha256 <code>{f['sha256']}</code>"
                          + (f", {f['rows']} rows)" if f["rows"] is not None else ")") for f in facts)
        made = ("rows from commit " + ", ".join(f"<code>{esc(c)}</code>" for c in commits)) if commits else \
            "its rows name no commit"
        if not commits:
            committed = [c for c in (last_committed(self.path(n)) for n in names) if c]
            made += f" (the file was last committed at <code>{esc(committed[0])}</code>)" if committed else ""
        if commits:
            made += f" ({_dirty_words(dirty, unflagged, rows)})"
        cmds = " then ".join(f"<code>{esc(c)}</code>" for c in self.commands(names))
        return HTML(f'<p class="provenance">Data: {files}; {made}.<br>Rebuild: {cmds}</p>')

    def source(self, what: str, command: str | None = None):
        """The line under a figure or table that is not drawn from a result CSV (the paper's numbers, the
        workflow's graph): where it comes from, and the command that redraws it, if any."""
        from IPython.display import HTML

        cmd = f"<br>Rebuild: <code>{html.escape(command)}</code>" if command else ""
        return HTML(f'<p class="provenance">Source: {what}.{cmd}</p>')

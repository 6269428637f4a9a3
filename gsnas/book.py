"""Build the Jupyter Book: ``python -m gsnas.book [--profile cpu]`` (what ``make book`` runs).

1. run the profile's reproduction (the workflow, ``gsnas.reproduce``) only if its tables are missing;
2. execute the thin report notebooks with papermill into ``book/generated/``
   (papermill's injected-parameters cells are hidden), and write the reproduction summary the intro
   includes (``book/generated/summary.md``, computed by ``gsnas.report.summary_markdown``);
3. fetch MathJax into ``book/_static/mathjax`` once (from the npm registry), so math
   renders offline, and build the HTML with warnings as errors.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import nbformat

from .config import REPO

CHAPTERS = ("claims", "method", "operation_pruning", "nas", "robustness", "regime", "beyond", "reproduce")
MATHJAX = REPO / "book" / "_static" / "mathjax"
MATHJAX_VERSION = "3.2.2"


def execute_reports(results: Path, out: Path = REPO / "book" / "generated") -> list[Path]:
    import papermill as pm

    from .report.summary import summary_markdown  # matplotlib and pandas: only when the book is built

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name in CHAPTERS:
        target = out / f"{name}.ipynb"
        pm.execute_notebook(REPO / "notebooks" / f"report_{name}.ipynb", target, cwd=str(REPO / "notebooks"),
                            parameters={"results": str(results.resolve())}, kernel_name="python3",
                            progress_bar=False)
        nb = nbformat.read(target, as_version=4)
        for cell in nb.cells:
            tags = cell.metadata.setdefault("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                tags.append("remove-cell")
        nbformat.write(nb, target)
        written.append(target)
    summary = out / "summary.md"
    summary.write_text(summary_markdown(results))
    return [*written, summary]


def fetch_mathjax() -> Path:
    """MathJax's CHTML bundle and fonts, served from the built site (no CDN)."""
    if (MATHJAX / "tex-chtml.js").exists():
        return MATHJAX
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"], cwd=tmp, check=True,
                       stdout=subprocess.DEVNULL)
        with tarfile.open(next(Path(tmp).glob("mathjax-*.tgz"))) as tar:
            tar.extractall(tmp, filter="data")
        es5 = Path(tmp) / "package" / "es5"
        MATHJAX.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(es5, MATHJAX, ignore=shutil.ignore_patterns("*.map"))
    return MATHJAX


def build(profile: str = "cpu", results=None) -> Path:
    results = Path(results) if results else REPO / "results" / profile
    if not (results / "table2_darts_space.csv").exists():
        from . import reproduce
        if reproduce.run(profile, results=str(results)):
            raise ValueError(f"the reproduction of profile {profile} failed: see its log above")
    execute_reports(results)
    fetch_mathjax()
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    subprocess.run([str(jupyter_book), "build", str(REPO), "-W", "--keep-going"], check=True)
    index = REPO / "_build" / "html" / "index.html"
    print(f"\nThe book: file://{index}")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gsnas.book", description=__doc__)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--results", default=None, help="results folder (default: results/<profile>)")
    args = parser.parse_args(argv)
    try:
        build(args.profile, args.results)
    except (ValueError, subprocess.CalledProcessError) as e:
        print(f"gsnas.book: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Named mutants: does the fast suite catch deliberate bugs? (Not part of the test run.)

    .venv/bin/python tests/mutants.py [NAME ...]      # ~30 s per mutant on 2 cores

Each mutant is one small edit of the package, applied to a worktree of HEAD (commit first); the fast suite
(``make test-fast``'s ``pytest -n 2 -m "not slow"``, with ``-x``) runs against the copy. A mutant is killed when a test fails; the table
says which one. A survivor is a bug the fast suite would let through.
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# name -> (file, the text replaced, its replacement)
MUTANTS = {
    "constant_accuracy": ("gsnas/loop.py", "return 100.0 * correct.item() / max(total, 1)", "return 50.0"),
    "prox_skipped": ("gsnas/proxsgd.py", "if lay.shrink is not None:", "if False:"),
    "threshold_flipped": ("gsnas/groups.py", 'alive = norms["norm"] > check_threshold(threshold)',
                          'alive = norms["norm"] <= check_threshold(threshold)'),
    "gates_never_clipped": ("gsnas/proxsgd.py", "b.index_copy_(0, index, torch.clamp(b.index_select(0, index), lo, hi))",
                            "pass"),
    "lr_times_1e-6": ("gsnas/proxsgd.py", 'lr = group["lr"] / (t + 4) ** group["lr_decay"]',
                      'lr = 1e-6 * group["lr"] / (t + 4) ** group["lr_decay"]'),
    "genotype_wrong_cell_type": ("gsnas/supernet.py", "if (kind, k, op) in alive]",
                                 'if ({"normal": "reduce", "reduce": "normal"}[kind], k, op) in alive]'),
}


def run(name: str) -> tuple[str, str]:
    """(verdict, the first failing test or why) for one mutant."""
    path, old, new = MUTANTS[name]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "repo"  # a worktree of HEAD: the committed code, a git checkout as the tests expect
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(copy), "HEAD"], cwd=ROOT, check=True)
        try:
            target = copy / path
            text = target.read_text()
            if text.count(old) != 1:
                return "not applied", f"{old!r} is not in {path} exactly once"
            target.write_text(text.replace(old, new))
            proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-n", "2", "--dist", "loadgroup", "-m",
                                   "not slow", "-p", "no:cacheprovider"], cwd=copy, capture_output=True, text=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(copy)], cwd=ROOT, check=True)
    failed = re.findall(r"^FAILED (\S+)", proc.stdout, re.M)
    return ("killed", failed[0]) if proc.returncode else ("survived", "every fast test passed")


def main(argv=None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(MUTANTS)
    unknown = [n for n in names if n not in MUTANTS]
    if unknown:
        print(f"unknown mutant(s) {unknown}; known: {', '.join(MUTANTS)}", file=sys.stderr)
        return 2
    rows = [(name, *run(name)) for name in names]
    print("| mutant | verdict | caught by |\n| --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |", flush=True)
    return 0 if all(v == "killed" for _, v, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""The reference notebooks: the smoke reproduction's own executed notebooks (as the test suite runs them, through
the workflow, one thread per job), copied here. Run after changing a notebook or the smoke profile."""
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))
from test_notebooks import REFERENCES  # noqa: E402  reference -> the smoke run's notebook it pins down

if __name__ == "__main__":
    results = HERE / "_results"
    shutil.rmtree(results, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "gsnas.reproduce", "--profile", "smoke", "--jobs", "2",
                    "--results", str(results)], cwd=ROOT, check=True)
    for name, run in REFERENCES.items():
        shutil.copyfile(results / "notebooks" / f"{run}.ipynb", HERE / f"{name}.ipynb")

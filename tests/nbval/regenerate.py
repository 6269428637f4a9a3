"""Re-execute the notebooks that nbval checks (smoke profile), in dependency order."""
from pathlib import Path

import papermill as pm

HERE = Path(__file__).parent
NOTEBOOKS = HERE.parents[1] / "notebooks"
RUNS = [("1_search", "search", {"space": "darts", "seed": 0}),
        ("2_darts_baseline", "darts_baseline", {"space": "darts", "seed": 0}),
        ("3_evaluate", "evaluate", {"method": "gsnas", "space": "darts", "seed_search": 0, "seed_eval": 0}),
        ("4_operation_pruning", "operation_pruning", {"mus": [0.2], "seed": 0, "retrain": False})]

if __name__ == "__main__":
    for name, notebook, params in RUNS:
        pm.execute_notebook(NOTEBOOKS / f"{notebook}.ipynb", HERE / f"{name}.ipynb", cwd=str(HERE),
                            parameters={"profile": "smoke", "results": "_results", **params},
                            kernel_name="python3", progress_bar=False)

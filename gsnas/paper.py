"""The paper's own numbers (SPEC §6), shown beside ours and always labelled as the paper's.

These come from the paper and the authors' logs (CIFAR-10, GPU-days); nothing of ours is here.
"""
import pandas as pd

SOURCE = "paper (CIFAR-10)"

TABLE1 = pd.DataFrame([  # accuracy %, before pruning; after pruning at thresholds 1e-6 / 1e-3 / 0.5
    {"mu": 1e-4, "acc_before": 96.50, "after_1e-06": 96.50, "after_0.001": 96.50, "after_0.5": 92.08},
    {"mu": 5e-4, "acc_before": 96.36, "after_1e-06": 96.36, "after_0.001": 96.36, "after_0.5": 13.34},
    {"mu": 4e-3, "acc_before": 96.48, "after_1e-06": 96.48, "after_0.001": 96.48, "after_0.5": 10.0},
])

_FIG1 = {  # mu -> (parameters in M, accuracies of 3 retrainings); mu 0 is unpruned DARTS_V2
    0.0: (3.349, [97.53, 97.49, 97.47]), 1e-4: (2.621, [97.41, 97.50, 97.44]),
    2e-4: (2.063, [97.46, 97.55, 97.30]), 5e-4: (1.745, [97.31, 97.37, 97.27]),
    2e-3: (1.324, [97.06, 97.07, 97.13]), 4e-3: (1.099, [96.83, 96.89, 96.79]),
    9e-3: (0.949, [96.89, 96.49, 96.51]),
}
FIGURE1 = pd.DataFrame([
    {"mu": mu, "params_m": p, "weights_pruned_pct": 100 * (1 - p / _FIG1[0.0][0]), "acc_retrained": a}
    for mu, (p, accs) in _FIG1.items() for a in accs
])

TABLE2 = pd.DataFrame([  # CIFAR-10 accuracy %, search cost, params (M)
    {"method": "DARTS (2nd order)", "accuracy": "96.98 ± 0.13", "search_cost": "1.45 days", "params_m": "2.11 ± 0.33"},
    {"method": "P-DARTS", "accuracy": "97.05 ± 0.20", "search_cost": "0.25 day", "params_m": "3.98 ± 0.19"},
    {"method": "PC-DARTS", "accuracy": "97.13 ± 0.16", "search_cost": "0.125 day", "params_m": "2.98 ± 0.04"},
    {"method": "DrNAS", "accuracy": "96.95 ± 0.08", "search_cost": "0.84 day", "params_m": "4.64 ± 0.06"},
    {"method": "GS-NAS", "accuracy": "97.17 ± 0.11", "search_cost": "1 day", "params_m": "4.54 ± 0.17"},
])

TABLE3 = pd.DataFrame([  # CIFAR-10 test error %
    {"space": "s1", "DARTS": "4.66 ± 0.71", "ES-DARTS": "3.05 ± 0.07", "GS-NAS": "3.06 ± 0.14"},
    {"space": "s2", "DARTS": "4.42 ± 0.40", "ES-DARTS": "3.41 ± 0.14", "GS-NAS": "2.60 ± 0.11"},
    {"space": "s4", "DARTS": "6.95 ± 0.18", "ES-DARTS": "4.17 ± 0.21", "GS-NAS": "2.64 ± 0.12"},
])

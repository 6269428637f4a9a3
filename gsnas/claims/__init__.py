"""The paper's claims, each with a verdict computed from our result CSVs: ``claims.csv``.

One function per claim (``pruning``, ``nas``) reads the result tables (``gsnas.results.Results``) and returns its row:
what the paper claims and shows (from ``gsnas.paper`` or the paper's text), what we measured,
the criterion in words (the code below it is the criterion), and the verdict: "reproduced",
"not reproduced", "inconclusive" (the interval straddles the bar, too few runs, or the experiment
is missing), or "holds by construction" (the settings left no result that could refute it).
Nothing is typed in; a claim that does not hold here says so.

Spreads are over search seeds (evaluation seeds averaged first; the unit of replication is the
search, or the pruned network), with ddof=1. Comparisons are read off 95 % t intervals
(``gsnas.stats``): a claim of direction needs its interval on one side of zero, a claim of equality
needs it inside a margin that the criterion states with its reason, derived from the paper's numbers
and not from ours. Each row also says the smallest difference its runs could detect (80 % power,
alpha 0.05) and whether the test could fail under the settings that made the results.
"""
from __future__ import annotations

import pandas as pd

from ..stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED  # noqa: F401
from .common import BY_CONSTRUCTION, CHANCE, COLUMNS, gate_bound, per_search  # noqa: F401
from .nas import (ACC_DROP_MAX, JACCARD_MAX, competitive_with_darts, darts_degenerates, darts_margin,  # noqa: F401
                  no_param_free_ops, no_search_gap, noise_never_survives, random_share, selection_reads_data,
                  subspace_cells_without_param_free_ops, subspace_error)
from .pruning import (better_than_random_pruning, better_than_width, flat_margin, graceful_degradation, mu_controls_sparsity,  # noqa: F401
                      pruned_network, width_curve, zero_gap_pruning)

CLAIMS = (zero_gap_pruning, graceful_degradation, mu_controls_sparsity, better_than_random_pruning, better_than_width,
          competitive_with_darts, no_param_free_ops, no_search_gap, subspace_error, darts_degenerates,
          subspace_cells_without_param_free_ops, noise_never_survives, selection_reads_data)


def ledger(tables: dict) -> pd.DataFrame:
    """One row per claim, from a dict of result tables (name -> DataFrame)."""
    rows = [claim(tables) for claim in CLAIMS]
    return pd.DataFrame([{"could_fail": "yes", **row} for row in rows], columns=COLUMNS)

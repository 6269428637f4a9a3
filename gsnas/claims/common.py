"""What every claim uses: result tables, spreads, intervals as columns, verdicts of claims made of parts, the gate bound."""
from __future__ import annotations

import math
import re

import pandas as pd

from ..stats import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Difference

BY_CONSTRUCTION = "holds by construction"  # the profile's settings leave no result that could refute it
CHANCE = 10.0  # % test accuracy of a constant prediction on the 10 classes of every dataset here
COLUMNS = ["claim_id", "claim", "paper_evidence", "our_evidence", "criterion", "verdict", "difference", "ci_low",
           "ci_high", "df", "unit", "margin", "detectable", "could_fail", "paper_difference", "paper_ci_low",
           "paper_ci_high"]


def _scored(d: Difference, margin: float = math.nan, unit: str = "points") -> dict:
    """The interval columns of a row from the difference that decides it (its unit: accuracy points, or a share)."""
    return {"difference": d.diff, "ci_low": d.lo, "ci_high": d.hi, "df": d.df, "unit": unit, "margin": margin,
            "detectable": d.detectable()}


def _all_parts(verdicts: list[str]) -> str:
    """A claim made of parts (spaces, sparsities): reproduced if every part is, not reproduced if any part is not."""
    if verdicts and all(v == REPRODUCED for v in verdicts):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in verdicts else INCONCLUSIVE


def _deciding(parts: list[Difference], verdicts: list[str], verdict: str) -> Difference:
    """The part that decides a claim made of parts (the widest interval among those with the claim's verdict)."""
    pick = [d for d, v in zip(parts, verdicts) if v == verdict] or parts
    return max(pick, key=lambda d: d.half_width if d.known else math.inf)


def _mean(text: str) -> float:
    """The mean of a paper cell such as "96.98 ± 0.13"."""
    return float(re.match(r"\s*([0-9.]+)", text).group(1))


def _mean_sd(text: str) -> tuple[float, float]:
    """Mean and SD of a paper cell such as "96.98 ± 0.13"."""
    mean, sd = re.match(r"\s*([0-9.]+)\s*±\s*([0-9.]+)", text).groups()
    return float(mean), float(sd)


def _table(tables: dict, name: str, *columns) -> pd.DataFrame | None:
    df = tables.get(name)
    if df is None or df.empty or any(c not in df for c in columns):
        return None
    return df


def _stats(values) -> tuple[float, float, int]:
    s = pd.Series(values, dtype=float).dropna()
    return float(s.mean()) if len(s) else math.nan, float(s.std(ddof=1)) if len(s) > 1 else math.nan, len(s)


def _fmt(mean, std, n) -> str:
    if n == 0:
        return "no runs"
    return f"{mean:.2f} (n=1)" if n == 1 else f"{mean:.2f} ± {std:.2f} (n={n})"


def per_search(df: pd.DataFrame, value: str | list[str]) -> pd.DataFrame:
    """Evaluation seeds averaged: one value (or several columns) per (method, [space,] seed_search)."""
    keys = [k for k in ("space", "method", "seed_search") if k in df]
    return df.groupby(keys, as_index=False)[value].mean()


def gate_bound(t: dict, space: str = "darts") -> float:
    """The largest ``gsnas.search.gate_bound`` of the GS-NAS searches on ``space``: at <= 1 no gate-only group
    (pool, stride-1 skip, noise) could survive them. NaN if a search does not say."""
    df = _table(t, "searches", "method", "space", "gate_bound")
    rows = None if df is None else df.query("method == 'gsnas' and space == @space")["gate_bound"]
    return math.nan if rows is None or rows.empty or rows.isna().any() else float(rows.max())


def _unless_by_construction(row: dict, bound: float, what: str) -> dict:
    """A "reproduced" that no result could have refuted is said to hold by construction."""
    if bound <= 1:
        row = {**row, "could_fail": f"no: gate bound {bound:.2f} <= 1"}
        if row["verdict"] == REPRODUCED:
            return {**row, "verdict": BY_CONSTRUCTION,
                    "our_evidence": row["our_evidence"] + f"; but {what} could not survive these searches: gate "
                                    f"bound {bound:.2f} <= 1 (the prox point of a gate-only group is 0 from the first step)"}
        return row
    return {**row, "could_fail": "yes" if bound > 1 else "unknown: the searches do not give their gate bound"}

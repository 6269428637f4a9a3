"""The statistics of the claims ledger: differences with t intervals, margins, and the smallest detectable difference.

The unit of replication is a search (or a pruned network), so n counts those. A difference of means
gets Welch's interval with Welch-Satterthwaite degrees of freedom; a claim of direction ("better than")
is reproduced when the 95 % interval lies above zero, and a claim of equality ("as accurate as") when it
lies within a margin set before looking at the results (an equivalence reading): not reproduced when
it lies outside, inconclusive when it straddles. The smallest difference the runs could detect is the one
a two-sided t-test at alpha 0.05 finds with 80 % power, from the runs' pooled spread.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

LEVEL, ALPHA, POWER = 0.95, 0.05, 0.8
REPRODUCED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "not reproduced", "inconclusive"


def _values(x) -> pd.Series:
    return pd.Series(x, dtype=float).dropna()


@dataclass
class Difference:
    """A difference of means (or a mean against a fixed value) with its interval."""
    diff: float
    se: float
    df: float
    n: tuple[int, ...]
    sd: float  # the pooled spread of one run, for the detectable difference

    @property
    def half_width(self) -> float:
        from scipy import stats  # here, not at import: scipy.stats takes ~1.5 s, paid by every training notebook

        return stats.t.ppf(0.5 + LEVEL / 2, self.df) * self.se if self.df > 0 else math.nan

    @property
    def lo(self) -> float:
        return self.diff - self.half_width

    @property
    def hi(self) -> float:
        return self.diff + self.half_width

    @property
    def known(self) -> bool:
        return not math.isnan(self.half_width)

    def __str__(self) -> str:
        if not self.known:
            return f"{self.diff:+.2f} (no interval: n = {', '.join(map(str, self.n))})"
        return f"{self.diff:+.2f} [{self.lo:+.2f}, {self.hi:+.2f}] (95 %, df {self.df:.1f})"

    def detectable(self) -> float:
        """The smallest difference a two-sided t-test (alpha 0.05) detects with 80 % power at these n."""
        if len(self.n) == 1:
            return detectable(self.sd, self.n[0])
        return detectable(self.sd, *self.n)


def difference(a, b) -> Difference:
    """mean(a) - mean(b), Welch's standard error and Welch-Satterthwaite degrees of freedom."""
    a, b = _values(a), _values(b)
    na, nb = len(a), len(b)
    if na < 2 or nb < 2:
        diff = a.mean() - b.mean() if na and nb else math.nan
        return Difference(diff, math.nan, math.nan, (na, nb), pooled_sd([a, b]))
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1)) if va + vb > 0 else math.inf
    return Difference(a.mean() - b.mean(), se, df, (na, nb), pooled_sd([a, b]))


def contrast(groups, coef) -> Difference:
    """sum_i coef_i mean(group_i), a linear contrast of independent groups' means (positive coefficients against
    negative ones, each side summing to 1 in use): Welch's standard error and Welch-Satterthwaite degrees of
    freedom. n per side is its effective number of runs, (sum |c|)^2 / sum c^2 / n_i. Groups with coefficient 0
    play no part; one with a single run leaves the contrast without an interval."""
    used = [(float(c), _values(g)) for c, g in zip(coef, groups) if c != 0]
    if not used or any(len(g) == 0 for _, g in used):
        return Difference(math.nan, math.nan, math.nan, (0, 0), math.nan)
    diff = sum(c * g.mean() for c, g in used)
    n = tuple(int(sum(abs(c) for c, _ in side) ** 2 / sum(c ** 2 / len(g) for c, g in side)) if side else 0
              for side in ([u for u in used if u[0] > 0], [u for u in used if u[0] < 0]))
    sd = pooled_sd([g for _, g in used])
    if any(len(g) < 2 for _, g in used):
        return Difference(diff, math.nan, math.nan, n, sd)
    terms = [c ** 2 * g.var(ddof=1) / len(g) for c, g in used]
    var = sum(terms)
    df = var ** 2 / sum(t ** 2 / (len(g) - 1) for t, (_, g) in zip(terms, used)) if var > 0 else math.inf
    return Difference(diff, math.sqrt(var), df, n, sd)


def interpolated(a, below, above, w: float) -> Difference:
    """mean(a) - (w mean(below) + (1 - w) mean(above)): ``a`` against a curve read between two of its points
    (``w`` in [0, 1], linear interpolation), as a ``contrast``."""
    if not 0 <= w <= 1:
        raise ValueError(f"interpolation weight must be in [0, 1], got {w!r}")
    return contrast([a, below, above], [1.0, -w, w - 1.0])


def from_summary(mean_a: float, sd_a: float, n_a: int, mean_b: float, sd_b: float, n_b: int) -> Difference:
    """``difference`` from published means, SDs and n (a paper's table)."""
    va, vb = sd_a ** 2 / n_a, sd_b ** 2 / n_b
    df = (va + vb) ** 2 / (va ** 2 / (n_a - 1) + vb ** 2 / (n_b - 1))
    sd = math.sqrt(((n_a - 1) * sd_a ** 2 + (n_b - 1) * sd_b ** 2) / (n_a + n_b - 2))
    return Difference(mean_a - mean_b, math.sqrt(va + vb), df, (n_a, n_b), sd)


def against(a, value: float) -> Difference:
    """mean(a) - value, a one-sample t interval (df n - 1)."""
    a = _values(a)
    n = len(a)
    if n < 2:
        return Difference(a.mean() - value if n else math.nan, math.nan, math.nan, (n,), math.nan)
    sd = a.std(ddof=1)
    return Difference(a.mean() - value, sd / math.sqrt(n), n - 1, (n,), sd)


def combined(parts: list[Difference]) -> Difference:
    """The mean of several independent differences (one per stratum), its df by Welch-Satterthwaite."""
    parts = [p for p in parts if p.known]
    if not parts:
        return Difference(math.nan, math.nan, math.nan, (0, 0), math.nan)
    k = len(parts)
    var = sum(p.se ** 2 for p in parts) / k ** 2
    df = var ** 2 / sum((p.se ** 2 / k ** 2) ** 2 / p.df for p in parts) if var > 0 else math.inf
    n = tuple(sum(p.n[i] for p in parts) for i in range(2))
    sd = math.sqrt(sum(p.sd ** 2 for p in parts) / k)
    return Difference(sum(p.diff for p in parts) / k, math.sqrt(var), df, n, sd)


def pooled_sd(groups) -> float:
    """The spread of one run, pooled over groups (each group: repeated runs of one thing); NaN without df."""
    groups = [_values(g) for g in groups]
    df = sum(len(g) - 1 for g in groups if len(g) > 1)
    if df == 0:
        return math.nan
    return math.sqrt(sum(g.var(ddof=1) * (len(g) - 1) for g in groups if len(g) > 1) / df)


def detectable(sd: float, n_a: int, n_b: int | None = None) -> float:
    """Smallest true difference found with 80 % power by a two-sided t-test at alpha 0.05 (noncentral t).

    Two groups of n_a and n_b runs with spread ``sd``, or (``n_b`` None) one group against a fixed value."""
    from scipy import stats

    if math.isnan(sd) or n_a < 2 or (n_b is not None and n_b < 2):
        return math.nan
    df = n_a - 1 if n_b is None else n_a + n_b - 2
    scale = math.sqrt(1 / n_a) if n_b is None else math.sqrt(1 / n_a + 1 / n_b)
    crit = stats.t.ppf(1 - ALPHA / 2, df)
    lo, hi = 0.0, 100.0
    for _ in range(100):  # the noncentrality at which the power is 80 %
        nc = (lo + hi) / 2
        power = stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc)
        lo, hi = (nc, hi) if power < POWER else (lo, nc)
    return hi * sd * scale


def directional(d: Difference) -> str:
    """A claim that the difference is positive: reproduced when the interval lies above 0."""
    if not d.known:
        return INCONCLUSIVE
    return REPRODUCED if d.lo > 0 else NOT_REPRODUCED if d.hi < 0 else INCONCLUSIVE


def equivalent(d: Difference, margin: float) -> str:
    """A claim of equality within ``margin``: reproduced when the interval lies inside (-margin, margin),
    not reproduced when it lies wholly outside, inconclusive when it straddles a bound."""
    if not d.known:
        return INCONCLUSIVE
    if -margin < d.lo and d.hi < margin:
        return REPRODUCED
    return NOT_REPRODUCED if d.lo >= margin or d.hi <= -margin else INCONCLUSIVE

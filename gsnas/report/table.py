"""How a result table reads in the book: formatted cells, the paper's columns set apart, a CSV to download."""
from __future__ import annotations

import pandas as pd

METHODS = {"gsnas": "GS-NAS", "darts": "DARTS (1st order)", "random": "random search", "DARTS_V2": "DARTS_V2 cell"}


def mean_std(values, digits: int = 2) -> str:
    """``mean ± std (n=k)`` with ddof=1; a single value shows no ±."""
    values = pd.Series(values, dtype=float).dropna()
    if values.empty:
        return "–"
    if len(values) == 1:
        return f"{values.iloc[0]:.{digits}f} (n=1)"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f} (n={len(values)})"


def n_range(counts) -> str:
    """How many runs each group holds, for captions: "3", or "2-3" when groups differ."""
    lo, hi = int(min(counts)), int(max(counts))
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def _readable(x: float) -> str:
    if float(x).is_integer():
        return f"{x:.0f}"
    return f"{x:.2f}" if abs(x) >= 1 else f"{x:.3g}"


class Table:
    """A result table as a reader sees it: no index column, formatted numbers, scrolls inside the page
    when wide, ours and the paper's columns visibly apart, and its CSV to download."""

    def __init__(self, df: pd.DataFrame, name: str, formats: dict | None = None, min_width: str = "6em"):
        self.df, self.name, self.formats = df.reset_index(drop=True), name, formats or {}
        self.min_width = min_width  # of a column: wide tables scroll rather than squeeze text to a word a line

    def _formats(self) -> dict:
        """The given formats, and one for every other float column: whole numbers without decimals, others
        with 2 decimals, small values (a mu of 1e-4) with 3 significant digits; never pandas' 6 decimals."""
        floats = [c for c in self.df.columns if c not in self.formats and pd.api.types.is_float_dtype(self.df[c])]
        return {**{c: _readable for c in floats}, **self.formats}

    def _repr_html_(self) -> str:
        import base64

        theirs = [c for c in self.df.columns if str(c).startswith(("paper", "authors", "RobustDARTS"))]
        styler = (self.df.style.hide(axis="index").format(self._formats(), na_rep="–")
                  .set_table_attributes('class="gsnas-table"')
                  .set_properties(subset=theirs, **{"background-color": "#f3f0e6", "font-style": "italic"})
                  .set_table_styles([{"selector": "th", "props": f"text-align: left; min-width: {self.min_width}"},
                                     {"selector": "td", "props": f"text-align: left; min-width: {self.min_width}"}]))
        if "verdict" in self.df:
            colours = {"reproduced": "#d8f0d8", "not reproduced": "#f6d5d5", "inconclusive": "#ececec",
                       "holds by construction": "#f3e8c8"}
            styler = styler.map(lambda v: f"background-color: {colours.get(v, '')}; font-weight: bold",
                                subset=["verdict"])
        csv = base64.b64encode(self.df.to_csv(index=False).encode()).decode()
        return (f'<div style="overflow-x: auto; max-width: 100%">{styler.to_html()}</div>'
                f'<p style="font-size: 0.85em"><a download="{self.name}.csv" '
                f'href="data:text/csv;base64,{csv}">download {self.name}.csv</a></p>')

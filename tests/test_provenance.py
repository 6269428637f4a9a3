"""Rows say which code made them (the commit a run started at, and whether the code was committed), and the book
says which rows, commits and commands made each figure and table."""
from pathlib import Path

from gsnas.config import SearchConfig
from gsnas.search import search

ROOT = Path(__file__).resolve().parents[1]


def test_a_resumed_run_keeps_the_commit_it_started_at(tmp_path, monkeypatch):
    """Rows name the code a run started with (and whether it was committed), not the code it ended with."""
    import gsnas.loop as loop

    settings = dict(space="s2", dataset="fashion-mnist", image_size=16, train_size=32, test_size=32, batch_size=16,
                    channels=4, layers=3, lr=0.1, mu=2.0, progress=False, out=str(tmp_path / "run"))
    monkeypatch.setattr(loop, "git_state", lambda: {"git_commit": "aaaaaaa", "git_dirty": True, "started": "t0"})
    search(SearchConfig(**settings, epochs=1))
    monkeypatch.setattr(loop, "git_state", lambda: {"git_commit": "bbbbbbb", "git_dirty": False, "started": "t1"})
    res = search(SearchConfig(**settings, epochs=2, resume=True))  # one more epoch, from the checkpoint
    assert res["origin"] == {"git_commit": "aaaaaaa", "git_dirty": True, "started": "t0"}
    assert search(SearchConfig(**{**settings, "out": str(tmp_path / "fresh")}, epochs=1))["origin"]["git_commit"] == "bbbbbbb"


def test_provenance_records_whether_the_code_was_committed():
    from gsnas.results import git_state, provenance

    state = git_state()
    assert state["git_dirty"] in (True, False) and len(state["git_commit"]) >= 7
    row = provenance("cpu", "fashion-mnist", "cpu", 1.0, {"git_commit": "abc1234", "git_dirty": True, "started": "x"})
    assert (row["git_commit"], row["git_dirty"]) == ("abc1234", True)


# The book's provenance: the line under each results figure and table, the inventory, the intro's summary.

def _copy_results(smoke, tmp_path):
    import shutil

    out = tmp_path / "results"
    out.mkdir()
    for path in smoke.results.glob("*.csv"):
        shutil.copy(path, out / path.name)
    shutil.copytree(smoke.results / "runs", out / "runs", ignore=shutil.ignore_patterns("*.pt"))
    return out


def test_provenance_line_names_the_csv_checksum_rows_commits_and_commands(smoke, tmp_path):
    import hashlib

    import pandas as pd

    from gsnas.report import Provenance

    results = _copy_results(smoke, tmp_path)
    csv = results / "table2_darts_space.csv"
    df = pd.read_csv(csv).assign(git_dirty=False)  # as if made from committed code (the smoke run's may not be)
    df.to_csv(csv, index=False)
    line = Provenance(results, "report_nas")("table2_darts_space").data
    assert hashlib.sha256(csv.read_bytes()).hexdigest()[:12] in line
    assert f"{len(df)} rows" in line
    assert all(c in line for c in df["git_commit"].astype(str).unique())
    assert "0 row(s) from uncommitted changes" in line
    assert f"python -m gsnas.reproduce --profile smoke --jobs 2 -- {csv}" in line
    assert f"papermill notebooks/report_nas.ipynb /tmp/report_nas.ipynb -p results {results}" in line
    df.loc[0, "git_dirty"] = True  # a row made from changed code: flagged, and the checksum moves
    df.to_csv(csv, index=False)
    changed = Provenance(results, "report_nas")("table2_darts_space").data
    assert "1 row(s) from uncommitted changes" in changed and "not recorded" not in changed
    assert hashlib.sha256(csv.read_bytes()).hexdigest()[:12] in changed and changed != line
    df["git_dirty"] = df["git_dirty"].astype(object)
    df.loc[1, "git_dirty"] = None  # a row from before the flag: counted apart, never as committed code
    df.to_csv(csv, index=False)
    assert "1 row(s) from uncommitted changes; for 1 older row(s) not recorded" in \
        Provenance(results, "report_nas")("table2_darts_space").data


def test_a_derived_table_names_the_commits_of_the_rows_it_was_computed_from(smoke):
    import pandas as pd

    from gsnas.report import Provenance
    from gsnas.results import TABLES

    line = Provenance(smoke.results, "report_claims")("claims").data
    commits = {c for t in TABLES for c in pd.read_csv(smoke.results / f"{t}.csv")["git_commit"].astype(str)}
    assert commits and all(c in line for c in commits)


def test_provenance_of_a_missing_csv_is_a_one_line_error(smoke, tmp_path):
    import pytest

    from gsnas.report import Provenance
    from gsnas.report.provenance import rebuild_command

    with pytest.raises(ValueError, match="no table9.csv in"):
        Provenance(smoke.results, "report_nas")("table9")
    with pytest.raises(ValueError, match="no rebuild command is known for .*notes.csv"):
        rebuild_command(tmp_path / "notes.csv", "smoke")


def test_inventory_lists_every_result_csv_with_its_checksum_and_rows(smoke):
    import hashlib

    import pandas as pd

    from gsnas.report import inventory

    inv = inventory(smoke.results).set_index("file")
    paths = sorted(smoke.results.glob("*.csv"))
    assert len(inv) == len(paths) >= 7
    for path in paths:
        row = inv.loc[path.name]
        assert row["sha256 (first 12)"] == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        assert row["rows"] == len(pd.read_csv(path))


def test_summary_numbers_are_those_of_the_result_csvs(smoke, tmp_path):
    """The intro's summary says what the CSVs hold (counted here from them directly), and follows them."""
    import pandas as pd

    from gsnas.report import summary_markdown, summary_numbers

    claims = pd.read_csv(smoke.results / "claims.csv")
    searches = pd.read_csv(smoke.results / "searches.csv")
    timings = pd.read_csv(smoke.results / "timings.csv")
    s = summary_numbers(smoke.results)
    assert s["profile"] == "smoke" and s["claims"] == len(claims) > 0
    assert s["verdicts"] == {v: int((claims["verdict"] == v).sum()) for v in s["verdicts"]}
    assert sum(s["verdicts"].values()) == len(claims)  # every verdict is one of the four
    real = searches[searches["control"].fillna("none") == "none"]
    assert s["searches"] == real.query("space == 'darts'").groupby("method").size().to_dict()
    assert s["searches_total"] == len(real)
    assert s["wall_hours"] == timings.set_index("notebook").loc["TOTAL", "wall_seconds"] / 3600
    assert s["notebooks"] == len(timings) - 1
    assert set(searches["git_commit"].astype(str)) <= set(s["commits"])
    text = summary_markdown(smoke.results)
    for verdict, n in s["verdicts"].items():
        assert (f"**{n} {verdict}**" in text) == (n > 0)
    for row in s["scored"]:
        assert f"{row['difference']:+.2f}" in text
    assert "## Reproduction summary" in text and "What was difficult" in text
    results = _copy_results(smoke, tmp_path)  # one verdict changed in the CSV: the summary follows it
    flipped = claims.copy()
    flipped.loc[0, "verdict"] = "not reproduced" if claims.loc[0, "verdict"] != "not reproduced" else "reproduced"
    flipped.to_csv(results / "claims.csv", index=False)
    assert summary_numbers(results)["verdicts"] != s["verdicts"]


def test_the_citation_files_name_the_paper():
    import re
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and {"message", "title", "authors"} <= set(cff)
    bib = (root / "book" / "references.bib").read_text()
    paper = cff["references"][0]["title"]
    assert paper.replace("GSparsity", "{GSparsity}") in bib
    assert re.search(r"\{cite:p\}`gsparsity2022`", (root / "book" / "intro.md").read_text())


MIN_PT = 8  # the smallest text a report figure may hold; at 100 dpi and unscaled (test_book) it renders >= 8 pt


def test_report_figures_hold_no_text_under_8_pt(smoke):
    """Every figure the book draws from results, on the smoke run: no visible text smaller than MIN_PT."""
    import matplotlib.pyplot as plt
    import pandas as pd
    from matplotlib.text import Text

    import gsnas.report as R
    from gsnas import regime

    res = R.Results(smoke.results)
    figures = {"figure1": R.figure1(res), "mu_vs_sparsity": R.mu_vs_sparsity(res),
               "accuracy_vs_params": R.accuracy_vs_params(res), "gap_figure": R.gap_figure(res),
               "search_speed": R.search_speed(res), "trajectories": R.trajectories(res, "gsnas", "darts"),
               "forest": R.forest(res),
               "regime": regime.figure(pd.read_csv(ROOT / "results" / "regime" / "regime_epochs.csv"))}
    small = {}
    assert sum(f is not None for f in figures.values()) >= 6
    for name, fig in figures.items():
        if fig is None:  # its data is not in these results
            continue
        fig.canvas.draw()
        small[name] = sorted({(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
                              if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_PT})
        plt.close(fig)
    assert not any(small.values()), {k: v for k, v in small.items() if v}

"""Rows say which code made them: the commit a run started at, and whether the code was committed."""
from gsnas.config import SearchConfig
from gsnas.search import search


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

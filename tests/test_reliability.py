"""Checkpoints and result files survive crashes; bad numbers stop a run."""
import hashlib
import io
import os
import random

import numpy as np
import pandas as pd
import pytest
import torch

from gsnas import checkpoint
from gsnas.loop import KILL_AFTER
from gsnas import config as C
from gsnas.search import search
from gsnas.results import aggregate, atomic_write_text, write_rows


def test_checkpoint_round_trip_with_rng(tmp_path):
    torch.manual_seed(3)
    random.seed(3), np.random.seed(3)
    state = {"w": torch.randn(5), "epoch": 2, "rng": checkpoint.rng_state()}
    checkpoint.save(tmp_path / "c.pt", state)
    expected = torch.rand(3), random.random(), np.random.rand(3)
    loaded = checkpoint.load(tmp_path / "c.pt")
    checkpoint.set_rng_state(loaded["rng"])
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]
    assert np.array_equal(np.random.rand(3), expected[2])
    assert torch.equal(loaded["w"], state["w"]) and loaded["epoch"] == 2


def test_checkpoint_is_a_plain_torch_file(tmp_path):
    state = {"w": torch.randn(5), "epoch": 2, "rng": checkpoint.rng_state()}
    checkpoint.save(tmp_path / "c.pt", state)
    loaded = torch.load(tmp_path / "c.pt", weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["epoch"] == 2


def _damaged(tmp_path, damage):
    """A checkpoint file, cut short or with one byte flipped (in the tensor data or in the pickled keys)."""
    path = tmp_path / "c.pt"
    w = torch.arange(100, dtype=torch.float32)
    checkpoint.save(path, {"w": w, "epoch": 7})
    data = path.read_bytes()
    cuts = {"cut1": 1, "cut100": 100, "cut_half": len(data) // 2, "cut_last": len(data) - 1}
    if damage in cuts:
        data = data[:cuts[damage]]
    else:
        at = data.index(w.numpy().tobytes()) + 37 if damage == "flip_tensor" else data.index(b"epoch") + 2
        data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("damage", ["cut1", "cut100", "cut_half", "cut_last", "flip_tensor", "flip_pickle"])
def test_damaged_checkpoint_is_one_clear_error(tmp_path, damage):
    path = _damaged(tmp_path, damage)
    with pytest.raises(ValueError, match=r"c\.pt is truncated or corrupted \(") as e:
        checkpoint.load(path)
    assert "\n" not in str(e.value)


def test_a_flipped_tensor_byte_is_what_plain_torch_load_misses(tmp_path):
    """Why ``load`` checks the archive's CRCs: torch.load reads the damaged tensor silently."""
    path = _damaged(tmp_path, "flip_tensor")
    assert not torch.equal(torch.load(path, weights_only=True)["w"], torch.arange(100, dtype=torch.float32))


def test_not_a_checkpoint_is_one_clear_error(tmp_path):
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=r"c\.pt is truncated or corrupted \(BadZipFile"):
        checkpoint.load(tmp_path / "c.pt")
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*missing\.pt"):
        checkpoint.load(tmp_path / "missing.pt")


def test_old_format_is_one_line_saying_how_to_upgrade(tmp_path):
    path = tmp_path / "c.pt"
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(3), "epoch": 4}, buffer)
    payload = buffer.getvalue()
    path.write_bytes(checkpoint.OLD_MAGIC + hashlib.sha256(payload).digest() + payload)
    with pytest.raises(ValueError, match=r"c\.pt has the old gsnas format; convert it with .*checkpoint\.upgrade") as e:
        checkpoint.load(path)
    assert "\n" not in str(e.value)
    checkpoint.upgrade(path)
    assert checkpoint.load(path)["epoch"] == 4 and torch.load(path, weights_only=True)["epoch"] == 4


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    checkpoint.save(path, {"epoch": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full")
    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError):
        checkpoint.save(path, {"epoch": 2})
    assert checkpoint.load(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind


KEYS = {"t": ["mu", "seed"], "empty": ["space", "seed"]}


def test_aggregate_takes_every_runs_rows_and_the_newest_of_equal_keys(tmp_path):
    """Rows of all runs land whatever order they finished in; equal keys: the most recently written run's."""
    runs = tmp_path / "runs"
    write_rows(runs / "b", {"t": [{"mu": 2, "seed": 0, "acc": 60.0}]})
    write_rows(runs / "a", {"t": [{"mu": 1, "seed": 0, "acc": 50.0}, {"mu": 1, "seed": 1, "acc": 51.0}]})
    write_rows(runs / "a" / "again", {"t": [{"mu": 1, "seed": 0, "acc": 55.0, "note": "rerun"}]})
    os.utime(runs / "a" / "rows.json", (1, 1))  # a written long before a/again
    tables = aggregate(tmp_path, KEYS)
    df = pd.read_csv(tmp_path / "t.csv")
    assert df[["mu", "seed", "acc"]].values.tolist() == [[1, 0, 55.0], [1, 1, 51.0], [2, 0, 60.0]]
    assert list(df.columns) == ["mu", "seed", "acc", "note"] and len(tables["t"]) == 3
    assert list(pd.read_csv(tmp_path / "empty.csv").columns) == ["space", "seed"]  # no rows: its keys as header
    with pytest.raises(ValueError, match="nothing to aggregate"):
        aggregate(tmp_path / "elsewhere", KEYS)


def test_aggregate_is_the_same_whatever_the_order(tmp_path):
    rows = [{"mu": m, "seed": 0, **({"extra": 1} if m == 2 else {})} for m in (3, 1, 2)]
    for order in ([0, 1, 2], [2, 1, 0]):
        folder = tmp_path / str(order)
        for i in order:
            write_rows(folder / "runs" / f"r{i}", {"t": [rows[i]]})
        aggregate(folder, KEYS)
    assert (tmp_path / "[0, 1, 2]" / "t.csv").read_text() == (tmp_path / "[2, 1, 0]" / "t.csv").read_text()


def test_atomic_write_never_exposes_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "r.csv"
    atomic_write_text(path, "a,b\n1,2\n")
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("crash before rename")))
    with pytest.raises(OSError):
        atomic_write_text(path, "a,b\n3,4\n" * 1000)
    assert path.read_text() == "a,b\n1,2\n"


def test_nan_loss_stops_with_epoch_and_step(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = torch.nn.functional.cross_entropy

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 6 else loss
    monkeypatch.setattr(torch.nn.functional, "cross_entropy", poisoned)
    cfg = dict(space="s2", dataset="fashion-mnist", image_size=16, train_size=64, test_size=32, batch_size=16, channels=4, layers=3,
               epochs=2, out=str(tmp_path), progress=False)
    with pytest.raises(FloatingPointError, match="loss is nan at epoch 2, step 2"):
        search(C.SearchConfig(**cfg))
    assert checkpoint.load(tmp_path / "checkpoint.pt")["epoch"] == 1  # the last good checkpoint is kept


KILL_CFG = dict(space="s2", dataset="fashion-mnist", image_size=16, train_size=96, test_size=32, batch_size=8, channels=4, layers=3, epochs=2,
                lr=0.1, mu=2.0, checkpoint_every=1, progress=False)
CHILD = """
import sys
from gsnas import config as C
from gsnas.search import search
search(C.SearchConfig(**{cfg!r}, out=sys.argv[1]))
"""


def _weights(path):
    return checkpoint.load(path)["model"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_is_bitwise_identical(tmp_path):
    """The child kills itself (SIGKILL, gsnas.loop.KILL_AFTER) right after its checkpoint at step 5 of epoch 1:
    a chosen step, not a race against a poll."""
    import signal
    import subprocess
    import sys

    reference = search(C.SearchConfig(**KILL_CFG, out=str(tmp_path / "ref")))
    run = tmp_path / "killed"
    child = subprocess.run([sys.executable, "-c", CHILD.format(cfg=KILL_CFG), str(run)], timeout=300,
                           env={**os.environ, KILL_AFTER: "0:5"})
    assert child.returncode == -signal.SIGKILL
    state = checkpoint.load(run / "checkpoint.pt")
    assert state["epoch"] == 0 and state["partial"][0] == 5 and not (run / "metrics.csv").exists()
    resumed = search(C.SearchConfig(**KILL_CFG, out=str(run), resume=True))
    ref_w, res_w = _weights(tmp_path / "ref" / "checkpoint.pt"), _weights(run / "checkpoint.pt")
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)
    ref_m, res_m = pd.read_csv(tmp_path / "ref" / "metrics.csv"), pd.read_csv(run / "metrics.csv")
    cols = ["epoch", "train_loss", "train_acc", "test_acc", "nonzero_groups"]
    pd.testing.assert_frame_equal(ref_m[cols], res_m[cols], check_exact=True)
    assert resumed["acc_before"] == reference["acc_before"]


def test_nonfinite_group_norm_stops_the_run(tmp_path, monkeypatch):
    from gsnas import Supernet
    real = Supernet.group_norms

    def poisoned(self):
        df = real(self)
        df.loc[3, "norm"] = float("inf")
        return df
    monkeypatch.setattr(Supernet, "group_norms", poisoned)
    cfg = dict(space="s2", dataset="fashion-mnist", image_size=16, train_size=32, test_size=32, batch_size=16, channels=4, layers=3,
               epochs=1, out=str(tmp_path), progress=False)
    with pytest.raises(FloatingPointError, match="group norm of normal/edge01/sep_conv_3x3 is not finite after epoch 1"):
        search(C.SearchConfig(**cfg))
    assert not (tmp_path / "checkpoint.pt").exists()

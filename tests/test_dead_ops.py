"""Removing dead operations during a GS-NAS search (``prune_dead``): the same search, cheaper."""
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from gsnas import Supernet, checkpoint
from gsnas import config as C
from gsnas.loop import Run
from gsnas.search import _Search, search

# 16 steps an epoch at lr 0.6: a cut gate falls below 1e-6 within an epoch, (1 - 0.6)^16 < 1e-6
TINY = dict(dataset="fashion-mnist", image_size=16, train_size=64, test_size=64, batch_size=4, eval_batch_size=64,
            channels=4, layers=3, progress=False, space="s2", lr=0.6, mu=3.0, grad_clip=1.0)


def _search(tmp_path, name, **kw):
    return search(C.SearchConfig(**{**TINY, **kw}, out=str(tmp_path / name)))


@pytest.mark.slow
def test_removal_finds_what_the_search_finds(tmp_path):
    ref = _search(tmp_path, "ref", epochs=2, prune_dead=False)
    res = _search(tmp_path, "dead", epochs=2, prune_dead=True, prune_patience=2)
    metrics = pd.read_csv(tmp_path / "dead" / "metrics.csv")
    assert res["ops_removed"] > 0 and metrics["ops_computed"].iloc[-1] < metrics["ops_computed"].iloc[0]
    assert res["genotype"] == ref["genotype"] and res["genotype_top2"] == ref["genotype_top2"]
    assert res["groups"] == ref["groups"] == 56 and res["nonzero_groups"] == ref["nonzero_groups"]
    assert res["supernet_params"] == ref["supernet_params"]
    # The epoch of the first removals computes the same to rounding: what was removed weighed < 1e-6. Later epochs are
    # not compared: at lr 0.6 and batch 4 rounding grows (after epoch 2: 2 of 64 test images apart on 2 threads, 6 on
    # 1 thread; train loss 2.211 against 2.281, 2026-12-02), and the genotype above is what must not change.
    first = pd.read_csv(tmp_path / "ref" / "metrics.csv").iloc[0]
    assert metrics["ops_removed"].iloc[0] > 0 and metrics["train_loss"].iloc[0] == pytest.approx(first["train_loss"],
                                                                                               rel=1e-5)
    assert metrics["test_acc"].iloc[0] == pytest.approx(first["test_acc"], abs=100 / TINY["test_size"] + 1e-9)
    norms = pd.read_csv(tmp_path / "dead" / "group_norms.csv")
    assert (norms.groupby("epoch").size() == 56).all()  # removed groups carried on, decayed


def test_removal_keeps_the_function_and_the_optimizer_state():
    cfg = C.SearchConfig(**TINY, epochs=1)
    run = Run(cfg)
    s = _Search(run, cfg, Supernet("s2", 4, 3, 10, 1))
    x, y = torch.randn(8, 1, 16, 16), torch.randint(0, 10, (8,))
    for _ in range(3):
        s.opt.zero_grad()
        F.cross_entropy(s.net(x), y).backward()
        s.opt.step()
    dying = [g for g in s.groups if g.op == "sep_conv_3x3"][:3]
    with torch.no_grad():
        for g in dying:
            for p in g.params:
                p.mul_(1e-9)
    before, state = s.net(x), {n: s.opt.state[p]["momentum_buffer"].clone() for n, p in s.net.named_parameters()}
    s.remove({(g.cell, g.edge, g.op) for g in dying})
    names = {n for n, _ in s.net.named_parameters()}
    assert len(s.groups) == 53 and not any(g.name in {d.name for d in dying} for g in s.groups)
    assert sum(len(g["params"]) for g in s.opt.param_groups) == len(names) < len(state)  # no longer stepped
    torch.testing.assert_close(s.net(x), before, rtol=0, atol=1e-5)
    for n, p in s.net.named_parameters():
        assert torch.equal(s.opt.state[p]["momentum_buffer"], state[n]), n


@pytest.mark.slow
def test_resume_across_a_removal_is_bitwise(tmp_path):
    kw = dict(prune_dead=True, prune_patience=2)
    full = _search(tmp_path, "a", epochs=2, **kw)
    _search(tmp_path, "b", epochs=1, **kw)
    assert checkpoint.load(tmp_path / "b" / "checkpoint.pt")["dead"]["removed"]  # interrupted after a removal
    resumed = _search(tmp_path, "b", epochs=2, resume=True, **kw)
    wa = checkpoint.load(tmp_path / "a" / "checkpoint.pt")["model"]
    wb = checkpoint.load(tmp_path / "b" / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert resumed["genotype"] == full["genotype"] and resumed["acc_before"] == full["acc_before"]
    assert resumed["ops_removed"] == full["ops_removed"]


def test_patience_is_checked():
    with pytest.raises(ValueError, match="prune_patience must be an integer >= 1, got 0"):
        C.SearchConfig(prune_patience=0)
    with pytest.raises(ValueError, match="prune_dead must be true or false, got 'yes'"):
        C.SearchConfig(prune_dead="yes")

"""Training routines: resume continues identically, the DARTS baseline learns alpha, data loading."""
import functools
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch

import gsnas.search
from gsnas import Genotype, Supernet, checkpoint, data
from gsnas.ops import Gate
from gsnas import config as C
from gsnas.darts import darts_search
from gsnas.evaluate import prune, train
from gsnas.search import search, tune_mu
from gsnas.darts import Architecture, discretize

TINY = dict(dataset="fashion-mnist", image_size=16, train_size=64, test_size=64, batch_size=16, eval_batch_size=64, channels=4, layers=3,
            progress=False)


@pytest.mark.slow
def test_resumed_search_matches_uninterrupted(tmp_path):
    full = search(C.SearchConfig(space="s2", epochs=2, lr=0.1, mu=2.0, out=str(tmp_path / "a"), **TINY))
    search(C.SearchConfig(space="s2", epochs=1, lr=0.1, mu=2.0, out=str(tmp_path / "b"), **TINY))
    resumed = search(C.SearchConfig(space="s2", epochs=2, lr=0.1, mu=2.0, out=str(tmp_path / "b"), resume=True,
                                      **TINY))
    wa = checkpoint.load(tmp_path / "a" / "checkpoint.pt")["model"]
    wb = checkpoint.load(tmp_path / "b" / "checkpoint.pt")["model"]
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    ma, mb = pd.read_csv(tmp_path / "a" / "metrics.csv"), pd.read_csv(tmp_path / "b" / "metrics.csv")
    cols = ["epoch", "train_loss", "train_acc", "test_acc", "nonzero_groups"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols])
    assert resumed["acc_before"] == full["acc_before"] and resumed["genotype"] == full["genotype"]
    norms = pd.read_csv(tmp_path / "b" / "group_norms.csv")
    assert sorted(norms["epoch"].unique()) == [1, 2] and len(norms) == 2 * 56


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, capsys):
    """The workflow always resumes: a checkpoint left by other settings must not stand in for the new run."""
    cfg = dict(space="s2", epochs=1, lr=0.1, mu=2.0, **TINY)
    search(C.SearchConfig(**cfg, out=str(tmp_path / "run")))
    changed = search(C.SearchConfig(**{**cfg, "lr": 0.05}, out=str(tmp_path / "run"), resume=True))
    assert "was written with other lr: starting over" in capsys.readouterr().err
    fresh = search(C.SearchConfig(**{**cfg, "lr": 0.05}, out=str(tmp_path / "fresh")))
    w, f = (checkpoint.load(tmp_path / d / "checkpoint.pt")["model"] for d in ("run", "fresh"))
    assert all(torch.equal(w[k], f[k]) for k in f) and changed["acc_before"] == fresh["acc_before"]
    search(C.SearchConfig(**{**cfg, "lr": 0.05}, out=str(tmp_path / "run"), resume=True))
    assert "resuming" in capsys.readouterr().err


def test_search_writes_genotype_and_trajectories(tmp_path):
    cfg = {**TINY, "batch_size": 4}  # 16 steps: (1 - 0.6)^16 < 1e-6
    res = search(C.SearchConfig(space="s2", epochs=1, lr=0.6, mu=3.0, grad_clip=1.0, out=str(tmp_path), **cfg))
    assert (tmp_path / "genotype.json").exists() and (tmp_path / "result.json").exists()
    assert set(res["acc_after"]) == {"1e-06", "0.001", "0.5"}
    # the prox kills gates (mu/sqrt(1) >> |gate|): their groups shrink by (1 - lr) a step
    assert res["nonzero_groups"] < res["groups"]
    assert res["acc_after"]["1e-06"] == res["acc_before"]  # zero gap: pruned groups contribute ~nothing


def test_darts_baseline_learns_alpha_and_discretizes(tmp_path):
    net = Supernet("darts", channels=4, layers=3, num_classes=10, in_channels=1)
    arch = Architecture(net)
    before = [a.detach().clone() for a in arch.alphas["normal"]]
    res = darts_search(C.DartsConfig(space="darts", epochs=1, out=str(tmp_path), **TINY))
    state = checkpoint.load(tmp_path / "checkpoint.pt")["arch"]
    after = [state[f"alphas.normal.{k}"] for k in range(14)]
    assert not all(torch.equal(a, b) for a, b in zip(before, after))  # alpha moved (same seed, same init)
    geno = Genotype.from_dict(res["genotype"])
    assert geno.is_standard
    small = discretize(net, geno)
    assert sum(len(e.ops) for c in small.cells for e in c.edges.values()) == 8 * 3  # 8 ops per cell, 3 cells
    assert 0 <= res["acc_after"] <= 100 and 0 <= res["acc_before"] <= 100
    weights = [torch.softmax(a, -1) for kind in ("normal", "reduce") for a in (state[f"alphas.{kind}.{k}"]
                                                                           for k in range(14))]
    assert res["alpha_max_mean"] == pytest.approx(torch.stack([w.max() for w in weights]).mean().item())
    assert res["alpha_max_mean"] > 1 / 8  # uniform over the 8 ops of the darts space would be 1/8


def test_darts_freezes_gates():
    net = Supernet("darts", channels=4, layers=3, num_classes=10, in_channels=1)
    Architecture(net)
    gates = [m.weight for m in net.modules() if isinstance(m, Gate)]
    assert gates and not any(g.requires_grad for g in gates)


def test_prune_and_retrain_pruned_model(tmp_path):
    res = prune(C.PruneConfig(genotype="DARTS_V2", dataset="fashion-mnist", image_size=16, train_size=64, test_size=64, batch_size=16,
                                channels=4, layers=3, epochs=1, lr=0.5, tau="constant", mu=1.5, cutout=0,
                                auxiliary_weight=0, drop_path_prob=0, out=str(tmp_path / "p"), progress=False))
    rows = {r["threshold"]: r for r in res["after"]}
    assert rows[0.5]["ops_pruned"] >= rows[1e-3]["ops_pruned"] >= rows[1e-6]["ops_pruned"]
    assert rows[1e-6]["acc_after"] == res["acc_before"]
    model = json.loads((tmp_path / "p" / "pruned_1e-06.json").read_text())
    assert model["gates"] is True
    res2 = train(C.TrainConfig(model=str(tmp_path / "p" / "pruned_1e-06.json"), dataset="fashion-mnist", image_size=16, train_size=64,
                                 test_size=64, batch_size=16, epochs=1, cutout=0, auxiliary_weight=0,
                                 drop_path_prob=0, progress=False))
    assert res2["params"] <= rows[1e-6]["params"]


def test_tune_mu_bisects_towards_target(monkeypatch):
    seen = []

    def fake_search(cfg):  # ops per cell fall with mu: 10 at mu=1, 5 at mu=10, ...
        seen.append(cfg.mu)
        ops = max(0.0, 10 - 5 * np.log10(cfg.mu))
        return {"ops_normal": ops, "ops_reduce": ops, "acc_before": 50.0}

    monkeypatch.setattr(gsnas.search, "search", fake_search)
    out = tune_mu(C.SearchConfig(progress=False), target_ops=5, lo=0.1, hi=1000, iters=12)
    assert abs(out["mu"] - 10) / 10 < 0.05 and len(out["trials"]) == 12
    assert seen[0] == pytest.approx(10.0)  # geometric midpoint first


@pytest.mark.parametrize("bad, message", [
    (dict(dataset="mnist"), "unknown dataset 'mnist'"),
    (dict(epochs=0), "epochs must be an integer >= 1, got 0"),
    (dict(batch_size=-4), "batch_size must be an integer >= 1"),
    (dict(lr=0.0), "lr must be a number > 0, got 0.0"),
    (dict(mu=-1.0), "mu must be a number >= 0"),
    (dict(resume=True), "resume needs an output folder"),
    (dict(device="tpu"), "device must be"),
])
def test_bad_config_names_the_value(bad, message):
    with pytest.raises(ValueError, match=message):
        C.SearchConfig(**bad)


def test_unknown_profile_option_is_named():
    with pytest.raises(ValueError, match=r"unknown SearchConfig option\(s\) \['learning_rate'\]"):
        C.SearchConfig.from_dict({"learning_rate": 0.1})


# --- data -----------------------------------------------------------------------------------------

def test_fashion_mnist_from_debian_package(tmp_path):
    if not data.DEBIAN_FASHION_MNIST.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    ds = data.load("fashion-mnist", True, root=tmp_path, size=10, seed=1)
    x, y = ds[0]
    assert x.shape == (1, 28, 28) and 0 <= y < 10 and len(ds) == 10
    assert len(data.load("fashion-mnist", False, root=tmp_path)) == 10_000


def _write_cifar(root, n=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), "labels": [int(v) for v in rng.integers(0, 10, n)]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))


def test_cifar10_loads_python_batches(tmp_path, monkeypatch):
    _write_cifar(tmp_path)
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)  # ours, not CIFAR's MD5s
    ds = data.load("cifar10", True, root=tmp_path, cutout=16)
    assert len(ds) == 100
    x, _ = ds[0]
    assert x.shape == (3, 32, 32)
    loader = data.loader(ds, 32, shuffle=True, seed=3)
    xb, yb = next(iter(loader))
    assert xb.shape == (32, 3, 32, 32) and yb.dtype == torch.int64


def test_missing_cifar_is_one_clear_error(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("no network")
    monkeypatch.setattr("torchvision.datasets.CIFAR10.download", no_network)
    with pytest.raises(ValueError, match="cifar10 not found under .*cifar-10-batches-py"):
        data.load("cifar10", True, root=tmp_path)


def test_cutout_zeroes_a_square():
    torch.manual_seed(0)
    img = torch.ones(1, 32, 32)
    out = data.Cutout(16)(img)
    zeros = (out == 0).sum().item()
    assert 0 < zeros <= 16 * 16 and torch.equal(img, torch.ones(1, 32, 32))


def test_epoch_sampler_is_deterministic_per_epoch():
    s = data.EpochSampler(50, seed=1)
    first = list(s)
    s.epoch = 1
    second = list(s)
    s.epoch = 0
    assert list(s) == first and second != first and sorted(first) == list(range(50))


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path, monkeypatch):
    """``compile`` changes how the forward runs, not what it computes (to float32 rounding).

    Dynamo traces forward and backward (AOTAutograd) as under inductor, but the graphs run eagerly: inductor's C++
    code generation takes ~90 s cold on these CPUs (2026-12-02). ``benchmarks/gpu.py --compile`` runs inductor.
    """
    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="aot_eager"))
    cfg = dict(dataset="fashion-mnist", image_size=16, train_size=64, test_size=64, batch_size=32, channels=4, layers=3, lr=0.05, cutout=0,
               drop_path_prob=0.0, auxiliary_weight=0.0, epochs=1, progress=False)
    from torch._dynamo.utils import counters
    eager = train(C.TrainConfig(**cfg, out=str(tmp_path / "eager")))
    counters.clear()
    compiled = train(C.TrainConfig(**cfg, compile=True, out=str(tmp_path / "compiled")))
    assert compiled["config"]["compile"] is True and counters["stats"]["unique_graphs"] >= 1  # really compiled
    a, b = (pd.read_csv(tmp_path / d / "metrics.csv") for d in ("eager", "compiled"))
    assert a["train_loss"].iloc[0] == pytest.approx(b["train_loss"].iloc[0], rel=1e-4)
    assert eager["test_acc"] == pytest.approx(compiled["test_acc"], abs=1.6)  # one of 64 images may flip


def test_accuracy_counts_correct_top1_predictions_by_hand():
    """5 of 8 right, over two batches (the second one short); kwargs reach the model; eval mode, then restored."""
    from gsnas.loop import accuracy

    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [1.0, 0.0, 0.0],
                           [0.0, 2.0, 0.0], [0.0, 0.0, 1.0], [4.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    labels = torch.tensor([0, 1, 2, 1, 1, 0, 0, 2])  # argmax: 0 1 2 0 1 2 0 1 -> right at 0, 1, 2, 4, 6

    class Lookup(torch.nn.Module):
        def forward(self, i, favour=None):
            assert not self.training
            out = logits[i].clone()
            if favour is not None:
                out[:, favour] += 100.0
            return out

    model = Lookup().train()
    loader = [(torch.arange(0, 5), labels[:5]), (torch.arange(5, 8), labels[5:])]
    assert accuracy(model, loader, "cpu") == pytest.approx(62.5)
    assert accuracy(model, loader, "cpu", favour=2) == pytest.approx(25.0)  # always class 2: the two labels 2
    assert model.training

"""The searches' controls: permuted labels, the penalty alone, the gate bound, and the regime study's overlap."""
import math

import pandas as pd
import pytest
import torch

from gsnas import ProxSGD, data
from gsnas.config import SearchConfig
from gsnas.regime import compare, overlap
from gsnas.groups import gate_bound
from gsnas.search import search


def test_shuffled_labels_keep_images_and_class_counts_and_lose_the_labels():
    ds = data.load("fashion-mnist", True, image_size=16, augment=False, size=256, seed=0)
    shuffled = data.ShuffledLabels(ds, seed=0)
    real = data.targets(ds)
    labels = torch.tensor([shuffled[i][1] for i in range(len(ds))])
    assert torch.equal(shuffled[5][0], ds[5][0])
    assert torch.equal(torch.bincount(labels, minlength=10), torch.bincount(real, minlength=10))
    assert (labels == real).float().mean() < 0.3  # ~10 % by chance
    assert torch.equal(labels, torch.tensor([data.ShuffledLabels(ds, seed=0)[i][1] for i in range(len(ds))]))
    assert not torch.equal(labels, data.targets(data.ShuffledLabels(ds, seed=1)))


def _gate_step(n: int, mu: float, clip: float) -> torch.Tensor:
    """One ProxSGD step (rho 1, lr 1) of a gate-only group at its largest norm, with the gradient of norm
    ``clip`` that pushes it outward: the most favourable step such a group can get."""
    w = torch.nn.Parameter(torch.ones(n, dtype=torch.float64))
    w.grad = -clip * w.detach() / w.detach().norm()
    opt = ProxSGD([{"params": [w], "mu": mu, "normalize": "div", "clip": [(0.0, 1.0)]}], lr=1.0, rho=1.0)
    opt.step()
    return w.detach()


@pytest.mark.parametrize("n", [2, 3, 6])
def test_gate_bound_is_where_a_gate_group_can_first_survive(n):
    """The bound against the optimizer: just below 1 the best-placed gate group is cut to exactly 0,
    just above 1 it lives."""
    clip = 5.0
    for bound, alive in ((0.98, False), (1.02, True)):
        mu = (math.sqrt(n) + clip) * math.sqrt(n) / bound  # the mu at which gate_bound is ``bound``
        cfg = SearchConfig(layers=n + 2, mu=mu, grad_clip=clip)
        assert gate_bound(cfg) == pytest.approx(bound)
        assert bool(_gate_step(n, mu, clip).abs().sum() > 0) is alive


def test_gate_bound_is_unbounded_without_clip_or_with_adaptive_tau():
    assert gate_bound(SearchConfig(grad_clip=0.0)) == math.inf
    assert gate_bound(SearchConfig(grad_clip=5.0, tau="adaptive")) == math.inf
    assert gate_bound(SearchConfig(layers=5, mu=20.0, grad_clip=5.0)) == pytest.approx(0.583, abs=1e-3)


def _norms(rows):
    return pd.DataFrame([{"name": name, "epoch": e, "norm": v} for e, values in rows.items()
                         for name, v in zip("abcdef", values)])


def test_overlap_compares_equal_sized_sets_and_ignores_ties_at_zero():
    real = _norms({1: [6, 5, 4, 3, 2, 1], 2: [5, 4, 3, 0, 0, 0]})
    same = _norms({1: [6, 5, 4, 3, 2, 1], 2: [9, 8, 7, 6, 0, 0]})     # dies slower, same ranking
    other = _norms({1: [1, 2, 3, 4, 5, 6], 2: [0, 0, 0, 4, 5, 6]})   # keeps the other half
    dead = _norms({1: [1, 2, 3, 4, 5, 6], 2: [0, 0, 0, 0, 0, 1]})
    assert overlap(real, same, 2, 1e-6) == (1.0, 3)
    assert overlap(real, other, 2, 1e-6) == (0.0, 3)
    assert overlap(real, dead, 2, 1e-6) == (0.0, 1)   # f alone against a alone, not three ties at 0
    assert math.isnan(overlap(real, _norms({2: [0] * 6}), 2, 1e-6)[0])


def test_compare_reads_the_half_dead_epoch_from_run_folders(tmp_path):
    for name, norms in (("real", _norms({1: [6, 5, 4, 3, 2, 1], 2: [5, 4, 3, 0, 0, 0]})),
                        ("shuffled", _norms({1: [1, 2, 3, 4, 5, 6], 2: [0, 0, 0, 4, 5, 6]}))):
        (tmp_path / name).mkdir()
        norms.to_csv(tmp_path / name / "group_norms.csv", index=False)
        pd.DataFrame({"epoch": [1, 2], "train_acc": [50.0, 48.0]}).to_csv(tmp_path / name / "metrics.csv", index=False)
    row = compare(tmp_path / "real", {"shuffled_labels": tmp_path / "shuffled"})
    assert (row["half_dead_epoch"], row["k_alive"], row["jaccard_shuffled_labels"]) == (2, 3, 0.0)
    assert (row["alive_end"], row["train_acc_best"], row["train_acc_last"]) == (3, 50.0, 48.0)


def _tiny(tmp_path, name, **changes):
    settings = dict(space="s2", dataset="fashion-mnist", image_size=8, train_size=32, test_size=32, batch_size=16,
                    channels=4, layers=3, epochs=2, lr=0.1, mu=2.0, grad_clip=5.0, progress=False)
    cfg = SearchConfig(**{**settings, **changes}, out=str(tmp_path / name))
    search(cfg)
    return pd.read_csv(tmp_path / name / "group_norms.csv").sort_values(["epoch", "name"], ignore_index=True)


def test_penalty_only_reads_no_data_and_permuted_labels_do(tmp_path):
    """The penalty alone: the same norms on other images (exactly), never growing; a search on permuted
    labels: other norms than the real one."""
    alone = _tiny(tmp_path, "alone", control="penalty_only")
    assert alone.equals(_tiny(tmp_path, "alone12", control="penalty_only", image_size=12))
    by_epoch = alone.pivot(index="name", columns="epoch", values="norm")
    assert (by_epoch.diff(axis=1).iloc[:, 1:] <= 0).all().all()
    real, shuffled = _tiny(tmp_path, "real"), _tiny(tmp_path, "shuffled", control="shuffled_labels")
    assert not real["norm"].equals(shuffled["norm"]) and not real["norm"].equals(alone["norm"])


@pytest.mark.slow
def test_controls_run_in_the_workflow_with_rows_of_their_own(smoke):
    from gsnas.report import Results

    rows = pd.read_csv(smoke.results / "searches.csv")
    controls = rows.query("space == 'darts'").groupby("method")["control"].apply(set).to_dict()
    assert controls == {"gsnas": {"none", "shuffled_labels", "penalty_only"}, "darts": {"none", "shuffled_labels"},
                        "random": {"none"}}
    assert rows.query("control != 'none'")["run_dir"].str.endswith(("-shuffled_labels", "-penalty_only")).all()
    res = Results(smoke.results)
    assert set(res["searches"]["control"]) == {"none"} and len(res["search_controls"]) == 3


def test_the_study_table_applies_the_criterion():
    from gsnas.regime import summary

    table = pd.DataFrame({"setting": ["a", "b", "c"], "seed": 0, "jaccard_shuffled_labels": [0.6, 0.61, 0.3],
                          "train_acc_best": 60.0, "train_acc_last": [58.0, 60.0, 57.9]})
    assert summary(table)["reads the data"].tolist() == [True, False, False]


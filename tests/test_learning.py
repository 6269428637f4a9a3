"""Every routine learns: on a fixed tiny problem (512 Fashion-MNIST images at 16x16, 3-4 epochs), its network's
test accuracy ends well above chance (10 %, ten balanced classes). A bug that stops learning (a learning rate
of 1e-9, a constant accuracy, gradients that never reach the weights) fails here.

Measured here on 1 / 2 threads: search 52.7 / 50.4 %, DARTS search 35.9 / 32.8 %, evaluation 47.3 / 44.1 %,
operation pruning 44.1 / 48.8 %, retraining the pruned network 47.3 / 44.1 %. The floor, FLOOR, is 2.5x chance.
"""
import pytest

from gsnas import config as C
from gsnas.darts import darts_search
from gsnas.evaluate import prune, train
from gsnas.search import search

pytestmark = pytest.mark.slow

FLOOR = 25.0
DATA = dict(dataset="fashion-mnist", image_size=16, train_size=512, test_size=256, batch_size=32, eval_batch_size=256,
            progress=False, channels=4, layers=3)
NET = dict(cutout=0, auxiliary_weight=0, drop_path_prob=0)


def test_the_gsnas_search_learns(tmp_path):
    res = search(C.SearchConfig(space="s2", epochs=3, lr=0.1, mu=0.5, out=str(tmp_path), **DATA))
    assert res["acc_before"] >= FLOOR and res["train_acc_last"] > res["train_acc_first"]


def test_the_darts_search_learns(tmp_path):
    res = darts_search(C.DartsConfig(space="s2", epochs=4, out=str(tmp_path), **DATA))
    assert res["acc_before"] >= FLOOR


def test_an_evaluation_learns(tmp_path):
    res = train(C.TrainConfig(genotype="DARTS_V2", epochs=3, lr=0.05, out=str(tmp_path), **DATA, **NET))
    assert res["test_acc"] >= FLOOR


def test_operation_pruning_and_retraining_learn(tmp_path):
    res = prune(C.PruneConfig(genotype="DARTS_V2", epochs=4, lr=0.1, tau="constant", mu=0.02, out=str(tmp_path / "p"),
                              **DATA, **NET))
    assert res["acc_before"] >= FLOOR
    again = train(C.TrainConfig(model=str(tmp_path / "p" / "pruned_1e-06.json"), epochs=3, lr=0.05,
                                out=str(tmp_path / "r"), **{k: v for k, v in DATA.items() if k not in ("channels", "layers")},
                                **NET))
    assert again["test_acc"] >= FLOOR

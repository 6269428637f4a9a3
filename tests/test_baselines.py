"""Baselines beyond the paper: random search (random DARTS cells) and random operation pruning."""
import torch

from gsnas import EvalNetwork, get_genotype
from gsnas.evaluate import random_removal
from gsnas.genotype import random_genotype
from gsnas.groups import count_params
from gsnas.spaces import EDGES, get_space


def test_random_cells_are_darts_cells_from_their_space():
    for name in ("darts", "s1", "s4"):
        space = get_space(name)
        cells = {random_genotype(space, seed).to_json() for seed in range(20)}
        assert len(cells) == 20  # different seeds, different cells
        g = random_genotype(space, 3)
        assert g.is_standard and g == random_genotype(space, 3)
        for kind in ("normal", "reduce"):
            for n, node in enumerate(g.cell(kind)):
                assert len({s for _, s in node}) == 2
                assert all(op in space.ops(kind)[EDGES.index((n + 2, s))] and op != "none" for op, s in node)


def test_param_free_share_counts_skips_pools_and_noise():
    v2 = get_genotype("DARTS_V2")
    # DARTS_V2 (Liu et al.): the normal cell has 2 skips among its 8 ops; the reduce cell only max pools and skips
    assert v2.count({"skip_connect"}, "normal") == 2 and v2.count({"max_pool_3x3"}, "reduce") == 5
    assert v2.param_free_share() == (2 + 8) / 16


def test_random_removal_removes_down_to_the_target_and_is_seeded():
    torch.manual_seed(0)
    net = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1, gates=True)
    full = count_params(net)
    target = int(0.6 * full)
    removed = random_removal(net, target, seed=1)
    pruned = net.without(removed)
    smallest = min(g.size for g in net.op_groups())
    assert count_params(pruned) <= target < count_params(pruned) + max(g.size for g in net.op_groups())
    assert removed == random_removal(net, target, seed=1) != random_removal(net, target, seed=2)
    assert len(pruned.op_groups()) == len(net.op_groups()) - len(removed) and smallest > 0


def test_weights_leave_out_pruning_gates_and_the_auxiliary_head():
    """A gated (pruning) network and its ungated retraining count the same weights."""
    from gsnas.evaluate import weights

    args = (get_genotype("DARTS_V2"), 8, 5, 10, 1)
    plain, gated = EvalNetwork(*args), EvalNetwork(*args, gates=True)
    gates = count_params(gated) - count_params(plain)
    assert gates == 3 * 2 + 2 * 8  # a gate per parameter-free op: 2 skips per normal cell, 5 pools + 3 skips per reduce
    assert weights(gated) == weights(plain) == count_params(plain)
    aux = EvalNetwork(get_genotype("DARTS_V2"), 8, 6, 10, 3, auxiliary=True)
    assert weights(aux) == count_params(aux) - count_params(aux.auxiliary_head)

"""Baselines beyond the paper: random search (random DARTS cells) and random operation pruning."""
import re

import pytest
import torch

from gsnas import EvalNetwork, get_genotype
from gsnas.evaluate import matched_removal, weights
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



def test_matched_removal_matches_type_mix_count_and_weights_and_is_seeded():
    """The random control removes as many instances of each op type as pruning did (parameter-free ones
    included), leaves the same weights within 1 %, and draws other instances for other seeds."""
    net = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1, gates=True)
    groups = net.op_groups()
    # pruning's choice: every instance in cell 0 and cell 3 (a normal and a reduction cell), skips and pools too
    removed = {(g.cell, g.edge, g.op) for g in groups if g.cell in (0, 3)}
    ops = lambda keys: sorted(op for _, _, op in keys)  # noqa: E731
    assert {"skip_connect", "max_pool_3x3"} & set(ops(removed))  # parameter-free types are in the mix
    target = weights(net.without(removed))
    draws = [matched_removal(net, removed, seed) for seed in range(3)]
    for pick in draws:
        assert ops(pick) == ops(removed) and len(pick) == len(removed)
        assert abs(weights(net.without(pick)) / target - 1) <= 0.01
    assert draws[0] == matched_removal(net, removed, 0)  # seeded
    assert len({frozenset(p) for p in draws}) == 3 and all(p != removed for p in draws)  # chance, not pruning
    assert matched_removal(net, {(g.cell, g.edge, g.op) for g in groups}, 0) == {(g.cell, g.edge, g.op) for g in groups}


def test_a_network_carries_a_signal_while_a_path_of_ops_leads_from_stem_to_classifier():
    net = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1, gates=True)
    cell = lambda i: {(g.cell, g.edge, g.op) for g in net.op_groups() if g.cell == i}  # noqa: E731
    assert net.carries_signal() and net.carries_signal(cell(2))  # cell 3 reads cell 1 past the empty cell 2
    assert not net.carries_signal(cell(4))  # the classifier reads the last cell only
    assert not net.carries_signal(cell(0) | cell(2) | {k for k in cell(1) | cell(3) if k[1] in (0, 2, 5)})


def test_matched_removal_keeps_a_path_where_pruning_kept_one():
    """Group sparsity at mu 0.5 (the cpu profile) keeps 6 of 40 ops: pools reading input 0 of both reduction cells
    and the last cell's first node, a path past the two emptied normal cells. Most unconditioned draws of the same
    mix cut every path (69 of 100): the control draws among those that do not."""
    net = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1, gates=True)
    kept = {(c, EDGES.index(e), "max_pool_3x3") for c in (1, 3) for e in ((2, 0), (4, 0))}
    kept |= {(4, EDGES.index((2, s)), "sep_conv_3x3") for s in (0, 1)}
    removed = {(g.cell, g.edge, g.op) for g in net.op_groups()} - kept
    assert net.carries_signal(removed) and not net.carries_signal(removed | {(4, EDGES.index((2, 1)), "sep_conv_3x3")})
    draws = [matched_removal(net, removed, seed) for seed in range(5)]
    assert all(net.carries_signal(p) for p in draws) and len({frozenset(p) for p in draws}) > 1


def test_matched_removal_says_when_it_cannot_match():
    net = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1, gates=True)
    g = net.op_groups()[0]
    with pytest.raises(ValueError, match=r"no random draw of \{'sep_conv_3x3': 1\} leaves [\d,]+ weights ± 1% and a "
                                         r"path from stem to classifier in 0 tries"):
        matched_removal(net, {(g.cell, g.edge, g.op)}, 0, tries=0)
    plain = EvalNetwork(get_genotype("DARTS_V2"), 8, 5, 10, 1)
    skip = next((g.cell, g.edge, g.op) for g in net.op_groups() if g.op == "skip_connect")
    with pytest.raises(ValueError, match="parameter-free ops form groups only with gates=True"):
        matched_removal(plain, {skip}, 0)


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


@pytest.mark.parametrize("kwargs, message", [
    ({"selection": "width"}, "channels is for selection 'width' only (the width baseline), got selection 'width' "
                             "with channels None"),
    ({"channels": 3}, "channels is for selection 'width' only"),
    ({"selection": "width", "channels": 3, "mu": 0.2}, "the width baseline narrows the unpruned network: mu must be 0"),
])
def test_the_width_baseline_takes_a_width_and_no_mu(tmp_path, kwargs, message):
    from gsnas.experiments import run_retrain

    with pytest.raises(ValueError, match=re.escape(message)):
        run_retrain("smoke", results=str(tmp_path), **kwargs)
    assert not any(tmp_path.iterdir())  # nothing written

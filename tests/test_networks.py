"""Spaces, supernet, evaluation network, pruning: structure and the zero discretization gap."""
import pytest
import torch

from conftest import randomize_bn, zero_groups
from gsnas import DARTS_V1, DARTS_V2, EvalNetwork, Genotype, SPACES, Supernet, get_space
from gsnas.cell import set_fused
from gsnas.ops import Gate
from gsnas.spaces import DARTS_OPS, EDGES

SMALL = dict(channels=4, layers=3, num_classes=10)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


# --- spaces ---------------------------------------------------------------------

@pytest.mark.parametrize("space, groups", [("darts", 196), ("s1", 56), ("s2", 56), ("s3", 56), ("s4", 56)])
def test_group_count_per_space(space, groups):
    net = Supernet(space, in_channels=1, **SMALL)
    assert len(net.op_groups()) == groups
    names = [g.name for g in net.op_groups()]
    assert len(set(names)) == len(names)
    assert "normal/edge03/sep_conv_3x3" in names


def test_s1_space_is_the_robustdarts_one():
    s1 = get_space("s1")
    assert s1.normal[0] == ("skip_connect", "dil_conv_3x3")
    assert s1.reduce[1] == ("max_pool_3x3", "dil_conv_3x3")
    assert s1.normal[12] == ("dil_conv_3x3", "dil_conv_5x5")
    assert s1.reduce[13] == ("skip_connect", "dil_conv_5x5")
    assert all(len(ops) == 2 for ops in s1.normal + s1.reduce)


@pytest.mark.parametrize("bad, message", [("s9", "unknown search space 's9'"), ("DARTS", "valid spaces: darts")])
def test_unknown_space_names_it(bad, message):
    with pytest.raises(ValueError, match=message):
        Supernet(bad)


def test_unknown_op_names_it():
    with pytest.raises(ValueError, match="unknown op 'conv_7x7'.*sep_conv_3x3"):
        Genotype([[("conv_7x7", 0), ("sep_conv_3x3", 1)]] * 4, [2, 3, 4, 5], DARTS_V2.reduce, [2, 3, 4, 5])


@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("in_channels", [1, 3])
@pytest.mark.parametrize("size", [28, 32])
def test_every_space_runs_forward_backward(space, in_channels, size):
    net = Supernet(space, in_channels=in_channels, **SMALL)
    logits = net(torch.randn(2, in_channels, size, size))
    assert logits.shape == (2, 10)
    logits.sum().backward()
    # Every sparsity group gets a gradient (the ``none`` op has no group).
    assert all(any(p.grad is not None for p in g.params) for g in net.op_groups())


def test_supernet_has_no_architecture_parameters_and_gates_where_expected():
    net = Supernet("darts", in_channels=3, channels=16, layers=8)
    gates = [m for m in net.modules() if isinstance(m, Gate)]
    # normal: 6 cells x 14 edges x (max, avg, skip); reduce: 2 cells x 14 edges x (max, avg, skip)
    assert len(gates) == 6 * 14 * 3 + 2 * 14 * 3
    # DARTS' supernet (without 'none' and without gates) at C=16, 8 cells.
    assert n_params(net) - len(gates) == 1_930_618
    assert not any(m.affine for c in net.cells for m in c.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_stride2_skip_keeps_conv_weights_and_gate():
    net = Supernet("s2", in_channels=1, **SMALL)
    group = next(g for g in net.op_groups() if g.name == "reduce/edge00/skip_connect")
    shapes = sorted(tuple(p.shape) for p in group.params)
    assert () in shapes and any(len(s) == 4 for s in shapes)
    assert group.clip.count((0.0, 1.0)) == 2  # one gate per reduction cell


def test_param_groups_cover_every_parameter_once():
    net = Supernet("darts", in_channels=1, **SMALL)
    groups = net.param_groups(mu=60.0)
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == len(list(net.parameters()))
    rest = groups[-1]
    assert rest["mu"] == 0 and rest["name"] == "unregularized"
    assert {id(p) for p in rest["params"]} == {id(p) for p in [*net.stem.parameters(), *net.classifier.parameters(),
                                                              *(q for c in net.cells for q in c.preprocess0.parameters()),
                                                              *(q for c in net.cells for q in c.preprocess1.parameters())]}
    assert all(g["mu"] == 60.0 and g["normalize"] == "div" for g in groups[:-1])


# --- supernet pruning and genotype ------------------------------------------------

def _zero_some(net, names):
    zero_groups([g for g in net.op_groups() if g.name in names])


def test_supernet_prune_is_exact():
    net = Supernet("darts", in_channels=1, **SMALL)
    randomize_bn(net)
    # Kill node 2 of the normal cell entirely, and some ops elsewhere.
    dead = {f"normal/edge0{k}/{op}" for k in (0, 1) for op in DARTS_OPS}
    dead |= {"normal/edge05/sep_conv_5x5", "reduce/edge00/skip_connect", "reduce/edge07/max_pool_3x3"}
    _zero_some(net, dead)
    pruned = net.prune(threshold=1e-6)
    assert n_params(pruned) < n_params(net)
    assert len(pruned.op_groups()) == len(net.op_groups()) - len(dead)
    x = torch.randn(4, 1, 28, 28)
    net.eval(), pruned.eval()
    assert torch.equal(net(x), pruned(x))
    net.train(), pruned.train()
    # Training batches edges (gsnas.fused): the grouping, and so the rounding, depends on the ops present.
    torch.testing.assert_close(net(x), pruned(x), rtol=1e-5, atol=1e-5)
    set_fused(net, False), set_fused(pruned, False)
    assert torch.equal(net(x), pruned(x))


def test_supernet_genotype_reads_off_surviving_ops():
    net = Supernet("s2", in_channels=1, **SMALL)
    dead = {g.name for g in net.op_groups() if g.op == "skip_connect" or g.edge in (0, 1)}
    _zero_some(net, dead)
    geno = net.genotype(threshold=1e-6)
    # Node 2 lost both inputs: it leaves the concat and ops reading it are dropped.
    assert geno.normal[0] == () and 2 not in geno.normal_concat
    assert all(s != 2 for node in geno.normal for _, s in node)
    assert geno.normal[1] == (("sep_conv_3x3", 0), ("sep_conv_3x3", 1))
    assert all(op == "sep_conv_3x3" for node in geno.normal + geno.reduce for op, _ in node)
    assert not geno.is_standard


def test_each_cell_type_is_read_off_its_own_groups():
    net = Supernet("s2", in_channels=1, **SMALL)
    _zero_some(net, {g.name for g in net.op_groups() if g.cell == "reduce" and g.op == "skip_connect"})
    geno = net.genotype(threshold=1e-6)
    assert {op for node in geno.reduce for op, _ in node} == {"sep_conv_3x3"}
    assert {op for node in geno.normal for op, _ in node} == {"skip_connect", "sep_conv_3x3"}


def test_genotype_top2_is_darts_rule():
    net = Supernet("darts", in_channels=1, **SMALL)
    geno = net.genotype_top2()
    assert geno.is_standard
    norms = net.group_norms().set_index(["cell", "edge", "op"])["norm"]
    for i, node in enumerate(geno.normal):
        strength = {s: max(norms["normal", EDGES.index((i + 2, s))]) for s in range(i + 2)}
        assert sorted(s for _, s in node) == sorted(sorted(strength, key=strength.get)[-2:])


def test_threshold_must_be_positive():
    net = Supernet("s2", in_channels=1, **SMALL)
    for bad in (0, -1e-6, "1e-6"):
        with pytest.raises(ValueError, match="threshold must be a number > 0"):
            net.prune(bad)


# --- evaluation network -------------------------------------------------------------

def test_darts_v2_parameter_count_matches_darts():
    net = EvalNetwork(DARTS_V2, channels=36, layers=20, num_classes=10, in_channels=3, auxiliary=True)
    aux = n_params(net.auxiliary_head)
    assert n_params(net) - aux == 3_349_342  # DARTS' "param size = 3.349342MB"
    assert abs((n_params(net) - aux) / 1e6 - 3.3) < 0.06


def test_eval_network_forward_with_auxiliary_and_drop_path():
    net = EvalNetwork(DARTS_V1, channels=8, layers=5, num_classes=10, in_channels=3, auxiliary=True,
                      drop_path_prob=0.2)
    net.drop_prob = 0.2
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert logits.shape == aux.shape == (2, 10)
    (logits.sum() + 0.4 * aux.sum()).backward()
    net.eval()
    logits, aux = net(torch.randn(2, 3, 32, 32))
    assert aux is None


def test_auxiliary_head_on_small_inputs_says_why():
    net = EvalNetwork(DARTS_V2, channels=4, layers=3, auxiliary=True, in_channels=1)
    with pytest.raises(ValueError, match="at least 29x29"):
        net(torch.randn(2, 1, 28, 28))


def test_operation_groups_one_per_op_instance():
    net = EvalNetwork(DARTS_V2, channels=4, layers=5, in_channels=1, gates=True)
    groups = net.operation_groups(mu=1e-4)
    assert len(groups) - 1 == 5 * 8  # 8 ops per cell, all prunable with gates
    assert groups[0]["normalize"] == "none"
    ungated = EvalNetwork(DARTS_V2, channels=4, layers=5, in_channels=1)
    assert n_params(net) - n_params(ungated) == sum(op != "sep_conv_3x3" and op != "dil_conv_3x3"
                                                    for i in range(5) for node in net.cell_nodes[i] for op, _ in node)


def test_eval_network_prune_is_exact_and_per_cell():
    net = EvalNetwork(DARTS_V2, channels=4, layers=5, in_channels=1, gates=True)
    randomize_bn(net)
    groups = net.op_groups()
    # Cell 0: both inputs of node 2 (so node 2 becomes a zero node read by node 5's dil_conv).
    dead = [g for g in groups if g.cell == 0 and g.edge in (0, 1)]
    dead += [g for g in groups if g.cell == 3 and g.op == "max_pool_3x3"]  # a reduction cell's gated pools
    dead += [g for g in groups if g.cell == 4][:3]
    zero_groups(dead)
    pruned = net.prune(threshold=1e-6)
    assert len(pruned.op_groups()) == len(groups) - len(dead)
    assert pruned.cell_nodes[0][0] == () and pruned.cell_nodes[1] == net.cell_nodes[1]
    assert n_params(pruned) < n_params(net)
    x = torch.randn(3, 1, 28, 28)
    net.eval(), pruned.eval()
    assert torch.equal(net(x)[0], pruned(x)[0])
    # The pruned network can be rebuilt untrained from its config (for retraining from scratch).
    fresh = EvalNetwork.from_config(pruned.config())
    assert n_params(fresh) == n_params(pruned) and fresh.cell_nodes == pruned.cell_nodes


def test_eval_network_builds_from_multipath_genotype():
    geno = Genotype([[("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("skip_connect", 1)], [("sep_conv_3x3", 2)], [],
                     [("dil_conv_3x3", 3)]], [2, 3, 5], DARTS_V2.reduce, [2, 3, 4, 5])
    net = EvalNetwork(geno, channels=4, layers=3, in_channels=1)
    assert net.cells[0].multiplier == 3
    logits, _ = net(torch.randn(2, 1, 28, 28))
    assert logits.shape == (2, 10)


def test_bad_dimensions_name_the_value():
    with pytest.raises(ValueError, match="layers must be an integer >= 3.*got 2"):
        Supernet("darts", layers=2)
    with pytest.raises(ValueError, match="channels must be an integer >= 1, got 0"):
        EvalNetwork(DARTS_V2, channels=0)

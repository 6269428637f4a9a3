"""The CUDA path: skipped without a GPU (CI has none); run on a lent GPU by benchmarks/gpu_check.sh."""
import json
import warnings

import pytest
import torch
import torch.nn.functional as F

from conftest import randomize_bn, zero_groups
from gsnas import DARTS_V2, EvalNetwork, Supernet
from gsnas import cli
from gsnas import config as C
from gsnas.search import search
from gsnas.proxsgd import ProxSGD

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


def _supernet(device, dtype=torch.float32):
    torch.manual_seed(0)
    return Supernet("darts", channels=8, layers=5, num_classes=10, in_channels=3).to(device, dtype)


@pytest.mark.parametrize("flat", [True, False])
def test_proxsgd_step_never_waits_for_the_gpu(flat):
    net = _supernet(CUDA).channels_last()
    opt = ProxSGD(net.param_groups(5.0, "div"), lr=0.1, rho=0.8, flat=flat)
    x, y = torch.randn(8, 3, 32, 32, device=CUDA), torch.randint(0, 10, (8,), device=CUDA)
    for step in range(3):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        if step:  # the first step builds buffers and layouts (host to device copies, once)
            torch.cuda.set_sync_debug_mode("error")
        try:
            opt.step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(p).all() for p in net.parameters())


@pytest.mark.parametrize("tau", ["constant", "adaptive"])
def test_search_steps_on_cuda_match_the_cpu_in_float64(tau):
    nets = [_supernet(d, torch.float64) for d in ("cpu", CUDA)]
    opts = [ProxSGD(n.param_groups(5.0, "div"), lr=0.1, rho=0.8, tau=tau) for n in nets]
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 3, 32, 32, generator=g, dtype=torch.float64), torch.randint(0, 10, (6,), generator=g)
    for net, opt in zip(nets, opts):
        xd, yd = x.to(next(net.parameters()).device), y.to(next(net.parameters()).device)
        for _ in range(4):
            opt.zero_grad()
            F.cross_entropy(net(xd), yd).backward()
            opt.step()
    for p, q in zip(*(n.parameters() for n in nets)):
        torch.testing.assert_close(q.detach().cpu(), p.detach(), rtol=1e-9, atol=1e-11)
        assert torch.equal(q.detach().cpu() == 0, p.detach() == 0)


def test_pruned_network_is_exact_on_cuda():
    net = EvalNetwork(DARTS_V2, channels=8, layers=5, in_channels=3, gates=True)
    randomize_bn(net)
    groups = net.op_groups()
    zero_groups([g for g in groups if g.cell == 0 and g.edge in (0, 1)] + [g for g in groups if g.cell == 4][:3])
    pruned = net.prune(threshold=1e-6)
    net, pruned = net.to(CUDA).eval(), pruned.to(CUDA).eval()
    x = torch.randn(4, 3, 32, 32, device=CUDA)
    with torch.no_grad():
        assert torch.equal(net(x)[0], pruned(x)[0])


@pytest.mark.parametrize("command", [["search"], ["search", "--method", "darts"], ["train"], ["prune"]])
def test_cli_runs_on_cuda_with_the_fast_path(command, tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli.main([*command, "--profile", "smoke", "--device", "cuda", "--amp", "true", "--out", str(out)])
    assert rc == 0
    result = json.loads((out / "result.json").read_text())
    assert result["device"].startswith("cuda") and result["config"]["amp"] is True


def _synchronizations(train_size, tmp_path):
    """How many times a short search makes the host wait for the GPU."""
    cfg = C.SearchConfig(space="s2", dataset="fashion-mnist", image_size=16, train_size=train_size, test_size=32, batch_size=16, channels=4,
                         layers=3, lr=0.1, mu=2.0, epochs=2, progress=False, device="cuda", amp=True,
                         out=str(tmp_path / f"n{train_size}"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            search(cfg)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return sum("synchroniz" in str(w.message) for w in caught)


def test_training_steps_never_wait_for_the_gpu(tmp_path):
    """Reads happen per epoch (tallies, evaluation, checkpoints): 4x the steps, the same count."""
    assert _synchronizations(32, tmp_path) == _synchronizations(128, tmp_path)

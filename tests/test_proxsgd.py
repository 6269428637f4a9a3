"""Tests for gsnas.ProxSGD against SPEC §2 (momentum, group prox, tau modes, clipping)."""
from __future__ import annotations

import io
import math
import re

import pytest
import torch

import gsnas
from gsnas import ProxSGD

DT = torch.float64
BETA, DELTA = 0.999, 1e-8


# --------------------------------------------------------------------------------------
# 1. closed-form group prox vs a brute-force minimiser of the SPEC §2 subproblem
# --------------------------------------------------------------------------------------
def subproblem(x, w, v, tau, mu):
    """SPEC §2 per-group objective: v^T(x - w) + tau/2 ||x - w||^2 + mu ||x||_2."""
    d = x - w
    return v @ d + 0.5 * tau * (d @ d) + mu * torch.linalg.vector_norm(x)


def brute_force_min(w, v, tau, mu):
    """Minimise the (strongly convex) subproblem numerically, without its closed form.

    The objective is smooth everywhere except at x = 0, so its minimiser is either 0 or a
    stationary point of the smooth part: run L-BFGS from w (away from 0), then compare with 0.
    """
    x = w.clone().requires_grad_(True)
    if torch.linalg.vector_norm(x) < 1e-3:
        x = (w + 0.5).detach().clone().requires_grad_(True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=2000, tolerance_grad=1e-15, tolerance_change=1e-18,
                            history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = subproblem(x, w, v, tau, mu)
        f.backward()
        return f

    for _ in range(5):
        opt.step(closure)
    x = x.detach()
    zero = torch.zeros_like(w)
    if torch.isnan(x).any() or subproblem(zero, w, v, tau, mu) <= subproblem(x, w, v, tau, mu):
        return zero
    return x


def _split(n, gen):
    """Shapes for one group of ``n`` elements: one or two tensors (a matrix when possible)."""
    if n == 1:
        return [()]
    if n == 4:
        return [(2, 2)]
    if n == 6:
        return [(2, 2), (2,)]
    k = int(torch.randint(1, n, (1,), generator=gen))
    return [(k,), (n - k,)]


# (dim, ratio = mu_k / (tau ||b||), tau mode, normalize): ratio < 1 keeps the group, > 1 zeroes it
PROX_CASES = [
    (1, 0.3, "constant", "none"), (1, 2.5, "constant", "none"), (1, 0.7, "adaptive", "none"),
    (2, 0.2, "constant", "div"), (2, 1.3, "adaptive", "div"), (3, 0.85, "adaptive", "none"),
    (3, 4.0, "constant", "none"), (4, 0.5, "constant", "div"), (4, 1.05, "constant", "none"),
    (5, 0.6, "adaptive", "div"), (5, 10.0, "adaptive", "none"), (6, 0.4, "constant", "none"),
    (6, 0.95, "adaptive", "div"), (6, 1.7, "constant", "div"),
]


@pytest.mark.parametrize("case", range(len(PROX_CASES)))
def test_group_prox_matches_brute_force(case):
    n, ratio, tau_mode, normalize = PROX_CASES[case]
    gen = torch.Generator().manual_seed(1000 + case)
    w = torch.randn(n, generator=gen, dtype=DT) * 2
    g = torch.randn(n, generator=gen, dtype=DT) * 1.5
    # lr=1 (w_new = w_hat), rho=1 (v = g). tau: 1 (constant), or after one adaptive step with rho=1,
    # r_hat = g^2 and tau = mean(|g| + delta) over the group.
    tau = 1.0 if tau_mode == "constant" else float((g.abs() + DELTA).mean())
    mu_k = ratio * tau * float(torch.linalg.vector_norm(w - g / tau))
    mu = mu_k * math.sqrt(n) if normalize == "div" else mu_k

    shapes = _split(n, gen)
    sizes = [math.prod(s) for s in shapes]
    params = [torch.nn.Parameter(c.reshape(s).clone()) for c, s in zip(w.split(sizes), shapes)]
    for p, c in zip(params, g.split(sizes)):
        p.grad = c.reshape(p.shape).clone()
    opt = ProxSGD([{"params": params, "mu": mu, "normalize": normalize}], lr=1.0, rho=1.0, tau=tau_mode)
    opt.step()
    w_new = torch.cat([p.detach().reshape(-1) for p in params])

    x_star = brute_force_min(w, g, tau, mu_k)
    if ratio > 1:
        assert torch.equal(x_star, torch.zeros_like(x_star))  # sanity of the case itself
        assert torch.equal(w_new, torch.zeros_like(w_new)), w_new  # exactly zero, not approximately
        assert all((p == 0).all() for p in params)
    else:
        assert (w_new != 0).all()
        torch.testing.assert_close(w_new, x_star, rtol=1e-7, atol=1e-8)
    # Optimality certificate (strong convexity): f(x) >= f(w_new) + tau/2 ||x - w_new||^2 for all x.
    f_new = subproblem(w_new, w, g, tau, mu_k)
    for scale in (1e-4, 1e-2, 1.0):
        for _ in range(20):
            x = w_new + scale * torch.randn(n, generator=gen, dtype=DT)
            gap = subproblem(x, w, g, tau, mu_k) - f_new - 0.5 * tau * ((x - w_new) @ (x - w_new))
            assert gap >= -1e-10 * (1 + abs(float(f_new)))


# --------------------------------------------------------------------------------------
# 2. trajectory vs an independent, literal reference of SPEC §2
# --------------------------------------------------------------------------------------
def reference_run(specs, init, grads_seq, tau_mode):
    """Plain-Python ProxSGD, literally SPEC §2. specs: list of dicts (mu, normalize, clip list, lr, rho,
    lr_decay, rho_decay, optional grouping). A gradient of None skips that param for that step.
    Returns the params and how often the box clipped a prox point."""
    w = [[x.clone() for x in group] for group in init]
    v = [[torch.zeros_like(x) for x in group] for group in init]
    r = [[torch.zeros_like(x) for x in group] for group in init]
    steps = [[0 for _ in group] for group in init]
    clipped = 0
    for grads in grads_seq:
        for gi, spec in enumerate(specs):
            live = [j for j, g in enumerate(grads[gi]) if g is not None]
            for j in live:
                steps[gi][j] += 1
                t, g = steps[gi][j], grads[gi][j]
                rho = spec["rho"] / (t + 4) ** spec["rho_decay"]
                v[gi][j] = (1 - rho) * v[gi][j] + rho * g
                r[gi][j] = BETA * r[gi][j] + (1 - BETA) * g * g
            tau_el = {j: torch.sqrt(r[gi][j] / (1 - BETA ** steps[gi][j])) + DELTA if tau_mode == "adaptive"
                      else torch.ones_like(w[gi][j]) for j in live}
            grouping = spec.get("grouping") or ("group" if spec["mu"] > 0 else "none")
            mu_k = lambda size: spec["mu"] / math.sqrt(size) if spec["normalize"] == "div" else spec["mu"]

            def prox(js, size):  # one sparsity group made of the params js
                tau = torch.cat([tau_el[j].reshape(-1) for j in js]).mean()
                b = {j: w[gi][j] - v[gi][j] / tau for j in js}
                norm_b = torch.sqrt(sum((x * x).sum() for x in b.values()))
                factor = max(0.0, 1.0 - mu_k(size) / float(tau * norm_b)) if norm_b > 0 else 0.0
                return {j: factor * x for j, x in b.items()}

            if grouping == "none":
                w_hat = {j: w[gi][j] - v[gi][j] / tau_el[j] for j in live}
            elif grouping == "tensor":
                w_hat = {j: prox([j], w[gi][j].numel())[j] for j in live}
            else:
                w_hat = prox(live, sum(x.numel() for x in w[gi])) if live else {}
            for j in live:
                bounds = spec["clip"][j]
                if bounds is not None:
                    clamped = w_hat[j].clamp(*bounds)
                    clipped += int(not torch.equal(clamped, w_hat[j]))
                    w_hat[j] = clamped
                lr = spec["lr"] / (steps[gi][j] + 4) ** spec["lr_decay"]
                w[gi][j] = w[gi][j] + lr * (w_hat[j] - w[gi][j])
    return w, clipped


def _trajectory_setup(seed=0, steps=20):
    gen = torch.Generator().manual_seed(seed)
    rnd = lambda shape: torch.randn(shape, generator=gen, dtype=DT)
    specs = [
        dict(mu=0.0, normalize="none", clip=[None, None], shapes=[(3, 4), (5,)]),
        dict(mu=0.05, normalize="div", clip=[None, None], shapes=[(2, 3), (4,)]),
        dict(mu=0.3, normalize="none", clip=[None], shapes=[(6,)]),
        dict(mu=0.02, normalize="div", clip=[None, (0.0, 1.0)], shapes=[(3,), ()]),
        dict(mu=0.0, normalize="div", clip=[(0.0, 1.0)], shapes=[()], lr_decay=0.5, rho_decay=0.3),
        dict(mu=1.0, normalize="none", clip=[None], shapes=[(2, 2)], lr=0.3, rho=0.5),
        dict(mu=0.1, normalize="div", grouping="tensor", clip=[None, None, (0.0, 1.0)], shapes=[(2, 3), (4,), ()]),
        dict(mu=0.0, normalize="none", grouping="tensor", clip=[None], shapes=[(5,)]),
    ]
    for s in specs:
        s.setdefault("lr", 0.05)
        s.setdefault("rho", 0.8)
        s.setdefault("lr_decay", 0.0)
        s.setdefault("rho_decay", 0.0)
    init = [[rnd(shape) for shape in s["shapes"]] for s in specs]
    init[3][1] = torch.tensor(0.97, dtype=DT)  # gate inside a regularised group
    init[4][0] = torch.tensor(0.96, dtype=DT)  # clipped scalar in a plain group
    init[6][2] = torch.tensor(0.5, dtype=DT)  # a gate as its own tensor group
    grads_seq = []
    for t in range(steps):
        grads = [[rnd(shape) for shape in s["shapes"]] for s in specs]
        push = -3.0 if t < steps // 2 else 3.0  # push the bounded scalars up (past 1), then down (past 0)
        grads[3][1] = grads[3][1] + push
        grads[4][0] = grads[4][0] + push
        grads[6][2] = grads[6][2] - push
        grads_seq.append(grads)
    return specs, init, grads_seq


def _make_opt(specs, init, tau_mode, flat=True):
    params = [[torch.nn.Parameter(x.clone()) for x in group] for group in init]
    keys = ("mu", "normalize", "clip", "lr", "rho", "lr_decay", "rho_decay", "grouping")
    groups = [{"params": ps, **{k: s[k] for k in keys if k in s}} for ps, s in zip(params, specs)]
    return ProxSGD(groups, tau=tau_mode, beta=BETA, delta=DELTA, flat=flat), params


def _run(opt, params, grads_seq):
    for grads in grads_seq:
        for ps, gs in zip(params, grads):
            for p, g in zip(ps, gs):
                p.grad = None if g is None else g.clone()
        opt.step()


@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_trajectory_matches_reference(tau_mode, flat):
    specs, init, grads_seq = _trajectory_setup()
    opt, params = _make_opt(specs, init, tau_mode, flat)
    _run(opt, params, grads_seq)
    assert bool(opt._flats) == flat  # each really took its own path
    ref, clipped = reference_run(specs, init, grads_seq, tau_mode)
    assert clipped >= 2  # the clip path was really exercised
    for gi, (ps, rs) in enumerate(zip(params, ref)):
        for p, r in zip(ps, rs):
            assert p.dtype == DT
            assert torch.allclose(p.detach(), r, rtol=1e-11, atol=1e-13), (gi, p, r)
    # bounded scalars ended within bounds (pushed down past 0 in the second half)
    assert 0.0 <= float(params[3][1].detach()) <= 1.0 and 0.0 <= float(params[4][0].detach()) <= 1.0
    # every parameter actually moved
    for ps, xs in zip(params, init):
        for p, x in zip(ps, xs):
            assert not torch.equal(p.detach(), x)


def test_closure_loss_is_returned():
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0], dtype=DT))
    opt = ProxSGD([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p ** 2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss.detach()) == 5.0
    # rho=0.8, tau=1: w - lr * rho * 2w
    assert torch.allclose(p.detach(), torch.tensor([1.0, -2.0], dtype=DT) * (1 - 0.1 * 0.8 * 2))


# --------------------------------------------------------------------------------------
# 3. exact zeros
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_large_mu_zeroes_group_exactly_small_mu_does_not(tau_mode):
    gen = torch.Generator().manual_seed(3)
    w0 = [torch.randn(3, 2, generator=gen), torch.randn(4, generator=gen)]
    big = [torch.nn.Parameter(x.clone()) for x in w0]
    small = [torch.nn.Parameter(x.clone()) for x in w0]
    opt = ProxSGD([{"params": big, "mu": 100.0}, {"params": small, "mu": 1e-3}], lr=1.0, rho=0.8, tau=tau_mode)
    for _ in range(3):
        grads = [torch.randn(x.shape, generator=gen) for x in w0]
        for ps in (big, small):
            for p, g in zip(ps, grads):
                p.grad = g.clone()
        opt.step()
        assert all(torch.equal(p.detach(), torch.zeros_like(p)) for p in big)
        assert all((p != 0).all() for p in small)


@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_large_mu_reaches_exact_zero_with_small_lr(tau_mode):
    # w_hat = 0 every step, so the group shrinks by (1 - lr) and underflows to exactly 0 (SPEC §2 note).
    p = torch.nn.Parameter(torch.tensor([0.5, -0.25, 1.0]))
    opt = ProxSGD([{"params": [p], "mu": 50.0}], lr=0.5, tau=tau_mode)
    steps_to_zero = None
    for k in range(400):
        p.grad = torch.zeros_like(p)
        opt.step()
        assert torch.isfinite(p).all()
        if steps_to_zero is None and torch.equal(p.detach(), torch.zeros(3)):
            steps_to_zero = k + 1
        if steps_to_zero is not None:
            assert torch.equal(p.detach(), torch.zeros(3))  # once zero, stays zero
    assert steps_to_zero is not None and steps_to_zero > 100


@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
@pytest.mark.parametrize("normalize", ["div", "none"])
def test_zero_group_with_zero_grad_stays_exactly_zero(tau_mode, normalize):
    ps = [torch.nn.Parameter(torch.zeros(2, 3, dtype=DT)), torch.nn.Parameter(torch.zeros((), dtype=DT))]
    opt = ProxSGD([{"params": ps, "mu": 0.1, "normalize": normalize, "clip": [None, (0, 1)]}],
                  lr=0.5, tau=tau_mode)
    for _ in range(5):
        for p in ps:
            p.grad = torch.zeros_like(p)
        opt.step()
        for p in ps:
            assert torch.equal(p.detach(), torch.zeros_like(p))
            assert not torch.isnan(p).any()
        for s in opt.state.values():
            assert all(torch.isfinite(x).all() for x in s.values() if torch.is_tensor(x))


# --------------------------------------------------------------------------------------
# 4. state_dict round-trip
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_state_dict_round_trip(tau_mode):
    specs, init, grads_seq = _trajectory_setup(seed=7, steps=12)
    k = 5
    opt_a, params_a = _make_opt(specs, init, tau_mode)

    def run(opt, params, seq):
        for grads in seq:
            for ps, gs in zip(params, grads):
                for p, g in zip(ps, gs):
                    p.grad = g.clone()
            opt.step()

    run(opt_a, params_a, grads_seq[:k])
    buf = io.BytesIO()
    torch.save({"opt": opt_a.state_dict(), "params": [[p.detach() for p in ps] for ps in params_a]}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)

    # a fresh optimizer with different initial values, then loaded
    opt_b, params_b = _make_opt(specs, [[torch.zeros_like(x) for x in g] for g in init], tau_mode)
    with torch.no_grad():
        for ps, xs in zip(params_b, saved["params"]):
            for p, x in zip(ps, xs):
                p.copy_(x)
    opt_b.load_state_dict(saved["opt"])
    assert len(opt_b.state) == len(opt_a.state)
    for pa, pb in zip([p for ps in params_a for p in ps], [p for ps in params_b for p in ps]):
        sa, sb = opt_a.state[pa], opt_b.state[pb]
        assert sa.keys() == sb.keys() and sa["step"] == sb["step"] == k
        assert ("exp_avg_sq" in sa) == (tau_mode == "adaptive")
        for key in sa:
            if torch.is_tensor(sa[key]):
                assert torch.equal(sa[key], sb[key]) and sa[key].data_ptr() != sb[key].data_ptr()

    run(opt_a, params_a, grads_seq[k:])
    run(opt_b, params_b, grads_seq[k:])
    for ps_a, ps_b in zip(params_a, params_b):
        for pa, pb in zip(ps_a, ps_b):
            assert torch.equal(pa.detach(), pb.detach())
    # and resuming is not a no-op: it differs from restarting the optimizer state from scratch
    opt_c, params_c = _make_opt(specs, [[x.clone() for x in g] for g in saved["params"]], tau_mode)
    run(opt_c, params_c, grads_seq[k:])
    assert any(not torch.equal(pa.detach(), pc.detach())
               for ps_a, ps_c in zip(params_a, params_c) for pa, pc in zip(ps_a, ps_c))


# --------------------------------------------------------------------------------------
# 5. validation
# --------------------------------------------------------------------------------------
def _params(n=1):
    return [torch.nn.Parameter(torch.ones(2)) for _ in range(n)]


BAD_KWARGS = [
    ("lr", 0.0), ("lr", -0.1), ("lr", float("nan")), ("lr", True),
    ("rho", 0.0), ("rho", -0.5), ("rho", 1.5), ("rho", 1.0000001),
    ("tau", "adam"), ("tau", "Constant"),
    ("mu", -1e-3), ("mu", -2), ("mu", float("nan")),
    ("normalize", "sqrt"), ("normalize", None),
    ("flat", "yes"), ("flat", 1),
]


@pytest.mark.parametrize("name,value,where", [(n, v, w) for w in ("default", "group") for n, v in BAD_KWARGS
                                               if not (w == "group" and n == "tau")])  # tau is optimizer-wide
def test_bad_values_raise(name, value, where):
    with pytest.raises(ValueError, match=re.escape(repr(value))):
        if where == "default":
            ProxSGD(_params(), **{name: value})
        else:
            ProxSGD([{"params": _params(), name: value}])


BAD_CLIPS = [
    (0.0, 1.0, 2.0),          # three entries
    (1.0, 0.0),               # lo > hi
    (0.0,),                   # one entry
    "01",                     # a string
    (0.0, "1"),               # a non-number
    [(0.0, 1.0)],             # one entry for two params
    [(0.0, 1.0), (2.0, 1.0)],  # a bad per-param entry
    [None, (0.0,)],
    5,
]


@pytest.mark.parametrize("clip", BAD_CLIPS, ids=[repr(c) for c in BAD_CLIPS])
def test_bad_clip_raises(clip):
    with pytest.raises(ValueError, match=re.escape(repr(clip))):
        ProxSGD([{"params": _params(2), "clip": clip}])


def test_good_edge_values_accepted():
    ProxSGD(_params(), lr=1e-12, rho=1.0, mu=0.0, normalize="div", tau="adaptive")
    opt = ProxSGD([{"params": _params(2), "clip": [None, (0, 1)]}, {"params": _params(2), "clip": (-1, 1)}])
    assert opt.param_groups[0]["clip"] == [None, (0.0, 1.0)]
    assert opt.param_groups[1]["clip"] == [(-1.0, 1.0), (-1.0, 1.0)]


# --------------------------------------------------------------------------------------
# 6. missing gradients
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_plain_group_skips_params_without_grad(tau_mode):
    gen = torch.Generator().manual_seed(11)
    a0, b0 = torch.randn(3, generator=gen, dtype=DT), torch.randn(2, 2, generator=gen, dtype=DT)
    a, b = torch.nn.Parameter(a0.clone()), torch.nn.Parameter(b0.clone())
    opt = ProxSGD([a, b], lr=0.1, rho=0.7, tau=tau_mode)
    # separate single-param optimizers as the reference: b starts its own count (t = 1) late
    a_ref, b_ref = torch.nn.Parameter(a0.clone()), torch.nn.Parameter(b0.clone())
    opt_a, opt_b = ProxSGD([a_ref], lr=0.1, rho=0.7, tau=tau_mode), ProxSGD([b_ref], lr=0.1, rho=0.7, tau=tau_mode)
    for t in range(8):
        ga = torch.randn(3, generator=gen, dtype=DT)
        a.grad, a_ref.grad = ga.clone(), ga.clone()
        if t >= 3:
            gb = torch.randn(2, 2, generator=gen, dtype=DT)
            b.grad, b_ref.grad = gb.clone(), gb.clone()
            opt_b.step()
        else:
            b.grad = None
        opt.step()
        opt_a.step()
        if t < 3:
            assert torch.equal(b.detach(), b0) and len(opt.state[b]) == 0
        torch.testing.assert_close(a.detach(), a_ref.detach(), rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(b.detach(), b_ref.detach(), rtol=1e-14, atol=1e-15)
    assert opt.state[a]["step"] == 8 and opt.state[b]["step"] == 5


@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_missing_grads_are_skipped_as_the_reference_does(tau_mode, flat):
    """A param without a gradient: no momentum update, no step, no part in its group's norm."""
    specs, init, grads_seq = _trajectory_setup(seed=3, steps=12)
    for t, grads in enumerate(grads_seq):
        if t % 2:
            grads[1][1] = None            # half of a regularised group
        if t < 5:
            grads[3][1] = None            # a gate in a regularised group, late to start
        if t in (2, 3):
            grads[6][0] = None            # one tensor of a tensor-grouped set
    opt, params = _make_opt(specs, init, tau_mode, flat)
    _run(opt, params, grads_seq)
    ref, _ = reference_run(specs, init, grads_seq, tau_mode)
    for ps, rs in zip(params, ref):
        for p, r in zip(ps, rs):
            torch.testing.assert_close(p.detach(), r, rtol=1e-11, atol=1e-13)
    assert opt.state[params[1][1]]["step"] == 6 and opt.state[params[3][1]]["step"] == 7
    assert opt.state[params[1][0]]["step"] == 12 and opt.state[params[6][0]]["step"] == 10


def test_param_without_grad_is_not_moved():
    a, b = torch.nn.Parameter(torch.ones(3, dtype=DT)), torch.nn.Parameter(torch.ones(2, dtype=DT))
    opt = ProxSGD([{"params": [a, b], "mu": 0.5}], lr=0.5)
    for _ in range(3):
        a.grad, b.grad = torch.ones(3, dtype=DT), None
        opt.step()
    assert torch.equal(b.detach(), torch.ones(2, dtype=DT)) and len(opt.state[b]) == 0
    assert not torch.equal(a.detach(), torch.ones(3, dtype=DT))


# --------------------------------------------------------------------------------------
# the box: the prox point is clipped, then interpolated (SPEC §2, checked against the authors' code)
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("flat", [True, False])
@pytest.mark.parametrize("mu", [0.0, 0.5])
@pytest.mark.parametrize("grad, expected", [(-5.0, 0.55), (50.0, 0.45)])
def test_gate_moves_towards_the_clipped_prox_point(grad, expected, mu, flat):
    gate = torch.nn.Parameter(torch.tensor(0.5, dtype=DT))
    other = torch.nn.Parameter(torch.ones(3, dtype=DT))  # so that the gate is not alone in its bucket
    opt = ProxSGD([{"params": [gate], "mu": mu, "normalize": "div", "clip": (0.0, 1.0)},
                   {"params": [other], "mu": mu}], lr=0.1, rho=0.8, flat=flat)
    gate.grad, other.grad = torch.tensor(grad, dtype=DT), torch.zeros(3, dtype=DT)
    opt.step()
    assert bool(opt._flats) == flat
    assert float(gate.detach()) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_tensor_grouping_is_one_group_per_tensor(tau_mode):
    """``grouping="tensor"`` on one param group == one explicit group per tensor, also at mu 0."""
    torch.manual_seed(0)
    nets = [gsnas.EvalNetwork(gsnas.DARTS_V2, 4, 3, 10, 1, gates=True).double() for _ in range(2)]
    nets[1].load_state_dict(nets[0].state_dict())
    for mu in (0.0, 0.05):
        (tensors,) = nets[0].operation_groups(mu, by="tensor")
        assert tensors["grouping"] == "tensor" and len(tensors["params"]) == len(list(nets[0].parameters()))
        literal = [{"params": [p], "mu": mu, "grouping": "group", "clip": c}
                   for p, c in zip(nets[1].parameters(), tensors["clip"])]
        opts = [ProxSGD([tensors], lr=0.1, rho=0.9, tau=tau_mode), ProxSGD(literal, lr=0.1, rho=0.9, tau=tau_mode)]
        x, y = torch.randn(4, 1, 16, 16, dtype=DT), torch.tensor([1, 2, 3, 4])
        for net, opt in zip(nets, opts):
            _train(net, opt, x, y, 4, aux=True)
        for p, q in zip(*(n.parameters() for n in nets)):
            torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-11, atol=1e-13)
    assert any(c is not None for c in tensors["clip"])  # the gates kept their box


def test_regularised_group_with_no_grads_is_left_alone():
    ps = [torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(2))]
    opt = ProxSGD([{"params": ps, "mu": 10.0}], lr=1.0)
    opt.step()
    assert all(torch.equal(p.detach(), torch.ones_like(p)) for p in ps)
    assert all(len(opt.state[p]) == 0 for p in ps)


# --------------------------------------------------------------------------------------
# the supernet's own param groups
# --------------------------------------------------------------------------------------
def test_supernet_param_groups_step_and_gates_stay_in_bounds():
    torch.manual_seed(0)
    model = gsnas.Supernet("s2", channels=4, layers=3, num_classes=10, in_channels=1)
    groups = model.param_groups(0.01)
    opt = ProxSGD(groups, lr=0.1, rho=0.8, tau="constant")
    gates = [p for g in opt.param_groups for p, c in zip(g["params"], g["clip"]) if c is not None]
    assert gates and all(p.numel() == 1 for p in gates)
    assert all(c == (0.0, 1.0) for g in opt.param_groups for c in g["clip"] if c is not None)
    others = [p for g in opt.param_groups for p, c in zip(g["params"], g["clip"]) if c is None]
    before = [p.detach().clone() for p in others]

    x, y = torch.randn(2, 1, 28, 28), torch.tensor([3, 7])
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    # push half of the gates hard up (past 1) and half hard down (past 0) so that clipping must act
    for i, p in enumerate(gates):
        p.grad = torch.full_like(p, -100.0 if i % 2 else 100.0)
    opt.step()

    for p in model.parameters():
        assert torch.isfinite(p).all()
    vals = torch.stack([p.detach() for p in gates])
    assert ((vals >= 0) & (vals <= 1)).all(), vals
    # the box clips the prox point: pushed down, a gate at 1 moves to 1 - lr (not to 0); pushed up it stays at 1
    down = torch.tensor([i % 2 == 0 for i in range(len(gates))])
    assert torch.allclose(vals[down], torch.tensor(0.9)) and (vals[~down] == 1).all(), vals
    assert any(not torch.equal(p.detach(), b) for p, b in zip(others, before))


# --------------------------------------------------------------------------------------
# the flat fast path against the per-tensor one
# --------------------------------------------------------------------------------------
def _supernet_pair(tau_mode):
    """Two identical float64 supernets, one stepped on flat buffers, one tensor by tensor."""
    out = []
    for flat in (True, False):
        torch.manual_seed(0)
        net = gsnas.Supernet("darts", channels=4, layers=3, num_classes=10, in_channels=1).double()
        out.append((net, ProxSGD(net.param_groups(5.0, "div"), lr=1.0, rho=0.8, tau=tau_mode, flat=flat)))  # lr 1: exact zeros at once
    return out


def _train(net, opt, x, y, steps, aux=False):
    for _ in range(steps):
        opt.zero_grad()
        out = net(x)
        torch.nn.functional.cross_entropy(out[0] if aux else out, y).backward()
        opt.step()


@pytest.mark.slow
@pytest.mark.parametrize("tau_mode", ["constant", "adaptive"])
def test_flat_path_matches_per_tensor_path(tau_mode):
    (a, opt_a), (b, opt_b) = _supernet_pair(tau_mode)
    x, y = torch.randn(4, 1, 16, 16, dtype=DT), torch.tensor([1, 2, 3, 4])
    for net, opt in ((a, opt_a), (b, opt_b)):
        _train(net, opt, x, y, 6)
    assert opt_a._flats and not opt_b._flats  # each really took its own path
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
        assert torch.equal(p == 0, q == 0)  # the same exact zeros
    assert sum(int((p == 0).all()) for p in a.parameters()) > 0
    # the regularised params now share one buffer; the state's buffers are views of another
    regularised = [p for g in opt_a.param_groups if g["mu"] > 0 for p in g["params"]]
    assert len({p.untyped_storage().data_ptr() for p in regularised}) == 1
    assert len({opt_a.state[p]["momentum_buffer"].untyped_storage().data_ptr() for p in regularised}) == 1


@pytest.mark.slow
def test_flat_path_follows_params_that_were_moved():
    """Replacing a param's storage (here: channels_last) after a step rebuilds the buffers from it."""
    (a, opt_a), (b, opt_b) = _supernet_pair("constant")
    x, y = torch.randn(4, 1, 16, 16, dtype=DT), torch.tensor([1, 2, 3, 4])
    for net, opt in ((a, opt_a), (b, opt_b)):
        _train(net, opt, x, y, 2)
        net.channels_last()
        _train(net, opt, x, y, 2)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-10, atol=1e-12)
    assert len(opt_a._flats) == 1
    convs = [p for p in a.parameters() if p.dim() == 4]
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)


@pytest.mark.parametrize("flat", [True, False])
def test_zero_steps_count_the_steps_a_prox_point_was_zero(flat):
    torch.manual_seed(0)
    cut, kept, free = (torch.nn.Parameter(torch.randn(6)) for _ in range(3))
    groups = [{"params": [cut], "mu": 1e6, "name": "cut"}, {"params": [kept], "mu": 1e-9, "name": "kept"},
              {"params": [free], "mu": 0.0, "name": "free"}]
    opt = ProxSGD(groups, lr=0.1, flat=flat)
    for _ in range(3):
        for p in (cut, kept, free):
            p.grad = torch.randn(6)
        opt.step()
    assert opt.zero_steps() == {"cut": 3, "kept": 0}  # "free" has no group to cut
    again = ProxSGD([{**g, "params": g["params"]} for g in groups], lr=0.1, flat=flat)
    again.load_state_dict(opt.state_dict())  # the counts travel with checkpoints
    for p in (cut, kept, free):
        p.grad = torch.randn(6)
    again.step()
    assert again.zero_steps() == {"cut": 4, "kept": 0}
    cut.grad = None  # a skipped step counts nothing
    kept.grad = free.grad = torch.randn(6)
    again.step()
    assert again.zero_steps() == {"cut": 4, "kept": 0}

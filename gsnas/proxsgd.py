"""ProxSGD (Yang et al., ICLR 2020) with an L2,1 group-sparsity regulariser (SPEC §2).

A step, per sparsity group w_k with penalty mu_k ||w_k||_2 and box [lo, hi]:

    v     <- (1 - rho) v + rho g                          momentum (rho weighs the *new* gradient)
    b_k    = w_k - v_k / tau_k
    w_hat  = clamp(max(0, 1 - mu_k / (tau_k ||b_k||)) b_k, lo, hi)   group prox, then the box
    w     <- w + lr (w_hat - w)

``tau="constant"`` uses tau = 1; ``tau="adaptive"`` uses Adam's bias-corrected
sqrt(r) + delta, averaged over a sparsity group so that the closed form holds, and
elementwise outside groups. Because w_hat_k can be exactly 0, a group whose prox point stays 0
decays by (1 - lr) a step (to exactly 0 at lr = 1), and a prune threshold picks it out. The box clips the prox point, not the parameter: w and w_hat both lie
in it, so every iterate does, and a gate decays by (1 - lr) a step instead of jumping to 0.

What is a group is each param group's ``grouping``:
- ``"group"`` (the default when mu > 0): all its params form one sparsity group;
- ``"tensor"``: each param is its own group (the authors' operation-pruning optimizer,
  which regularises every tensor of the network and averages tau per tensor, also at mu 0);
- ``"none"`` (the default when mu = 0): no group, a plain elementwise step.

The math is written once (``_update``), over one flat buffer per bucket of param groups
that share their hyperparameters, laid out group after group so that a run of k groups of
size s is a (k, s) view: per-group norms and scalings are one reduction and one broadcast
per run. Two layouts feed it:
- ``flat=True`` (default): the buffers are persistent and the params are rebound to views
  of them (as apex's flat parameters are), so a step costs a few whole-buffer operations
  (benchmarks: ~0.6x the time of foreach SGD on the paper's supernet);
- the gathered layout (``flat=False``, or a step where some param of the bucket has no
  gradient, or params out of phase, or not dense): the buffers are concatenated from the
  params and their state for this step and written back.
Params without a gradient are skipped, as in ``torch.optim``: no momentum update, no step,
and no part in their group's norm for that step (their group keeps its mu_k).

Each ``"group"`` param group counts ``zero_steps``: the steps in a row its prox point was
exactly zero (a cut group then decays by (1 - lr) a step). The flat layout counts on the
device (no step reads a value back); ``zero_steps()`` and ``state_dict`` bring the counts
into the groups' options, so they travel with checkpoints. GS-NAS's search reads them to
stop computing operations that are dead (``gsnas.search``).

(Longer than this package's other modules: the optimizer, its group layout and its flat
buffers share the one step above and are read together.)
"""
from __future__ import annotations

import itertools
import math
import operator

import torch
from torch.optim import Optimizer

TAU_MODES = ("constant", "adaptive")
NORMALIZE = ("div", "none")
GROUPINGS = ("group", "tensor", "none")
_HYPER = ("lr", "rho", "tau", "beta", "delta", "lr_decay", "rho_decay", "flat")  # equal within a bucket


def check_mu(mu: float, normalize: str) -> None:
    if not isinstance(mu, (int, float)) or isinstance(mu, bool) or not mu >= 0:
        raise ValueError(f"mu must be a number >= 0, got {mu!r}")
    if normalize not in NORMALIZE:
        raise ValueError(f"unknown normalize {normalize!r}; valid: {', '.join(NORMALIZE)}")


def _check(name, value, ok, allowed):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
        raise ValueError(f"{name} must be {allowed}, got {value!r}")


def _is_bounds(c) -> bool:
    return (isinstance(c, (tuple, list)) and len(c) == 2 and all(isinstance(x, (int, float)) for x in c)
            and c[0] <= c[1])


def _grouping(group: dict) -> str:
    return group.get("grouping") or ("group" if group["mu"] > 0 else "none")


class ProxSGD(Optimizer):
    """Group options: ``mu`` (>= 0), ``normalize`` ("div": mu/sqrt(group size), "none"), ``grouping``
    ("group", "tensor", "none"; default "group" if mu > 0 else "none"), ``clip`` (None, (lo, hi) for all
    its params, or one entry per param, e.g. for gates), ``lr``, ``rho`` and the decay exponents of
    lr/(t+4)^lr_decay, rho/(t+4)^rho_decay. ``flat``: step on persistent contiguous buffers (rebinds
    the params' storage). ``tau``, ``beta``, ``delta``: the tau mode and Adam's constants.
    """

    def __init__(self, params, lr: float = 1e-3, rho: float = 0.8, tau: str = "constant", beta: float = 0.999,
                 delta: float = 1e-8, mu: float = 0.0, normalize: str = "none", grouping: str | None = None,
                 clip=None, lr_decay: float = 0.0, rho_decay: float = 0.0, flat: bool = True):
        defaults = dict(lr=lr, rho=rho, tau=tau, beta=beta, delta=delta, mu=mu, normalize=normalize,
                        grouping=grouping, clip=clip, lr_decay=lr_decay, rho_decay=rho_decay, flat=flat)
        self._flats = {}
        super().__init__(params, defaults)

    def load_state_dict(self, state_dict) -> None:
        super().load_state_dict(state_dict)
        self._flats = {}  # the state and the groups are new objects

    def state_dict(self):
        self.zero_steps()
        return super().state_dict()

    def zero_steps(self) -> dict:
        """Per "group" param group (by its ``name``, else its index): steps in a row its prox point was 0."""
        for flat in self._flats.values():
            flat.lay.sync_zero_steps()
        return {g.get("name", i): g["zero_steps"] for i, g in enumerate(self.param_groups)
                if _grouping(g) == "group" and g["mu"] > 0}

    def _drop(self, key) -> None:
        flat = self._flats.pop(key, None)
        if flat is not None:
            flat.lay.sync_zero_steps()

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group.setdefault("zero_steps", 0)
        _check("lr", group["lr"], lambda x: x > 0, "> 0")
        _check("rho", group["rho"], lambda x: 0 < x <= 1, "in (0, 1]")
        _check("lr_decay", group["lr_decay"], lambda x: x >= 0, ">= 0")
        _check("rho_decay", group["rho_decay"], lambda x: x >= 0, ">= 0")
        _check("beta", group["beta"], lambda b: 0 <= b < 1, "in [0, 1)")
        _check("delta", group["delta"], lambda d: d > 0, "> 0")
        if not isinstance(group["flat"], bool):
            raise ValueError(f"flat must be True or False, got {group['flat']!r}")
        if group["tau"] not in TAU_MODES:
            raise ValueError(f"unknown tau {group['tau']!r}; valid: {', '.join(TAU_MODES)}")
        check_mu(group["mu"], group["normalize"])
        if group["grouping"] is not None and group["grouping"] not in GROUPINGS:
            raise ValueError(f"unknown grouping {group['grouping']!r}; valid: {', '.join(GROUPINGS)}")
        if group["grouping"] == "none" and group["mu"] > 0:
            raise ValueError(f"grouping 'none' has no groups to regularise, got mu={group['mu']!r}")
        n, clip = len(group["params"]), group["clip"]
        if clip is None or _is_bounds(clip):
            clip = [clip] * n
        if not isinstance(clip, (list, tuple)) or len(clip) != n or any(c is not None and not _is_bounds(c)
                                                                       for c in clip):
            raise ValueError(f"clip must be None, (lo, hi) or one such entry per param, got {group['clip']!r}")
        group["clip"] = [None if c is None else (float(c[0]), float(c[1])) for c in clip]

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for groups in self._buckets():
            params = [p for g in groups for p in g["params"]]
            grads = [p.grad for p in params]
            live = len(grads) - sum(g is None for g in grads)
            if not live:
                continue
            flat = self._flat(groups, params) if groups[0]["flat"] and live == len(params) else None
            if flat is not None:
                flat.lay.count_zero_steps(flat.step(groups[0], grads))
            else:
                self._drop(tuple(map(id, groups)))  # its params may now be out of phase
                self._gathered_step(groups)
        return loss

    def _buckets(self):
        """Param groups that step together: same hyperparameters, device and dtype (mu may differ).

        The supernet has ~200 sparsity groups; one step over all of them replaces ~200 rounds
        of small foreach calls (benchmarks: ProxSGD vs foreach SGD).
        """
        buckets = {}
        for g in self.param_groups:
            if g["params"]:  # a group mixing devices or dtypes is not laid flat (``_flat``)
                like = g["params"][0]
                buckets.setdefault((*(g[k] for k in _HYPER), like.device, like.dtype), []).append(g)
        return buckets.values()

    def _flat(self, groups, params) -> "_Flat | None":
        """This bucket's persistent buffers, (re)built when its params were moved or replaced.

        None where they cannot hold: params of several devices or dtypes, not dense, or out of
        phase (some skipped a step for want of a gradient); those steps are gathered.
        """
        key = tuple(map(id, groups))
        flat = self._flats.get(key)
        if flat is not None and flat.holds(params):
            return flat
        like = params[0]
        if any(p.device != like.device or p.dtype != like.dtype or not _dense(p) for p in params) or \
                len({self.state[p].get("step", 0) for p in params}) > 1:
            return None
        for stale in [k for k, f in self._flats.items() if not f.holds(f.params)]:  # their params moved here
            self._drop(stale)
        self._flats[key] = flat = _Flat(_Layout(groups, like), params, self.state, groups[0]["tau"] == "adaptive")
        return flat

    def _gathered_step(self, groups):
        """The same step on buffers concatenated from the params that have a gradient, written back."""
        group = groups[0]
        adaptive = group["tau"] == "adaptive"
        live = [[p for p in g["params"] if p.grad is not None] for g in groups]
        lay = _Layout(groups, next(p for ps in live for p in ps), live)
        params = lay.params
        states = [_init_state(self.state[p], p, adaptive) for p in params]
        for s in states:
            s["step"] += 1
        steps = [s["step"] for s in states]
        like = params[0]
        if len(set(steps)) == 1:
            t = steps[0]
        else:  # params out of phase: each its own step count
            t = torch.cat([torch.full((p.numel(),), s, dtype=like.dtype, device=like.device)
                           for p, s in zip(params, steps)])

        def cat(tensors):
            return torch.cat([x.reshape(-1) for x in tensors])

        v_list = [s["momentum_buffer"] for s in states]
        r_list = [s["exp_avg_sq"] for s in states] if adaptive else None
        w, v = cat(params), cat(v_list)
        r = cat(r_list) if adaptive else None
        lay.count_zero_steps(_update(w, cat([p.grad for p in params]), v, r, lay, group, t))
        lay.sync_zero_steps()  # this layout lives for one step
        sizes = [p.numel() for p in params]
        for dst, src in ((params, w), (v_list, v), (r_list, r)):
            if dst is not None:
                torch._foreach_copy_(dst, [x.view(p.shape) for x, p in zip(src.split(sizes), dst)])


def _init_state(state: dict, p, adaptive: bool) -> dict:
    if not state:
        state["step"] = 0
        state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    if adaptive and "exp_avg_sq" not in state:
        state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    return state


def _update(w, g, v, r, lay: "_Layout", group: dict, t):
    """One ProxSGD step, in place, on flat buffers laid out by ``lay``; ``t`` a step count or one per element.

    Returns the prox's scaling per penalised group (0: its prox point is zero), or None.
    """
    rho = group["rho"] / (t + 4) ** group["rho_decay"]
    lr = group["lr"] / (t + 4) ** group["lr_decay"]
    v.lerp_(g, rho)
    if r is None:  # tau = 1
        tau = None
        b = w - v
    else:  # tau per group: the mean of the elementwise sqrt(r_hat) + delta (a group of one element: itself)
        beta = group["beta"]
        r.mul_(beta).addcmul_(g, g, value=1 - beta)
        tau_el = (r / (1 - beta ** t)).sqrt_().add_(group["delta"])
        tau = torch.cat([run.mean(1) for run in lay.per_run(tau_el)])
        b = v.clone()
        lay.scale(b, tau, torch.Tensor.div_)
        b.neg_().add_(w)
    scale = None
    if lay.shrink is not None:  # the group prox, on the runs of groups that carry a penalty
        first, skip, mu = lay.shrink
        norm = torch.cat([torch.linalg.vector_norm(run, dim=1) for run in lay.per_run(b)[first:]])
        tau_s = 1.0 if tau is None else tau[skip:]
        scale = (1 - mu / (tau_s * norm)).clamp_(min=0)  # ||b|| = 0: -inf (mu > 0) clamped to 0, or nan (mu 0)
        lay.scale(b, scale.nan_to_num_(1.0), first=first)
    if lay.box is not None:  # the box clips the prox point
        index, lo, hi = lay.box
        b.index_copy_(0, index, torch.clamp(b.index_select(0, index), lo, hi))
    w.lerp_(b, lr)
    return scale


class _Layout:
    """Where each param and each group lies in a bucket's flat buffer.

    Groups are sorted by (penalised, size), so that equal-sized groups lie side by side and
    the unpenalised ones (mu = 0, or the elements of a plain group, each a group of one)
    come first and skip the prox. ``live``: the params to lay per group (default: all).
    """

    def __init__(self, groups, like, live=None):
        live = live or [g["params"] for g in groups]
        units = []  # (penalised, group size, number of groups, params, mu_k, param group counting zero steps)
        for g, ps in zip(groups, live):
            kind, mu = _grouping(g), g["mu"]
            if kind == "none":
                units += [(False, 1, p.numel(), [p], 0.0, None) for p in ps]
            elif kind == "tensor":
                units += [(mu > 0, p.numel(), 1, [p], _mu_k(mu, g["normalize"], p.numel()), None) for p in ps]
            elif ps:
                full = sum(p.numel() for p in g["params"])  # mu_k follows the group, present or not
                units.append((mu > 0, sum(p.numel() for p in ps), 1, ps, _mu_k(mu, g["normalize"], full), g))
        units.sort(key=lambda u: (u[0], u[1]))
        self.counted = [u[5] for u in units if u[0]]  # per penalised group: its param group, if a "group"
        self.zero = None  # their counts of zero prox points, on the device once counting
        self.params = [p for u in units for p in u[3]]
        self.runs, start, first = [], 0, None  # (first element, number of groups, group size)
        for (penalised, size), run in itertools.groupby(units, key=lambda u: (u[0], u[1])):
            k = sum(u[2] for u in run)
            if penalised and first is None:
                first = len(self.runs)
            self.runs.append((start, k, size))
            start += k * size
        self.numel = start
        dev = dict(dtype=like.dtype, device=like.device)
        mu = torch.tensor([u[4] for u in units if u[0]], **dev)
        skip = sum(k for _, k, _ in self.runs[:first])  # groups before the penalised ones
        self.shrink = None if first is None else (first, skip, mu)
        clip = {id(p): c for g in groups for p, c in zip(g["params"], g["clip"]) if c is not None}
        spans, offset = [], 0
        for p in self.params:
            if id(p) in clip:
                spans.append((offset, p.numel(), *clip[id(p)]))
            offset += p.numel()
        self.box = None
        if spans:
            index = torch.cat([torch.arange(a, a + n) for a, n, _, _ in spans]).to(like.device)
            lo = torch.cat([torch.full((n,), lo, **dev) for _, n, lo, _ in spans])
            hi = torch.cat([torch.full((n,), hi, **dev) for _, n, _, hi in spans])
            self.box = (index, lo, hi)

    def count_zero_steps(self, scale) -> None:
        """Advance the penalised groups' counts of zero prox points, on the device (0 again when not zero)."""
        if scale is None:
            return
        if self.zero is None:
            self.zero = torch.tensor([g.get("zero_steps", 0) if g else 0 for g in self.counted], device=scale.device)
        self.zero = torch.where(scale == 0, self.zero + 1, 0)

    def sync_zero_steps(self) -> None:
        """Write the counts into the "group" param groups' ``zero_steps`` (one read-back)."""
        if self.zero is not None:
            for g, n in zip(self.counted, self.zero.tolist()):
                if g is not None:
                    g["zero_steps"] = n

    def per_run(self, x):
        """x as one (groups, size) view per run."""
        return [x[a:a + k * s].view(k, s) for a, k, s in self.runs]

    def scale(self, x, per_group, op=torch.Tensor.mul_, first=0):
        """Apply ``op`` to each group of runs ``first``.. of x with its value in ``per_group``."""
        runs = self.runs[first:]
        for view, values in zip(self.per_run(x)[first:], per_group.split([k for _, k, _ in runs])):
            op(view, values.unsqueeze(1))


def _mu_k(mu: float, normalize: str, size: int) -> float:
    return mu / math.sqrt(size) if normalize == "div" else mu


def _dense(p) -> bool:
    return p.is_contiguous() or (p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last))


def _views(buffer, like, fill=None):
    """Views of ``buffer`` shaped and strided as the tensors in ``like``, back to back (fill: copy these in)."""
    views, offset = [], 0
    for i, p in enumerate(like):
        view = torch.as_strided(buffer, p.shape, p.stride(), offset)
        if fill is not None and fill[i] is not None:
            view.copy_(fill[i])
        views.append(view)
        offset += p.numel()
    return views


class _Flat:
    """One bucket's params, gradients and ProxSGD state on persistent contiguous buffers.

    The params become views of ``w`` and the state's buffers views of ``v`` (and ``r``), so
    ``state_dict`` and checkpoints see the usual per-param tensors. Gradients are gathered
    into ``g`` by one foreach copy.
    """

    def __init__(self, lay: _Layout, params, state, adaptive: bool):
        self.lay, laid = lay, lay.params
        self.params = list(params)  # in the bucket's order, for ``holds``
        like = laid[0]
        new = lambda: torch.zeros(lay.numel, dtype=like.dtype, device=like.device)
        self.w = new()
        for p, view in zip(laid, _views(self.w, laid, [p.detach() for p in laid])):
            p.data = view
        self.ptrs = [p.data_ptr() for p in self.params]
        self.g = new()
        views = dict(zip(map(id, laid), _views(self.g, laid)))
        self.g_views_bucket = [views[id(p)] for p in self.params]  # where each param's gradient goes
        self.states = [_init_state(state[p], p, adaptive) for p in laid]
        self.v = new()
        self._adopt("momentum_buffer", self.v)
        self.r = None
        if adaptive:
            self.r = new()
            self._adopt("exp_avg_sq", self.r)

    def _adopt(self, name, buffer):
        for s, view in zip(self.states, _views(buffer, self.lay.params, [s.get(name) for s in self.states])):
            s[name] = view

    def holds(self, params) -> bool:
        """Are these still our params, on our buffer (not moved, converted or replaced since)?"""
        return (len(params) == len(self.params) and all(map(operator.is_, params, self.params))
                and [p.data_ptr() for p in params] == self.ptrs)

    def step(self, group, grads):
        """One step; ``grads`` in the bucket's order (as ``params``), none missing."""
        t = self.states[0]["step"] + 1
        for s in self.states:
            s["step"] = t
        torch._foreach_copy_(self.g_views_bucket, grads)
        return _update(self.w, self.g, self.v, self.r, self.lay, group, t)

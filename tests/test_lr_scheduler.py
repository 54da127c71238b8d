"""LR schedulers: the same lr sequences as torch.optim.lr_scheduler over 40+ epochs, and state dict round trips."""
from __future__ import annotations

import math

import numpy as np
import pytest

import gpunet as gn
import gpunet.optim as optim
from gpunet.optim import lr_scheduler as S

from conftest import torch_or_skip

LRS = (0.1, 0.03)
EPOCHS = 45

SCHEDULES = [
    ("StepLR", dict(step_size=7)),
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),               # 45 epochs: past T_max, through the periodic restart
    ("CosineAnnealingLR", dict(T_max=12, eta_min=1e-3)),
]

# a metric that falls, stalls with noise, falls again, then rises
_rng = np.random.default_rng(3)
METRICS = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 1e-5 * _rng.standard_normal(15),
                          np.linspace(0.45, 0.3, 5), np.linspace(0.3, 0.6, 15)]).tolist()
PLATEAU = [
    dict(),
    dict(patience=2),
    dict(patience=1, factor=0.5, cooldown=2),
    dict(patience=0, factor=0.5, min_lr=0.01),
    dict(patience=1, factor=0.5, min_lr=[0.02, 1e-3]),
    dict(patience=2, threshold=0.05, threshold_mode="abs"),
    dict(mode="max", patience=3),
    dict(mode="max", patience=1, threshold=0.01, threshold_mode="abs", factor=0.3),
    dict(patience=0, factor=0.9, eps=0.05),
]


def _gn_optimizer():
    ps = [gn.tensor(np.zeros(2), requires_grad=True) for _ in LRS]
    return optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, LRS)], momentum=0.9)


def _torch_optimizer(torch):
    ps = [torch.zeros(2, requires_grad=True) for _ in LRS]
    return torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, LRS)], momentum=0.9)


def _run(sched, opt, epochs, metrics=None):
    out = [list(sched.get_last_lr())]
    for e in range(epochs):
        opt.step()
        if metrics is None:
            sched.step()
        else:
            sched.step(metrics[e])
        out.append(list(sched.get_last_lr()))
    return out


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{k}" for n, k in SCHEDULES])
def test_sequence_matches_torch(name, kwargs):
    torch = torch_or_skip()
    topt = _torch_optimizer(torch)
    want = _run(getattr(torch.optim.lr_scheduler, name)(topt, **kwargs), topt, EPOCHS)
    opt = _gn_optimizer()
    got = _run(getattr(S, name)(opt, **kwargs), opt, EPOCHS)
    assert got == want  # same recursive formulas: identical floats
    assert [g["lr"] for g in opt.param_groups] == got[-1]


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_plateau_matches_torch(kwargs):
    torch = torch_or_skip()
    metrics = METRICS if kwargs.get("mode") != "max" else [-m for m in METRICS]
    topt = _torch_optimizer(torch)
    want = _run(torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs), topt, len(metrics), metrics)
    opt = _gn_optimizer()
    got = _run(S.ReduceLROnPlateau(opt, **kwargs), opt, len(metrics), metrics)
    assert got == want
    assert len(set(map(tuple, got))) > 1 or kwargs.get("eps"), "the schedule never reduced: weak test"


def test_step_lr_closed_form():
    opt = _gn_optimizer()
    got = _run(S.StepLR(opt, step_size=4, gamma=0.5), opt, 33)
    for e, lrs in enumerate(got):
        for lr, base in zip(lrs, LRS):
            assert lr == pytest.approx(base * 0.5 ** (e // 4), rel=1e-12)


def test_cosine_closed_form():
    opt = _gn_optimizer()
    T, lo = 15, 1e-3
    got = _run(S.CosineAnnealingLR(opt, T_max=T, eta_min=lo), opt, 40)
    for e, lrs in enumerate(got):
        for lr, base in zip(lrs, LRS):
            assert lr == pytest.approx(lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2, rel=1e-9, abs=1e-12)


def test_scheduler_drives_the_optimizer():
    """The rates a scheduler writes are the ones the optimizer uses."""
    w = gn.tensor(np.zeros(1), requires_grad=True)
    opt = optim.SGD([w], lr=1.0)
    sched = S.ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        w.grad = gn.tensor(np.ones(1))
        opt.step()
        sched.step()
    np.testing.assert_allclose(w.numpy(), [-(1.0 + 0.5 + 0.25)])
    assert opt.param_groups[0]["initial_lr"] == 1.0


@pytest.mark.parametrize("name,kwargs", SCHEDULES + [("ReduceLROnPlateau", dict(patience=1, cooldown=1))] + [
    ("MultiStepLR", dict(milestones=[5, 14, 14], gamma=0.5)), ("ConstantLR", dict(total_iters=15)),
    ("LinearLR", dict(total_iters=20)), ("PolynomialLR", dict(total_iters=25)),
    ("CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2))])
def test_state_dict_round_trip(name, kwargs):
    """Save a scheduler (and its optimizer) after 12 epochs, restore both, continue: the same rates."""
    metrics = METRICS if name == "ReduceLROnPlateau" else None
    opt = _gn_optimizer()
    sched = getattr(S, name)(opt, **kwargs)
    full = _run(sched, opt, 30, metrics)

    opt = _gn_optimizer()
    sched = getattr(S, name)(opt, **kwargs)
    _run(sched, opt, 12, metrics)
    sd, osd = sched.state_dict(), opt.state_dict()
    assert "optimizer" not in sd
    for v in sd.values():
        assert isinstance(v, (int, float, str, bool, list, type(None))), (type(v), v)

    opt2 = _gn_optimizer()
    sched2 = getattr(S, name)(opt2, **kwargs)
    opt2.load_state_dict(osd)
    sched2.load_state_dict(sd)
    rest = _run(sched2, opt2, 18, metrics[12:] if metrics else None)
    assert rest == full[12:]


def test_bad_arguments_raise():
    opt = _gn_optimizer()
    with pytest.raises(ValueError, match="Factor should be < 1.0"):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode maximum is unknown"):
        S.ReduceLROnPlateau(opt, mode="maximum")
    with pytest.raises(ValueError, match="threshold mode relative is unknown"):
        S.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        S.ReduceLROnPlateau(opt, min_lr=[0, 0, 0])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        S.StepLR(opt, step_size=0)
    with pytest.raises(KeyError, match="initial_lr"):
        S.ExponentialLR(_gn_optimizer(), gamma=0.9, last_epoch=3)


def test_plateau_accepts_a_tensor_metric():
    opt = _gn_optimizer()
    sched = S.ReduceLROnPlateau(opt, patience=0)
    sched.step(gn.tensor(1.0))
    sched.step(gn.tensor(2.0))
    assert sched.get_last_lr() == pytest.approx([lr * 0.1 for lr in LRS])


# ---------------------------------------------------------------------------------------------- more schedulers
MORE = [
    ("MultiStepLR", dict(milestones=[5, 12, 12, 30], gamma=0.5)),
    ("LambdaLR", dict(lr_lambda=lambda e: 0.95 ** e)),
    ("LambdaLR", dict(lr_lambda=[lambda e: 1 / (1 + e), lambda e: 0.9 ** e])),
    ("MultiplicativeLR", dict(lr_lambda=lambda e: 0.97)),
    ("ConstantLR", dict()),
    ("ConstantLR", dict(factor=0.5, total_iters=8)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.8, total_iters=12)),
    ("PolynomialLR", dict(total_iters=20, power=2.0)),
    ("CosineAnnealingWarmRestarts", dict(T_0=7)),
    ("CosineAnnealingWarmRestarts", dict(T_0=3, T_mult=2, eta_min=1e-3)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs", MORE, ids=[f"{n}-{i}" for i, (n, _) in enumerate(MORE)])
def test_more_schedulers_match_torch(name, kwargs):
    torch = torch_or_skip()
    topt = _torch_optimizer(torch)
    want = _run(getattr(torch.optim.lr_scheduler, name)(topt, **kwargs), topt, EPOCHS)
    opt = _gn_optimizer()
    got = _run(getattr(S, name)(opt, **kwargs), opt, EPOCHS)
    assert got == want


def _warmup_cosine(lib, opt, warmup=5, total=45):
    sch = lib.optim.lr_scheduler if lib is not gn else S
    return sch.SequentialLR(opt, [sch.LinearLR(opt, start_factor=0.01, total_iters=warmup),
                                  sch.CosineAnnealingLR(opt, T_max=total - warmup, eta_min=1e-4)],
                            milestones=[warmup])


@pytest.mark.torch
@pytest.mark.parametrize("combo", ["warmup-cosine", "constant-step-exp"])
def test_sequential_lr_matches_torch(combo):
    torch = torch_or_skip()

    def make(lib, opt):
        if combo == "warmup-cosine":
            return _warmup_cosine(lib, opt)
        sch = lib.optim.lr_scheduler if lib is not gn else S
        return sch.SequentialLR(opt, [sch.ConstantLR(opt, factor=0.2, total_iters=4), sch.StepLR(opt, 5, 0.5),
                                      sch.ExponentialLR(opt, 0.9)], milestones=[4, 20])
    topt = _torch_optimizer(torch)
    want = _run(make(torch, topt), topt, EPOCHS)
    opt = _gn_optimizer()
    got = _run(make(gn, opt), opt, EPOCHS)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
    assert got[1] != got[10] and got[-1][0] < got[6][0]  # it warmed up, then annealed


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", [dict(), dict(anneal_strategy="linear", three_phase=True, pct_start=0.25),
                                    dict(cycle_momentum=False, div_factor=10.0)])
@pytest.mark.parametrize("opt_name", ["SGD", "Adam"])
def test_one_cycle_matches_torch(kwargs, opt_name):
    torch = torch_or_skip()
    steps = 40

    def run(lib, opt):
        sched = (torch.optim.lr_scheduler if lib is torch else S).OneCycleLR(opt, max_lr=[0.5, 0.2],
                                                                             total_steps=steps, **kwargs)
        out = []
        for _ in range(steps - 1):
            opt.step()
            sched.step()
            g = opt.param_groups
            out.append([(x["lr"], x.get("momentum", x.get("betas", (None,))[0])) for x in g])
        return out
    extra = {"momentum": 0.9} if opt_name == "SGD" else {}
    tps = [torch.zeros(2, requires_grad=True) for _ in LRS]
    topt = getattr(torch.optim, opt_name)([{"params": [p]} for p in tps], lr=0.1, **extra)
    gps = [gn.tensor(np.zeros(2), requires_grad=True) for _ in LRS]
    gopt = getattr(optim, opt_name)([{"params": [p]} for p in gps], lr=0.1, **extra)
    np.testing.assert_allclose(run(gn, gopt), run(torch, topt), rtol=1e-14, atol=0)


def test_new_schedulers_refuse_bad_arguments():
    opt = _gn_optimizer()
    with pytest.raises(ValueError, match="one per param group"):
        S.LambdaLR(opt, [lambda e: 1.0])
    with pytest.raises(ValueError, match="milestones"):
        S.SequentialLR(opt, [S.ConstantLR(opt), S.StepLR(opt, 3)], milestones=[])
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(opt, max_lr=0.1)
    with pytest.raises(ValueError, match="T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)

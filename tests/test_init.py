"""gpunet.init, and why initialisation matters."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import to_numpy

import gpunet as gn
import gpunet.init as init
import gpunet.nn as nn
from gpunet.functional.activation import relu, tanh

GAINS = [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
         ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)]


@pytest.mark.parametrize("name,param", GAINS)
def test_calculate_gain(name, param):
    expected = {"linear": 1, "conv2d": 1, "sigmoid": 1, "tanh": 5 / 3, "relu": math.sqrt(2), "selu": 0.75}
    slope = 0.01 if param is None else param
    want = expected.get(name, math.sqrt(2 / (1 + slope ** 2)))
    assert init.calculate_gain(name, param) == pytest.approx(want, rel=1e-12)


def test_calculate_gain_errors():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="not a valid number"):
        init.calculate_gain("leaky_relu", True)


def test_fans():
    assert init._calculate_fan_in_and_fan_out(gn.zeros(3, 4)) == (4, 3)
    assert init._calculate_fan_in_and_fan_out(gn.zeros(5, 3, 2, 2)) == (12, 20)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(gn.zeros(5))


FAN_IN, FAN_OUT = 300, 200
CASES = {
    "xavier_uniform_": (lambda t: init.xavier_uniform_(t, gain=2.0), 2.0 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "xavier_normal_": (lambda t: init.xavier_normal_(t), math.sqrt(2 / (FAN_IN + FAN_OUT))),
    "kaiming_uniform_": (lambda t: init.kaiming_uniform_(t, nonlinearity="relu"), math.sqrt(2 / FAN_IN)),
    "kaiming_normal_": (lambda t: init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
                        math.sqrt(2 / FAN_OUT)),
    "kaiming_normal_a": (lambda t: init.kaiming_normal_(t, a=math.sqrt(5)), math.sqrt(1 / 3 / FAN_IN)),
    "lecun_normal_": (lambda t: init.lecun_normal_(t), math.sqrt(1 / FAN_IN)),
    "normal_": (lambda t: init.normal_(t, 1.0, 0.5), 0.5),
    "uniform_": (lambda t: init.uniform_(t, -3, 3), math.sqrt(3)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_init_std(backend, name):
    fn, std = CASES[name]
    w = nn.Parameter(gn.zeros(FAN_OUT, FAN_IN))
    assert fn(w) is w
    a = to_numpy(w)
    assert a.std() == pytest.approx(std, rel=0.03)
    assert w.dtype == np.float32 and w.device == backend.device and w.grad_fn is None


def test_init_stats_match_torch():
    torch = pytest.importorskip("torch")
    for name, param in GAINS:
        assert init.calculate_gain(name, param) == pytest.approx(torch.nn.init.calculate_gain(name, param))
    pairs = [(init.xavier_uniform_, torch.nn.init.xavier_uniform_), (init.xavier_normal_, torch.nn.init.xavier_normal_),
             (init.kaiming_uniform_, torch.nn.init.kaiming_uniform_),
             (init.kaiming_normal_, torch.nn.init.kaiming_normal_)]
    torch.manual_seed(0)
    for ours, theirs in pairs:
        w = gn.zeros(FAN_OUT, FAN_IN, dtype=np.float64)
        t = torch.zeros(FAN_OUT, FAN_IN, dtype=torch.float64)
        assert to_numpy(ours(w)).std() == pytest.approx(theirs(t).std().item(), rel=0.04), ours.__name__


def test_constants_and_seeding():
    w = gn.zeros(3, 2)
    np.testing.assert_array_equal(to_numpy(init.constant_(w, 0.5)), 0.5)
    np.testing.assert_array_equal(to_numpy(init.ones_(w)), 1)
    np.testing.assert_array_equal(to_numpy(init.zeros_(w)), 0)
    gn.manual_seed(5)
    a = to_numpy(init.normal_(gn.zeros(4, 4)))
    gn.manual_seed(5)
    np.testing.assert_array_equal(a, to_numpy(init.normal_(gn.zeros(4, 4))))
    with pytest.raises(TypeError, match="Tensor or Parameter"):
        init.normal_(np.zeros(3))
    assert init.kaiming_uniform_(gn.zeros(0, 3)).shape == (0, 3)


def test_in_place_keeps_the_array():
    lin = nn.Linear(4, 3)
    before = lin.weight.data
    init.xavier_normal_(lin.weight)
    assert lin.weight.data is before


# ---------------------------------------------------------------------- why initialisation matters
def _variance_ratio(act, init_fn, width=128, depth=10):
    """Var(activations of the last layer) / Var(activations of the first), for a deep stack at init."""
    gn.manual_seed(0)
    h = gn.tensor(np.random.default_rng(0).standard_normal((256, width)), dtype=np.float32)
    variances = []
    with gn.no_grad():
        for _ in range(depth):
            layer = nn.Linear(width, width)
            init_fn(layer.weight)
            init.zeros_(layer.bias)
            h = act(layer(h))
            variances.append(float(to_numpy(h).var()))
    return variances[-1] / variances[0]


def test_xavier_and_he_keep_activation_variance_steady():
    ratio_tanh = _variance_ratio(tanh, lambda w: init.xavier_uniform_(w, gain=init.calculate_gain("tanh")))
    ratio_relu = _variance_ratio(relu, lambda w: init.kaiming_normal_(w, nonlinearity="relu"))
    assert 0.5 < ratio_tanh < 2 and 0.5 < ratio_relu < 2
    for act in (tanh, relu):  # too small: the signal collapses layer after layer
        assert _variance_ratio(act, lambda w: init.normal_(w, 0.0, 0.01)) < 1e-6


@pytest.mark.parametrize("value", [0.0, 0.3])
def test_zero_initialisation_keeps_hidden_units_identical(rng, value):
    """With every weight equal (zero, or any constant), all hidden units get the same gradient: they never
    become different, so the layer is as good as one unit."""
    x = rng.standard_normal((32, 2))
    t = np.stack([x[:, 0] * x[:, 1], x[:, 0] - x[:, 1]], axis=1)

    def train(model):
        for _ in range(30):
            model.zero_grad()
            y = model(x)
            loss = ((y - gn.tensor(t, dtype=np.float32)) ** 2).mean()
            loss.backward()
            with gn.no_grad():
                for p in model.parameters():
                    p.data -= 0.1 * p.grad.data
        return to_numpy(model[0].weight), to_numpy(model[0].bias)

    const = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2))
    for p in const.parameters():
        init.constant_(p, value)
    W1, b1 = train(const)
    assert np.allclose(W1, W1[0]) and np.allclose(b1, b1[0])  # all hidden units the same
    if value:
        assert not np.allclose(W1, value)  # they did learn, in lockstep
    W1r, _ = train(nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 2)))
    assert not np.allclose(W1r, W1r[0])


def test_trunc_normal_stays_in_its_window_with_the_truncated_moments(backend):
    gn.manual_seed(0)
    w = init.trunc_normal_(gn.zeros(200, 300), mean=0.5, std=2.0, a=-1.0, b=3.0)
    x = to_numpy(w)
    assert x.min() >= -1.0 and x.max() <= 3.0
    # moments of N(0.5, 2²) truncated to [-1, 3]
    alpha, beta = (-1 - 0.5) / 2, (3 - 0.5) / 2
    phi = lambda z: math.exp(-z * z / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    Phi = lambda z: 0.5 * (1 + math.erf(z / math.sqrt(2)))  # noqa: E731
    Z = Phi(beta) - Phi(alpha)
    mean = 0.5 + 2 * (phi(alpha) - phi(beta)) / Z
    var = 4 * (1 + (alpha * phi(alpha) - beta * phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z) ** 2)
    assert abs(x.mean() - mean) < 0.02 and abs(x.var() - var) < 0.03
    with pytest.raises(ValueError, match="too far in the tail"):
        init.trunc_normal_(gn.zeros(3), mean=0, std=1, a=8, b=9)
    with pytest.raises(ValueError, match="a < b"):
        init.trunc_normal_(gn.zeros(3), a=1, b=1)


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (5, 5), (3, 2, 4)])
def test_orthogonal_gives_orthonormal_rows_or_columns(backend, shape):
    gn.manual_seed(0)
    w = to_numpy(init.orthogonal_(gn.zeros(*shape), gain=2.0)).reshape(shape[0], -1)
    small = min(w.shape)
    g = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
    np.testing.assert_allclose(g, 4.0 * np.eye(small), atol=1e-5)
    with pytest.raises(ValueError, match="2 or more dimensions"):
        init.orthogonal_(gn.zeros(5))

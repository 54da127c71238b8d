"""The fused hot paths alone: linear+bias+ReLU forward+backward, batch norm forward+backward, one Adam step over
the large MLP's parameters; gpunet next to PyTorch on the same device."""
import numpy as np
import pytest

import gpunet as gn
from gpunet._bench import MODELS

from .conftest import DEVICES, backend_name, run, torch_device

N, D = 1024, 2048


def _arrays(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


@pytest.mark.parametrize("device", DEVICES)
def test_linear_relu_gpunet(benchmark, device):
    benchmark.group = f"linear_relu-{device}"
    be = gn.use(backend_name(device))
    x, W, b, g = [be.asarray(a) for a in _arrays((N, D), (D, D), (D,), (N, D))]

    def f():
        y, saved = be.linear_act_forward(x, W, b, "relu")
        be.linear_act_backward(x, W, saved, g, "relu")

    run(benchmark, f, be.synchronize)


@pytest.mark.parametrize("device", DEVICES)
def test_linear_relu_in_place_grad_gpunet(benchmark, device):
    """As above, with the gradient given away (``overwrite_grad``), as every hidden layer of a chain gives it:
    the activation gradient is written over it (the copy into the scratch array is timed too)."""
    benchmark.group = f"linear_relu-{device}"
    be = gn.use(backend_name(device))
    x, W, b, g = [be.asarray(a) for a in _arrays((N, D), (D, D), (D,), (N, D))]
    scratch = be.xp.empty_like(g)

    def f():
        y, saved = be.linear_act_forward(x, W, b, "relu")
        scratch[...] = g
        be.linear_act_backward(x, W, saved, scratch, "relu", overwrite_grad=True)

    run(benchmark, f, be.synchronize)


@pytest.mark.parametrize("device", DEVICES)
def test_linear_relu_torch(benchmark, device):
    benchmark.group = f"linear_relu-{device}"
    torch, dev = torch_device(device)
    x, W, b, g = [torch.from_numpy(a).to(dev) for a in _arrays((N, D), (D, D), (D,), (N, D))]
    x.requires_grad_()
    W.requires_grad_()
    b.requires_grad_()

    def f():
        torch.relu(torch.nn.functional.linear(x, W, b)).backward(g)

    run(benchmark, f, torch.cuda.synchronize if dev == "cuda" else (lambda: None))


@pytest.mark.parametrize("device", DEVICES)
def test_batchnorm_gpunet(benchmark, device):
    benchmark.group = f"batchnorm-{device}"
    be = gn.use(backend_name(device))
    x, g = [be.asarray(a) for a in _arrays((N, D), (N, D))]
    xp = be.xp
    gamma, beta = xp.ones(D, dtype=np.float32), xp.zeros(D, dtype=np.float32)
    rm, rv = xp.zeros(D, dtype=np.float32), xp.ones(D, dtype=np.float32)

    def f():
        y, saved = be.batchnorm_forward(x, gamma, beta, rm, rv, True, 0.1, 1e-5)
        be.batchnorm_backward(saved, gamma, g, True)

    run(benchmark, f, be.synchronize)


@pytest.mark.parametrize("device", DEVICES)
def test_batchnorm_torch(benchmark, device):
    benchmark.group = f"batchnorm-{device}"
    torch, dev = torch_device(device)
    x, g = [torch.from_numpy(a).to(dev) for a in _arrays((N, D), (N, D))]
    x.requires_grad_()
    bn = torch.nn.BatchNorm1d(D).to(dev)

    def f():
        bn(x).backward(g)

    run(benchmark, f, torch.cuda.synchronize if dev == "cuda" else (lambda: None))


def _large_params():
    sizes = MODELS["large"][0]
    shapes = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        shapes += [(b, a), (b,)]
    return shapes


@pytest.mark.parametrize("device", DEVICES)
def test_adam_step_gpunet(benchmark, device):
    benchmark.group = f"adam-{device}"
    gn.use(backend_name(device))
    params = []
    for s, g in zip(_large_params(), _arrays(*_large_params(), seed=1)):
        p = gn.zeros(*s, requires_grad=True)
        p.grad = gn.tensor(g)
        params.append(p)
    opt = gn.optim.Adam(params, lr=1e-3)
    run(benchmark, opt.step, gn.backend.current().synchronize)


@pytest.mark.parametrize("device", DEVICES)
def test_adam_step_torch(benchmark, device):
    benchmark.group = f"adam-{device}"
    torch, dev = torch_device(device)
    params = []
    for s, g in zip(_large_params(), _arrays(*_large_params(), seed=1)):
        p = torch.zeros(s, device=dev, requires_grad=True)
        p.grad = torch.from_numpy(g).to(dev)
        params.append(p)
    opt = torch.optim.Adam(params, lr=1e-3)
    run(benchmark, opt.step, torch.cuda.synchronize if dev == "cuda" else (lambda: None))

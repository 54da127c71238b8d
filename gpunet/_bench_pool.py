"""Pooling and 2-D batch-norm benchmark workloads: one float32 training step each, gpunet next to PyTorch.

``pool_bn``: BatchNorm2d(16) → ReLU → MaxPool2d(2) → Flatten → Linear(16·14·14, 10) on (64, 16, 28, 28) (the
layers between a LeNet's convolutions, without them), cross-entropy, backward, Adam. ``pool_head``:
BatchNorm2d(64) → ReLU → AdaptiveAvgPool2d(1) → Flatten → Linear(64, 10) on (32, 64, 32, 32) (a residual block's
head). ``python -m gpunet._bench_pool [pool_bn|pool_head] [--rounds R]`` times both implementations interleaved in
one process and prints the best round of each and their ratio.
"""
from __future__ import annotations


import numpy as np

SHAPES = {"pool_bn": (64, 16, 28, 28), "pool_head": (32, 64, 32, 32)}


def _data(kind):
    rng = np.random.default_rng(0)
    shape = SHAPES[kind]
    x = rng.standard_normal(shape).astype(np.float32)
    y = rng.integers(0, 10, size=shape[0]).astype(np.int64)
    return x, y


def _layers(nn, kind):
    c = SHAPES[kind][1]
    if kind == "pool_bn":
        return [nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(c * 14 * 14, 10)]
    return [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10)]


def _gpunet(kind):
    def make(backend="numpy"):
        import gpunet as gn
        import gpunet.functional as F
        from gpunet import nn, optim

        be = gn.use(backend)
        gn.manual_seed(0)
        model = nn.Sequential(*_layers(nn, kind))
        opt = optim.Adam(model.parameters(), lr=1e-3)
        xh, yh = _data(kind)
        x, y = gn.tensor(xh), gn.tensor(yh)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, be.synchronize

    return make


def _torch(kind):
    def make(device="cpu"):
        import torch

        torch.manual_seed(0)
        model = torch.nn.Sequential(*_layers(torch.nn, kind)).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        xh, yh = _data(kind)
        x, y = torch.from_numpy(xh).to(device), torch.from_numpy(yh).to(device)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            loss = lossf(model(x), y)
            loss.backward()
            opt.step()
            return loss

        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        return step, sync

    return make


WORKLOADS = {
    "pool_bn": {"batch": SHAPES["pool_bn"][0], "describe": "BatchNorm2d(16)+ReLU+MaxPool2d(2)+Linear(3136, 10) on "
                "(64, 16, 28, 28)", "gpunet": _gpunet("pool_bn"), "torch": _torch("pool_bn")},
    "pool_head": {"batch": SHAPES["pool_head"][0], "describe": "BatchNorm2d(64)+ReLU+AdaptiveAvgPool2d(1)+"
                  "Linear(64, 10) on (32, 64, 32, 32)", "gpunet": _gpunet("pool_head"), "torch": _torch("pool_head")},
}


def main(argv=None) -> None:
    from ._bench_registry import family_main

    family_main(WORKLOADS, argv)


if __name__ == "__main__":
    main()

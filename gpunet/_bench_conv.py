"""Benchmark workloads of the convolutional family: one float32 training step (forward, cross-entropy, backward,
Adam) of a LeNet-style CNN and of a residual block, built the same way in gpunet and in PyTorch.

``WORKLOADS[name]``: ``batch``, ``describe``, ``gpunet(backend_name) -> (step, sync)`` and
``torch(device) -> (step, sync)``, as :func:`gpunet._bench.gpunet_step` / ``torch_step``.
"""
from __future__ import annotations

import numpy as np

_CNN_SHAPE = (64, 1, 28, 28)
_RES_SHAPE = (32, 64, 32, 32)


def _data(shape, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, 10, size=shape[0]).astype(np.int64)
    return x, y


def _gpunet_cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(1568, 128), nn.ReLU(), nn.Linear(128, 10))


def _res_block(nn, relu):
    """The residual block as a Module class of library ``nn`` (gpunet's or torch's)."""

    class ResBlock(nn.Module):
        def __init__(self, c=64, classes=10):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c, classes)

        def forward(self, x):
            h = relu(self.bn1(self.conv1(x)))
            h = relu(self.bn2(self.conv2(h)) + x)
            return self.fc(self.pool(h).flatten(1))

    return ResBlock()


def _gpunet(build, shape):
    def make(backend="numpy", lr=1e-3):
        import gpunet as gn
        import gpunet.functional as F
        from gpunet import nn, optim

        be = gn.use(backend)
        gn.manual_seed(0)
        model = build(nn, F)
        opt = optim.Adam(model.parameters(), lr=lr)
        xh, yh = _data(shape)
        x, y = gn.tensor(xh), gn.tensor(yh)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        return step, be.synchronize

    return make


def _torch(build, shape):
    def make(device="cpu", lr=1e-3):
        import torch
        import torch.nn.functional as F
        from torch import nn

        torch.manual_seed(0)
        model = build(nn, F).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        xh, yh = _data(shape)
        x, y = torch.from_numpy(xh).to(device), torch.from_numpy(yh).to(device)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        return step, sync

    return make


def _cnn(nn, F):
    return _gpunet_cnn(nn)


def _res(nn, F):
    return _res_block(nn, F.relu)


WORKLOADS = {
    "cnn": {"batch": _CNN_SHAPE[0],
            "describe": "LeNet CNN: Conv 1->16 5x5 pad 2, ReLU, MaxPool 2, Conv 16->32 5x5 pad 2, ReLU, MaxPool 2, "
                        "Linear 1568->128->10 on (64, 1, 28, 28)",
            "gpunet": _gpunet(_cnn, _CNN_SHAPE), "torch": _torch(_cnn, _CNN_SHAPE)},
    "resblock": {"batch": _RES_SHAPE[0],
                 "describe": "residual block: two Conv 64->64 3x3 (no bias) + BatchNorm2d, ReLU, skip, global "
                             "average pool, Linear 64->10 on (32, 64, 32, 32)",
                 "gpunet": _gpunet(_res, _RES_SHAPE), "torch": _torch(_res, _RES_SHAPE)},
}


def main(argv=None) -> None:
    from ._bench_registry import family_main

    family_main(WORKLOADS, argv)


if __name__ == "__main__":
    main()

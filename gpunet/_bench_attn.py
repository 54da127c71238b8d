"""Benchmark workload of the attention family: one float32 training step (forward, MSE loss, backward, Adam) of a
``TransformerEncoderLayer(256, 4 heads, 1024, dropout 0, batch_first)`` on a (16, 128, 256) batch, in gpunet and
in PyTorch (same shapes, same step).

``python -m gpunet._bench_attn`` times both, interleaved in one process (see :func:`gpunet._bench.time_interleaved`).
"""
from __future__ import annotations

import numpy as np

D_MODEL, HEADS, FF, BATCH, SEQ = 256, 4, 1024, 16, 128


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32)
    y = rng.standard_normal((BATCH, SEQ, D_MODEL)).astype(np.float32)
    return x, y


def gpunet_transformer(backend="numpy", lr=1e-3):
    import gpunet as gn
    import gpunet.functional as F
    from gpunet import nn, optim

    be = gn.use(backend)
    gn.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True)
    opt = optim.Adam(layer.parameters(), lr=lr)
    xh, yh = _data()
    x, y = gn.tensor(xh), gn.tensor(yh)

    def step():
        opt.zero_grad()
        loss = F.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, be.synchronize


def torch_transformer(device="cpu", lr=1e-3):
    import torch

    torch.manual_seed(0)
    layer = torch.nn.TransformerEncoderLayer(D_MODEL, HEADS, FF, dropout=0.0, batch_first=True).to(device)
    opt = torch.optim.Adam(layer.parameters(), lr=lr)
    xh, yh = _data()
    x, y = torch.from_numpy(xh).to(device), torch.from_numpy(yh).to(device)

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(layer(x), y)
        loss.backward()
        opt.step()
        return loss

    sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
    return step, sync


WORKLOADS = {
    "transformer": {
        "batch": BATCH,
        "describe": f"TransformerEncoderLayer({D_MODEL}, {HEADS} heads, {FF}, dropout 0, batch_first) on "
                    f"({BATCH}, {SEQ}, {D_MODEL}), MSE loss, Adam",
        "gpunet": gpunet_transformer,
        "torch": torch_transformer,
    },
}


def main(argv=None) -> None:
    from ._bench_registry import family_main

    family_main(WORKLOADS, argv)


if __name__ == "__main__":
    main()

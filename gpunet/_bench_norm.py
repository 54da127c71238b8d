"""Normalisation and embedding benchmark workloads: one float32 training step each, gpunet next to PyTorch.

``layernorm``: LayerNorm(2048) on (1024, 2048), MSE loss against a fixed target, backward, Adam on the LayerNorm's
weight and bias. ``embedding``: Embedding(50000, 256) on (256, 64) tokens, MSE loss of the looked-up vectors against
a fixed target, backward (a scatter-add into the dense (50000, 256) gradient), Adam on all 12.8 M weights.
``python -m gpunet._bench_norm [layernorm|embedding] [--rounds R]`` times both implementations interleaved in one
process and prints the best round of each and their ratio.
"""
from __future__ import annotations


import numpy as np

LN_ROWS, LN_DIM = 1024, 2048
VOCAB, EMBED, BATCH, SEQ = 50_000, 256, 256, 64


def _ln_data():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((LN_ROWS, LN_DIM)).astype(np.float32) * 2 + 1
    t = rng.standard_normal((LN_ROWS, LN_DIM)).astype(np.float32)
    return x, t


def _emb_data():
    rng = np.random.default_rng(0)
    tok = rng.integers(0, VOCAB, size=(BATCH, SEQ)).astype(np.int64)
    t = rng.standard_normal((BATCH, SEQ, EMBED)).astype(np.float32)
    return tok, t


def _gpunet(kind):
    def make(backend="numpy"):
        import gpunet as gn
        import gpunet.functional as F
        from gpunet import nn, optim

        be = gn.use(backend)
        gn.manual_seed(0)
        if kind == "layernorm":
            model = nn.LayerNorm(LN_DIM)
            xh, th = _ln_data()
            x = gn.tensor(xh, requires_grad=True)
        else:
            model = nn.Embedding(VOCAB, EMBED)
            xh, th = _emb_data()
            x = gn.tensor(xh)
        t = gn.tensor(th)
        opt = optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            if kind == "layernorm":
                x.grad = None
            loss = F.mse_loss(model(x), t)
            loss.backward()
            opt.step()
            return loss

        return step, be.synchronize

    return make


def _torch(kind):
    def make(device="cpu"):
        import torch

        torch.manual_seed(0)
        if kind == "layernorm":
            model = torch.nn.LayerNorm(LN_DIM).to(device)
            xh, th = _ln_data()
            x = torch.from_numpy(xh).to(device).requires_grad_(True)
        else:
            model = torch.nn.Embedding(VOCAB, EMBED).to(device)
            xh, th = _emb_data()
            x = torch.from_numpy(xh).to(device)
        t = torch.from_numpy(th).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            if kind == "layernorm":
                x.grad = None
            loss = torch.nn.functional.mse_loss(model(x), t)
            loss.backward()
            opt.step()
            return loss

        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        return step, sync

    return make


WORKLOADS = {
    "layernorm": {"batch": LN_ROWS, "describe": f"LayerNorm({LN_DIM}) on ({LN_ROWS}, {LN_DIM}), MSE",
                  "gpunet": _gpunet("layernorm"), "torch": _torch("layernorm")},
    "embedding": {"batch": BATCH, "describe": f"Embedding({VOCAB}, {EMBED}) on ({BATCH}, {SEQ}) tokens, MSE",
                  "gpunet": _gpunet("embedding"), "torch": _torch("embedding")},
}


def main(argv=None) -> None:
    from ._bench_registry import family_main

    family_main(WORKLOADS, argv)


if __name__ == "__main__":
    main()

"""Recurrent benchmark workloads: a word-level language model's training step, gpunet next to PyTorch.

``lstm``: Embedding(10000, 128) → LSTM(128, 256, num_layers=2) → Linear(256, 10000) on every step, on (32, 35)
tokens (batch 32, 35 steps, batch_first), cross-entropy against the next tokens, Adam. ``gru``: the same with a
1-layer GRU(128, 256). ``python -m gpunet._bench_rnn [lstm|gru] [--rounds R]`` times both, interleaved in one
process, and prints the best round of each and their ratio.
"""
from __future__ import annotations


import numpy as np

VOCAB, EMBED, HIDDEN, BATCH, STEPS = 10_000, 128, 256, 32, 35


def _tokens(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, VOCAB, size=(BATCH, STEPS + 1)).astype(np.int64)


def _gpunet(kind, layers):
    def make(backend="numpy"):
        import gpunet as gn
        import gpunet.functional as F
        from gpunet import nn, optim

        be = gn.use(backend)
        gn.manual_seed(0)

        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                if hasattr(nn, "Embedding"):
                    self.embed = nn.Embedding(VOCAB, EMBED)
                else:  # a gather of a Parameter
                    self.embed_weight = nn.Parameter(gn.randn(VOCAB, EMBED).data)
                rnn = nn.LSTM if kind == "lstm" else nn.GRU
                self.rnn = rnn(EMBED, HIDDEN, num_layers=layers, batch_first=True)
                self.out = nn.Linear(HIDDEN, VOCAB)

            def forward(self, tokens):
                e = self.embed(tokens) if hasattr(self, "embed") else self.embed_weight[tokens]
                y, _ = self.rnn(e)
                return self.out(y)

        model = LM()
        opt = optim.Adam(model.parameters(), lr=1e-3)
        tok = _tokens()
        x = gn.tensor(tok[:, :-1])
        y = gn.tensor(tok[:, 1:].reshape(-1))

        def step():
            opt.zero_grad()
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, VOCAB), y)
            loss.backward()
            opt.step()
            return loss

        return step, be.synchronize
    return make


def _torch(kind, layers):
    def make(device="cpu"):
        import torch

        torch.manual_seed(0)
        rnn = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
        model = torch.nn.ModuleDict({"embed": torch.nn.Embedding(VOCAB, EMBED),
                                     "rnn": rnn(EMBED, HIDDEN, num_layers=layers, batch_first=True),
                                     "out": torch.nn.Linear(HIDDEN, VOCAB)}).to(device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        tok = torch.from_numpy(_tokens()).to(device)
        x, y = tok[:, :-1], tok[:, 1:].reshape(-1)
        lossf = torch.nn.CrossEntropyLoss()

        def step():
            opt.zero_grad()
            h, _ = model["rnn"](model["embed"](x))
            loss = lossf(model["out"](h).reshape(-1, VOCAB), y)
            loss.backward()
            opt.step()
            return loss

        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        return step, sync
    return make


WORKLOADS = {
    "lstm": {"batch": BATCH, "describe": "LSTM LM: Embedding(10k,128) > LSTM(128,256,2 layers) > Linear(256,10k), "
                                         "(32, 35) tokens",
             "gpunet": _gpunet("lstm", 2), "torch": _torch("lstm", 2)},
    "gru": {"batch": BATCH, "describe": "GRU LM: Embedding(10k,128) > GRU(128,256) > Linear(256,10k), (32, 35) tokens",
            "gpunet": _gpunet("gru", 1), "torch": _torch("gru", 1)},
}


def main(argv=None) -> None:
    from ._bench_registry import family_main

    family_main(WORKLOADS, argv)


if __name__ == "__main__":
    main()

"""A character-level LSTM language model trained on the Python standard library's own source files (every
Python installation has them: no download).

Embedding → LSTM → Linear over every step, trained with truncated backpropagation through time (the text is cut
into ``--batch-size`` parallel streams; the LSTM state is carried from one window to the next and detached). After
training it prints the held-out bits per character (cross-entropy in base 2 on source files it never saw) and a
sample generated from a prompt.

Run: ``python examples/char_lstm.py [--steps 1500] [--backend cupy]``
"""
from __future__ import annotations

import argparse
import math
import pathlib
import sysconfig
import time

import numpy as np

import gpunet as gn
import gpunet.nn.functional as F
from gpunet import nn

# printable ASCII, tab and newline; anything else reads as "?"
ALPHABET = "\n\t" + "".join(chr(c) for c in range(32, 127))
INDEX = {c: i for i, c in enumerate(ALPHABET)}


def stdlib_text(chars: int, skip: int = 0) -> str:
    """About ``chars`` characters of the standard library's top-level ``*.py`` files (sorted by name), after
    skipping the first ``skip`` files."""
    files = sorted(pathlib.Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[skip:]
    parts, n = [], 0
    for f in files:
        try:
            t = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        parts.append(t)
        n += len(t)
        if n >= chars:
            break
    return "".join(parts)[:chars]


def encode(text: str) -> np.ndarray:
    q = INDEX["?"]
    return np.fromiter((INDEX.get(c, q) for c in text), dtype=np.int64, count=len(text))


class CharLM(nn.Module):
    def __init__(self, vocab: int, embed: int = 64, hidden: int = 256, layers: int = 1):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens, state=None):
        out, state = self.lstm(self.embed(tokens), state)
        return self.head(out), state


def streams(ids: np.ndarray, batch: int) -> np.ndarray:
    """``ids`` cut into ``batch`` equal contiguous streams: (batch, length)."""
    n = len(ids) // batch
    return ids[:n * batch].reshape(batch, n)


def detach(state):
    return tuple(s.detach() for s in state)


def bits_per_char(model, ids: np.ndarray, window: int, batch: int = 16) -> float:
    """Mean cross-entropy (bits) of predicting each character of ``ids`` from the ones before it."""
    model.eval()
    data = streams(ids, batch)
    total, count, state = 0.0, 0, None
    with gn.no_grad():
        for i in range(0, data.shape[1] - 1, window):
            x = gn.tensor(data[:, i:i + window])
            y = gn.tensor(data[:, i + 1:i + 1 + window])
            x = x[:, :y.shape[1]]
            logits, state = model(x, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
            total += loss.item()
            count += y.numel()
    model.train()
    return total / count / math.log(2)


def generate(model, prompt: str, length: int, temperature: float = 0.8, seed: int = 0) -> str:
    """``prompt`` continued by ``length`` sampled characters."""
    rng = np.random.default_rng(seed)
    model.eval()
    out = list(prompt)
    with gn.no_grad():
        logits, state = model(gn.tensor(encode(prompt)[None]))
        for _ in range(length):
            z = logits[0, -1].numpy().astype(np.float64) / temperature
            p = np.exp(z - z.max())
            c = int(rng.choice(len(p), p=p / p.sum()))
            out.append(ALPHABET[c])
            logits, state = model(gn.tensor(np.array([[c]])), state)
    model.train()
    return "".join(out)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=1500, help="training windows (each batch-size × window chars)")
    p.add_argument("--chars", type=int, default=1_000_000, help="characters of training text")
    p.add_argument("--heldout", type=int, default=50_000, help="characters of held-out text")
    p.add_argument("--window", type=int, default=64, help="BPTT length")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--sample", type=int, default=300, help="characters to generate")
    p.add_argument("--backend", default="auto")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    be = gn.use(a.backend)
    gn.manual_seed(a.seed)
    text = stdlib_text(a.chars + a.heldout)
    train_ids, held_ids = encode(text[:a.chars]), encode(text[a.chars:])
    if len(held_ids) < 2 * a.window:
        held_ids = encode(stdlib_text(a.heldout, skip=len(held_ids)))
    data = streams(train_ids, a.batch_size)
    model = CharLM(len(ALPHABET), hidden=a.hidden)
    opt = gn.optim.Adam(model.parameters(), lr=a.lr)
    sched = gn.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.steps, eta_min=a.lr / 10)
    print(f"backend {be.name} ({be.device}) · {len(train_ids):,} training / {len(held_ids):,} held-out "
          f"characters of the standard library · vocabulary {len(ALPHABET)} · "
          f"{sum(q.numel() for q in model.parameters()):,} parameters")
    state, pos, t0, seen = None, 0, time.perf_counter(), 0
    for step in range(1, a.steps + 1):
        if pos + a.window + 1 > data.shape[1]:
            pos, state = 0, None
        x = gn.tensor(data[:, pos:pos + a.window])
        y = gn.tensor(data[:, pos + 1:pos + 1 + a.window])
        pos += a.window
        logits, state = model(x, state)
        state = detach(state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        seen += y.numel()
        if step % max(1, a.steps // 10) == 0 or step == a.steps:
            rate = seen / (time.perf_counter() - t0)
            print(f"step {step}: train {loss.item() / math.log(2):.3f} bits/char · {rate:,.0f} chars/s", flush=True)
    bpc = bits_per_char(model, held_ids, a.window)
    sample = generate(model, "def ", a.sample, seed=a.seed)
    print(f"held-out: {bpc:.3f} bits per character (uniform over the alphabet: {math.log2(len(ALPHABET)):.2f})")
    print("sample:\n" + sample)
    return {"bits_per_char": bpc, "sample": sample}


if __name__ == "__main__":
    main()

"""A two-layer perceptron learns XOR, which no single perceptron can (see ``examples/perceptron.py``).

    h = tanh(x·W₁ᵀ + b₁),  p = sigmoid(h·W₂ᵀ + b₂),  loss = BCE(p, d)   (or MSE)

trained by backpropagation (autograd) and a gpunet optimizer on the four points of the truth table. The hidden
layer maps the inputs to a space where the two classes are linearly separable.

Run: ``python examples/xor_mlp.py [--hidden 4] [--epochs 1000] [--optimizer sgd|adam] [--loss bce|mse]``
"""
from __future__ import annotations

import argparse

import numpy as np

import gpunet as gn
from gpunet import nn

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
TARGETS = np.array([[0], [1], [1], [0]], dtype=np.float32)
DEFAULT_LR = {"sgd": 0.5, "adam": 0.05}


def build(hidden: int = 4) -> nn.Module:
    """2 → hidden (tanh) → 1 (sigmoid)."""
    return nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1), nn.Sigmoid())


def train(hidden: int = 4, epochs: int = 1000, optimizer: str = "sgd", lr: float | None = None,
          loss: str = "bce", seed: int = 0, device: str | None = None, log_every: int = 0) -> dict:
    """Train on the XOR truth table; returns the loss history, outputs, predictions and accuracy."""
    gn.manual_seed(seed)
    if device is not None:
        gn.use(device)
    model = build(hidden)
    lr = DEFAULT_LR[optimizer] if lr is None else lr
    if optimizer == "sgd":
        opt = gn.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    else:
        opt = gn.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.BCELoss() if loss == "bce" else nn.MSELoss()
    X, d = gn.tensor(INPUTS), gn.tensor(TARGETS)
    history = []
    for epoch in range(1, epochs + 1):
        opt.zero_grad()
        value = loss_fn(model(X), d)
        value.backward()
        opt.step()
        history.append(value.item())
        if log_every and epoch % log_every == 0:
            print(f"epoch {epoch:5d}  loss {history[-1]:.6f}")
    with gn.no_grad():
        out = model(X).numpy().ravel()
    pred = (out > 0.5).astype(int)
    acc = float((pred == TARGETS.ravel()).mean())
    return {"losses": history, "outputs": out.tolist(), "predictions": pred.tolist(), "accuracy": acc}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hidden", type=int, default=4, help="hidden units (default 4)")
    ap.add_argument("--epochs", type=int, default=1000, help="full-batch steps (default 1000)")
    ap.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="SGD+momentum or Adam")
    ap.add_argument("--lr", type=float, default=None, help="learning rate (default 0.5 for sgd, 0.05 for adam)")
    ap.add_argument("--loss", choices=("bce", "mse"), default="bce")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cpu or cuda (default: gpunet's current backend)")
    args = ap.parse_args(argv)
    r = train(args.hidden, args.epochs, args.optimizer, args.lr, args.loss, args.seed, args.device,
              log_every=max(args.epochs // 10, 1))
    print("\n x1 x2 | target | output")
    for (x1, x2), t, o in zip(INPUTS.astype(int), TARGETS.ravel().astype(int), r["outputs"]):
        print(f" {x1}  {x2}  |   {t}    | {o:.4f}")
    print(f"accuracy {r['accuracy']:.0%}, final loss {r['losses'][-1]:.6f}")
    return r


if __name__ == "__main__":
    main()

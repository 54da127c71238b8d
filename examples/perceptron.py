"""Rosenblatt's perceptron trained with the delta rule: it learns AND and OR, and can never learn XOR.

    y = step(w·x + b)          (step(z) = 1 if z ≥ 0 else 0)
    w ← w + α·(d − y)·x,  b ← b + α·(d − y)      for each sample x with desired output d

The perceptron convergence theorem says this loop stops making mistakes after finitely many updates whenever a
separating line exists (AND, OR). For XOR none exists, so at least one of the four points stays misclassified
in every epoch, however long it trains. A hidden layer fixes that: see ``examples/xor_mlp.py``.

Run: ``python examples/perceptron.py [--epochs 100] [--lr 0.1] [--device cpu]``
"""
from __future__ import annotations

import argparse

import numpy as np

import gpunet as gn
import gpunet.functional as F

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
GATES = {"AND": [0, 0, 0, 1], "OR": [0, 1, 1, 1], "XOR": [0, 1, 1, 0]}

WHY_NOT_XOR = """\
Why XOR cannot be learned: a perceptron outputs 1 exactly when w1·x1 + w2·x2 + b > 0, a half-plane bounded by a
line. XOR would need all four of
    (0,0) -> 0:  b <= 0
    (0,1) -> 1:  w2 + b > 0
    (1,0) -> 1:  w1 + b > 0
    (1,1) -> 0:  w1 + w2 + b <= 0
Adding the middle two gives w1 + w2 + b > -b >= 0, contradicting the last: XOR is not linearly separable, so
some point is misclassified after every epoch, and the delta rule keeps cycling instead of converging."""


class Perceptron:
    """A single threshold unit with weights ``w`` (n,) and bias ``b``, trained without autograd."""

    def __init__(self, n_inputs: int, lr: float = 0.1, device: str | None = None):
        self.lr = lr
        self.w = gn.zeros(n_inputs, device=device)
        self.b = gn.zeros(1, device=device)

    def predict(self, x) -> gn.Tensor:
        """step(x·w + b) for one sample (n,) or a batch (N, n)."""
        return F.step(x @ self.w + self.b)

    def update(self, x, d: float) -> bool:
        """One delta-rule update on sample ``x`` with target ``d``; True if the sample was misclassified."""
        err = d - self.predict(x).item()
        if err == 0:
            return False
        self.w = self.w + (self.lr * err) * x
        self.b = self.b + self.lr * err
        return True

    def fit(self, X, targets, epochs: int) -> list[int]:
        """Online training; returns the number of misclassified samples in each epoch (stops after a clean one)."""
        errors = []
        for _ in range(epochs):
            wrong = sum(self.update(X[i], float(targets[i])) for i in range(len(targets)))
            errors.append(wrong)
            if wrong == 0:
                break
        return errors


def train_gate(name: str, epochs: int = 100, lr: float = 0.1, device: str | None = None) -> dict:
    """Train a perceptron on the truth table of gate ``name``; returns what happened."""
    X = gn.tensor(INPUTS, device=device)
    targets = GATES[name]
    p = Perceptron(2, lr, device)
    errors = p.fit(X, targets, epochs)
    pred = p.predict(X).numpy().astype(int).tolist()
    return {"gate": name, "errors_per_epoch": errors, "converged": errors[-1] == 0, "epochs": len(errors),
            "predictions": pred, "targets": list(targets), "w": p.w.numpy().tolist(), "b": p.b.item()}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=100, help="most epochs per gate (default 100)")
    ap.add_argument("--lr", type=float, default=0.1, help="learning rate α (default 0.1)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: gpunet's current backend)")
    args = ap.parse_args(argv)
    results = {}
    for name in GATES:
        r = train_gate(name, args.epochs, args.lr, args.device)
        results[name] = r
        if r["converged"]:
            print(f"{name:>3}: learned in {r['epochs']} epochs; w = {np.round(r['w'], 3).tolist()}, "
                  f"b = {r['b']:.3f}; outputs {r['predictions']} (targets {r['targets']})")
        else:
            print(f"{name:>3}: NOT learned after {r['epochs']} epochs; misclassified per epoch (last 10): "
                  f"{r['errors_per_epoch'][-10:]}; outputs {r['predictions']} (targets {r['targets']})")
    if not results["XOR"]["converged"]:
        print()
        print(WHY_NOT_XOR)
        print("A network with one hidden layer learns it: python examples/xor_mlp.py")
    return results


if __name__ == "__main__":
    main()

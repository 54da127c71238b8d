"""A small CNN on MNIST, from the four IDX files in a local folder (no download).

LeNet-shaped: Conv 1→16 5×5, ReLU, max-pool 2, Conv 16→32 5×5, ReLU, max-pool 2, Linear 1568→128→10 (the CNN
workload of ``gpunet bench``), trained with Adam; prints the test accuracy and throughput after every epoch.
``--limit N`` trains on the first N images only (a quick check). The four files are those of
http://yann.lecun.com/exdb/mnist/ (``train-images-idx3-ubyte`` … , raw or ``.gz``).

Run: ``python examples/mnist_cnn.py --data ~/data/mnist [--epochs 3] [--backend cupy]``
"""
from __future__ import annotations

import argparse
import time

import gpunet as gn
import gpunet.nn.functional as F
from gpunet import nn
from gpunet.data import DataLoader, TensorDataset, load_mnist


def lenet(classes: int = 10) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder holding the MNIST IDX files")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training and test images")
    p.add_argument("--backend", default="auto", help="auto, numpy or cupy")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)

    be = gn.use(a.backend)
    gn.manual_seed(a.seed)
    X_tr, y_tr, X_te, y_te = load_mnist(a.data, flatten=False, standardize=False)
    if a.limit:
        X_tr, y_tr, X_te, y_te = X_tr[:a.limit], y_tr[:a.limit], X_te[:a.limit], y_te[:a.limit]
    X_tr, X_te = X_tr[:, None], X_te[:, None]           # (N, 1, 28, 28): channels first, as PyTorch
    train = DataLoader(TensorDataset(X_tr, y_tr), batch_size=a.batch_size, shuffle=True, seed=a.seed)
    test = DataLoader(TensorDataset(X_te, y_te), batch_size=1000)
    model = lenet()
    opt = gn.optim.Adam(model.parameters(), lr=a.lr)
    print(f"backend {be.name} ({be.device}) · {len(X_tr)} train / {len(X_te)} test images · "
          f"{sum(q.numel() for q in model.parameters()):,} parameters")
    acc = 0.0
    for epoch in range(a.epochs):
        model.train()
        t0, seen = time.perf_counter(), 0
        for xb, yb in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            seen += len(yb)
        rate = seen / (time.perf_counter() - t0)
        model.eval()
        correct = 0
        with gn.no_grad():
            for xb, yb in test:
                correct += int((model(xb).argmax(dim=1) == yb).sum().item())
        acc = correct / len(X_te)
        print(f"epoch {epoch + 1}: loss {loss.item():.4f} · test accuracy {100 * acc:.2f}% · {rate:,.0f} images/s")
    return {"accuracy": acc}


if __name__ == "__main__":
    main()

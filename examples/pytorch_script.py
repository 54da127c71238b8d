"""A PyTorch training script, run on gpunet by changing only its imports.

An MLP on the 8×8 digits with AdamW, a linear warm-up then cosine schedule (SequentialLR), gradient clipping,
a forward hook and a tensor hook, and a DLPack hand-off of the predictions to NumPy. With PyTorch, the four
import lines below read ``import torch``, ``from torch import nn``, ``import torch.nn.functional as F`` and
``from torch.utils.data import DataLoader, TensorDataset``; nothing else changes (the digits come from
gpunet.data here: a PyTorch script would load them from elsewhere).

Run: ``python examples/pytorch_script.py [--epochs 12]``
"""
from __future__ import annotations

import argparse

import numpy as np

import gpunet as torch                                     # import torch
import gpunet.nn.functional as F                           # import torch.nn.functional as F
from gpunet import nn                                      # from torch import nn
from gpunet.data import DataLoader, TensorDataset, load_digits  # from torch.utils.data import ...


def main(epochs: int = 12, seed: int = 0, verbose: bool = True) -> dict:
    torch.manual_seed(seed)
    X_tr, y_tr, X_te, y_te = load_digits()
    train = DataLoader(TensorDataset(torch.from_numpy(X_tr), torch.from_numpy(y_tr)), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(inplace=True), nn.Dropout(0.1), nn.Linear(128, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    steps = epochs * len(train)
    warmup = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=warmup),
              torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps - warmup, eta_min=1e-5)],
        milestones=[warmup])

    seen = {"activations": 0, "grad_norms": []}

    def count_activations(module, inputs, output):        # a forward hook on the first layer
        seen["activations"] += output.shape[0]

    model[0].register_forward_hook(count_activations)
    model[-1].weight.register_hook(lambda g: seen["grad_norms"].append(float(g.norm())))  # a tensor hook

    for epoch in range(epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y, label_smoothing=0.05)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
            opt.step()
            sched.step()
        if verbose:
            print(f"epoch {epoch + 1}: loss {loss.item():.3f}, lr {sched.get_last_lr()[0]:.2e}")

    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(X_te))
    predictions = np.from_dlpack(logits.argmax(1))         # DLPack hand-off (zero copy on the CPU)
    accuracy = float((predictions == y_te).mean())
    if verbose:
        print(f"test accuracy {accuracy:.1%}")
    return {"accuracy": accuracy, "activations": seen["activations"], "grad_norms": seen["grad_norms"],
            "lr": sched.get_last_lr()[0]}


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=12)
    main(p.parse_args().epochs)

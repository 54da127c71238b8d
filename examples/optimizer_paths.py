"""The paths of eight optimizers on a 2-D loss surface, drawn to a PNG.

Each optimizer moves a 2-element parameter θ = (x, y) with ``gpunet.optim``; gradients come from autograd.

* GD: full-batch gradient descent, θ ← θ − lr·∇f (``SGD`` with the exact gradient)
* SGD: the same rule on a noisy gradient ∇f + ξ, ξ ~ N(0, σ²) (a stand-in for mini-batch noise)
* Momentum: b ← μ·b + ∇f, θ ← θ − lr·b;  Nesterov: θ ← θ − lr·(∇f + μ·b)
* Adagrad, RMSprop, Adadelta, Adam: per-coordinate step sizes from running gradient statistics

Surfaces: ``quadratic`` (an elongated bowl rotated 30°, condition number 10: GD zig-zags across the valley,
momentum overshoots then settles, the adaptive methods rescale the axes) and ``beale`` (Beale's function, a
flat plateau and steep walls; minimum at (3, 0.5)).

Run: ``python examples/optimizer_paths.py [--surface quadratic|beale] [--steps N] [--out optimizer_paths.png]``
"""
from __future__ import annotations

import argparse
import math

import numpy as np

import gpunet as gn
from gpunet import optim

_C, _S = math.cos(math.pi / 6), math.sin(math.pi / 6)
_E1, _E2 = 1.0, 10.0                      # curvatures along and across the valley


def quadratic(x, y):
    """f = ½(e₁·u² + e₂·v²) with (u, v) the point (x − 1, y − 0.5) rotated by 30°; minimum 0 at (1, 0.5)."""
    dx, dy = x - 1.0, y - 0.5
    u = dx * _C + dy * _S
    v = dy * _C - dx * _S
    return 0.5 * (_E1 * u * u + _E2 * v * v)


def beale(x, y):
    """f = (1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²; minimum 0 at (3, 0.5)."""
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y * y) ** 2 + (2.625 - x + x * y * y * y) ** 2


# surface: (function, start, plot window (xmin, xmax, ymin, ymax), optimizer settings)
SURFACES = {
    "quadratic": (quadratic, (-2.0, 2.5), (-3.0, 4.0, -1.5, 3.5), {
        "GD": (optim.SGD, dict(lr=0.18)),
        "SGD": (optim.SGD, dict(lr=0.05)),
        "Momentum": (optim.SGD, dict(lr=0.01, momentum=0.9)),
        "Nesterov": (optim.SGD, dict(lr=0.01, momentum=0.9, nesterov=True)),
        "Adagrad": (optim.Adagrad, dict(lr=1.0)),
        "RMSprop": (optim.RMSprop, dict(lr=0.05)),
        "Adadelta": (optim.Adadelta, dict(lr=20.0)),
        "Adam": (optim.Adam, dict(lr=0.2)),
    }),
    "beale": (beale, (0.7, 1.4), (0.0, 4.0, -0.5, 2.0), {
        "GD": (optim.SGD, dict(lr=1e-3)),
        "SGD": (optim.SGD, dict(lr=1e-3)),
        "Momentum": (optim.SGD, dict(lr=2e-4, momentum=0.9)),
        "Nesterov": (optim.SGD, dict(lr=2e-4, momentum=0.9, nesterov=True)),
        "Adagrad": (optim.Adagrad, dict(lr=0.5)),
        "RMSprop": (optim.RMSprop, dict(lr=0.02)),
        "Adadelta": (optim.Adadelta, dict(lr=4.0)),
        "Adam": (optim.Adam, dict(lr=0.1)),
    }),
}
NOISE = {"quadratic": 3.0, "beale": 5.0}   # σ of the SGD gradient noise
STEPS = {"quadratic": 100, "beale": 300}   # default number of steps


def run(surface: str, name: str, steps: int, seed: int = 0) -> dict:
    """Optimise ``surface`` from its start point with optimizer ``name``; returns the path and the losses."""
    fn, start, _, settings = SURFACES[surface]
    cls, kwargs = settings[name]
    theta = gn.tensor(np.array(start, dtype=np.float64), requires_grad=True)
    opt = cls([theta], **kwargs)
    rng = np.random.default_rng(seed)
    path, losses = [theta.numpy().copy()], []
    for _ in range(steps):
        opt.zero_grad()
        loss = fn(theta[0], theta[1])
        loss.backward()
        if name == "SGD":
            theta.grad = theta.grad + gn.tensor(rng.normal(0.0, NOISE[surface], size=2))
        opt.step()
        losses.append(loss.item())
        path.append(theta.numpy().copy())
    losses.append(float(fn(*path[-1])))
    return {"path": np.array(path), "losses": losses}


def draw(surface: str, results: dict, out: str) -> bool:
    """Contours of the surface with every path, and the losses per step; False if matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed, so no picture was drawn: pip install matplotlib "
              "(or pip install 'gpunet[plot]')")
        return False
    fn, start, (x0, x1, y0, y1), _ = SURFACES[surface]
    X, Y = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    Z = fn(X, Y)
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(14, 6))
    ax.contour(X, Y, np.log1p(Z), levels=30, cmap="Greys", linewidths=0.6)
    for name, r in results.items():
        p = r["path"]
        ax.plot(p[:, 0], p[:, 1], ".-", ms=2, lw=1.2, label=name)
        ax2.semilogy(np.maximum(r["losses"], 1e-16), label=name)
    ax.plot(*start, "ko")
    ax.set(xlim=(x0, x1), ylim=(y0, y1), title=f"optimizer paths on the {surface} surface", xlabel="x",
           ylabel="y")
    ax.legend(fontsize=8)
    ax2.set(title="loss per step", xlabel="step", ylabel="f(θ)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")
    return True


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--surface", choices=sorted(SURFACES), default="quadratic")
    ap.add_argument("--steps", type=int, default=None,
                    help="steps per optimizer (default 100 on the quadratic, 300 on Beale)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the SGD gradient noise")
    ap.add_argument("--out", default="optimizer_paths.png", help="PNG to write (default optimizer_paths.png)")
    args = ap.parse_args(argv)
    steps = STEPS[args.surface] if args.steps is None else args.steps
    results = {name: run(args.surface, name, steps, args.seed) for name in SURFACES[args.surface][3]}
    for name, r in results.items():
        end = r["path"][-1]
        print(f"{name:>9}: loss {r['losses'][0]:10.4f} -> {r['losses'][-1]:.3e} at ({end[0]:.3f}, {end[1]:.3f})")
    draw(args.surface, results, args.out)
    return results


if __name__ == "__main__":
    main()

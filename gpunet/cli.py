"""The ``gpunet`` command: ``train`` (an MLP on a built-in or local dataset), ``info`` and ``bench``.

Bad arguments give a one-line message and exit status 2 (never a traceback); a training failure exits with 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

# Options that define a run: taken from the checkpoint on --resume (an explicit, different value is an error).
RUN_DEFAULTS = {"model": "mlp", "dataset": "digits", "batch_size": 32, "lr": None, "optimizer": "adam", "hidden": "128,128",
                "activation": "relu", "dropout": 0.1, "seed": 0, "val_split": 0.1, "lr_decay": 1.0,
                "weight_decay": 0.0, "label_smoothing": 0.1, "schedule": "none"}
EPOCHS_DEFAULT = 25

OPTIMIZERS = {  # name -> (class in gpunet.optim, fixed keyword arguments, default learning rate)
    "sgd": ("SGD", {}, 0.1),
    "momentum": ("SGD", {"momentum": 0.9}, 0.05),
    "nesterov": ("SGD", {"momentum": 0.9, "nesterov": True}, 0.05),
    "adagrad": ("Adagrad", {}, 0.05),
    "rmsprop": ("RMSprop", {}, 1e-3),
    "adadelta": ("Adadelta", {}, 1.0),
    "adam": ("Adam", {}, 1e-3),
    "adamw": ("AdamW", {}, 1e-3),
}
from .models import ACTIVATIONS, MODELS, build_mlp  # noqa: E402,F401  (the models of --model)


from ._cli_info import cmd_info, info_dict  # noqa: E402,F401  (gpunet info)
from ._cli_io import (UsageError, _check_output_folder, _check_plot, _load_resume,  # noqa: E402,F401
                      load_dataset, save_plot)




# ----------------------------------------------------------------- argument types
def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or not np.isfinite(v):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _nonnegative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not 0 <= v < np.inf:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return v


def _decay(text: str) -> float:
    v = _positive_float(text)
    if v > 1:
        raise argparse.ArgumentTypeError(f"expected a factor in (0, 1], got {v}")
    return v


def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= v < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {v}")
    return v


def parse_hidden(text: str) -> list[int]:
    """``"128,128"`` -> [128, 128]; ``""`` or ``"none"`` -> [] (a linear model)."""
    if text.strip().lower() in ("", "none"):
        return []
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or any(s < 1 for s in sizes):
        raise UsageError(f"--hidden: expected comma-separated positive layer widths like 128,128 (or 'none'), "
                         f"got {text!r}")
    return sizes


# ----------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(prog="gpunet", description="gpunet: neural networks on NumPy (CPU) or CuPy (GPU).")
    p.add_argument("--version", action="version", version=f"gpunet {__version__}")
    sub = p.add_subparsers(dest="command", metavar="{train,info,bench}")
    train = _add_train(sub)
    info = sub.add_parser("info", help="versions, backends, GPU, BLAS", description="Show versions, which "
                          "backends are usable (and why not), the GPU, and the BLAS library with its threads.")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    bench = sub.add_parser("bench", add_help=False, help="CPU-vs-GPU throughput benchmark (options: gpunet "
                           "bench --help)")
    bench.add_argument("--json", action="store_true")
    p.set_defaults(subparsers={"train": train, "info": info, "bench": bench})
    return p


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a classifier (defaults: MLP 64-128-128-10 on digits, Adam)",
                       description="Train a classifier (--model: an MLP with Linear, BatchNorm1d, activation, Dropout "
                                   "per hidden layer; a CNN; an LSTM or a transformer reading each image row by row) "
                                   "and report the test accuracy and throughput.")
    t.add_argument("--model", choices=list(MODELS), help="mlp (default), cnn, lstm or transformer (gpunet.models)")
    t.add_argument("--dataset", help="digits (default), xor, spiral, or mnist:PATH (a folder with the four IDX "
                                     "files)")
    t.add_argument("--epochs", type=_positive_int, help=f"total epochs (default {EPOCHS_DEFAULT}; with --resume "
                                                        f"the run continues up to this many)")
    t.add_argument("--batch-size", type=_positive_int, help=f"default {RUN_DEFAULTS['batch_size']}")
    t.add_argument("--lr", type=_positive_float, help="learning rate (default per optimizer: "
                   + ", ".join(f"{k} {v[2]:g}" for k, v in OPTIMIZERS.items()) + ")")
    t.add_argument("--lr-decay", type=_decay, help="multiply the learning rate by this after every epoch "
                                                   "(ExponentialLR; default 1: constant)")
    t.add_argument("--schedule", choices=["none", "cosine"], help="learning-rate schedule over the epochs "
                   "(cosine: CosineAnnealingLR to 0; default cosine for cnn, lstm and transformer, none for mlp)")
    t.add_argument("--weight-decay", type=_nonnegative_float, help="L2 penalty (decoupled for adamw; default 0)")
    t.add_argument("--label-smoothing", type=_fraction, help="cross-entropy label smoothing (default "
                                                             f"{RUN_DEFAULTS['label_smoothing']})")
    t.add_argument("--optimizer", choices=list(OPTIMIZERS), help="default adam")
    t.add_argument("--hidden", help="MLP hidden layer widths, comma-separated (default 128,128; 'none': linear)")
    t.add_argument("--activation", choices=list(ACTIVATIONS), help="default relu")
    t.add_argument("--dropout", type=_fraction, help=f"dropout probability (default {RUN_DEFAULTS['dropout']})")
    t.add_argument("--val-split", type=_fraction, help="share of the training set held out for per-epoch "
                                                       f"validation (default {RUN_DEFAULTS['val_split']}; 0: none)")
    t.add_argument("--seed", type=int, help="seed for the split, initialisation, shuffling and dropout (default 0)")
    t.add_argument("--backend", default="auto", help="auto (default: GPU if usable), numpy/cpu, cupy/cuda")
    t.add_argument("--save", metavar="PATH", help="write a resumable checkpoint after every epoch")
    t.add_argument("--resume", metavar="PATH", help="continue the run saved in this checkpoint (and keep saving "
                                                    "to it unless --save says otherwise)")
    t.add_argument("--plot", metavar="PATH", help="PNG of the loss and accuracy curves (needs matplotlib)")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines or progress bar")
    t.add_argument("--json", action="store_true", help="print only one JSON object with the final metrics")
    t.add_argument("--distributed", action="store_true", help="data-parallel over the ranks of an MPI launch: "
                   "mpiexec -n N gpunet train --distributed (needs gpunet[dist]; --batch-size is per rank)")
    return t


# ----------------------------------------------------------------- train: configuration
def _run_config(args, saved: dict | None) -> dict:
    """The run's options: command line over defaults; on resume the checkpoint's, refusing a changed value."""
    cfg = dict(RUN_DEFAULTS)
    model = args.model or (saved or {}).get("model") or RUN_DEFAULTS["model"]
    model_defaults = MODELS[model][1]
    cfg.update({k: v for k, v in model_defaults.items() if k in cfg and k != "lr"})
    if saved is not None:
        cfg.update({k: saved[k] for k in RUN_DEFAULTS if k in saved})
    for key in RUN_DEFAULTS:
        given = getattr(args, key)
        if given is None:
            continue
        if saved is not None and given != cfg[key]:
            flag = "--" + key.replace("_", "-")
            raise UsageError(f"{flag} {given} differs from the checkpoint's {cfg[key]}; a resumed run keeps its "
                             f"options: drop {flag}, or start a new run without --resume")
        cfg[key] = given
    opt = cfg["optimizer"]
    if cfg["lr"] is None:
        cfg["lr"] = model_defaults["lr"] if opt == "adam" and "lr" in model_defaults else OPTIMIZERS[opt][2]
    if cfg["schedule"] == "cosine" and cfg["lr_decay"] != 1.0:
        raise UsageError(f"--lr-decay {cfg['lr_decay']:g} and --schedule cosine both set the learning rate; "
                         f"choose one (--schedule none keeps --lr-decay)")
    parse_hidden(cfg["hidden"])
    return cfg


def build_optimizer(name: str, params, lr: float, weight_decay: float = 0.0):
    from . import optim

    cls, kwargs, _ = OPTIMIZERS[name]
    return getattr(optim, cls)(params, lr=lr, weight_decay=weight_decay, **kwargs)


def _use_backend(name: str):
    from . import backend

    try:
        be = backend.use(name)
    except (backend.BackendUnavailableError, ValueError) as e:
        raise UsageError(f"--backend {name}: {e}") from None
    notice = backend.cpu_fallback_notice() if name == "auto" and be.name == "numpy" else None
    if notice:
        print(notice, file=sys.stderr)
    return be


# ----------------------------------------------------------------- train: running
def _loaders(X_tr, y_tr, X_te, y_te, cfg):
    from .data import DataLoader, TensorDataset, train_test_split

    X_val = y_val = None
    if cfg["val_split"] > 0:
        X_tr, y_tr, X_val, y_val = train_test_split(X_tr, y_tr, test_size=cfg["val_split"], seed=cfg["seed"])
    train = DataLoader(TensorDataset(X_tr, y_tr), batch_size=cfg["batch_size"], shuffle=True, seed=cfg["seed"])
    val = None if X_val is None or len(X_val) == 0 else DataLoader(TensorDataset(X_val, y_val), batch_size=1024, shuffle=False)
    test = DataLoader(TensorDataset(X_te, y_te), batch_size=1024, shuffle=False)
    return train, val, test, len(X_tr), 0 if val is None else len(X_val)


def _say(args, text: str) -> None:
    if not (args.quiet or args.json):
        print(text, flush=True)


def cmd_train(args) -> int:
    from . import __version__, manual_seed, nn
    from .train import ModelCheckpoint, ReseedEachEpoch, evaluate, fit, restore_checkpoint

    ckpt = _load_resume(args.resume) if args.resume else None
    saved = ckpt["args"] if ckpt else None
    cfg = _run_config(args, saved)
    layout_defaults = MODELS[cfg["model"]][1]
    epochs = args.epochs or (saved or {}).get("epochs") or layout_defaults.get("epochs", EPOCHS_DEFAULT)
    if saved is not None and cfg["schedule"] == "cosine" and saved.get("epochs") not in (None, epochs):
        raise UsageError(f"--epochs {epochs}: this run's cosine schedule spans its {saved['epochs']} epochs; resume "
                         f"it with --epochs {saved['epochs']} (or train with --schedule none to extend runs)")
    _check_plot(args.plot)
    _check_output_folder("--save", args.save)
    _check_output_folder("--plot", args.plot)
    if args.distributed:  # join the process group before any tensor exists (NCCL picks the rank's GPU)
        from .distributed._cli import start
        start(args)
    be = _use_backend(args.backend)
    X_tr, y_tr, X_te, y_te, classes = load_dataset(cfg["dataset"], cfg["seed"], layout_defaults["standardize"])
    manual_seed(cfg["seed"])
    model, X_tr, X_te, what = _build_model(cfg, X_tr, X_te, classes)
    optimizer = build_optimizer(cfg["optimizer"], model.parameters(), cfg["lr"], cfg["weight_decay"])
    scheduler = None
    if cfg["lr_decay"] != 1.0:
        from .optim.lr_scheduler import ExponentialLR

        scheduler = ExponentialLR(optimizer, gamma=cfg["lr_decay"])
    elif cfg["schedule"] == "cosine":
        from .optim.lr_scheduler import CosineAnnealingLR

        scheduler = CosineAnnealingLR(optimizer, T_max=epochs)
    try:
        train, val, test, n_train, n_val = _loaders(X_tr, y_tr, X_te, y_te, cfg)
    except ValueError as e:  # e.g. a data set too small for the split
        raise UsageError(f"--dataset {cfg['dataset']}: {e}") from None
    if args.distributed:  # DDP model, this rank's share of the training set
        from .distributed._cli import wrap
        model, train = wrap(args, cfg, model, train)
    history, start = None, 0
    if ckpt is not None:
        try:
            restore_checkpoint(ckpt, model, optimizer, scheduler, train_loader=train)
        except (RuntimeError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"--resume {args.resume}: the checkpoint does not fit this run: {e}") from None
        history, start = ckpt.get("history"), int(ckpt["epoch"])
    _say(args, f"gpunet {__version__} · backend {be.name} ({be.device}) · {cfg['dataset']}: {n_train} train / "
               f"{n_val} val / {len(X_te)} test · {what} · {cfg['optimizer']} lr {cfg['lr']:g} · "
               f"batch {cfg['batch_size']}" + (f" · label smoothing {cfg['label_smoothing']:g}" if cfg["label_smoothing"] else "") + (f" · resuming after epoch {start}" if ckpt else ""))
    callbacks = [ReseedEachEpoch(cfg["seed"])]
    if args.save is None and args.resume:
        args.save = args.resume          # a resumed run keeps saving where it was saving
    if args.save:
        callbacks.append(ModelCheckpoint(args.save, extra={"args": {**cfg, "epochs": epochs}}))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg["label_smoothing"])
    t0 = time.perf_counter()
    history = fit(model, loss_fn, optimizer, train, epochs, val_loader=val, scheduler=scheduler, callbacks=callbacks,
                  progress=not (args.quiet or args.json), initial_epoch=start, history=history)
    elapsed = time.perf_counter() - t0
    test_metrics = evaluate(model, test, loss_fn)
    if args.plot:
        save_plot(history, args.plot)
    _report(args, cfg, be, epochs, start, history, test_metrics, elapsed)
    return 0


def _build_model(cfg, X_tr, X_te, classes):
    """The ``--model`` network, the data reshaped to its input layout, and a short description."""
    from . import models

    name = cfg["model"]
    try:
        shape = models.input_shape(name, X_tr.shape[1])
    except ValueError as e:
        raise UsageError(f"--dataset {cfg['dataset']}: {e}") from None
    X_tr, X_te = X_tr.reshape((-1, *shape)), X_te.reshape((-1, *shape))
    if name == "mlp":
        hidden = parse_hidden(cfg["hidden"])
        return (build_mlp(shape[0], hidden, classes, cfg["activation"], cfg["dropout"]), X_tr, X_te,
                "MLP " + "-".join(str(s) for s in [shape[0], *hidden, classes]))
    for key, default in (("hidden", RUN_DEFAULTS["hidden"]), ("activation", RUN_DEFAULTS["activation"])):
        if cfg[key] != default:
            raise UsageError(f"--{key} sets the MLP's layers; --model {name} has its own (gpunet.models."
                             f"build_{name}); drop --{key}")
    side = shape[-1]
    model = getattr(models, f"build_{name}")(side, classes, dropout=cfg["dropout"])
    n = sum(p.numel() for p in model.parameters())
    return model, X_tr, X_te, f"{name.upper() if name != 'transformer' else 'transformer'} ({n:,} parameters)"


def _throughput(history: dict, start: int) -> float | None:
    rates = [r for r in history["samples_per_s"][start:] if r]
    return float(len(rates) / sum(1.0 / r for r in rates)) if rates else None   # per-epoch harmonic mean


def _report(args, cfg, be, epochs, start, history, test, elapsed) -> None:
    rate = _throughput(history, start)
    last = {k: (v[-1] if v else None) for k, v in history.items()}
    if args.json:
        out = {"dataset": cfg["dataset"], "backend": be.name, "device": be.device, "epochs": len(history["loss"]),
               "test_loss": test["loss"], "test_acc": test["acc"], "train_loss": last["loss"],
               "train_acc": last["acc"], "val_loss": last["val_loss"], "val_acc": last["val_acc"],
               "samples_per_s": rate, "time_s": elapsed, "checkpoint": args.save, "config": cfg}
        print(json.dumps(out))
        return
    rate_txt = f"{rate:,.0f} samples/s" if rate else "no epochs run"
    print(f"test accuracy {100 * test['acc']:.2f}% (loss {test['loss']:.4f}) · training {rate_txt} · "
          f"{elapsed:.1f} s" + (f" · checkpoint {args.save}" if args.save else ""), flush=True)


# ----------------------------------------------------------------- bench
def cmd_bench(args, rest: list[str]) -> int:
    try:
        from ._bench import main as bench_main
    except ImportError:
        print("benchmarks need the source checkout: python -m bench", file=sys.stderr)
        return 2
    return int(bench_main((["--json"] if args.json else []) + rest) or 0)


# ----------------------------------------------------------------- entry point
def main(argv=None) -> int:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        print("\ngpunet: error: choose a command: train, info or bench", file=sys.stderr)
        return 2
    if args.command == "bench":
        return cmd_bench(args, rest)
    sub = args.subparsers[args.command]
    if rest:
        sub.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        return cmd_train(args) if args.command == "train" else cmd_info(args)
    except UsageError as e:
        sub.print_usage(sys.stderr)
        print(f"gpunet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gpunet {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from .train import TrainingError

        if not isinstance(e, TrainingError):
            raise
        print(f"gpunet {args.command}: training failed: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

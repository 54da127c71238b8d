"""The models of ``gpunet train --model``: an MLP, a small CNN, an LSTM and a transformer encoder, each built from
``gpunet.nn`` layers exactly as the same model would be built from ``torch.nn``.

Every builder takes the input shape of one sample (without the batch axis) and the number of classes. The CNN
reads a square image as ``(1, side, side)``; the sequence models read it row by row, a sequence of ``side`` tokens
of ``side`` features (``(side, side)`` with ``batch_first=True``). :data:`MODELS` maps each name to its builder,
the input layout it wants (:func:`input_shape`) and the training defaults that reach the accuracy of the README.
"""
from __future__ import annotations

import math

from . import nn

__all__ = ["MODELS", "build_mlp", "build_cnn", "build_lstm", "build_transformer", "input_shape"]

ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "gelu": "GELU", "silu": "SiLU",
               "leaky_relu": "LeakyReLU", "elu": "ELU"}


def build_mlp(in_features: int, hidden: list[int], classes: int, activation: str = "relu",
              dropout: float = 0.1):
    """Sequential MLP: per hidden layer Linear → BatchNorm1d → activation → Dropout, then Linear to ``classes``."""
    layers, width = [], in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), getattr(nn, ACTIVATIONS[activation])()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, classes))
    return nn.Sequential(*layers)


def build_cnn(side: int, classes: int, width: int = 32, dropout: float = 0.1):
    """Two 3×3 convolution blocks (Conv → BatchNorm2d → ReLU, twice, then a 2×2 max pool), global average
    pooling and a Linear classifier: ``(N, 1, side, side)`` → ``(N, classes)``."""
    w2 = 2 * width
    layers = [nn.Conv2d(1, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
              nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
              nn.MaxPool2d(2),
              nn.Conv2d(width, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(),
              nn.Conv2d(w2, w2, 3, padding=1, bias=False), nn.BatchNorm2d(w2), nn.ReLU(),
              nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(w2, classes))
    return nn.Sequential(*layers)


class SequenceClassifier(nn.Module):
    """An LSTM over the rows of an image; the last step's hidden state (both directions) goes to a Linear."""

    def __init__(self, features: int, classes: int, hidden: int = 128, num_layers: int = 1,
                 bidirectional: bool = True, dropout: float = 0.1):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        d = 2 if bidirectional else 1
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(d * hidden, classes)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(self.dropout(out.mean(dim=1)))


def build_lstm(side: int, classes: int, hidden: int = 128, dropout: float = 0.1):
    """:class:`SequenceClassifier` over ``side`` tokens of ``side`` features."""
    return SequenceClassifier(side, classes, hidden=hidden, dropout=dropout)


class TransformerClassifier(nn.Module):
    """Tokens → Linear embedding + learned positions → TransformerEncoder (pre-norm) → mean over tokens → Linear."""

    def __init__(self, features: int, tokens: int, classes: int, d_model: int = 96, nhead: int = 4,
                 num_layers: int = 2, dim_feedforward: int = 192, dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        self.pos = nn.Parameter(nn.init.normal_(_empty(tokens, d_model), std=1.0 / math.sqrt(d_model)))
        layer = nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, norm=nn.LayerNorm(d_model))
        self.head = nn.Linear(d_model, classes)

    def forward(self, x):
        h = self.encoder(self.embed(x) + self.pos)
        return self.head(h.mean(dim=1))


def build_transformer(side: int, classes: int, d_model: int = 96, dropout: float = 0.1):
    """:class:`TransformerClassifier` over ``side`` tokens of ``side`` features."""
    return TransformerClassifier(side, side, classes, d_model=d_model, dim_feedforward=2 * d_model,
                                 dropout=dropout)


def _empty(*shape):
    from . import empty

    return empty(*shape)


# name -> (input layout, training defaults that override gpunet train's). "standardize": whether the digits'
# pixels are standardised per feature (else scaled to [0, 1]): measured on the digits split, the CNN does better on
# plain pixels and the sequence models on standardised ones.
MODELS = {
    "mlp": ("flat", {"standardize": True}),
    "cnn": ("image", {"epochs": 30, "lr": 3e-3, "schedule": "cosine", "standardize": False}),
    "lstm": ("rows", {"epochs": 30, "lr": 3e-3, "schedule": "cosine", "standardize": True}),
    "transformer": ("rows", {"epochs": 40, "lr": 2e-3, "schedule": "cosine", "standardize": True}),
}


def input_shape(model: str, features: int) -> tuple[int, ...]:
    """The per-sample shape ``model`` reads a flat sample of ``features`` values as."""
    layout = MODELS[model][0]
    if layout == "flat":
        return (features,)
    side = math.isqrt(features)
    if side * side != features:
        raise ValueError(f"--model {model} reads each sample as a square image, but a sample has {features} "
                         f"values (not a square); use --model mlp for this data set")
    return (1, side, side) if layout == "image" else (side, side)

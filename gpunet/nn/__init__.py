"""Neural-network modules (``import gpunet.nn as nn``), shaped like ``torch.nn``.

``nn.functional`` and ``nn.init`` are the same modules as ``gpunet.functional`` and ``gpunet.init`` (also as
``import gpunet.nn.functional as F`` and ``from gpunet.nn import functional as F``).
"""
import sys as _sys

from .. import functional, init

_sys.modules[__name__ + ".functional"] = functional  # importable under this name: the very same module
_sys.modules[__name__ + ".init"] = init
from .activation import (ELU, GELU, GLU, SELU, Hardswish, Hardtanh, LeakyReLU, LogSigmoid, LogSoftmax, Maxout,
                         Mish, PReLU, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Softplus, Step, Tanh)
from .container import ModuleList, Sequential
from .container_dicts import ModuleDict, ParameterDict, ParameterList
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, GaussianNLLLoss, HuberLoss, KLDivLoss, L1Loss,
                   MSELoss, MultiMarginLoss, NLLLoss, RMSELoss, SmoothL1Loss)
from .module import Module
from .normalization import BatchNorm1d
from .parameter import Parameter
from . import utils  # noqa: E402

__all__ = ["Module", "Parameter", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict", "Linear", "Identity", "Flatten", "ReLU", "Sigmoid",
           "Tanh", "LeakyReLU", "ELU", "Softmax", "LogSoftmax", "Step", "GELU", "SiLU", "Softplus", "Hardtanh",
           "Maxout", "ReLU6", "SELU", "Mish", "Hardswish", "LogSigmoid", "GLU", "PReLU", "Dropout", "BatchNorm1d", "MSELoss", "L1Loss", "RMSELoss", "CrossEntropyLoss", "NLLLoss",
           "BCELoss", "BCEWithLogitsLoss", "GaussianNLLLoss", "MultiMarginLoss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "functional", "init", "utils"]
from .pooling import (AdaptiveAvgPool1d, AdaptiveAvgPool2d, AdaptiveMaxPool1d, AdaptiveMaxPool2d,  # noqa: E402
                      AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d, MaxUnpool1d, MaxUnpool2d)
from .shape import (Fold, PixelShuffle, PixelUnshuffle, Unflatten, Unfold, Upsample,  # noqa: E402
                    UpsamplingBilinear2d, UpsamplingNearest2d)
from .dropout import Dropout2d  # noqa: E402
from .normalization import BatchNorm2d  # noqa: E402
__all__ += ["MaxPool1d", "MaxPool2d", "MaxUnpool1d", "MaxUnpool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
            "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Unflatten", "Upsample",
            "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle", "Dropout2d", "BatchNorm2d",
            "Fold", "Unfold"]
from .conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d  # noqa: E402
from .activation import Softmax2d, Softsign, Threshold  # noqa: E402
from .distance import CosineSimilarity, PairwiseDistance  # noqa: E402
from .dropout import Dropout1d, Dropout3d  # noqa: E402
__all__ += ["Softmax2d", "Softsign", "Threshold", "CosineSimilarity", "PairwiseDistance", "Dropout1d", "Dropout3d"]
from . import padding as _padding  # noqa: E402
from .padding import *  # noqa: E402,F401,F403
__all__ += list(_padding.__all__)
__all__ += ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]
from .rnn import GRU, LSTM, RNN, RNNBase  # noqa: E402
from .rnn_cells import GRUCell, LSTMCell, RNNCell, RNNCellBase  # noqa: E402
__all__ += ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]
from .layer_norm import GroupNorm, LayerNorm, RMSNorm  # noqa: E402
from .instance_norm import InstanceNorm1d, InstanceNorm2d  # noqa: E402
__all__ += ["LayerNorm", "RMSNorm", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d"]
from .embedding import Embedding, EmbeddingBag  # noqa: E402
__all__ += ["Embedding", "EmbeddingBag"]
from .attention import MultiheadAttention  # noqa: E402
from .transformer import TransformerEncoder, TransformerEncoderLayer  # noqa: E402
from .transformer_decoder import Transformer, TransformerDecoder, TransformerDecoderLayer  # noqa: E402
__all__ += ["MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer",
            "TransformerDecoder", "Transformer"]

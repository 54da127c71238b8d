"""Optimizers and learning-rate schedulers (as ``torch.optim``).

Each optimizer's arithmetic is one in-place ``xp`` function in :mod:`gpunet.optim._functional`; a backend may
supply a fused kernel with the same signature (``Backend.optimizer_kernel(name)``), which ``step()`` then uses.
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adam_variants import Adamax, NAdam, RAdam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "Adadelta", "Adamax", "NAdam", "RAdam",
           "lr_scheduler"]

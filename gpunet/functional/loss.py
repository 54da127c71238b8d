"""Loss functions, PyTorch-shaped: same names, arguments, defaults and reductions.

Each loss is one :class:`~gpunet.autograd.Function` that computes the elementwise (or per-row) loss, applies the
reduction (``'mean'`` | ``'sum'`` | ``'none'``) and writes the whole vector-Jacobian product by hand. Targets
given as NumPy arrays or lists are moved to the input's device; floating targets take the input's dtype (so a
float64 NumPy target does not turn a float32 loss into float64). Class weights, element weights and
``pos_weight`` are constants: no gradient flows to them.

This is the public module; the code lives in :mod:`.loss_pointwise` (mse, l1, rmse, gaussian_nll, binary
cross-entropy), :mod:`.loss_robust` (smooth_l1, huber, kl_div), :mod:`.loss_classification` (cross_entropy, nll_loss, multi_margin_loss) and
:mod:`._loss_common` (shared argument handling and reductions). The Function classes are re-exported here too.
"""
from __future__ import annotations

from ._loss_common import Reduction  # noqa: F401  (re-export)
from .loss_classification import (NLL, MultiMargin, SoftmaxCrossEntropy,  # noqa: F401  (re-export)
                                  SoftTargetCrossEntropy, cross_entropy, multi_margin_loss, nll_loss)
from .loss_pointwise import (BCE, L1, MSE, RMSE, BCEWithLogits, GaussianNLL,  # noqa: F401  (re-export)
                             binary_cross_entropy, binary_cross_entropy_with_logits, gaussian_nll_loss, l1_loss,
                             mse_loss, rmse_loss)
from .loss_robust import Huber, KLDiv, SmoothL1, huber_loss, kl_div, smooth_l1_loss  # noqa: F401  (re-export)

__all__ = ["l1_loss", "mse_loss", "rmse_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "gaussian_nll_loss", "multi_margin_loss", "smooth_l1_loss",
           "huber_loss", "kl_div"]

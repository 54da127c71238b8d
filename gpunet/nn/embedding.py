"""Embedding: a lookup table of learnable rows, shaped like ``torch.nn.Embedding``; EmbeddingBag: its bags reduced."""
from __future__ import annotations

from .. import init
from ..autograd import inplace as _inplace
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..functional.embedding import check_padding_idx, embedding
from ..functional.embedding_bag import MODES, embedding_bag
from .module import Module
from .parameter import Parameter, empty

__all__ = ["Embedding", "EmbeddingBag"]


class Embedding(Module):
    """Rows of ``weight`` (num_embeddings, embedding_dim) for integer input of any shape, as
    ``torch.nn.Embedding``: output shape ``input.shape + (embedding_dim,)``. ``weight`` starts N(0, 1) with row
    ``padding_idx`` (which gets no gradient) zeroed. ``max_norm`` rescales looked-up rows above that norm in place;
    ``scale_grad_by_freq`` divides each row's gradient by its index's count in the batch. ``_weight`` uses a given
    (num_embeddings, embedding_dim) tensor as the weight (shared, not copied)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx=None, max_norm=None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False, _weight=None,
                 _freeze: bool = False, device=None, dtype=None):
        super().__init__()
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        self.padding_idx = check_padding_idx(padding_idx, self.num_embeddings, "Embedding")
        self.max_norm, self.norm_type = max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = bool(scale_grad_by_freq), bool(sparse)
        if sparse:
            raise NotImplementedError("Embedding: sparse=True (a sparse weight gradient) is not supported; use "
                                      "sparse=False: the dense gradient, summed by a scatter-add")
        if _weight is None:
            self.weight = Parameter(empty((self.num_embeddings, self.embedding_dim), device, dtype),
                                    requires_grad=not _freeze)
            self.reset_parameters()
        else:
            shape = tuple(getattr(_weight, "shape", ()))
            if shape != (self.num_embeddings, self.embedding_dim):
                raise ValueError(f"Embedding: _weight must have shape ({self.num_embeddings}, "
                                 f"{self.embedding_dim}) (num_embeddings, embedding_dim), got {shape}")
            self.weight = Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0
            _inplace.bump(self.weight, False)

    def forward(self, input) -> Tensor:
        return embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, padding_idx=None, max_norm=None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False):
        """An Embedding whose weight is ``embeddings`` (2-D, shared), frozen (no gradient) unless
        ``freeze=False``; the padding row is left as given."""
        shape = tuple(getattr(embeddings, "shape", ()))
        if len(shape) != 2:
            raise ValueError(f"Embedding.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {shape}")
        return cls(shape[0], shape[1], padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse, _weight=embeddings, _freeze=freeze)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        return s


class EmbeddingBag(Embedding):
    """Sums, means or maxima of bags of embedding rows, as ``torch.nn.EmbeddingBag`` (see
    :func:`gpunet.functional.embedding_bag`): ``forward(input, offsets=None, per_sample_weights=None)`` with
    input (B, N), or 1-D with offsets; output (B, embedding_dim)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm=None, norm_type: float = 2.0,
                 scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False, _weight=None,
                 include_last_offset: bool = False, padding_idx=None, device=None, dtype=None):
        if mode not in MODES:
            raise ValueError(f"EmbeddingBag: mode has to be one of sum, mean or max, got {mode!r}")
        super().__init__(num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq,
                         sparse, _weight, device=device, dtype=dtype)
        self.mode, self.include_last_offset = mode, bool(include_last_offset)

    def forward(self, input, offsets=None, per_sample_weights=None) -> Tensor:
        return embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                             self.mode, self.sparse, per_sample_weights, self.include_last_offset, self.padding_idx)

    @classmethod
    def from_pretrained(cls, embeddings, freeze: bool = True, max_norm=None, norm_type: float = 2.0,
                        scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                        include_last_offset: bool = False, padding_idx=None):
        shape = tuple(getattr(embeddings, "shape", ()))
        if len(shape) != 2:
            raise ValueError(f"EmbeddingBag.from_pretrained: embeddings must be 2-D (num_embeddings, embedding_dim), "
                             f"got shape {shape}")
        m = cls(shape[0], shape[1], max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                mode=mode, sparse=sparse, _weight=embeddings, include_last_offset=include_last_offset,
                padding_idx=padding_idx)
        m.weight.requires_grad = not freeze
        return m

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2.0:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s

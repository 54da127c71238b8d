"""``torch.nn.utils.rnn``: batches of variable-length sequences, padded or packed.

A :class:`PackedSequence` holds the sequences of a batch time step by time step, longest first: ``data`` is
(Σ lengths, *) with, for each step t, the ``batch_sizes[t]`` sequences still running at t (in decreasing order of
length), ``batch_sizes`` a CPU int64 tensor, and ``sorted_indices`` / ``unsorted_indices`` the permutation from
the caller's batch order to that one and back (None when the batch came sorted). ``nn.RNN``, ``nn.LSTM`` and
``nn.GRU`` take one and return their output packed the same way, with ``h_n`` (``c_n``) in the caller's order, as
PyTorch's.

Every function here is a gather (``index_select``) from the concatenated inputs plus, where padding is needed, one
extra row holding ``padding_value``, so gradients flow back through packing and padding (the padding gets none).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from ...autograd.creation import full, tensor
from ...autograd.tensor import Tensor
from ...functional.indexing import index_select
from ...functional.shape import Concatenate

__all__ = ["PackedSequence", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence", "pack_sequence",
           "unpad_sequence", "unpack_sequence", "invert_permutation"]


def _host_ints(a, what: str) -> np.ndarray:
    """``a`` (a list, array or tensor of integers) as a 1-D int64 NumPy array."""
    if isinstance(a, Tensor):
        a = a.detach().cpu().numpy()
    arr = np.asarray(a)
    if arr.dtype.kind not in "iu" and arr.size:
        raise TypeError(f"{what} must hold integers, got {arr.dtype}")
    return arr.astype(np.int64).reshape(-1)


def _index(values, like: Tensor) -> Tensor:
    """An int64 index tensor of ``values`` on ``like``'s device."""
    return tensor(np.asarray(values, dtype=np.int64), device=like.device)


def _cpu_ints(values) -> Tensor:
    return tensor(np.asarray(values, dtype=np.int64), device="cpu")


def invert_permutation(permutation):
    """The inverse of a permutation tensor (None for None)."""
    if permutation is None:
        return None
    p = _host_ints(permutation, "permutation")
    inv = np.empty_like(p)
    inv[p] = np.arange(p.size, dtype=np.int64)
    return _index(inv, permutation)


class PackedSequence(namedtuple("PackedSequence", ["data", "batch_sizes", "sorted_indices", "unsorted_indices"])):
    """``(data, batch_sizes, sorted_indices, unsorted_indices)`` as ``torch.nn.utils.rnn.PackedSequence``: build
    one with :func:`pack_padded_sequence` or :func:`pack_sequence`, not by hand."""
    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if batch_sizes is None:
            raise TypeError("PackedSequence: batch_sizes is required; build packed batches with "
                            "pack_padded_sequence(padded, lengths) or pack_sequence(list_of_tensors)")
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args, **kwargs) -> "PackedSequence":
        """``data`` (and the index tensors, not ``batch_sizes``, which stays on the CPU) moved or cast."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        si, ui = (None if t is None else t.to(data.device) for t in (self.sorted_indices, self.unsorted_indices))
        return type(self)(data, self.batch_sizes, si, ui)

    def cpu(self) -> "PackedSequence":
        return self.to("cpu")

    def cuda(self) -> "PackedSequence":
        return self.to("cuda")

    def float(self) -> "PackedSequence":
        return self.to(dtype=np.float32)

    def double(self) -> "PackedSequence":
        return self.to(dtype=np.float64)

    @property
    def is_cuda(self) -> bool:
        return self.data.device != "cpu"


def _with_padding_row(parts, padding_value):
    """The tensors of ``parts`` (each (n_i, *F)) and one row of ``padding_value`` after them, concatenated."""
    ref = parts[0]
    row = full((1,) + tuple(ref.shape[1:]), padding_value, dtype=ref.dtype, device=ref.device)
    return Concatenate.apply(*parts, row, axis=0)


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``input`` (T, B, *) (``batch_first``: (B, T, *)) of sequences of ``lengths``. With
    ``enforce_sorted`` the lengths must be in decreasing order; without, the batch is sorted here and the
    permutation kept in the result."""
    lens = _host_ints(lengths, "pack_padded_sequence: lengths")
    x = input.transpose(0, 1) if batch_first else input
    if x.ndim < 2:
        layout = "B, T" if batch_first else "T, B"
        raise ValueError(f"pack_padded_sequence: expected the input to be at least 2-D ({layout}, *), got "
                         f"{x.ndim}-D")
    T, B = x.shape[0], x.shape[1]
    if lens.size != B:
        raise ValueError(f"Expected `len(lengths)` to be equal to batch_size, but got {lens.size} (batch_size={B})")
    if lens.size and lens.min() <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that "
                           "is <= 0")
    if lens.size and lens.max() > T:
        raise RuntimeError(f"pack_padded_sequence: a length of {int(lens.max())} is longer than the input's {T} time "
                           f"steps{' (is batch_first right?)' if lens.max() <= B else ''}")
    if enforce_sorted:
        if np.any(np.diff(lens) > 0):
            raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
                               "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                               "sidestep this requirement if you do not need ONNX exportability.")
        order, sorted_indices = np.arange(B, dtype=np.int64), None
    else:
        order = np.argsort(-lens, kind="stable").astype(np.int64)
        sorted_indices = _index(order, x)
    lens_sorted = lens[order]
    steps = int(lens_sorted[0]) if B else 0
    batch_sizes = [int(np.count_nonzero(lens_sorted > t)) for t in range(steps)]
    flat = np.concatenate([t * B + order[:b] for t, b in enumerate(batch_sizes)]) if steps else np.zeros(0, np.int64)
    data = index_select(x.reshape((T * B,) + tuple(x.shape[2:])), 0, _index(flat, x))
    return PackedSequence(data, _cpu_ints(batch_sizes), sorted_indices, invert_permutation(sorted_indices))


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length=None):
    """``(padded, lengths)``: the packed batch back as (T, B, *) (``batch_first``: (B, T, *)) in the caller's
    batch order, ``padding_value`` after each sequence's end, and the lengths (a CPU int64 tensor); T is the
    longest length, or ``total_length``."""
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"pad_packed_sequence: expected a PackedSequence, got {type(sequence).__name__}")
    data, bs_t, _, unsorted = sequence
    bs = _host_ints(bs_t, "batch_sizes")
    steps = bs.size
    n = int(bs[0]) if steps else 0
    T = steps if total_length is None else int(total_length)
    if T < steps:
        raise ValueError(f"Expected total_length to be at least the length of the longest sequence in input, but got "
                         f"total_length={total_length} and max sequence length being {steps}")
    pad = data.shape[0]
    offsets = np.concatenate([[0], np.cumsum(bs)[:-1]]).astype(np.int64) if steps else np.zeros(0, np.int64)
    cols = np.arange(n, dtype=np.int64)
    idx = np.full((T, n), pad, dtype=np.int64)
    for t in range(steps):
        idx[t, :bs[t]] = offsets[t] + cols[:bs[t]]
    lens_sorted = np.array([np.count_nonzero(bs > j) for j in range(n)], dtype=np.int64)
    lens = lens_sorted
    if unsorted is not None:
        u = _host_ints(unsorted, "unsorted_indices")
        idx, lens = idx[:, u], lens_sorted[u]
    if batch_first:
        idx = idx.T
    out = index_select(_with_padding_row([data], padding_value), 0, _index(idx.reshape(-1), data))
    return out.reshape(idx.shape + tuple(data.shape[1:])), _cpu_ints(lens)


def pad_sequence(sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"):
    """The tensors of ``sequences`` (each (L_i, *), the same *) as one (max L, B, *) tensor (``batch_first``:
    (B, max L, *)), ``padding_value`` after (``padding_side='left'``: before) each."""
    if isinstance(sequences, Tensor):
        sequences = [sequences[i] for i in range(sequences.shape[0])]
    seqs = list(sequences)
    if not seqs:
        raise RuntimeError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("right", "left"):
        raise ValueError(f"pad_sequence: padding_side must be 'left' or 'right', got {padding_side!r}")
    feat = tuple(seqs[0].shape[1:])
    for i, s in enumerate(seqs):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: expected a list of Tensors, got {type(s).__name__} at position {i}")
        if s.ndim == 0 or tuple(s.shape[1:]) != feat:
            raise RuntimeError(f"pad_sequence: sequence {i} has shape {tuple(s.shape)}; every sequence must be "
                               f"(L_i, {', '.join(map(str, feat)) or ''}) with the same trailing sizes as the first")
    lens = np.array([s.shape[0] for s in seqs], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    M, B = int(lens.max()), len(seqs)
    pad = int(lens.sum())
    t = np.arange(M, dtype=np.int64)[:, None]
    shift = (M - lens)[None, :] if padding_side == "left" else np.zeros((1, B), np.int64)
    pos = t - shift
    idx = np.where((pos >= 0) & (pos < lens[None, :]), starts[None, :] + pos, pad)
    if batch_first:
        idx = idx.T
    out = index_select(_with_padding_row(seqs, padding_value), 0, _index(idx.reshape(-1), seqs[0]))
    return out.reshape(idx.shape + feat)


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """Pack the tensors of ``sequences`` (each (L_i, *)); see :func:`pack_padded_sequence`."""
    seqs = list(sequences)
    return pack_padded_sequence(pad_sequence(seqs), [s.shape[0] for s in seqs], enforce_sorted=enforce_sorted)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False):
    """The list of sequences of a padded batch (the inverse of :func:`pad_sequence`)."""
    x = padded_sequences.transpose(0, 1) if not batch_first else padded_sequences
    return [x[b, :int(n)] for b, n in enumerate(_host_ints(lengths, "unpad_sequence: lengths"))]


def unpack_sequence(packed_sequences: PackedSequence):
    """The list of sequences of a packed batch, in the caller's order (the inverse of :func:`pack_sequence`)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

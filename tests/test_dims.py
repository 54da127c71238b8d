"""Dimension arguments: out-of-range dims raise IndexError naming the dim and the range (they used to wrap modulo
ndim: ``ones(2, 3).sum(axis=2)`` summed axis 0), duplicates raise, and the valid forms match PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip

import gpunet as gn
import gpunet.functional as F

X = np.arange(6.0).reshape(2, 3)

# (name, call with a bad dim, the range the message must give)
BAD = [
    ("sum", lambda t: t.sum(axis=2), r"\[-2, 1\]"),
    ("sum -3", lambda t: t.sum(dim=-3), r"\[-2, 1\]"),
    ("sum tuple", lambda t: t.sum(axis=(0, 2)), r"\[-2, 1\]"),
    ("mean", lambda t: t.mean(2), r"\[-2, 1\]"),
    ("max", lambda t: t.max(2), r"\[-2, 1\]"),
    ("min", lambda t: t.min(dim=-3), r"\[-2, 1\]"),
    ("amax", lambda t: gn.amax(t, 5), r"\[-2, 1\]"),
    ("argmax", lambda t: t.argmax(2), r"\[-2, 1\]"),
    ("transpose", lambda t: t.transpose(0, 2), r"\[-2, 1\]"),
    ("permute", lambda t: t.permute(0, 2), r"\[-2, 1\]"),
    ("unsqueeze", lambda t: t.unsqueeze(3), r"\[-3, 2\]"),
    ("unsqueeze -4", lambda t: t.unsqueeze(-4), r"\[-3, 2\]"),
    ("flatten", lambda t: t.flatten(0, 4), r"\[-2, 1\]"),
    ("squeeze", lambda t: t.squeeze(2), r"\[-2, 1\]"),
    ("cat", lambda t: gn.cat([t, t], axis=2), r"\[-2, 1\]"),
    ("stack", lambda t: gn.stack([t, t], axis=3), r"\[-3, 2\]"),
    ("softmax", lambda t: F.softmax(t, dim=2), r"\[-2, 1\]"),
]


@pytest.mark.parametrize("name,call,rng", BAD, ids=[b[0] for b in BAD])
def test_out_of_range_dims_raise_index_error(backend, name, call, rng):
    t = gn.tensor(X)
    with pytest.raises(IndexError, match=r"dim -?\d+ is out of range.*" + rng):
        call(t)


@pytest.mark.torch
@pytest.mark.parametrize("name,call,rng", BAD, ids=[b[0] for b in BAD])
def test_torch_rejects_the_same_dims(name, call, rng):
    torch = torch_or_skip()
    t = torch.tensor(X)
    torch_call = {"amax": lambda t: torch.amax(t, 5), "cat": lambda t: torch.cat([t, t], 2),
                  "stack": lambda t: torch.stack([t, t], 3), "softmax": lambda t: torch.softmax(t, 2)}
    with pytest.raises(IndexError):
        torch_call.get(name, call)(t)


def test_duplicate_dims_raise(backend):
    t = gn.tensor(X)
    with pytest.raises(RuntimeError, match="more than once"):
        t.sum(axis=(0, -2))
    with pytest.raises(RuntimeError, match="exactly once"):
        t.permute(0, 0)
    with pytest.raises(TypeError, match="dim must be an int"):
        t.sum(axis=1.0)


@pytest.mark.torch
def test_valid_dims_match_torch(backend):
    torch = torch_or_skip()
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    t, tt = gn.tensor(a), torch.tensor(a)
    cases = [
        (lambda x: x.sum(-1), lambda x: x.sum(-1)),
        (lambda x: x.sum((0, -1)), lambda x: x.sum((0, -1))),
        (lambda x: x.mean(-3), lambda x: x.mean(-3)),
        (lambda x: x.transpose(-1, 0), lambda x: x.transpose(-1, 0)),
        (lambda x: x.permute(2, -3, 1), lambda x: x.permute(2, -3, 1)),
        (lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1)),
        (lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(3)),
        (lambda x: x.flatten(1), lambda x: x.flatten(1)),
        (lambda x: x.flatten(-2, -1), lambda x: x.flatten(-2, -1)),
        (lambda x: x.unsqueeze(1).squeeze(-3), lambda x: x.unsqueeze(1).squeeze(-3)),
    ]
    for mine, theirs in cases:
        np.testing.assert_array_equal(to_numpy(mine(t)), theirs(tt).numpy())
    np.testing.assert_array_equal(to_numpy(gn.cat([t, t], axis=-1)), torch.cat([tt, tt], -1).numpy())
    np.testing.assert_array_equal(to_numpy(gn.stack([t, t], dim=-1)), torch.stack([tt, tt], -1).numpy())


def test_zero_d_tensors_accept_dims_0_and_minus_1(backend):
    s = gn.tensor(3.0)
    assert s.sum(0).item() == 3.0 and s.sum(-1).item() == 3.0
    assert s.unsqueeze(0).shape == (1,) and s.unsqueeze(-1).shape == (1,)
    assert s.flatten().shape == (1,)
    with pytest.raises(IndexError, match=r"\[-1, 0\]"):
        s.sum(1)
    with pytest.raises(IndexError, match=r"\[-1, 0\]"):
        s.unsqueeze(1)

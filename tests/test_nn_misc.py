"""norm, normalize, cosine_similarity, one_hot and constant pad against PyTorch (float64, both backends)."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import to_numpy, torch_or_skip, values_and_grads_like_torch

import gpunet as gn
import gpunet.functional as F


def leaf(a):
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def _both(torch, fn_gn, fn_t, *arrays, rtol=1e-12):
    values_and_grads_like_torch(fn_gn, fn_t, *arrays, rtol=rtol, atol=1e-14)


@pytest.mark.torch
@pytest.mark.parametrize("p", [2, 1, float("inf"), 3.0, 0.5])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (1, True), ((0, 2), False), (-1, True)])
def test_norm_matches_torch(backend, p, dim, keepdim):
    torch = torch_or_skip()
    a = np.random.default_rng(0).standard_normal((3, 4, 2))
    a[1, :, :] = 0.0                                    # a zero slice: the 2-norm's subgradient there is 0
    if p == 0.5:
        a[1, :, :] = 1.0
    _both(torch, lambda x: F.norm(x, p, dim, keepdim),
          lambda t: torch.linalg.vector_norm(t, p, dim=dim, keepdim=keepdim), a)


@pytest.mark.torch
def test_normalize_and_cosine_similarity_match_torch(backend):
    torch = torch_or_skip()
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    a[2] = 0.0                                           # below eps: clamped
    _both(torch, lambda x: F.normalize(x), lambda t: torch.nn.functional.normalize(t), a)
    _both(torch, lambda x: F.normalize(x, p=1, dim=0), lambda t: torch.nn.functional.normalize(t, p=1, dim=0), a)
    _both(torch, lambda x, y: F.cosine_similarity(x, y), lambda s, t: torch.nn.functional.cosine_similarity(s, t),
          a, b)
    _both(torch, lambda x, y: F.cosine_similarity(x, y, dim=0),
          lambda s, t: torch.nn.functional.cosine_similarity(s, t, dim=0), a, b)


@pytest.mark.torch
def test_one_hot_and_pad_match_torch(backend):
    torch = torch_or_skip()
    t = np.array([[0, 2], [1, 3]])
    np.testing.assert_array_equal(to_numpy(F.one_hot(gn.tensor(t))),
                                  torch.nn.functional.one_hot(torch.tensor(t)).numpy())
    assert F.one_hot(gn.tensor(t), 6).shape == (2, 2, 6) and F.one_hot(gn.tensor(t)).dtype == np.int64
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(gn.tensor(t), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(gn.tensor([0.5]))
    a = np.random.default_rng(2).standard_normal((2, 3, 4))
    for p, v in (((1, 2), None), ((0, 1, 2, 0), 1.5), ((1, 1, 1, 1, 1, 1), -2.0)):
        _both(torch, lambda x: F.pad(x, p, value=v),
              lambda s: torch.nn.functional.pad(s, p, value=0.0 if v is None else v), a)
    with pytest.raises(NotImplementedError, match="'wrap'"):  # reflect/replicate/circular: test_pad_modes.py
        F.pad(leaf(a), (1, 1), mode="wrap")

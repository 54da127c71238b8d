"""F.embedding_bag / nn.EmbeddingBag: sum, mean and max bags (2-D input, offsets, include_last_offset, padding_idx,
per_sample_weights, empty bags) against a float64 NumPy reference, gradcheck on every backend, PyTorch's values,
gradients, state_dict and repr, and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn

CASES = ["2d", "offsets", "last", "pad", "empty", "psw"]
PAIRS = [(m, c) for m in ("sum", "mean", "max") for c in CASES if c != "psw" or m == "sum"]  # psw: 'sum' only


def _case(rng, case):
    if case == "2d":
        return rng.integers(0, 10, (3, 4)), None
    idx = rng.integers(0, 10, 9)
    if case == "pad":
        idx[[0, 3, 4]] = 2
    off = {"empty": [0, 3, 3, 7], "last": [0, 2, 5, 9]}.get(case, [0, 2, 5])
    return idx, np.array(off)


def _ref(w, idx, off, mode, last, pad, psw):
    if off is None:
        bags = [list(r) for r in idx]
        pw = None if psw is None else [list(r) for r in psw]
    else:
        ends = list(off[1:]) if last else list(off[1:]) + [len(idx)]
        starts = off[:-1] if last else off
        bags = [list(idx[s:e]) for s, e in zip(starts, ends)]
        pw = None if psw is None else [list(psw[s:e]) for s, e in zip(starts, ends)]
    out = np.zeros((len(bags), w.shape[1]))
    for b, items in enumerate(bags):
        rows = [w[i] * (1 if pw is None else pw[b][k]) for k, i in enumerate(items) if i != pad]
        if rows:
            out[b] = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode](np.stack(rows), axis=0)
    return out


@pytest.mark.parametrize("mode,case", PAIRS)
def test_reference_and_gradcheck(backend, rng, mode, case):
    idx, off = _case(rng, case)
    pad = 2 if case == "pad" else None
    last = case == "last"
    w = rng.standard_normal((10, 3))
    psw = rng.standard_normal(idx.shape) if case == "psw" else None
    out = F.embedding_bag(gn.tensor(idx), gn.tensor(w), None if off is None else gn.tensor(off), mode=mode,
                          per_sample_weights=None if psw is None else gn.tensor(psw), include_last_offset=last,
                          padding_idx=pad)
    np.testing.assert_allclose(to_numpy(out), _ref(w, idx, off, mode, last, pad, psw), rtol=1e-12, atol=1e-12)
    wt = gn.tensor(w, requires_grad=True)
    extra = [] if psw is None else [gn.tensor(psw, requires_grad=True)]

    def fn(w, *p):
        return F.embedding_bag(gn.tensor(idx), w, None if off is None else gn.tensor(off), mode=mode,
                               per_sample_weights=p[0] if p else None, include_last_offset=last, padding_idx=pad)
    assert gn.gradcheck(fn, [wt] + extra, atol=1e-6, rtol=1e-4)


def test_module_and_errors(rng):
    m = nn.EmbeddingBag(10, 3, mode="sum")
    assert tuple(m(gn.tensor(rng.integers(0, 10, (2, 5)))).shape) == (2, 3)
    pre = nn.EmbeddingBag.from_pretrained(gn.tensor(np.eye(4)), mode="max")
    assert not pre.weight.requires_grad
    np.testing.assert_array_equal(to_numpy(pre(gn.tensor(np.array([[0, 1], [3, 3]])))),
                                  [[1, 1, 0, 0], [0, 0, 0, 1]])
    x1, off = gn.tensor(np.arange(5)), gn.tensor(np.array([0, 2]))
    with pytest.raises(ValueError, match="offsets has to be None"):
        m(gn.tensor(np.zeros((2, 3), np.int64)), off)
    with pytest.raises(ValueError, match="offsets has to be a 1D Tensor but got None"):
        m(x1)
    with pytest.raises(ValueError, match=r"offsets\[0\] has to be 0"):
        m(x1, gn.tensor(np.array([1, 2])))
    with pytest.raises(NotImplementedError, match="per_sample_weights is only supported for mode='sum'"):
        F.embedding_bag(x1, m.weight, off, mode="mean", per_sample_weights=gn.ones(5))
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max"):
        nn.EmbeddingBag(10, 3, mode="median")
    with pytest.raises(IndexError):
        m(gn.tensor(np.array([0, 12])), gn.tensor(np.array([0])))
    last = nn.EmbeddingBag(10, 3, mode="sum", include_last_offset=True)
    for bad in ([0, 2, 4], [0, 0, 3]):  # torch's CPU kernel runs the last bag to the end: it must not be guessed
        with pytest.raises(ValueError, match=r"the last offset closes the last bag and must be the input's length 5"):
            last(x1, gn.tensor(np.array(bad)))
    assert tuple(last(x1, gn.tensor(np.array([0, 2, 5]))).shape) == (2, 3)


@pytest.mark.torch
@pytest.mark.parametrize("mode,case", PAIRS)
def test_matches_torch(rng, mode, case):
    torch = torch_or_skip()
    pad = 2 if case == "pad" else None
    kw = dict(mode=mode, include_last_offset=case == "last", padding_idx=pad)
    tm = torch.nn.EmbeddingBag(10, 4, dtype=torch.float64, **kw)
    gm = nn.EmbeddingBag(10, 4, dtype=np.float64, **kw)
    gm.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    assert repr(gm) == repr(tm)
    idx, off = _case(rng, case)
    psw = rng.standard_normal(idx.shape) if case == "psw" else None
    tp = None if psw is None else torch.tensor(psw, requires_grad=True)
    gp = None if psw is None else gn.tensor(psw, requires_grad=True)
    to = tm(torch.tensor(idx), None if off is None else torch.tensor(off), tp)
    go = gm(gn.tensor(idx), None if off is None else gn.tensor(off), gp)
    np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    go.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(gm.weight.grad), tm.weight.grad.numpy(), rtol=1e-12, atol=1e-12)
    if psw is not None:
        np.testing.assert_allclose(to_numpy(gp.grad), tp.grad.numpy(), rtol=1e-12, atol=1e-12)

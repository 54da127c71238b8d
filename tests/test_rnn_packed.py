"""Variable-length batches: gpunet.nn.utils.rnn (pad_sequence, pack_padded_sequence, pad_packed_sequence,
pack_sequence, unpad/unpack) and RNN/LSTM/GRU over a PackedSequence. Each packed run is checked against the same
module run on every sequence alone, by gradcheck over every backend, and against PyTorch in float64."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy, torch_or_skip
from gpunet import nn
from gpunet.nn.utils import rnn as R

MODULES = {"rnn_tanh": lambda *a, **k: nn.RNN(*a, **k),
           "rnn_relu": lambda *a, **k: nn.RNN(*a, nonlinearity="relu", **k),
           "lstm": lambda *a, **k: nn.LSTM(*a, **k), "gru": lambda *a, **k: nn.GRU(*a, **k)}


# ----------------------------------------------------------------------------------------------- the utilities
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
def test_pad_sequence(backend, rng, batch_first, side):
    seqs = [rng.standard_normal((n, 2, 3)) for n in (3, 1, 4, 4)]
    out = to_numpy(R.pad_sequence([gn.tensor(s) for s in seqs], batch_first=batch_first, padding_value=-7.0,
                                  padding_side=side))
    ref = np.full((4, 4, 2, 3), -7.0)  # (T, B, ...)
    for b, s in enumerate(seqs):
        if side == "right":
            ref[:len(s), b] = s
        else:
            ref[4 - len(s):, b] = s
    np.testing.assert_array_equal(out, ref.transpose(1, 0, 2, 3) if batch_first else ref)


@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pack_and_pad_round_trip(backend, rng, enforce_sorted, batch_first):
    lens = [4, 4, 2, 1] if enforce_sorted else [2, 4, 1, 4]
    x = rng.standard_normal((4, 5, 3))  # (B, T, F)
    xin = x if batch_first else x.transpose(1, 0, 2)
    p = R.pack_padded_sequence(gn.tensor(xin), lens, batch_first=batch_first, enforce_sorted=enforce_sorted)
    order = sorted(range(4), key=lambda b: -lens[b])  # stable, as the packing's
    bs = [sum(n > t for n in lens) for t in range(max(lens))]
    assert p.batch_sizes.tolist() == bs and p.batch_sizes.device == "cpu"
    ref = np.concatenate([x[order[:b], t] for t, b in enumerate(bs)])
    np.testing.assert_array_equal(to_numpy(p.data), ref)
    if enforce_sorted:
        assert p.sorted_indices is None and p.unsorted_indices is None
    else:
        assert to_numpy(p.sorted_indices).tolist() == order
        assert to_numpy(p.unsorted_indices)[order].tolist() == list(range(4))
    pad, got_lens = R.pad_packed_sequence(p, batch_first=batch_first, padding_value=9.0, total_length=6)
    assert got_lens.tolist() == lens
    full = np.full((4, 6, 3), 9.0)
    for b, n in enumerate(lens):
        full[b, :n] = x[b, :n]
    np.testing.assert_array_equal(to_numpy(pad), full if batch_first else full.transpose(1, 0, 2))
    back = R.unpack_sequence(p)
    for b, n in enumerate(lens):
        np.testing.assert_array_equal(to_numpy(back[b]), x[b, :n])
    unp = R.unpad_sequence(pad, got_lens, batch_first=batch_first)
    for b, n in enumerate(lens):
        np.testing.assert_array_equal(to_numpy(unp[b]), x[b, :n])


def test_pack_sequence_and_gradients_through_the_utilities(backend, rng):
    seqs = [gn.tensor(rng.standard_normal((n, 2)), requires_grad=True) for n in (2, 3, 1)]

    def fn(*s):
        p = R.pack_sequence(list(s), enforce_sorted=False)
        pad, _ = R.pad_packed_sequence(p, batch_first=True, padding_value=0.5)
        return (pad * pad).reshape(-1)

    assert gn.gradcheck(fn, seqs, atol=1e-6, rtol=1e-4)


def test_packed_sequence_moves_and_casts(rng):
    p = R.pack_sequence([gn.tensor(rng.standard_normal((3, 2))), gn.tensor(rng.standard_normal((1, 2)))])
    q = p.float()
    assert q.data.dtype == gn.float32 and q.batch_sizes is p.batch_sizes and not q.is_cuda
    assert p.to("cpu") is p or p.to("cpu").data is p.data
    assert isinstance(q, R.PackedSequence) and isinstance(q, tuple)


@pytest.mark.parametrize("call,err,match", [
    (lambda x: R.pack_padded_sequence(x, [2, 3, 1]), RuntimeError, "sorted in decreasing order"),
    (lambda x: R.pack_padded_sequence(x, [3, 0, 1]), RuntimeError, "greater than 0"),
    (lambda x: R.pack_padded_sequence(x, [5, 2, 1]), RuntimeError, "longer than the input's 4 time steps"),
    (lambda x: R.pack_padded_sequence(x, [3, 2]), ValueError, "equal to batch_size"),
    (lambda x: R.pad_packed_sequence(R.pack_padded_sequence(x, [3, 2, 1]), total_length=2), ValueError,
     "at least the length of the longest"),
    (lambda x: R.pad_packed_sequence(x), TypeError, "expected a PackedSequence"),
    (lambda x: R.pad_sequence([x[0], x[:, :, 0]]), RuntimeError, "same trailing sizes"),
    (lambda x: R.pad_sequence([]), RuntimeError, "empty list"),
])
def test_errors(call, err, match):
    x = gn.ones(4, 3, 2)
    with pytest.raises(err, match=match):
        call(x)


# ----------------------------------------------------------------------------------------------- the layers
def _inputs(rng, lens, I, T=5):
    return rng.standard_normal((T, len(lens), I))


def _alone(m, x, lens, h0, c0, lstm):
    """The module run on each sequence alone: outputs (list of (len_b, D·H)), h_n and c_n stacked by batch."""
    outs, hs, cs = [], [], []
    for b, n in enumerate(lens):
        xb = gn.tensor(x[:n, b:b + 1])
        hx = None
        if h0 is not None:
            hb = gn.tensor(h0[:, b:b + 1])
            hx = (hb, gn.tensor(c0[:, b:b + 1])) if lstm else hb
        out, hn = m(xb, hx)
        outs.append(to_numpy(out)[:, 0])
        hs.append(to_numpy(hn[0] if lstm else hn)[:, 0])
        if lstm:
            cs.append(to_numpy(hn[1])[:, 0])
    return outs, np.stack(hs, 1), (np.stack(cs, 1) if lstm else None)


@pytest.mark.parametrize("mode", list(MODULES))
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True), dict(bidirectional=True)])
@pytest.mark.parametrize("enforce_sorted,with_h0", [(True, False), (False, True)])
def test_packed_equals_each_sequence_alone(backend, rng, mode, cfg, enforce_sorted, with_h0):
    lens = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    I, H = 3, 4
    lstm = mode == "lstm"
    m = MODULES[mode](I, H, dtype=np.float64, **cfg)
    D, NL = (2 if cfg.get("bidirectional") else 1), cfg.get("num_layers", 1)
    x = _inputs(rng, lens, I)
    h0 = rng.standard_normal((D * NL, len(lens), H)) if with_h0 else None
    c0 = rng.standard_normal((D * NL, len(lens), H)) if with_h0 else None
    p = R.pack_padded_sequence(gn.tensor(x), lens, enforce_sorted=enforce_sorted)
    hx = None if h0 is None else ((gn.tensor(h0), gn.tensor(c0)) if lstm else gn.tensor(h0))
    out, hn = m(p, hx)
    assert isinstance(out, R.PackedSequence) and out.batch_sizes is p.batch_sizes
    pad, got = R.pad_packed_sequence(out)
    assert got.tolist() == lens and tuple(pad.shape) == (5, len(lens), D * H)
    outs, h_ref, c_ref = _alone(m, x, lens, h0, c0, lstm)
    pad = to_numpy(pad)
    for b, n in enumerate(lens):
        np.testing.assert_allclose(pad[:n, b], outs[b], rtol=1e-12, atol=1e-12)
        assert np.all(pad[n:, b] == 0)
    np.testing.assert_allclose(to_numpy(hn[0] if lstm else hn), h_ref, rtol=1e-12, atol=1e-12)
    if lstm:
        np.testing.assert_allclose(to_numpy(hn[1]), c_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", ["rnn_tanh", "lstm", "gru"])
def test_packed_gradcheck(backend, rng, mode):
    lens = [2, 4, 1]
    I, H = 2, 2
    lstm = mode == "lstm"
    m = MODULES[mode](I, H, dtype=np.float64, bidirectional=True)  # (two layers: the tests above and below)
    names = [n for n, _ in m.named_parameters()]
    x = gn.tensor(_inputs(rng, lens, I, T=4), requires_grad=True)
    h0 = gn.tensor(rng.standard_normal((2, 3, H)), requires_grad=True)
    c0 = gn.tensor(rng.standard_normal((2, 3, H)), requires_grad=lstm)
    ws = [gn.tensor(to_numpy(p), requires_grad=True) for p in m.parameters()]

    def fn(x, h0, c0, *w):
        for n, t in zip(names, w):
            m._parameters[n] = t  # the module's weights as the checked inputs
        p = R.pack_padded_sequence(x, lens, enforce_sorted=False)
        out, hn = m(p, (h0, c0) if lstm else h0)
        parts = [out.data.reshape(-1)] + ([hn[0].reshape(-1), hn[1].reshape(-1)] if lstm else [hn.reshape(-1)])
        return gn.cat(parts)

    assert gn.gradcheck(fn, [x, h0, c0] + ws, atol=1e-6, rtol=1e-4)


def test_layer_errors():
    m = nn.LSTM(3, 4)
    p = R.pack_sequence([gn.ones(3, 3), gn.ones(2, 3)])
    with pytest.raises(RuntimeError, match="input_size"):
        m(R.pack_sequence([gn.ones(3, 2), gn.ones(2, 2)]))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(1, 2, 4\)"):
        m(p, (gn.zeros(1, 3, 4), gn.zeros(1, 3, 4)))
    with pytest.raises(TypeError, match="PackedSequence"):
        m((gn.ones(3, 3), [2]))


@pytest.mark.torch
@pytest.mark.parametrize("mode", list(MODULES))
@pytest.mark.parametrize("cfg", [dict(num_layers=2), dict(num_layers=2, bidirectional=True, batch_first=True)])
def test_packed_against_torch(rng, mode, cfg):
    torch = torch_or_skip()
    from torch.nn.utils import rnn as trnn

    lens = [2, 5, 1, 3, 5]
    bf = cfg.get("batch_first", False)
    D = 2 if cfg.get("bidirectional") else 1
    I, H, B = 3, 4, len(lens)
    lstm = mode == "lstm"
    tkw = dict(cfg, **({"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}))
    tcls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(mode, torch.nn.RNN)
    tm = tcls(I, H, dtype=torch.float64, **tkw)
    m = MODULES[mode](I, H, dtype=np.float64, **cfg)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((B, 5, I) if bf else (5, B, I))
    h0, c0 = rng.standard_normal((2, D * 2, B, H))
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    th = [torch.tensor(a, requires_grad=True) for a in (h0, c0)]
    gh = [gn.tensor(a, requires_grad=True) for a in (h0, c0)]
    to, thn = tm(trnn.pack_padded_sequence(tx, lens, batch_first=bf, enforce_sorted=False),
                 tuple(th) if lstm else th[0])
    go, ghn = m(R.pack_padded_sequence(gx, lens, batch_first=bf, enforce_sorted=False), tuple(gh) if lstm else gh[0])
    tpad, _ = trnn.pad_packed_sequence(to, batch_first=bf)
    gpad, _ = R.pad_packed_sequence(go, batch_first=bf)
    np.testing.assert_allclose(to_numpy(gpad), tpad.detach().numpy(), rtol=1e-10, atol=1e-12)
    thl, ghl = (list(thn), list(ghn)) if lstm else ([thn], [ghn])
    for a, b in zip(ghl, thl):
        np.testing.assert_allclose(to_numpy(a), b.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = rng.standard_normal(tuple(tpad.shape))
    (tpad * torch.tensor(w)).sum().add(sum((h * 2).sum() for h in thl)).backward()
    ((gpad * gn.tensor(w)).sum() + sum((h * 2).sum() for h in ghl)).backward()
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    for a, b in zip(gh[:1 + lstm], th[:1 + lstm]):
        np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=1e-10, atol=1e-12)
    params = dict(m.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(to_numpy(params[k].grad), p.grad.numpy(), rtol=1e-10, atol=1e-12)

"""Recurrent layers (RNN tanh/ReLU, LSTM, GRU and the cells): forward against a float64 NumPy step loop, backward by
gradcheck over every backend (inputs, initial states, every weight), shapes and PyTorch's layouts, dropout
between layers, and the error messages. PyTorch comparisons are in test_rnn_torch.py, the gate kernels in
test_rnn_kernels.py."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import to_numpy
from gpunet import nn
from gpunet.functional.recurrent import recurrent

MODES = ["rnn_tanh", "rnn_relu", "lstm", "gru"]


def _sig(a):
    return 1 / (1 + np.exp(-a))


def ref_step(mode, x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One step of the float64 reference, PyTorch's formulas as written in its documentation."""
    H = h.shape[-1]
    gi = x @ w_ih.T + (b_ih if b_ih is not None else 0)
    gh = h @ w_hh.T + (b_hh if b_hh is not None else 0)
    if mode == "rnn_tanh":
        return np.tanh(gi + gh), None
    if mode == "rnn_relu":
        return np.maximum(gi + gh, 0), None
    if mode == "lstm":
        a = gi + gh
        i, f, g, o = _sig(a[:, :H]), _sig(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), _sig(a[:, 3 * H:])
        c = f * c + i * g
        return o * np.tanh(c), c
    r = _sig(gi[:, :H] + gh[:, :H])
    z = _sig(gi[:, H:2 * H] + gh[:, H:2 * H])
    n = np.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
    return (1 - z) * n + z * h, None


def ref_rnn(mode, x, h0, c0, weights, num_layers, bidirectional):
    """Time-major (L, N, I) float64 reference of a stacked network: (output, h_n, c_n)."""
    D = 2 if bidirectional else 1
    L = x.shape[0]
    inp = x
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(D):
            k = layer * D + d
            w = weights[4 * k:4 * k + 4]
            h, c = h0[k], (c0[k] if c0 is not None else None)
            ys = [None] * L
            for t in (range(L - 1, -1, -1) if d else range(L)):
                h, c = ref_step(mode, inp[t], h, c, *w)
                ys[t] = h
            outs.append(np.stack(ys))
            hs.append(h)
            cs.append(c)
        inp = np.concatenate(outs, axis=-1)
    return inp, np.stack(hs), (np.stack(cs) if mode == "lstm" else None)


def _module(mode, *args, **kw):
    if mode.startswith("rnn"):
        return nn.RNN(*args, nonlinearity=mode[4:], **kw)
    return {"lstm": nn.LSTM, "gru": nn.GRU}[mode](*args, **kw)


def _weights_np(m):
    return [to_numpy(p) if p is not None else None for p in m._weights()]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", [dict(), dict(num_layers=2, bidirectional=True), dict(bias=False),
                                 dict(batch_first=True, num_layers=2)])
def test_forward_matches_numpy_reference(backend, mode, cfg, rng):
    L, N, I, H = 5, 3, 4, 6
    m = _module(mode, I, H, dtype=np.float64, **cfg)
    nl, D = cfg.get("num_layers", 1), 2 if cfg.get("bidirectional") else 1
    x = rng.standard_normal((L, N, I))
    h0 = rng.standard_normal((D * nl, N, H))
    c0 = rng.standard_normal((D * nl, N, H))
    hx = (gn.tensor(h0), gn.tensor(c0)) if mode == "lstm" else gn.tensor(h0)
    xin = x.transpose(1, 0, 2) if cfg.get("batch_first") else x
    out, hn = m(gn.tensor(xin), hx)
    ro, rh, rc = ref_rnn(mode, x, h0, c0 if mode == "lstm" else None, _weights_np(m), nl, D == 2)
    if cfg.get("batch_first"):
        ro = ro.transpose(1, 0, 2)
    np.testing.assert_allclose(to_numpy(out), ro, rtol=1e-12, atol=1e-12)
    if mode == "lstm":
        hn, cn = hn
        np.testing.assert_allclose(to_numpy(cn), rc, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(to_numpy(hn), rh, rtol=1e-12, atol=1e-12)
    assert out.shape == ((N, L, D * H) if cfg.get("batch_first") else (L, N, D * H))
    assert hn.shape == (D * nl, N, H)


@pytest.mark.parametrize("mode", MODES)
def test_float32_forward_close_to_reference(mode, rng):
    """The float32 kernels (tanh and σ by a rational fit on the CPU) stay within float32 rounding."""
    m = _module(mode, 8, 16, num_layers=2)
    x = rng.standard_normal((7, 4, 8)).astype(np.float32)
    out, _ = m(gn.tensor(x))
    ro, _, _ = ref_rnn(mode, x.astype(np.float64), np.zeros((2, 4, 16)), np.zeros((2, 4, 16)),
                       _weights_np(m), 2, False)
    assert out.dtype == np.float32
    np.testing.assert_allclose(to_numpy(out), ro, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", [dict(num_layers=2), dict(bidirectional=True), dict(batch_first=True),
                                 dict(unbatched=True)])
def test_gradcheck_inputs_states_weights(backend, mode, cfg, rng):
    L, N, I, H = 3, 2, 3, 2
    nl, bidir = cfg.get("num_layers", 1), cfg.get("bidirectional", False)
    D = 2 if bidir else 1
    bf, unb = cfg.get("batch_first", False), cfg.get("unbatched", False)
    m = _module(mode, I, H, num_layers=nl, bidirectional=bidir, dtype=np.float64)
    ws = [gn.tensor(to_numpy(p), requires_grad=True) for p in m._weights()]
    xs = (L, I) if unb else ((N, L, I) if bf else (L, N, I))
    hs = (D * nl, H) if unb else (D * nl, N, H)
    x = gn.tensor(rng.standard_normal(xs), requires_grad=True)
    h0 = gn.tensor(rng.standard_normal(hs), requires_grad=True)
    c0 = gn.tensor(rng.standard_normal(hs), requires_grad=True)
    lstm = mode == "lstm"

    def fn(x, h0, c0, *w):
        out, hn = recurrent(mode, x, (h0, c0) if lstm else h0, list(w), nl, bidir, H, I, batch_first=bf)
        parts = [out.reshape(-1)] + ([hn[0].reshape(-1), hn[1].reshape(-1)] if lstm else [hn.reshape(-1)])
        return gn.cat(parts)

    inputs = [x, h0, c0 if lstm else gn.tensor(np.zeros(1))] + ws
    if not lstm:
        inputs[2].requires_grad = False
    assert gn.gradcheck(fn, inputs, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("cell,mode", [(nn.RNNCell, "rnn_tanh"), (nn.LSTMCell, "lstm"), (nn.GRUCell, "gru")])
def test_cells_forward_and_gradcheck(backend, cell, mode, rng):
    m = cell(3, 4, dtype=np.float64)
    x = gn.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = gn.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    c = gn.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    ws = [to_numpy(p) for p in (m.weight_ih, m.weight_hh, m.bias_ih, m.bias_hh)]
    out = m(x, (h, c) if mode == "lstm" else h)
    rh, rc = ref_step(mode, to_numpy(x), to_numpy(h), to_numpy(c), *ws)
    if mode == "lstm":
        np.testing.assert_allclose(to_numpy(out[1]), rc, rtol=1e-12, atol=1e-12)
        out = out[0]
    np.testing.assert_allclose(to_numpy(out), rh, rtol=1e-12, atol=1e-12)

    def fn(x, h, c, w_ih, w_hh, b_ih, b_hh):
        for name, v in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (w_ih, w_hh, b_ih, b_hh)):
            m._parameters[name] = v
        r = m(x, (h, c) if mode == "lstm" else h)
        return gn.cat([r[0], r[1]]) if mode == "lstm" else r

    params = [gn.tensor(w, requires_grad=True) for w in ws]
    assert gn.gradcheck(fn, [x, h, c] + params, atol=1e-6, rtol=1e-4)
    # unbatched: (H_in,) in, (H,) out; no state means zeros
    u = m(gn.tensor(to_numpy(x)[0]))
    assert (u[0] if mode == "lstm" else u).shape == (4,)


def test_parameter_names_order_shapes_and_init():
    m = nn.LSTM(3, 5, num_layers=2, bidirectional=True)
    names = [n for n, _ in m.named_parameters()]
    expect = []
    for k in range(2):
        for sfx in ("", "_reverse"):
            expect += [f"weight_ih_l{k}{sfx}", f"weight_hh_l{k}{sfx}", f"bias_ih_l{k}{sfx}", f"bias_hh_l{k}{sfx}"]
    assert names == expect
    assert m.weight_ih_l0.shape == (20, 3) and m.weight_ih_l1.shape == (20, 10) and m.weight_hh_l1_reverse.shape == (20, 5)
    bound = 1 / np.sqrt(5)
    for p in m.parameters():
        assert np.abs(to_numpy(p)).max() <= bound
    assert len(m.all_weights) == 4 and len(m.all_weights[0]) == 4
    assert [n for n, _ in nn.GRU(3, 4, bias=False).named_parameters()] == ["weight_ih_l0", "weight_hh_l0"]
    assert nn.GRU(3, 4).weight_ih_l0.shape == (12, 3)
    assert [n for n, _ in nn.LSTMCell(3, 4).named_parameters()] == ["weight_ih", "weight_hh", "bias_ih", "bias_hh"]
    assert repr(nn.LSTM(3, 5, num_layers=2, batch_first=True)) == "LSTM(3, 5, num_layers=2, batch_first=True)"


def test_unbatched_shapes_and_default_state():
    m = nn.GRU(3, 4, num_layers=2, bidirectional=True)
    out, h = m(gn.tensor(np.ones((5, 3), np.float32)))
    assert out.shape == (5, 8) and h.shape == (4, 4)
    lstm = nn.LSTM(3, 4)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    a, (h1, c1) = lstm(gn.tensor(x))
    b, (h2, c2) = lstm(gn.tensor(x), (gn.zeros(1, 2, 4), gn.zeros(1, 2, 4)))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(h1.numpy(), a.numpy()[-1:])
    np.testing.assert_array_equal(h2.numpy(), h1.numpy())
    np.testing.assert_array_equal(c2.numpy(), c1.numpy())
    # NumPy arrays are accepted as input and states
    out, _ = lstm(x, (np.zeros((1, 2, 4), np.float32), np.zeros((1, 2, 4), np.float32)))
    np.testing.assert_array_equal(out.numpy(), a.numpy())


def test_dropout_between_layers_train_and_eval():
    m = nn.LSTM(4, 8, num_layers=3, dropout=0.5)
    x = gn.tensor(np.random.default_rng(0).standard_normal((6, 2, 4)).astype(np.float32))
    m.eval()
    e1, _ = m(x)
    ref = nn.LSTM(4, 8, num_layers=3)
    ref.load_state_dict(m.state_dict())
    e0, _ = ref(x)
    np.testing.assert_array_equal(e1.numpy(), e0.numpy())  # eval: identity
    m.train()
    t1, _ = m(x)
    assert not np.allclose(t1.numpy(), e0.numpy())
    t1.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(2, 3, dropout=0.2)


def test_no_grad_forward_matches():
    m = nn.GRU(3, 4, num_layers=2)
    x = gn.tensor(np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32))
    a, ha = m(x)
    with gn.no_grad():
        b, hb = m(x)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    np.testing.assert_array_equal(ha.numpy(), hb.numpy())
    assert b.grad_fn is None


@pytest.mark.parametrize("mode", MODES)
def test_reference_ops_without_numba(mode, monkeypatch, rng):
    """The plain-xp reference gates (what GPUNET_NUMBA=0 runs) give the compiled kernels' numbers."""
    from gpunet.backend import _numpy_rnn

    m = _module(mode, 3, 5, num_layers=2, bidirectional=True, dtype=np.float64)
    x = gn.tensor(rng.standard_normal((4, 2, 3)), requires_grad=True)
    a, _ = m(x)
    a.sum().backward()
    ga = [to_numpy(p.grad) for p in m.parameters()] + [to_numpy(x.grad)]
    monkeypatch.setattr(_numpy_rnn, "_kernels", lambda: None)
    m.zero_grad()
    x.grad = None
    b, _ = m(x)
    b.sum().backward()
    gb = [to_numpy(p.grad) for p in m.parameters()] + [to_numpy(x.grad)]
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), rtol=1e-13, atol=1e-14)
    for u, v in zip(ga, gb):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------------------------------------ errors
def test_error_messages():
    m = nn.LSTM(10, 20, num_layers=2)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 10, got 5"):
        m(gn.zeros(3, 4, 5))
    with pytest.raises(ValueError, match="Expected input to be 2D .* or 3D .* got 4D"):
        m(gn.zeros(3, 4, 5, 10))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[0\] size \(2, 4, 20\), got \[1, 4, 20\]"):
        m(gn.zeros(3, 4, 10), (gn.zeros(1, 4, 20), gn.zeros(2, 4, 20)))
    with pytest.raises(RuntimeError, match=r"Expected hidden\[1\] size \(2, 4, 20\), got \[2, 4, 21\]"):
        m(gn.zeros(3, 4, 10), (gn.zeros(2, 4, 20), gn.zeros(2, 4, 21)))
    with pytest.raises(TypeError, match="tuple \\(h_0, c_0\\)"):
        m(gn.zeros(3, 4, 10), gn.zeros(2, 4, 20))
    g = nn.GRU(10, 20)
    # a batch-first input given to a time-first module: the hint says so
    with pytest.raises(RuntimeError, match="batch_first=True"):
        g(gn.zeros(4, 3, 10), gn.zeros(1, 4, 20))
    with pytest.raises(RuntimeError, match="time-first: build the module with batch_first=False"):
        nn.GRU(10, 20, batch_first=True)(gn.zeros(3, 4, 10), gn.zeros(1, 4, 20))
    with pytest.raises(RuntimeError, match="hx should also be 3-D"):
        g(gn.zeros(3, 4, 10), gn.zeros(4, 20))
    with pytest.raises(RuntimeError, match="hx should also be 2-D"):
        g(gn.zeros(3, 10), gn.zeros(1, 1, 20))
    with pytest.raises(TypeError, match="pass a gpunet.nn.utils.rnn.PackedSequence"):  # a hand-made (data, lengths)
        g((gn.zeros(3, 4, 10), [3, 2, 2, 1]))
    with pytest.raises(TypeError, match="expected the input as a Tensor"):
        g([[1.0] * 10])
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match="only supported for LSTM"):
        nn.RNNBase("gru", 3, 4, proj_size=2)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.LSTM(3, 4, num_layers=2, dropout=1.5)
    with pytest.raises(ValueError, match="hidden_size must be greater than zero"):
        nn.GRU(3, 0)
    c = nn.LSTMCell(3, 4)
    with pytest.raises(RuntimeError, match="inconsistent input_size: got 5 expected 3"):
        c(gn.zeros(2, 5))
    with pytest.raises(RuntimeError, match=r"Expected hx\[1\] of shape \(2, 4\)"):
        c(gn.zeros(2, 3), (gn.zeros(2, 4), gn.zeros(3, 4)))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        nn.GRUCell(3, 4)(gn.zeros(1, 2, 3))
    with pytest.raises(TypeError, match="input is float64 but the weight_ih is float32"):
        nn.GRU(3, 4)(gn.zeros(2, 1, 3, dtype=np.float64))


def test_one_graph_node_per_layer_direction():
    """The sequence of a layer-direction is ONE node (plus views of its packed output), not one per step."""
    from gpunet.functional._rnn_layer import RecurrentLayer

    m = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    out, _ = m(gn.tensor(np.ones((20, 2, 3), np.float32)))
    seen, stack, kinds = set(), [out.grad_fn], []
    while stack:
        f = stack.pop()
        if f is None or id(f) in seen:
            continue
        seen.add(id(f))
        kinds.append(type(f).__name__)
        stack.extend(f.next_functions)
    assert kinds.count(RecurrentLayer.__name__) == 4
    assert len(kinds) < 16  # 4 layer nodes, their output views, one concatenation per layer

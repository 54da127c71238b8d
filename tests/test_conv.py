"""Convolutions: conv1d / conv2d / conv_transpose2d and Conv1d / Conv2d / ConvTranspose2d against a float64 direct
reference, gradcheck over every backend, PyTorch in float64 (values, every gradient, state_dict, Adam steps) and
the error messages."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip

# (x shape, weight shape, stride, padding, dilation, groups) of 2-D convolutions
CASES_2D = [
    ((2, 3, 7, 6), (4, 3, 3, 3), 1, 0, 1, 1),
    ((2, 4, 8, 7), (6, 2, 3, 2), 2, 1, 1, 2),
    ((1, 3, 9, 9), (3, 1, 3, 3), 1, 1, 1, 3),           # depthwise
    ((2, 2, 9, 8), (6, 1, 2, 3), (2, 1), (1, 2), (2, 1), 2),
    ((3, 2, 6, 7), (3, 2, 4, 2), 1, "same", (1, 2), 1),  # even kernel: the odd pad at the end
    ((2, 2, 6, 5), (2, 2, 3, 3), (3, 2), "valid", 1, 1),
    ((2, 3, 5, 5), (2, 3, 5, 5), 1, 2, 1, 1),
]


def ref_conv2d(x, w, b, stride, padding, dilation, groups):
    """Direct float64 convolution: one einsum per kernel offset (i, j) and group."""
    sh, sw = (stride, stride) if np.isscalar(stride) else stride
    dh, dw = (dilation, dilation) if np.isscalar(dilation) else dilation
    o, cg, kh, kw = w.shape
    if padding == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in ((kh, dh), (kw, dw))]
    elif padding == "valid":
        pads = [(0, 0), (0, 0)]
    else:
        ph, pw = (padding, padding) if np.isscalar(padding) else padding
        pads = [(ph, ph), (pw, pw)]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    n, _, H, W = xp.shape
    oh = (H - dh * (kh - 1) - 1) // sh + 1
    ow = (W - dw * (kw - 1) - 1) // sw + 1
    og = o // groups
    y = np.zeros((n, o, oh, ow))
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                win = xp[:, g * cg:(g + 1) * cg, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                         j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", win, w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        y += b[None, :, None, None]
    return y


def ref_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Direct float64 transposed convolution: every input pixel scatters its weighted kernel into the output."""
    s, p, op, d = (np.broadcast_to(v, 2) for v in (stride, padding, output_padding, dilation))
    n, cin, h, wd = x.shape
    _, cog, kh, kw = w.shape
    oh = (h - 1) * s[0] - 2 * p[0] + d[0] * (kh - 1) + op[0] + 1
    ow = (wd - 1) * s[1] - 2 * p[1] + d[1] * (kw - 1) + op[1] + 1
    big = np.zeros((n, cog * groups, oh + 2 * p[0] + kh * d[0] + s[0], ow + 2 * p[1] + kw * d[1] + s[1]))
    cig = cin // groups
    for g in range(groups):
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", x[:, g * cig:(g + 1) * cig], w[g * cig:(g + 1) * cig, :, i, j])
                big[:, g * cog:(g + 1) * cog, i * d[0]:i * d[0] + s[0] * (h - 1) + 1:s[0],
                    j * d[1]:j * d[1] + s[1] * (wd - 1) + 1:s[1]] += contrib
    y = big[:, :, p[0]:p[0] + oh, p[1]:p[1] + ow]
    if b is not None:
        y = y + b[None, :, None, None]
    return y


def _t(a, grad=False, dtype=np.float64):
    return gn.tensor(np.asarray(a, dtype=dtype), requires_grad=grad)


@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CASES_2D)
def test_conv2d_forward_matches_direct_reference(backend, rng, xs, ws, stride, padding, dilation, groups):
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    want = ref_conv2d(x, w, b, stride, padding, dilation, groups)
    got = F.conv2d(_t(x), _t(w), _t(b), stride=stride, padding=padding, dilation=dilation, groups=groups)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)
    got32 = F.conv2d(_t(x, dtype=np.float32), _t(w, dtype=np.float32), _t(b, dtype=np.float32), stride=stride,
                     padding=padding, dilation=dilation, groups=groups)
    assert got32.dtype == np.float32
    np.testing.assert_allclose(to_numpy(got32), want, rtol=1e-4, atol=1e-4)


def test_conv1d_forward_matches_direct_reference(backend, rng):
    x, w, b = rng.standard_normal((3, 4, 11)), rng.standard_normal((6, 2, 3)), rng.standard_normal(6)
    want = ref_conv2d(x[:, :, None], w[:, :, None], b, (1, 2), (0, 1), (1, 2), 2)[:, :, 0]
    got = F.conv1d(_t(x), _t(w), _t(b), stride=2, padding=1, dilation=2, groups=2)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)
    same = F.conv1d(_t(x), _t(w[:, :, :2]), None, padding="same", groups=2)
    assert same.shape == (3, 6, 11)


@pytest.mark.parametrize("stride, padding, output_padding, groups, dilation",
                         [(1, 0, 0, 1, 1), (2, 1, 1, 2, 1), ((2, 3), (1, 0), (1, 2), 1, (2, 1)), (3, 2, 0, 1, 2)])
def test_conv_transpose2d_forward_matches_direct_reference(backend, rng, stride, padding, output_padding, groups,
                                                           dilation):
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 3, 3, 2)), rng.standard_normal(3 * groups)
    want = ref_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation)
    got = F.conv_transpose2d(_t(x), _t(w), _t(b), stride, padding, output_padding, groups, dilation)
    np.testing.assert_allclose(to_numpy(got), want, rtol=1e-12, atol=1e-12)


def test_gradcheck_conv2d_random_shapes(backend):
    rng = np.random.default_rng(7)
    for trial in range(4):
        groups = int(rng.integers(1, 3))
        cg, og = int(rng.integers(1, 3)), int(rng.integers(1, 3))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        stride = tuple(int(v) for v in rng.integers(1, 3, 2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, 2))
        padding = tuple(int(v) for v in rng.integers(0, 3, 2))
        h = dilation[0] * (kh - 1) + 1 + int(rng.integers(0, 4))
        w = dilation[1] * (kw - 1) + 1 + int(rng.integers(0, 4))
        x = _t(rng.standard_normal((2, cg * groups, h, w)), True)
        W = _t(rng.standard_normal((og * groups, cg, kh, kw)), True)
        b = _t(rng.standard_normal(og * groups), True)
        gn.gradcheck(lambda x, W, b: F.conv2d(x, W, b, stride, padding, dilation, groups), [x, W, b])


@pytest.mark.parametrize("padding", ["same", 1])
def test_gradcheck_conv2d_stride1_and_conv1d(backend, rng, padding):
    x = _t(rng.standard_normal((2, 2, 5, 4)), True)
    W = _t(rng.standard_normal((3, 2, 2, 3)), True)
    gn.gradcheck(lambda x, W: F.conv2d(x, W, None, 1, padding, (2, 1)), [x, W])
    x1 = _t(rng.standard_normal((2, 4, 7)), True)
    W1 = _t(rng.standard_normal((2, 2, 3)), True)
    gn.gradcheck(lambda x, W: F.conv1d(x, W, None, 1, padding, 1, 2), [x1, W1])


@pytest.mark.parametrize("keep, as_conv", [(True, True), (False, False), (True, False), (False, True)])
def test_both_dx_paths_and_rebuilt_columns_agree(backend, monkeypatch, keep, as_conv):
    """dX as col2im(Wᵀ·dY) or as the full correlation; columns kept from forward or rebuilt: same gradients."""
    monkeypatch.setattr(type(backend), "conv_keep_cols", lambda self, *a: keep)
    monkeypatch.setattr(type(backend), "conv_dx_as_conv", lambda self, *a: as_conv)
    rng = np.random.default_rng(5)
    x = _t(rng.standard_normal((2, 4, 6, 5)), True)
    W = _t(rng.standard_normal((6, 2, 3, 2)), True)
    for padding, dilation in [((1, 0), 1), ("same", (2, 1)), (0, 1)]:
        gn.gradcheck(lambda x, W: F.conv2d(x, W, None, 1, padding, dilation, 2), [x, W])


def test_gradcheck_conv_transpose2d(backend):
    rng = np.random.default_rng(11)
    x = _t(rng.standard_normal((2, 4, 3, 4)), True)
    W = _t(rng.standard_normal((4, 2, 3, 2)), True)
    b = _t(rng.standard_normal(4), True)
    gn.gradcheck(lambda x, W, b: F.conv_transpose2d(x, W, b, (2, 1), (1, 0), (1, 0), 2, (1, 2)), [x, W, b])


def test_unbatched_input(backend, rng):
    x, w = rng.standard_normal((3, 6, 5)), rng.standard_normal((4, 3, 3, 3))
    got = F.conv2d(_t(x, True), _t(w), padding=1)
    assert got.shape == (4, 6, 5)
    np.testing.assert_allclose(to_numpy(got), ref_conv2d(x[None], w, None, 1, 1, 1, 1)[0], rtol=1e-12, atol=1e-12)
    gn.gradcheck(lambda x: F.conv2d(x, _t(w), padding=1), [_t(x, True)])
    gn.gradcheck(lambda x: F.conv1d(x, _t(w[:, :, 0]), padding=1), [_t(x[:, 0], True)])
    gn.gradcheck(lambda x: F.conv_transpose2d(x, _t(w), stride=2), [_t(rng.standard_normal(
        (4, 2, 3)), True)])


# ------------------------------------------------------------------------------------------------- vs PyTorch
@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("xs, ws, stride, padding, dilation, groups", CASES_2D)
def test_conv2d_values_and_grads_like_torch(rng, xs, ws, stride, padding, dilation, groups):
    torch = torch_or_skip()
    from conftest import values_and_grads_like_torch

    values_and_grads_like_torch(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups),
                                lambda x, w, b: torch.nn.functional.conv2d(x, w, b, stride, padding, dilation, groups),
                                rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0]))


@pytest.mark.torch
def test_conv1d_and_transpose_values_and_grads_like_torch(rng):
    torch = torch_or_skip()
    from conftest import values_and_grads_like_torch

    tf = torch.nn.functional
    values_and_grads_like_torch(lambda x, w, b: F.conv1d(x, w, b, 2, 1, 2, 2),
                                lambda x, w, b: tf.conv1d(x, w, b, 2, 1, 2, 2),
                                rng.standard_normal((3, 4, 13)), rng.standard_normal((6, 2, 3)),
                                rng.standard_normal(6))
    values_and_grads_like_torch(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1, 1, 2, (1, 2)),
                                lambda x, w, b: tf.conv_transpose2d(x, w, b, 2, 1, 1, 2, (1, 2)),
                                rng.standard_normal((2, 4, 5, 3)), rng.standard_normal((4, 3, 3, 2)),
                                rng.standard_normal(6))


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["Conv1d", "Conv2d", "ConvTranspose2d"])
def test_modules_load_torch_state_dict(rng, kind):
    torch = torch_or_skip()
    kw = dict(stride=2, padding=1, groups=2, dilation=1)
    if kind == "ConvTranspose2d":
        kw["output_padding"] = 1
    tm = getattr(torch.nn, kind)(4, 6, 3, **kw).double()
    m = getattr(gn.nn, kind)(4, 6, 3, **kw)
    assert repr(m) == repr(tm)
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == {k: tuple(v.shape) for k, v in
                                                                       tm.state_dict().items()}
    m.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    m = m.double() if hasattr(m, "double") else m
    x = rng.standard_normal((2, 4, 7) if kind == "Conv1d" else (2, 4, 7, 6))
    gx, tx = _t(x, True), torch.tensor(x, requires_grad=True)
    y, ty = m(gx), tm(tx)
    np.testing.assert_allclose(to_numpy(y), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(ty.shape)
    y.backward(_t(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    for name, p in m.named_parameters():
        np.testing.assert_allclose(to_numpy(p.grad), dict(tm.named_parameters())[name].grad.numpy(), rtol=1e-12,
                                   atol=1e-12)


@pytest.mark.torch
def test_default_init_matches_torch_distribution():
    torch = torch_or_skip()
    gn.manual_seed(0)
    for m, tm in [(gn.nn.Conv2d(16, 32, 3), torch.nn.Conv2d(16, 32, 3)),
                  (gn.nn.ConvTranspose2d(16, 8, 3, groups=2), torch.nn.ConvTranspose2d(16, 8, 3, groups=2))]:
        fan_in = tm.weight.shape[1] * 9  # torch's fan_in of both parameters: weight.shape[1] · kh · kw
        bound = 1 / np.sqrt(fan_in)  # kaiming_uniform_(a=√5): √(2 / 6) · √(3 / fan_in)
        for name in ("weight", "bias"):
            a, t = to_numpy(getattr(m, name)), getattr(tm, name).detach().numpy()
            assert a.shape == t.shape and np.abs(t).max() <= bound and np.abs(a).max() <= bound
        assert np.abs(to_numpy(m.weight)).max() > 0.95 * bound


@pytest.mark.torch
def test_adam_steps_of_a_tiny_conv_model_match_torch(rng):
    torch = torch_or_skip()
    tnet = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(4, 4, 3, stride=2, groups=2), torch.nn.ReLU(),
                               torch.nn.ConvTranspose2d(4, 3, 2, stride=2), torch.nn.Flatten(),
                               torch.nn.Linear(3 * 6 * 6, 5)).double()
    net = gn.nn.Sequential(gn.nn.Conv2d(2, 4, 3, padding=1), gn.nn.ReLU(),
                           gn.nn.Conv2d(4, 4, 3, stride=2, groups=2), gn.nn.ReLU(),
                           gn.nn.ConvTranspose2d(4, 3, 2, stride=2), gn.nn.Flatten(), gn.nn.Linear(3 * 6 * 6, 5))
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    net = net.double()
    opt, topt = gn.optim.Adam(net.parameters(), lr=1e-2), torch.optim.Adam(tnet.parameters(), lr=1e-2)
    x, y = rng.standard_normal((4, 2, 7, 7)), rng.integers(0, 5, 4)
    for _ in range(3):
        opt.zero_grad()
        topt.zero_grad()
        loss = F.cross_entropy(net(_t(x)), gn.tensor(y))
        tloss = torch.nn.functional.cross_entropy(tnet(torch.tensor(x)), torch.tensor(y))
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
    for (name, p) in net.named_parameters():
        np.testing.assert_allclose(to_numpy(p), dict(tnet.named_parameters())[name].detach().numpy(), rtol=1e-9,
                                   atol=1e-10)


# ------------------------------------------------------------------------------------------------- errors
def test_wrong_channel_count_says_what_and_how():
    conv = gn.nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"expected input \(2, 4, 9, 9\) to have 3 channels.*got 4"):
        conv(gn.zeros(2, 4, 9, 9))


def test_3d_batch_to_conv2d_says_add_the_channel_axis():
    conv = gn.nn.Conv2d(1, 8, 3)
    with pytest.raises(ValueError, match=r"unbatched \(C, H, W\).*x\.reshape\(64, 1, 28, 28\)"):
        conv(gn.zeros(64, 28, 28))
    with pytest.raises(ValueError, match=r"expected a 3-D unbatched \(C, H, W\) or 4-D batched"):
        conv(gn.zeros(28, 28))


def test_kernel_larger_than_padded_input():
    with pytest.raises(ValueError, match=r"padded input size per channel: \(4 x 4\).*kernel size: \(5 x 5\)"):
        gn.nn.Conv2d(1, 2, 5)(gn.zeros(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"padded input size per channel: \(3\).*kernel size: \(5\)"):
        F.conv1d(gn.zeros(1, 1, 3), gn.zeros(1, 1, 3), dilation=2)


def test_groups_must_divide_channels():
    with pytest.raises(ValueError, match="in_channels=4 must be divisible by groups=3"):
        gn.nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(ValueError, match="out_channels=5 must be divisible by groups=2"):
        gn.nn.Conv1d(4, 5, 3, groups=2)
    with pytest.raises(ValueError, match="out_channels=5 .* divisible by groups=2"):
        F.conv2d(gn.zeros(1, 4, 5, 5), gn.zeros(5, 2, 3, 3), groups=2)


def test_padding_strings_and_modes():
    with pytest.raises(ValueError, match="padding='same' is not supported for strided convolutions"):
        gn.nn.Conv2d(1, 2, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        F.conv2d(gn.zeros(1, 1, 5, 5), gn.zeros(1, 1, 3, 3), stride=2, padding="same")
    with pytest.raises(ValueError, match="invalid padding string 'full'"):
        gn.nn.Conv2d(1, 2, 3, padding="full")
    with pytest.raises(ValueError, match='Only "zeros" padding mode is supported for ConvTranspose2d'):
        gn.nn.ConvTranspose2d(1, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        gn.nn.Conv2d(1, 2, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="no string padding"):
        gn.nn.ConvTranspose2d(1, 2, 3, padding="same")
    with pytest.raises(ValueError, match="output_padding .* must be smaller than either stride"):
        gn.nn.ConvTranspose2d(1, 2, 3, stride=2, output_padding=2)(gn.zeros(1, 1, 4, 4))


def test_conv_transpose_output_size_argument(rng):
    m = gn.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1)
    x = gn.tensor(rng.standard_normal((1, 2, 4, 4)).astype(np.float32))
    assert m(x).shape == (1, 3, 7, 7)
    assert m(x, output_size=(8, 8)).shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="valid sizes range from"):
        m(x, output_size=(10, 10))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd,padding", [(2, 1), (2, (2, 1)), (2, "same"), (1, 2), (1, "same")])
def test_padding_modes_as_pad_then_conv(backend, rng, mode, nd, padding):
    """padding_mode: the layer equals F.pad in that mode and an unpadded convolution (torch's definition), and
    its gradients pass gradcheck."""
    cls = gn.nn.Conv2d if nd == 2 else gn.nn.Conv1d
    k = (3, 2) if nd == 2 else 4
    m = cls(2, 3, k, padding=padding, padding_mode=mode, dtype=np.float64)
    shape = (2, 2, 5, 6) if nd == 2 else (2, 2, 7)
    x = gn.tensor(rng.standard_normal(shape), requires_grad=True)
    if padding == "same":
        total = [kk - 1 for kk in ((3, 2) if nd == 2 else (4,))]
        pairs = [(t // 2, t - t // 2) for t in total]
    else:
        pp = (padding,) * nd if isinstance(padding, int) else padding
        pairs = [(p, p) for p in pp]
    flat = [v for ab in reversed(pairs) for v in ab]
    conv = F.conv2d if nd == 2 else F.conv1d
    ref = conv(F.pad(x, flat, mode=mode), m.weight, m.bias)
    out = m(x)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_allclose(to_numpy(out), to_numpy(ref), rtol=1e-12, atol=1e-12)
    w, b = m.weight, m.bias
    assert gn.gradcheck(lambda x, w, b: F.conv2d(F.pad(x, flat, mode=mode), w, b) if nd == 2 else
                        F.conv1d(F.pad(x, flat, mode=mode), w, b), [x, w, b], atol=1e-6, rtol=1e-4)
    assert mode in repr(m)


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_padding_modes_match_torch(rng, mode):
    torch = torch_or_skip()
    tm = torch.nn.Conv2d(2, 4, 3, padding=(1, 2), padding_mode=mode, dtype=torch.float64)
    m = gn.nn.Conv2d(2, 4, 3, padding=(1, 2), padding_mode=mode, dtype=np.float64)
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((2, 2, 5, 6))
    tx, gx = torch.tensor(x, requires_grad=True), gn.tensor(x, requires_grad=True)
    to, go = tm(tx), m(gx)
    np.testing.assert_allclose(to_numpy(go), to.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    go.backward(gn.tensor(g))
    np.testing.assert_allclose(to_numpy(gx.grad), tx.grad.numpy(), rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(to_numpy(m.weight.grad), tm.weight.grad.numpy(), rtol=1e-11, atol=1e-12)

"""The padding layers (Zero/Constant/Reflection/Replication/CircularPad1d/2d/3d), Softsign, Threshold, Softmax2d,
CosineSimilarity, PairwiseDistance and Dropout1d/3d: against NumPy references, gradcheck on every backend,
PyTorch's values, gradients and reprs."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
import gpunet.functional as F
from conftest import to_numpy, torch_or_skip
from gpunet import nn

NP_MODE = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "edge",
           "Circular": "wrap"}
PADS = [(1, (2, 3, 6), (2, 1)), (2, (2, 3, 5, 6), (1, 2, 2, 0)), (2, (3, 5, 6), 1), (3, (1, 2, 4, 4, 5), (1, 1, 2, 0, 1, 2))]


@pytest.mark.parametrize("kind", list(NP_MODE))
@pytest.mark.parametrize("n,shape,padding", PADS)
def test_padding_layers(backend, rng, kind, n, shape, padding):
    x = rng.standard_normal(shape)
    args = (padding, 1.5) if kind == "Constant" else (padding,)
    m = getattr(nn, f"{kind}Pad{n}d")(*args)
    pads = (padding,) * (2 * n) if isinstance(padding, int) else padding
    widths = [(0, 0)] * (x.ndim - n) + [(pads[2 * i], pads[2 * i + 1]) for i in reversed(range(n))]
    kw = dict(constant_values=1.5 if kind == "Constant" else 0.0) if NP_MODE[kind] == "constant" else {}
    dev = backend.device.split(":")[0]
    np.testing.assert_array_equal(to_numpy(m(gn.tensor(x, device=dev))), np.pad(x, widths, NP_MODE[kind], **kw))
    xt = gn.tensor(x, device=dev, requires_grad=True)
    assert gn.gradcheck(lambda t: m(t) * 2.0, [xt])


def test_small_layers_reference_and_gradcheck(backend, rng):
    dev = backend.device.split(":")[0]
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    t = gn.tensor(x, device=dev)
    np.testing.assert_allclose(to_numpy(nn.Softsign()(t)), x / (1 + np.abs(x)), rtol=1e-12)
    np.testing.assert_array_equal(to_numpy(nn.Threshold(0.1, 20.0)(t)), np.where(x > 0.1, x, 20.0))
    img = rng.standard_normal((2, 3, 2, 2))
    e = np.exp(img - img.max(axis=1, keepdims=True))
    np.testing.assert_allclose(to_numpy(nn.Softmax2d()(gn.tensor(img, device=dev))), e / e.sum(axis=1, keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(to_numpy(nn.PairwiseDistance()(t, gn.tensor(y, device=dev))),
                               np.linalg.norm(x - y + 1e-6, axis=-1), rtol=1e-12)
    cs = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    np.testing.assert_allclose(to_numpy(nn.CosineSimilarity()(t, gn.tensor(y, device=dev))), cs, rtol=1e-12)
    a, b = (gn.tensor(v, device=dev, requires_grad=True) for v in (x, y))
    assert gn.gradcheck(lambda a, b: F.pairwise_distance(a, b, p=3.0), [a, b])
    assert gn.gradcheck(lambda a: F.softsign(a), [a])


@pytest.mark.parametrize("cls,shape", [(nn.Dropout1d, (4, 8, 50)), (nn.Dropout1d, (8, 50)),
                                       (nn.Dropout3d, (4, 6, 3, 3, 3)), (nn.Dropout3d, (6, 3, 3, 3))])
def test_channel_dropout(backend, cls, shape):
    gn.manual_seed(0)
    m = cls(0.5)
    y = to_numpy(m(gn.ones(*shape, device=backend.device.split(":")[0])))
    lead = 2 if len(shape) in (3, 5) else 1
    planes = y.reshape(int(np.prod(shape[:lead])), -1)
    assert all(len(set(p)) == 1 and p[0] in (0.0, 2.0) for p in planes)  # whole channels, scaled 1/(1 - p)
    assert 0 < (planes[:, 0] == 0).sum() < planes.shape[0]
    m.eval()
    np.testing.assert_array_equal(to_numpy(m(gn.ones(*shape))), 1.0)
    with pytest.raises(ValueError, match="expected a"):
        m.train()
        m(gn.ones(3))


@pytest.mark.torch
def test_match_torch(rng):
    torch = torch_or_skip()
    cases = [(torch.nn.Softsign(), nn.Softsign(), [(3, 4)]), (torch.nn.Threshold(0.1, 2.0), nn.Threshold(0.1, 2.0),
                                                              [(3, 4)]),
             (torch.nn.Softmax2d(), nn.Softmax2d(), [(2, 3, 4, 5)]),
             (torch.nn.CosineSimilarity(dim=0), nn.CosineSimilarity(dim=0), [(3, 4), (3, 4)]),
             (torch.nn.PairwiseDistance(p=1, keepdim=True), nn.PairwiseDistance(p=1, keepdim=True), [(3, 4), (1, 4)]),
             (torch.nn.ReflectionPad2d((1, 2, 0, 2)), nn.ReflectionPad2d((1, 2, 0, 2)), [(2, 3, 4, 5)]),
             (torch.nn.ConstantPad1d(2, -1.0), nn.ConstantPad1d(2, -1.0), [(2, 3, 4)])]
    for tm, gm, shapes in cases:
        assert repr(gm) == repr(tm)
        xs = [rng.standard_normal(s) for s in shapes]
        tx = [torch.tensor(v, requires_grad=True) for v in xs]
        gx = [gn.tensor(v, requires_grad=True) for v in xs]
        ty, gy = tm(*tx), gm(*gx)
        np.testing.assert_allclose(to_numpy(gy), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
        g = rng.standard_normal(tuple(ty.shape))
        ty.backward(torch.tensor(g))
        gy.backward(gn.tensor(g))
        for a, b in zip(gx, tx):
            np.testing.assert_allclose(to_numpy(a.grad), b.grad.numpy(), rtol=1e-12, atol=1e-12)

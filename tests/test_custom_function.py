"""Torch-style custom Functions (static forward(ctx, ...) / backward(ctx, ...), MyFn.apply) beside gpunet's own
form: saved tensors and their version check, needs_input_grad, several outputs, non-differentiable outputs,
materialize_grads, create_graph through a custom backward."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from conftest import torch_or_skip
from gpunet.autograd import Function, grad


class Scale(Function):
    @staticmethod
    def forward(ctx, x, alpha):
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return x * alpha

    @staticmethod
    def backward(ctx, g):
        _x, = ctx.saved_tensors
        assert ctx.needs_input_grad == (True, False)
        return g * ctx.alpha, None


class Cube(Function):
    """x³ with a backward written in gpunet ops: differentiable again."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return 3 * g * x * x


class SplitSum(Function):
    """Two outputs: (x + y, x * y), the second marked non-differentiable in one variant."""

    @staticmethod
    def forward(ctx, x, y, freeze=False):
        ctx.save_for_backward(x, y)
        s, p = x + y, x * y
        if freeze:
            ctx.mark_non_differentiable(p)
        ctx.set_materialize_grads(not freeze)
        return s, p

    @staticmethod
    def backward(ctx, gs, gp):
        x, y = ctx.saved_tensors
        ctx.seen = (gs, gp)
        return gs + gp * y, gs + gp * x, None


def test_torch_style_scale(backend):
    x = gn.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = Scale.apply(x, 2.0)
    assert y.requires_grad and "Scale" in repr(y.grad_fn)
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 8 * x.numpy())
    with gn.no_grad():
        assert not Scale.apply(x, 2.0).requires_grad


def test_forward_runs_under_no_grad_and_gets_tensors():
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen["grad"] = gn.is_grad_enabled()
            seen["type"] = type(x)
            return x.exp()

        @staticmethod
        def backward(ctx, g):
            return g

    x = gn.tensor([0.0], requires_grad=True)
    Probe.apply(x).sum().backward()
    assert seen == {"grad": False, "type": gn.Tensor}
    np.testing.assert_allclose(x.grad.numpy(), [1.0])


def test_saved_tensor_written_in_place_raises():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    h = x * 1
    y = Scale.apply(h, 3.0)
    h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_several_outputs_and_materialize():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = gn.tensor([3.0, 5.0], requires_grad=True)
    s, p = SplitSum.apply(x, y)
    (s.sum() + 2 * p.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 + 2 * y.numpy())
    np.testing.assert_allclose(y.grad.numpy(), 1 + 2 * x.numpy())
    x.grad = y.grad = None
    s, p = SplitSum.apply(x, y)
    s.sum().backward()  # p gets no gradient: materialized as zeros
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_non_differentiable_output():
    x = gn.tensor([1.0, 2.0], requires_grad=True)
    y = gn.tensor([3.0, 5.0], requires_grad=True)
    s, p = SplitSum.apply(x, y, True)
    assert s.requires_grad and not p.requires_grad
    s.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0, 1.0])


def test_create_graph_through_custom_backward():
    x = gn.tensor([0.5, -1.0, 2.0], dtype=np.float64, requires_grad=True)
    g, = grad(Cube.apply(x).sum(), x, create_graph=True)
    h, = grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())


@pytest.mark.torch
def test_like_torch_custom_function():
    torch = torch_or_skip()

    class TCube(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 3 * g * x * x

    a = np.random.default_rng(0).standard_normal((3, 4))
    x = gn.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    (Cube.apply(x).tanh() * 2).sum().backward()
    (TCube.apply(xt).tanh() * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_wrong_gradient_count_and_shape():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, g):
            return g

    x = gn.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(x, x).sum().backward()

    class BadShape(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return gn.ones(5)

    with pytest.raises(RuntimeError, match="invalid gradient at index 0"):
        BadShape.apply(x).sum().backward()


def test_forward_ctx_without_staticmethod_points_at_both_forms():
    with pytest.raises(TypeError, match="must be a @staticmethod"):
        class Oops(Function):
            def forward(ctx, x):
                return x

            @staticmethod
            def backward(ctx, g):
                return g


def test_setup_context_style():
    class Mul2(Function):
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    x = gn.tensor([1.0, 2.0], requires_grad=True)
    Mul2.apply(x, 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])


def test_gpunet_form_still_works():
    class Double(Function):
        def forward(self, xp, a):
            return a * 2

        def backward(self, xp, g):
            return (g * 2,)

    x = gn.tensor([1.0, 2.0], requires_grad=True)
    Double.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_materialize_grads_false_gives_none():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            Pair.seen = (ga is None, gb is None)
            out = ga * 2 if ga is not None else 0
            return out + (gb * 3 if gb is not None else 0)

    x = gn.tensor([1.0, 2.0], requires_grad=True)
    a, b = Pair.apply(x)
    b.sum().backward()
    assert Pair.seen == (True, False)
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])

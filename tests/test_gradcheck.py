"""gn.gradcheck: passes correct backward passes, catches wrong ones, and says where."""
from __future__ import annotations

import numpy as np
import pytest

import gpunet as gn
from gpunet import Function, GradcheckError


def leaf(a) -> gn.Tensor:
    return gn.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


class WrongSquare(Function):
    """a² with the VJP a·g (the factor 2 forgotten)."""

    def forward(self, xp, a):
        self.a = a
        return a * a

    def backward(self, xp, g):
        return (g * self.a,)


class MulWrongAt(Function):
    """a·b, with the gradient of ``b`` off by 1 at flat element ``k``."""

    def forward(self, xp, a, b, k=0):
        self.a, self.b, self.k = a, b, k
        return a * b

    def backward(self, xp, g):
        gb = g * self.a
        gb.reshape(-1)[self.k] += 1.0
        return g * self.b, gb


def test_correct_ops_pass(backend):
    rng = np.random.default_rng(0)
    a, b = leaf(rng.standard_normal((3, 4))), leaf(rng.standard_normal(4))
    assert gn.gradcheck(lambda x, y: (x * y).exp() @ y, [a, b]) is True
    assert gn.gradcheck(lambda x: x.sum(axis=0), a) is True


def test_non_tensor_and_constant_inputs_pass_through(backend):
    a = leaf([1.0, 2.0])
    c = gn.tensor([3.0, 4.0], dtype=np.float64)
    assert gn.gradcheck(lambda x, const, s: x * const * s, [a, c, 2.5])


def test_float32_inputs_are_refused():
    with pytest.raises(TypeError, match=r"input 1 is float32.*float64"):
        gn.gradcheck(lambda x, y: x * y, [leaf([1.0]), gn.tensor([2.0], requires_grad=True)])


def test_needs_an_input_that_requires_grad():
    with pytest.raises(ValueError, match="requires_grad=True"):
        gn.gradcheck(lambda x: x * 2.0, [gn.tensor([1.0], dtype=np.float64)])


def test_fn_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        gn.gradcheck(lambda x: 1.0, [leaf([1.0])])


def test_detects_a_wrong_backward_and_says_where(backend):
    with pytest.raises(GradcheckError) as e:
        gn.gradcheck(lambda x: WrongSquare.apply(x), [leaf([[1.0, 2.0], [3.0, -1.5]])])
    msg = str(e.value)
    assert "input 0" in msg and "shape (2, 2)" in msg and "element (" in msg
    assert "analytic" in msg and "numerical" in msg
    assert isinstance(e.value, AssertionError)


def test_names_the_wrong_input_and_element(backend):
    a, b = leaf(np.full((2, 3), 0.5)), leaf(np.full((2, 3), 2.0))
    with pytest.raises(GradcheckError, match=r"input 1 \(shape \(2, 3\)\).*element \(1, 1\)"):
        gn.gradcheck(lambda x, y: MulWrongAt.apply(x, y, k=4), [a, b])


def test_large_inputs_are_checked_along_directions(backend):
    x = leaf(np.linspace(-1.0, 1.0, 200))
    assert gn.gradcheck(lambda t: (t * t).sum(), x)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(200,\)\): directional derivative.*analytic.*"
                                             r"numerical"):
        gn.gradcheck(lambda t: WrongSquare.apply(t), x)


def test_directional_path_catches_a_single_wrong_element(backend):
    a, b = leaf(np.ones(100)), leaf(np.linspace(0.5, 1.5, 100))
    with pytest.raises(GradcheckError, match="input 1.*directional"):
        gn.gradcheck(lambda x, y: MulWrongAt.apply(x, y, k=37), [a, b])


def test_inputs_are_restored_after_the_check(backend):
    small, large = np.linspace(0.1, 1.0, 6), np.linspace(0.1, 1.0, 150)
    s, big = leaf(small), leaf(large)
    gn.gradcheck(lambda x, y: x.sum() * y.sum(), [s, big])
    np.testing.assert_array_equal(s.numpy(), small)
    np.testing.assert_array_equal(big.numpy(), large)

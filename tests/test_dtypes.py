"""Dtypes: a float32 model never silently computes in float64, and binary ops promote as PyTorch does.

Before: integer input to a float32 model ran the model in float64, and a float64 Tensor given to a float32
Linear returned float64. Now, as PyTorch: linear, batch_norm and matmul refuse mismatched dtypes with an error
that names both and says how to cast; raw NumPy floating input to a Module is still cast to the module's dtype
(documented convenience), raw integer input is not (it may be class indices) and so is refused by the layer.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import torch_or_skip

import gpunet as gn
import gpunet.functional as F
from gpunet import nn


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float64, np.float16])
def test_linear_refuses_a_tensor_of_another_dtype(backend, dtype):
    layer = nn.Linear(3, 2)
    x = gn.tensor(np.ones((4, 3), dtype=dtype))
    with pytest.raises(TypeError, match=rf"input is {np.dtype(dtype)} but the weight is float32.*x\.to\(gn\.float32\)"):
        layer(x)
    with pytest.raises(TypeError, match="must match"):
        F.linear(x, layer.weight, layer.bias)


def test_a_fused_sequential_refuses_it_too(backend):
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.Tanh(), nn.Linear(2, 2))
    with pytest.raises(TypeError, match="float64 but the weight"):
        model(gn.tensor(np.ones((2, 3))))
    with pytest.raises(TypeError, match="int64"):
        model(np.ones((2, 3), dtype=np.int64))      # raw integer input: not cast (could be class indices)
    out = model(np.ones((2, 3)))                     # raw float64 NumPy input: cast, as documented
    assert out.dtype == np.float32


def test_batch_norm_refuses_another_dtype(backend):
    bn = nn.BatchNorm1d(3)
    with pytest.raises(TypeError, match="batch_norm: the input is float64 but the weight is float32"):
        bn(gn.tensor(np.ones((4, 3))))


def test_matmul_needs_equal_dtypes(backend):
    a, b = gn.ones(2, 2), gn.ones(2, 2, dtype=np.float64)
    with pytest.raises(TypeError, match="float32.*float64"):
        a @ b
    with pytest.raises(TypeError, match="int64"):
        gn.tensor(np.ones((2, 2), dtype=np.int64)) @ a


@pytest.mark.torch
def test_a_float64_model_takes_float64_input(backend):
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU()).to(np.float64)
    assert model(gn.tensor(np.ones((2, 3)))).dtype == np.float64


def _operands(lib, kind):
    if lib is gn:
        return {"i64": gn.tensor(np.array([1, 2], dtype=np.int64)), "f32": gn.tensor([1.5, 2.0]),
                "f64": gn.tensor(np.array([0.5, 1.0])), "f64_0d": gn.tensor(np.float64(2.0)),
                "bool": gn.tensor(np.array([True, False])), "py_float": 2.5, "py_int": 3}[kind]
    torch = lib
    return {"i64": torch.tensor([1, 2]), "f32": torch.tensor([1.5, 2.0]),
            "f64": torch.tensor([0.5, 1.0], dtype=torch.float64), "f64_0d": torch.tensor(2.0, dtype=torch.float64),
            "bool": torch.tensor([True, False]), "py_float": 2.5, "py_int": 3}[kind]


PAIRS = [("i64", "f32"), ("f32", "i64"), ("i64", "py_float"), ("f32", "f64"), ("f32", "f64_0d"),
         ("f64_0d", "f32"), ("bool", "i64"), ("bool", "py_float"), ("bool", "f32"), ("i64", "py_int"),
         ("f32", "py_int"), ("f64_0d", "py_float")]


@pytest.mark.torch
@pytest.mark.parametrize("a,b", PAIRS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
def test_binary_ops_promote_like_torch(backend, a, b, op):
    torch = torch_or_skip()
    import operator

    f = getattr(operator, op)
    if op == "sub" and "bool" in (a, b):
        pytest.skip("torch refuses subtracting booleans")
    mine = f(_operands(gn, a), _operands(gn, b))
    theirs = f(_operands(torch, a), _operands(torch, b))
    assert str(mine.dtype) == str(theirs.dtype).replace("torch.", ""), (a, b, op)
    np.testing.assert_allclose(mine.numpy().astype(np.float64), theirs.numpy().astype(np.float64), rtol=1e-6)


def test_an_integer_tensor_times_a_float32_weight_stays_float32(backend):
    w = gn.tensor([0.5, 0.25], requires_grad=True)
    x = gn.tensor(np.array([2, 4], dtype=np.int64))
    y = (x * w).sum()
    assert y.dtype == np.float32                     # NumPy alone would give float64
    y.backward()
    assert w.grad.dtype == np.float32

"""Optimizers: the errors torch users expect (bad hyper-parameters, bad parameter lists, mismatched state
dicts), with torch.optim's messages."""
from __future__ import annotations

import pytest

import gpunet as gn
import gpunet.optim as optim
from test_optim import B0, W0, gn_steps, make_gn


BAD = [
    ("SGD", dict(lr=-1), "Invalid learning rate: -1"),
    ("SGD", dict(momentum=-0.5), "Invalid momentum value: -0.5"),
    ("SGD", dict(weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
    ("SGD", dict(nesterov=True), "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", dict(nesterov=True, momentum=0.9, dampening=0.1), "Nesterov momentum requires"),
    ("Adam", dict(lr=-1), "Invalid learning rate: -1"),
    ("Adam", dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
    ("Adam", dict(betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
    ("Adam", dict(betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    ("Adam", dict(weight_decay=-1), "Invalid weight_decay value: -1"),
    ("AdamW", dict(lr=-0.1), "Invalid learning rate: -0.1"),
    ("Adagrad", dict(lr_decay=-1), "Invalid lr_decay value: -1"),
    ("Adagrad", dict(initial_accumulator_value=-1), "Invalid initial_accumulator_value value: -1"),
    ("Adagrad", dict(eps=-1), "Invalid epsilon value: -1"),
    ("RMSprop", dict(alpha=-0.9), "Invalid alpha value: -0.9"),
    ("RMSprop", dict(momentum=-1), "Invalid momentum value: -1"),
    ("Adadelta", dict(rho=1.5), "Invalid rho value: 1.5"),
    ("Adadelta", dict(lr=-1), "Invalid learning rate: -1"),
]


@pytest.mark.parametrize("cls_name,kwargs,message", BAD)
def test_bad_hyper_parameters_raise(cls_name, kwargs, message):
    w = gn.tensor(W0, requires_grad=True)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        getattr(optim, cls_name)([w], **kwargs)
    # the same check guards per-group options
    with pytest.raises(ValueError, match="Invalid|Nesterov"):
        getattr(optim, cls_name)([{"params": [w], **kwargs}])


def test_bad_params_raise():
    w = gn.tensor(W0, requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="sets"):
        optim.SGD({w}, lr=0.1)
    with pytest.raises(TypeError, match="only optimize Tensors"):
        optim.SGD([W0], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)


def test_load_state_dict_mismatch_errors():
    params, opt = make_gn("Adam", {}, {})
    gn_steps(params, opt, 1)
    sd = opt.state_dict()
    one = optim.Adam([gn.tensor(W0, requires_grad=True)])
    with pytest.raises(ValueError, match="different number of parameter groups: 2 saved, 1 in this optimizer"):
        one.load_state_dict(sd)
    w, b = (gn.tensor(W0, requires_grad=True), gn.tensor(B0, requires_grad=True))
    wrong_size = optim.Adam([{"params": [w, b]}, {"params": []}])
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group: group 0 has 1"):
        wrong_size.load_state_dict(sd)
    swapped = optim.Adam([{"params": [b]}, {"params": [w]}])
    with pytest.raises(ValueError, match=r"has shape \(2, 3\) but the parameter has shape \(3,\)"):
        swapped.load_state_dict(sd)

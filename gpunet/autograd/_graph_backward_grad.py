"""``gn.autograd.grad``: the gradients of outputs with respect to inputs, returned (no ``.grad`` is touched), as
``torch.autograd.grad``; with ``create_graph=True`` they are recorded for higher-order derivatives."""
from __future__ import annotations

from . import _graph_backward
from .function import _tensor_cls

__all__ = ["grad"]


def _seq(x, name):
    Tensor = _tensor_cls()
    if isinstance(x, Tensor):
        return (x,)
    try:
        out = tuple(x)
    except TypeError:
        raise TypeError(f"grad(): {name} must be a Tensor or a sequence of Tensors, got {type(x).__name__}") from None
    return out


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         only_inputs: bool = True, allow_unused=None, is_grads_batched: bool = False,
         materialize_grads: bool = False):
    """The sum over ``outputs`` of d(output)/d(input) · grad_output, for each of ``inputs``, as a tuple.

    ``grad_outputs``: one per output (None for a one-element output means 1); ``retain_graph`` (default:
    ``create_graph``) keeps the graph for another backward; ``create_graph=True`` records the computation of
    the gradients, so they can be differentiated again (Hessian-vector products, gradient penalties);
    ``allow_unused=True`` returns None (``materialize_grads=True``: zeros) for an input the outputs do not
    depend on, instead of raising. ``.grad`` fields are left alone. ``is_grads_batched`` is not supported.
    """
    Tensor = _tensor_cls()
    if is_grads_batched:
        raise NotImplementedError("grad(is_grads_batched=True) (vmap over grad_outputs) is not supported; loop over "
                                  "the grad_outputs, calling grad(..., retain_graph=True) for each")
    if materialize_grads and allow_unused is False:
        raise ValueError("grad(): expected allow_unused to be True or not passed when materialize_grads=True, but "
                         "got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    outputs = _seq(outputs, "outputs")
    inputs = _seq(inputs, "inputs")
    if not inputs:
        raise RuntimeError("grad requires non-empty inputs.")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad(): inputs[{i}] must be a Tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"One of the differentiated Tensors (inputs[{i}]) does not require grad")
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    else:
        grad_outputs = _seq(grad_outputs, "grad_outputs") if not isinstance(grad_outputs, Tensor) else (grad_outputs,)
    if len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad can be implicitly created only for scalar outputs: got {len(grad_outputs)} "
                           f"grad_outputs for {len(outputs)} outputs (pass one per output, None for a scalar)")
    if retain_graph is None:
        retain_graph = create_graph
    roots, seeds = [], []
    for i, (out, go) in enumerate(zip(outputs, grad_outputs)):
        if not isinstance(out, Tensor):
            raise TypeError(f"grad(): outputs[{i}] must be a Tensor, got {type(out).__name__}")
        if not out.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a grad_fn")
        be = out.backend
        if go is None:
            if out.data.size != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs: outputs[{i}] has shape "
                                   f"{tuple(out.shape)}; pass grad_outputs (e.g. gn.ones_like(output))")
            g = be.xp.ones(out.data.shape, dtype=out.data.dtype)
            seed = Tensor._make(g, False, None) if create_graph else g
        else:
            if isinstance(go, Tensor):
                if tuple(go.shape) != tuple(out.shape):
                    raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(go.shape)} and "
                                       f"output[{i}] has a shape of {tuple(out.shape)}.")
                seed = go if create_graph else be.asarray(go.data, dtype=out.data.dtype)
            else:
                g = be.asarray(go, dtype=out.data.dtype)
                if g.shape != out.data.shape:
                    raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g.shape)} and "
                                       f"output[{i}] has a shape of {tuple(out.shape)}.")
                seed = Tensor._make(g, False, None) if create_graph else g
        roots.append(out)
        seeds.append(seed)
    got = _graph_backward.run(roots, seeds, inputs=inputs, accumulate=False, create_graph=create_graph,
                              retain_graph=bool(retain_graph))
    result = []
    for i, t in enumerate(inputs):
        g = got.get(id(t))
        if g is None:
            if not allow_unused:
                raise RuntimeError(f"One of the differentiated Tensors (inputs[{i}]) appears to not have been used "
                                   f"in the graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                result.append(Tensor._make(t.backend.xp.zeros(t.data.shape, dtype=t.data.dtype), False, None))
            else:
                result.append(None)
            continue
        if create_graph:
            if g.dtype != t.dtype:
                from ..functional.math import cast

                g = cast(g, t.dtype)
            result.append(g)
        else:
            result.append(Tensor._make(g.astype(t.data.dtype, copy=True), False, None))
    return tuple(result)

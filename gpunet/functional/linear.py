"""The fused linear layer: ``y = act(x @ Wᵀ + b)`` as ONE Function.

Forward and backward call the backend's fused kernels (``linear_act_forward`` / ``linear_act_backward``; the
reference versions are in :mod:`gpunet.backend.base`), so a GPU backend runs the GEMM and then the bias and the
activation in one pass, and the activation derivative and the bias-gradient reduction in one pass.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend.base import Backend
from ._dtypes import require_same_dtype

__all__ = ["linear", "LinearAct", "LinearChain", "FUSED_ACTIVATIONS", "normalize_activation"]

# Names ``linear(..., activation=)`` accepts (None and "identity" mean no activation): what every backend fuses.
FUSED_ACTIVATIONS = Backend.FUSED_ACTIVATIONS


def normalize_activation(activation) -> str:
    """``activation`` as one of :data:`FUSED_ACTIVATIONS` (None -> "identity"); raises ValueError otherwise."""
    if activation is None:
        return "identity"
    act = str(activation).lower()
    if act not in FUSED_ACTIVATIONS:
        raise ValueError(f"linear: unknown activation {activation!r}; expected None or one of "
                         f"{', '.join(repr(a) for a in FUSED_ACTIVATIONS)}")
    return act


class LinearAct(Function):
    """``act(x @ Wᵀ + b)`` over the last axis of ``x``; leading axes are flattened for the GEMM."""
    arg_names = ("input", "weight", "bias")

    def forward(self, xp, x, W, b, act="identity", alpha=0.01):
        _check_shapes(x.shape, W, b)
        require_same_dtype("linear", x, W)
        if b is not None:
            require_same_dtype("linear", x, b, "bias")
        self.shape = x.shape
        x2 = x.reshape(1, -1) if x.ndim == 1 else x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x
        y, saved = self.backend.linear_act_forward(x2, W, b, act, alpha)
        if any(self.needs_input_grad):
            self.x2, self.W, self.saved, self.act, self.alpha = x2, W, saved, act, alpha
        return y.reshape(self.shape[:-1] + (W.shape[0],))

    def backward(self, xp, g):
        need_x, need_W, need_b = self.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        dx, dW, db = self.backend.linear_act_backward(self.x2, self.W, self.saved, g2, self.act, self.alpha,
                                                      need_x=need_x, need_W=need_W, need_b=need_b)
        if dx is not None:
            dx = dx.reshape(self.shape)
        return dx, dW, db


class LinearChain(Function):
    """Consecutive fused linear layers ``act_k(… act_1(x W_1ᵀ + b_1) …)`` as ONE Function.

    Positional inputs ``x, W_1, b_1, …, W_k, b_k`` (a bias may be None); ``acts`` and ``alphas`` give each
    layer's activation and negative slope. Every layer runs the backend's fused forward and backward exactly as
    :class:`LinearAct` does (same numbers), but the chain is one node of the graph: one Tensor, one engine step
    and one argument check instead of k, which is most of what a small layer costs. ``nn.Sequential`` runs its
    runs of Linear (+ activation) layers through it. A layer's input gets a gradient only where something before
    it requires one (the first layer skips dX for an input that needs no grad).
    """
    arg_names = ("input",) + tuple(f"{k}[{i}]" for i in range(32) for k in ("weight", "bias"))

    def forward(self, xp, x, *params, acts, alphas):
        self.shape = x.shape
        h = x.reshape(1, -1) if x.ndim == 1 else x.reshape(-1, x.shape[-1]) if x.ndim > 2 else x
        d = x.shape[-1] if x.ndim else None
        for i in range(len(acts)):
            W, b = params[2 * i], params[2 * i + 1]
            ws = W.shape
            if len(ws) != 2 or ws[1] != d or (b is not None and b.shape != ws[:1]):
                _check_shapes(x.shape[:-1] + (d,) if i else x.shape, W, b)  # raises, naming what is wrong
            if W.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
                require_same_dtype("linear", x, W if W.dtype != x.dtype else b,
                                   f"{'weight' if W.dtype != x.dtype else 'bias'} of layer {i}")
            d = ws[0]  # what the next layer receives
        keep = True in self.needs_input_grad
        y, saved = self.backend.linear_chain_forward(h, params, acts, alphas, keep)
        if keep:
            self.saved, self.acts, self.alphas = saved, acts, alphas
        return y.reshape(self.shape[:-1] + (y.shape[1],))

    def backward(self, xp, g):
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        grads = self.backend.linear_chain_backward(self.saved, g2, self.acts, self.alphas, self.needs_input_grad)
        if grads[0] is not None:
            grads[0] = grads[0].reshape(self.shape)
        return tuple(grads)


def _check_shapes(x_shape, W, b) -> None:
    """The input's shape (``x_shape``), the weight and the bias fit one linear layer; ValueError otherwise."""
    if W.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), got shape {tuple(W.shape)}")
    if not x_shape or x_shape[-1] != W.shape[1]:
        got = tuple(x_shape)
        raise ValueError(f"linear: input's last dimension must equal in_features={W.shape[1]} "
                         f"(weight shape {tuple(W.shape)}), got input of shape {got}; reshape the input to "
                         f"(..., {W.shape[1]}) or build the layer with in_features={got[-1] if got else '?'}")
    if b is not None and tuple(b.shape) != (W.shape[0],):
        raise ValueError(f"linear: bias must have shape ({W.shape[0]},) to match weight {tuple(W.shape)}, "
                         f"got {tuple(b.shape)}")


def linear(x, W, b=None, activation: str | None = None, negative_slope: float = 0.01) -> Tensor:
    """Affine map plus an optional fused activation: ``y = act(x Wᵀ + b)``.

    ``x``: (*, in_features); ``W``: (out_features, in_features); ``b``: (out_features,) or None; ``y``:
    (*, out_features). ``activation`` is None/"identity", "relu", "leaky_relu" (slope ``negative_slope``),
    "sigmoid", "tanh", "gelu" (exact erf), "gelu_tanh" (tanh approximation) or "silu". Gradients:
    dz = dy ⊙ act'(z), dx = dz W, dW = dzᵀ x, db = Σ_rows dz.
    """
    act = normalize_activation(activation)
    return LinearAct.apply(x, W, b, act=act, alpha=float(negative_slope))

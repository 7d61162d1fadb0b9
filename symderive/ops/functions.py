"""The elementwise functions, one registration each: the SymPy function and its derivative, the NumPy
spelling of the export and of the reference interpreter, the LaTeX name it prints as and the LaTeX words
that read as it, its PyTorch equivalent, and the value of its derivative at kinks.

Adding a function is one :func:`~symderive.ops.registry.deffunction` call (a test registers softsign).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from symderive.ops.nodes import Elementwise, hadamard, ones
from symderive.ops.registry import deffunction


class sigmoid(sp.Function):
    """The logistic function sigma(x) = 1 / (1 + e^{-x}); sigma'(x) = sigma(x) (1 - sigma(x))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sp.exp(-x))


class step(sp.Function):
    """The Heaviside step with step(0) = 0 (the derivative of relu as PyTorch and JAX define it)."""

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_real:
            return sp.S.One if x > 0 else sp.S.Zero

    def fdiff(self, argindex=1):
        return sp.S.Zero

    def _eval_rewrite_as_Heaviside(self, x, **kwargs):
        return sp.Heaviside(x, 0)


class relu(sp.Function):
    """relu(x) = max(0, x); relu'(x) = step(x), taken as 0 at the kink x = 0."""

    def fdiff(self, argindex=1):
        return step(self.args[0])

    def _eval_rewrite_as_Max(self, x, **kwargs):
        return sp.Max(0, x)


class sqrt(sp.Function):
    """The square root of x > 0; sqrt'(x) = 1 / (2 sqrt(x)) (not differentiable at 0, where it is infinite)."""

    @classmethod
    def eval(cls, x):
        if x.is_number and x.is_extended_nonnegative:
            return sp.sqrt(x)

    def fdiff(self, argindex=1):
        return 1 / (2 * sqrt(self.args[0]))

    def _eval_rewrite_as_Pow(self, x, **kwargs):
        return sp.sqrt(x)


class softplus(sp.Function):
    """softplus(x) = log(1 + e^x); softplus'(x) = sigma(x)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sp.log(1 + sp.exp(x))


deffunction(
    "tanh", scalar=sp.tanh, derivative=lambda ans, z: ones(ans) - hadamard(ans, ans),
    rule=r"\tanh'(z) = 1 - \tanh^2(z)", numpy="np.tanh({})", reference=np.tanh,
    latex=r"\tanh", words=("tanh", "sigma_c", "sigma_h"), torch=lambda torch, x: torch.tanh(x))
deffunction(
    "sigmoid", scalar=sigmoid, derivative=lambda ans, z: hadamard(ans, ones(ans) - ans),
    rule=r"\sigma'(z) = \sigma(z)\,(1 - \sigma(z))", numpy="_sigmoid({})",
    reference=lambda x: 1.0 / (1.0 + np.exp(-x)),
    latex=r"\sigma", words=("sigma", "sigmoid", "sigma_g"), torch=lambda torch, x: torch.sigmoid(x))
deffunction(
    "relu", scalar=relu, derivative=lambda ans, z: Elementwise("step", z),
    rule=r"\operatorname{relu}'(z) = [z > 0]", numpy="np.maximum({}, 0.0)",
    reference=lambda x: np.where(x > 0, x, 0.0),
    latex=r"\operatorname{relu}", words=("relu", "ReLU"), torch=lambda torch, x: torch.relu(x),
    kink="relu'(0) = 0, as PyTorch and JAX take it")
deffunction(
    "step", scalar=step, derivative=lambda ans, z: sp.ZeroMatrix(*z.shape),
    rule=r"[z > 0]' = 0 \text{ (almost everywhere)}", numpy="({} > 0.0).astype(np.float64)",
    reference=lambda x: np.where(x > 0, 1.0, 0.0),
    latex=r"\operatorname{step}", words=("step", "Heaviside"), torch=lambda torch, x: (x > 0).to(x.dtype),
    kink="step(0) = 0 and step'(0) = 0 (the jump is not differentiated)")
deffunction(
    "softplus", scalar=softplus, derivative=lambda ans, z: Elementwise("sigmoid", z),
    rule=r"\operatorname{softplus}'(z) = \sigma(z)", numpy="np.logaddexp(0.0, {})",
    reference=lambda x: np.log1p(np.exp(x)),
    latex=r"\operatorname{softplus}", words=("softplus",), torch=lambda torch, x: torch.nn.functional.softplus(x))
deffunction(
    "exp", scalar=sp.exp, derivative=lambda ans, z: ans,
    rule=r"(e^{z})' = e^{z}", numpy="np.exp({})", reference=np.exp,
    latex=r"\exp", words=("exp",), torch=lambda torch, x: torch.exp(x))
deffunction(
    "log", scalar=sp.log, derivative=lambda ans, z: sp.HadamardPower(z, -1),
    rule=r"(\log z)' = 1/z", numpy="np.log({})", reference=np.log,
    latex=r"\log", words=("log",), torch=lambda torch, x: torch.log(x))
deffunction(
    "sqrt", scalar=sqrt, derivative=lambda ans, z: sp.MatMul(sp.Rational(1, 2), sp.HadamardPower(ans, -1)),
    rule=r"(\sqrt{z})' = \frac{1}{2\sqrt{z}}", numpy="np.sqrt({})", reference=np.sqrt,
    latex=r"\sqrt{}", words=("sqrt",), torch=lambda torch, x: torch.sqrt(x),
    kink="sqrt is differentiated where z > 0 (sqrt'(0) is infinite)")
deffunction(
    "sign", scalar=sp.sign, derivative=lambda ans, z: sp.ZeroMatrix(*z.shape),
    rule=r"\operatorname{sign}'(z) = 0 \text{ (almost everywhere)}", numpy="np.sign({})", reference=np.sign,
    latex=r"\operatorname{sign}", words=("sign", "sgn"), torch=lambda torch, x: torch.sign(x),
    kink="sign(0) = 0 and sign'(0) = 0 (the jump is not differentiated)")
deffunction(
    "abs", scalar=sp.Abs, derivative=lambda ans, z: Elementwise("sign", z),
    rule=r"|z|' = \operatorname{sign}(z)", numpy="np.abs({})", reference=np.abs,
    latex=r"\operatorname{abs}", words=("abs",), torch=lambda torch, x: torch.abs(x),
    kink="abs'(0) = sign(0) = 0, as PyTorch takes it")

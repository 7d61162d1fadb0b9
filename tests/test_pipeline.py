"""One Derivation type for both levels: built from a Program alone (the way a user's model will be),
with the generic document and default sizes; the index level's generic document."""
import dataclasses
import re

import numpy as np
import pytest
import sympy as sp

from symderive import Model, derivation, squared_norm
from symderive import tanh as sd_tanh
from symderive.errors import SymderiveError
from symderive.matrix.engine import default_sizes
from symderive.model.program import Assign, Program
from symderive.ops.nodes import SquaredNorm, T, TimeVar, sigma, t, tanh
from symderive.pipeline import derive
from symderive.verify.numeric import central_differences

n, d = sp.symbols("n d", integer=True, positive=True)


def dense_program() -> Program:
    W, b = sp.MatrixSymbol("W", n, d), sp.MatrixSymbol("b", n, 1)
    x, y, z, a = (sp.MatrixSymbol(name, rows, 1) for name, rows in (("x", d), ("y", n), ("z", n), ("a", n)))
    return Program("mine", (Assign(z, W * x + b), Assign(a, tanh(z))), (W, b), (x, y),
                   sp.Rational(1, 2) * SquaredNorm(a - y))


def recurrent_program() -> Program:
    W, U = sp.MatrixSymbol("W", n, n), sp.MatrixSymbol("U", n, d)
    x, y, h = TimeVar("x", t, d), TimeVar("y", t, n), TimeVar("h", t, n)
    return Program("cell", (Assign(h, sigma(W * h.at(t - 1) + U * x)),), (W, U), (x, y),
                   sp.Rational(1, 2) * SquaredNorm(h - y), states={"h": sp.MatrixSymbol("h0", n, 1)})


def test_a_program_alone_makes_a_derivation():
    der = derive(dense_program())
    assert der.name == der.title == "mine" and not der.recurrent
    assert der.sizes.small == {d: 2, n: 2} and der.sizes.large == {d: 48, n: 48}
    text = der.to_latex("markdown")
    for heading in ("Model", "Adjoints, node by node", "Gradients"):
        assert f"## {heading}" in text
    assert r"\frac{\partial L}{\partial W}" in text and "mine" in der.module_source().splitlines()[0]
    report = der.verify()
    assert report.passed, report.table()
    assert [r.quantity for r in report.rows] == ["dL/dW", "dL/db", "dL/dx", "dL/dy", "all, large size"]


def test_a_recurrent_program_gets_sequence_lengths_and_truncation_checks():
    program = recurrent_program()
    assert default_sizes(program).numeric == {d: 6, n: 6, T: 8}
    der = derive(program, title="A sigmoid cell")
    assert der.recurrent and der.title == "A sigmoid cell"
    report = der.verify()
    assert report.passed, report.table()
    assert "all, truncated (window)" in [r.quantity for r in report.rows]
    module, rng = der.load_module(), np.random.default_rng(0)
    grads = module.grad(W=rng.standard_normal((3, 3)), U=rng.standard_normal((3, 2)), h0=np.zeros(3),
                        x=rng.standard_normal((5, 2)), y=rng.standard_normal((5, 3)))
    assert grads["W"].shape == (3, 3)  # any size: the module is not tied to the checked sizes


def test_an_index_derivation_without_prose_gets_its_gradients():
    conv = dataclasses.replace(derivation("conv2d"), build_document=None).to_latex()
    assert r"\subsection*{Model}" in conv  # the generic index document opens with the model
    assert conv.count(r"\subsection*{Gradient with respect to") == 5  # Y, then the arguments X, W, b, G
    pool = dataclasses.replace(derivation("pool2d"), build_document=None).to_latex("markdown")
    assert "## max: Gradient with respect to $X$" in pool and "## avg: Gradient with respect to $X$" in pool


# ---------------------------------------------------------------------------------------------
# A model written in LaTeX: derive(model=...) returns the same Derivation.

DENSE = r"z = W x + b; a = \sigma(z); L = \frac{1}{2}\|a - y\|^2"
RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2"]


def random_arrays(shapes: dict, seed: int = 0, T: int = 4) -> dict:
    """Arrays of the module's SHAPES, every size distinct (so a transposition cannot hide)."""
    dims = sorted({dim for names in shapes.values() for dim in names} - {"T"})
    sizes = {"T": T, **{dim: 2 + k for k, dim in enumerate(dims)}}
    rng = np.random.default_rng(seed)
    return {name: 0.5 * rng.standard_normal(tuple(sizes[dim] for dim in names)) for name, names in shapes.items()}


def dense_loss(W, b, x, y):
    """By hand: L = 1/2 ||sigmoid(W x + b) - y||^2."""
    a = 1 / (1 + np.exp(-(W @ x + b)))
    return 0.5 * np.sum((a - y) ** 2)


def rnn_loss(W_hh, W_xh, b, h0, x, y):
    """By hand: h_t = tanh(W_hh h_{t-1} + W_xh x_t + b), L = sum_t 1/2 ||h_t - y_t||^2."""
    h, total = h0, 0.0
    for x_t, y_t in zip(x, y):
        h = np.tanh(W_hh @ h + W_xh @ x_t + b)
        total += 0.5 * np.sum((h - y_t) ** 2)
    return total


def test_a_latex_model_exports_gradients_of_its_own_loss():
    der = derive(model=DENSE)
    assert der.name == der.title == "model" and not der.recurrent
    module = der.load_module()
    arrays = random_arrays(module.SHAPES)
    assert module.loss(**arrays) == pytest.approx(dense_loss(**arrays), rel=1e-12)
    grads = module.grad(**arrays)
    for name in module.SHAPES:
        numeric = central_differences(lambda a: dense_loss(**a), arrays, name)
        assert np.allclose(grads[name], numeric, rtol=1e-6, atol=1e-8), name


def test_a_latex_rnn_agrees_with_the_loss_by_hand_and_with_the_same_model_written_with_Model():
    der = derive(model=RNN, shapes={"W_{hh}": "n x n", "x_t": "d"})
    init = der.program.states["h"].name  # the initial state h_0's argument
    module = der.load_module()
    arrays = random_arrays(module.SHAPES)
    by_hand = {"W_hh": arrays["W_hh"], "W_xh": arrays["W_xh"], "b": arrays["b"], "h0": arrays[init],
               "x": arrays["x"], "y": arrays["y"]}
    grads = module.grad(**arrays)
    for name, hand in {"W_hh": "W_hh", "W_xh": "W_xh", "b": "b", init: "h0", "x": "x"}.items():
        numeric = central_differences(lambda a: rnn_loss(**a), by_hand, hand)
        assert np.allclose(grads[name], numeric, rtol=1e-6, atol=1e-8), name
    # The same model through the Python API: the same gradients on the same arrays.
    m = Model("rnn_mine")
    n, d = m.sizes("n d")
    W_hh, W_xh, b = m.param("W_hh", n, n), m.param("W_xh", n, d), m.param("b", n)
    x, y, h = m.sequence("x", d), m.sequence("y", n), m.state("h", n)
    m.let(h, sd_tanh(W_hh @ h.prev + W_xh @ x + b))
    m.loss(squared_norm(h - y) / 2)
    theirs = derive(m).load_module().grad(**by_hand)
    for name, hand in {"W_hh": "W_hh", "W_xh": "W_xh", "b": "b", init: "h0", "x": "x", "y": "y"}.items():
        assert np.allclose(grads[name], theirs[hand], rtol=1e-12, atol=1e-14), name


def plain(latex: str) -> str:
    """LaTeX without braces and spaces, to compare ``x_{t}`` with ``x_t``."""
    return latex.replace("{", "").replace("}", "").replace(" ", "")


def test_symbols_name_every_argument_as_the_model_writes_it():
    der = derive(model=RNN)
    module = der.load_module()
    assert list(module.SYMBOLS) == list(module.SHAPES)
    init = der.program.states["h"].name
    assert plain(module.SYMBOLS[init]) == "h_0"  # the initial state, which the equations read as h_{t-1} at t = 1
    text = plain(" ".join(RNN))
    for name, latex in module.SYMBOLS.items():
        assert name == init or plain(latex) in text, (name, latex)
    assert plain(module.SYMBOLS["W_hh"]) == "W_hh" and plain(module.SYMBOLS["x"]) == "x_t"


@pytest.mark.parametrize("name", ["dense", "rnn", "lstm", "gru", "conv1d", "conv2d", "pool2d", "cnn"])
def test_every_built_in_module_has_symbols_as_its_document_writes_them(name):
    der = derivation(name)
    module = der.load_module()
    assert list(module.SYMBOLS) == list(module.SHAPES)
    document = der.to_latex()
    for argument, latex in module.SYMBOLS.items():
        assert latex in document, (argument, latex)


def test_the_document_of_a_latex_rnn_has_the_recurrence_and_the_product_of_jacobians():
    der = derive(model=RNN, where=[r"\delta_t = \frac{\partial L}{\partial h_t}"])
    text = der.to_latex("markdown")
    for heading in ("Model", "Adjoints, node by node", "The adjoint recurrence", "The state Jacobians and the BPTT "
                    "product", "Gradients", "Truncated BPTT"):
        assert f"## {heading}" in text
    # d h_j / d h_{j-1} = diag(1 - h_j^2) W_hh (tanh' = 1 - tanh^2, then the linear map W_hh).
    assert (r"\frac{\partial h_{j}}{\partial h_{j-1}} = \operatorname{diag}\left(1 - h_{j} \odot h_{j}\right) "
            r"W_{hh}") in text
    assert (r"\delta_{i} = \frac{\partial L}{\partial h_{i}} = \sum_{t=i}^{T} \Big(\prod_{j=i+1}^{t} "
            r"\frac{\partial h_{j}}{\partial h_{j-1}}\Big)^{\top} \left(h_{t} - y_{t}\right)") in text
    assert r"h_{T} - y_{T} & t = T" in text  # the recurrence starts at T with the loss's own share
    row = der.to_latex("latex", layout="row", lang="ko", bold=True, truncate=3, truncate_mode="window")
    assert r"\subsection*{수반 점화식}" in row and "$K = 3$" in row
    # the truncated adjoint named as what truncation computes (issue 17), not dL/dh_i
    assert (r"\delta_{i}^{(K)} = \sum_{t=i}^{\min(i+K-1,\, T)} \frac{\partial \ell_{t}}{\partial \mathbf{h}_{i}} &= "
            r"\sum_{t=i}^{\min(i+K-1,\, T)}") in row
    blocks = der.to_latex("markdown", truncate=3)  # no share crosses into step t when t ends a block
    assert (r"\delta_{t}^{(K)} = \sum_{s=t}^{b_t} \frac{\partial \ell_{s}}{\partial h_{t}} = \begin{cases} "
            r"h_{t} - y_{t} + W_{hh}^{\top} \left(\delta_{t+1}^{(K)} \odot "
            r"\left(1 - h_{t+1} \odot h_{t+1}\right)\right) & t < T,\ t \bmod K \neq 0 \\ h_{t} - y_{t} & t = T "
            r"\text{ or } t \bmod K = 0 \end{cases}") in blocks
    assert r"\operatorname{diag}\left(\mathbf{1} - \mathbf{h}_{j} \odot \mathbf{h}_{j}\right)" in row


def test_claims_about_a_latex_model_are_judged_against_it():
    der = derive(model=RNN, where=[r"\delta_t = \frac{\partial L}{\partial h_t}"])
    right = r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top"
    wrong = r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} \delta_t h_{t-1}^\top"  # 1 - h_t^2 dropped
    results = der.check([right, wrong])
    assert [r.verdict for r in results] == ["equal", "not_equal"]
    extra = der.check(r"\frac{\partial L}{\partial b} = \sum_{t=1}^{T} g_t",
                      where=r"g_t = \delta_t \odot (1 - h_t^2)")
    assert extra[0].verdict == "equal"


def test_a_model_of_the_python_api_is_checked_against_its_derivation():
    der = derive(dense_program())
    right = r"\frac{\partial L}{\partial b} = (a - y) \odot (1 - a^2)"  # tanh' = 1 - tanh^2
    assert [r.verdict for r in der.check([right, r"\frac{\partial L}{\partial b} = a - y"])] == ["equal", "not_equal"]


@pytest.mark.parametrize("model,kwargs,message", [
    (dense_program(), {"shapes": {"W": "n x d"}}, "belong to a model written in LaTeX"),
    (42, {}, "model is a LaTeX string or a list of them"),
    ([], {}, "give the model's equations"),
    (DENSE, {"name": ""}, "a model's name is up to 80 letters"),
    (DENSE, {"name": 'x"""; import os'}, "a model's name is up to 80 letters"),  # it opens a docstring
    (DENSE, {"where": [r"\delta"]}, "a definition is 'NAME = EXPRESSION'"),
    (DENSE, {"shapes": {"Q": "n x d"}}, "the model's symbols are: W, a, b, x, y, z"),
])
def test_bad_models_are_our_errors(model, kwargs, message):
    with pytest.raises(SymderiveError, match=re.escape(message)):
        derive(model, **kwargs)


def test_a_latex_rnn_agrees_with_torch_autograd():
    torch = pytest.importorskip("torch")
    der = derive(model=RNN)
    init = der.program.states["h"].name
    module = der.load_module()
    arrays = random_arrays(module.SHAPES, seed=3)
    tensors = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    h, loss = tensors[init], 0.0
    for x_t, y_t in zip(tensors["x"], tensors["y"]):  # torch's own forward, written by hand
        h = torch.tanh(tensors["W_hh"] @ h + tensors["W_xh"] @ x_t + tensors["b"])
        loss = loss + 0.5 * ((h - y_t) ** 2).sum()
    loss.backward()
    grads = module.grad(**arrays)
    for name, tensor in tensors.items():
        assert np.allclose(grads[name], tensor.grad.numpy(), rtol=1e-9, atol=1e-12), name


def test_a_scalar_recurrence_has_a_product_of_numbers():
    m = Model("scalar_rnn")
    w, u, x, y, h = m.param("w"), m.param("u"), m.sequence("x"), m.sequence("y"), m.state("h")
    m.let(h, sd_tanh(w * h.prev + u * x))
    m.loss((h - y) ** 2 / 2)
    text = derive(m).to_latex("markdown")
    # d/dh tanh(w h + u x) = (1 - tanh^2) w: a number, so the product needs no transpose.
    assert r"\frac{\partial h_{j}}{\partial h_{j-1}} = \left(1 - h_{j}^{2}\right) w" in text
    assert (r"\sum_{t=i}^{T} \Big(\prod_{j=i+1}^{t} \frac{\partial h_{j}}{\partial h_{j-1}}\Big) "
            r"\left(h_{t} - y_{t}\right)") in text

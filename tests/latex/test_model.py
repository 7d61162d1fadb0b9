r"""The LaTeX model language: each form read, checked against the same model written by hand.

The independent expectation of every reading is its loss written by hand in SymPy over the entries of
the arguments (a sigmoid written as ``1/(1 + e^{-z})``, sums written out): the program read from LaTeX is
evaluated by the reference interpreter at small sizes on symbolic entries, and the two must be the same
function (their difference simplifies to 0). Where the engine derives the program, its gradient is
compared with ``sympy.diff`` of the hand-written loss.
"""
import random

import numpy as np
import pytest
import sympy as sp

import symderive as sd
from symderive.errors import LatexParseError, ModelError, ShapeMismatchError, SymderiveError
from symderive.latex.model import build_model
from symderive.matrix.derive import derive
from symderive.matrix.evaluate import NUMPY, SYMPY, Env, backward, evaluate, forward
from symderive.model.program import arguments, key
from symderive.ops.nodes import T, TimeVar
from symderive.verify.numeric import central_differences

STEPS = 3


def entries(name: str, rows: int, cols: int) -> sp.Matrix:
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", real=True))


def symbolic_env(program, sizes: dict) -> Env:
    """Every argument as a matrix of symbols (a sequence: one matrix per step ``x1_..``, ``x2_..``)."""
    env = Env({}, {**{sp.Symbol(k, integer=True, positive=True): v for k, v in sizes.items()}, T: STEPS}, SYMPY)
    for v in arguments(program):
        rows, cols = (int(sp.sympify(s).xreplace(env.sizes)) for s in v.shape)
        if isinstance(v, TimeVar):
            for s in range(1, STEPS + 1):
                env[(v.name, s)] = entries(f"{v.name}{s}", rows, cols)
        else:
            env[key(v)] = entries(key(v), rows, cols)
    for state, initial in program.states.items():
        env[(state, 0)] = env[initial.name] if isinstance(initial, sp.MatrixSymbol) else sp.zeros(*initial.shape)
    return env


def read_loss(program, sizes=None):
    """The program's loss on symbolic entries, and the environment of those entries."""
    env = symbolic_env(program, sizes or {})
    forward(program, env)
    steps = range(1, STEPS + 1) if program.recurrent else [None]
    return sum(scalar(evaluate(program.loss, env, step)) for step in steps), env


def scalar(value):
    return value[0, 0] if isinstance(value, sp.MatrixBase) else value


def same(a, b) -> bool:
    """``a`` and ``b`` agree to 1e-10 at three random points (entries in 0.2..1.2, where every function of
    the models is defined), once relu, softplus, sigmoid and tanh are written with Max, log and exp."""
    difference = sp.sympify(a - b)
    for form in (sp.Max, sp.log, sp.exp):
        difference = difference.rewrite(form)
    rng = random.Random(0)
    for _ in range(3):
        point = {v: sp.Float(rng.uniform(0.2, 1.2)) for v in difference.free_symbols}
        if abs(complex(difference.xreplace(point).evalf())) > 1e-10:
            return False
    return True


def s(name):  # the single entry of a scalar argument
    return sp.Symbol(f"{name}_00", real=True)


def sigmoid(z):
    return 1 / (1 + sp.exp(-z))


# ---------------------------------------------------------------------------------------------
# Scalar models: every undeclared symbol a scalar, each loss written by hand.

w, x, b, y, u = (s(n) for n in "wxbyu")
SCALAR_MODELS = [
    ([r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"], (sigmoid(w * x + b) - y) ** 2 / 2),
    ([r"a = \sigma(w x + b)", r"L = a"], sigmoid(w * x + b)),
    ([r"a = \tanh(w x)", r"L = a^2"], sp.tanh(w * x) ** 2),
    ([r"z = w x + b", r"L = \log(1 + e^{z})"], sp.log(1 + sp.exp(w * x + b))),
    ([r"z = w x + b", r"L = \exp(z)"], sp.exp(w * x + b)),
    ([r"z = w x + b", r"a = \max(0, z)", r"L = a"], sp.Max(0, w * x + b)),
    ([r"z = w x + b", r"L = \operatorname{softplus}(z)"], sp.log(1 + sp.exp(w * x + b))),
    ([r"a = \sqrt{w}", r"L = a x"], sp.sqrt(w) * x),
    ([r"a = w^3", r"L = \frac{a}{x}"], w ** 3 / x),
    ([r"a = \frac{w + b}{x}", r"L = \frac{1}{2} a"], (w + b) / x / 2),
    ([r"a = \sigma(w x + b)", r"L = -(y \log a + (1 - y) \log(1 - a))"],
     -(y * sp.log(sigmoid(w * x + b)) + (1 - y) * sp.log(1 - sigmoid(w * x + b)))),
]


@pytest.mark.parametrize("model, hand", SCALAR_MODELS, ids=[m[-1] for m, _ in SCALAR_MODELS])
def test_a_scalar_model_reads_as_the_loss_written_by_hand(model, hand):
    m = build_model(model)
    assert all(v.shape == (1, 1) for v in arguments(m.program))
    value, _ = read_loss(m.program)
    assert same(value, hand), value


def test_the_first_model_of_a_course_matches_the_python_model():
    """The same program as ``symderive.Model`` builds for it with 1 x 1 values."""
    m = sd.Model("dense")
    bp, wp, xp, yp = (m.param(n, 1) for n in "bwxy")
    a = m.let("a", sd.sigmoid(wp * xp + bp))
    m.loss(sp.HadamardPower(a - yp, 2) / 2)
    read = build_model([r"a = \sigma(w x + b)", r"L = \frac{1}{2}(a - y)^2"]).program
    assert read.assignments == m.program().assignments and read.loss == m.program().loss
    assert {key(v) for v in read.params} == {"b", "w", "x", "y"}


def scalar_rnn_states(h):
    """h_1, ..., h_STEPS of h_t = tanh(w h_{t-1} + u x_t) from ``h`` = h_0, by hand."""
    states = []
    for step in range(1, STEPS + 1):
        h = sp.tanh(w * h + u * sp.Symbol(f"x{step}_00", real=True))
        states.append(h)
    return states


def test_a_scalar_rnn_reads_as_its_unrolled_loss():
    m = build_model([r"h_t = \tanh(w h_{t-1} + u x_t)", r"L = \sum_{t=1}^{T} \frac{1}{2}(h_t - y_t)^2"])
    value, _ = read_loss(m.program)
    hand = sum((h - sp.Symbol(f"y{step}_00", real=True)) ** 2 / 2
               for step, h in enumerate(scalar_rnn_states(s("h0")), start=1))
    assert same(value, hand)
    assert set(m.program.states) == {"h"} and m.program.states["h"].name == "h0"


@pytest.mark.parametrize("initial", ["", r"h_0 = 0"])
def test_a_mean_over_t_and_a_fixed_initial_state(initial):
    model = [r"h_t = \tanh(w h_{t-1} + u x_t)", initial, r"L = \frac{1}{T}\sum_{t=1}^{T} h_t"]
    m = build_model([e for e in model if e])
    value, _ = read_loss(m.program)
    hand = sum(scalar_rnn_states(0 if initial else s("h0")))
    assert same(value.xreplace({T: STEPS}), hand / STEPS)
    assert ("h0" in {key(v) for v in arguments(m.program)}) != bool(initial)


def test_a_sum_over_t_times_a_number():
    m = build_model([r"h_t = \tanh(w h_{t-1} + u x_t)", r"L = \frac{1}{3}\sum_{t=1}^{T} h_t"])
    value, _ = read_loss(m.program)
    assert same(value, sum(scalar_rnn_states(s("h0"))) / 3)


# ---------------------------------------------------------------------------------------------
# Declared shapes, vectors and the row convention.


def vector(name, n):
    return entries(name, n, 1)


def test_declared_shapes_fix_a_scalar_weight_and_vectors():
    """``w: 1`` scales the vector ``x: d``; b and y are vectors of its length."""
    m = build_model([r"a = \sigma(w x + b)", r"L = \frac{1}{2}\|a - y\|^2"], ["w: 1", "x: d"])
    value, _ = read_loss(m.program, {"d": 3})
    xv, bv, yv = vector("x", 3), vector("b", 3), vector("y", 3)
    hand = sum((sigmoid(w * xv[i] + bv[i]) - yv[i]) ** 2 for i in range(3)) / 2
    assert same(value, hand)


def test_a_vector_divided_by_a_scalar():
    m = build_model([r"a = \frac{W x}{c}", r"L = \frac12\|a\|^2"], ["c: 1", "W: n x d"])
    value, _ = read_loss(m.program, {"n": 2, "d": 2})
    Wm, xv = entries("W", 2, 2), vector("x", 2)
    assert same(value, sum(e ** 2 for e in Wm * xv / s("c")) / 2)


def test_cross_entropy_as_a_sum_over_entries():
    """``-\\sum_k y_k \\log p_k`` is ``-y^\\top \\log p``."""
    m = build_model([r"p = \sigma(W x)", r"L = -\sum_k y_k \log p_k"], ["W: n x d"])
    value, _ = read_loss(m.program, {"n": 2, "d": 3})
    p = (entries("W", 2, 3) * vector("x", 3)).applyfunc(sigmoid)
    assert same(value, -sum(vector("y", 2)[i] * sp.log(p[i]) for i in range(2)))


def test_a_row_convention_rnn_and_its_gradient():
    """``H_t = \\sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)`` with rows; the engine's gradient of W_hh is
    sympy.diff of the loss written by hand."""
    model = [r"H_t = \sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"O_t = H_t W_{hq} + b_q",
             r"L = \sum_{t=1}^{T} \frac{1}{2}\|O_t - Y_t\|^2"]
    m = build_model(model)
    assert {key(v): v.shape for v in arguments(m.program)}["X"] == (1, sp.Symbol("n_x", integer=True,
                                                                                   positive=True))
    sizes = {"n_h": 2, "n_x": 2, "n_o": 1}
    value, env = read_loss(m.program, sizes)
    Wxh, Whh, Whq = entries("W_xh", 2, 2), entries("W_hh", 2, 2), entries("W_hq", 2, 1)
    bh, bq, H, hand = entries("b_h", 1, 2), entries("b_q", 1, 1), entries("H0", 1, 2), 0
    for step in range(1, STEPS + 1):
        H = (entries(f"X{step}", 1, 2) * Wxh + H * Whh + bh).applyfunc(sigmoid)
        hand += sum(e ** 2 for e in H * Whq + bq - entries(f"Y{step}", 1, 1)) / 2
    assert same(value, hand)
    grads = backward(derive(m.program), env)
    entry = sp.Symbol("W_hh_01", real=True)
    assert same(sp.Matrix(grads["W_hh"])[0, 1], sp.diff(hand, entry))


def test_stacked_layers_have_a_state_each_and_their_gradient():
    model = [r"h^{(1)}_t = \tanh(W^{(1)} h^{(1)}_{t-1} + U^{(1)} x_t)",
             r"h^{(2)}_t = \tanh(W^{(2)} h^{(2)}_{t-1} + U^{(2)} h^{(1)}_t)",
             r"L = \sum_{t=1}^{T} \frac12\|h^{(2)}_t - y_t\|^2"]
    m = build_model(model)
    assert {k: v.name for k, v in m.program.states.items()} == {"h_1": "h_1_0", "h_2": "h_2_0"}
    value, env = read_loss(m.program, {"n_h1": 2, "n_h2": 1, "n_x": 1})
    W1, U1, W2, U2 = entries("W_1", 2, 2), entries("U_1", 2, 1), entries("W_2", 1, 1), entries("U_2", 1, 2)
    h1, h2, hand = entries("h_1_0", 2, 1), entries("h_2_0", 1, 1), 0
    for step in range(1, STEPS + 1):
        h1 = (W1 * h1 + U1 * entries(f"x{step}", 1, 1)).applyfunc(sp.tanh)
        h2 = (W2 * h2 + U2 * h1).applyfunc(sp.tanh)
        hand += (h2[0] - sp.Symbol(f"y{step}_00", real=True)) ** 2 / 2
    assert same(value, hand)
    grads = backward(derive(m.program), env)
    assert same(sp.Matrix(grads["U_1"])[1, 0], sp.diff(hand, sp.Symbol("U_1_10", real=True)))


def test_an_lstm_like_pair_of_states():
    model = [r"f_t = \sigma(W_f h_{t-1} + U_f x_t)", r"c_t = f_t \odot c_{t-1} + (1 - f_t) \odot x_t",
             r"h_t = \tanh(c_t)", r"L = \sum_{t=1}^{T} \frac12\|h_t\|^2"]
    m = build_model(model)
    assert set(m.program.states) == {"c", "h"}


# ---------------------------------------------------------------------------------------------
# Names.


@pytest.mark.parametrize("latex, identifier", [
    (r"W_{hh}", "W_hh"), (r"W^{(2)}", "W_2"), (r"\mathbf{W}_X", "W_X"), (r"\hat y", "y_hat"),
    (r"\hat{y}", "y_hat"), (r"W_{\text{out}}", "W_out"), (r"\alpha", "alpha"), (r"W^{(1)}_{xh}", "W_xh_1"),
])
def test_identifiers_drop_fonts_braces_and_parentheses(latex, identifier):
    m = build_model([rf"a = {latex} x", r"L = \frac12\|a\|^2"])
    assert identifier in {key(v) for v in m.program.params}
    assert m.program.latex_names[identifier] == (f"{{{latex}}}" if "^" in latex else latex)


def test_a_state_and_its_initial_value_keep_the_models_notation():
    m = build_model([r"h^{(1)}_t = \tanh(W h^{(1)}_{t-1} + U x_t)", r"L = \sum_{t=1}^{T} \frac12\|h^{(1)}_t\|^2"])
    assert m.program.latex_names["h_1"] == "{h^{(1)}}" and m.program.latex_names["h_1_0"] == "{h^{(1)}}_0"
    assert m.labels["h^(1)"] == "h_1"


def test_two_spellings_of_one_identifier_are_refused_naming_both():
    with pytest.raises(ModelError, match=r"y_hat") as e:
        build_model([r"a = \hat y + y_{hat}", r"L = \frac12\|a\|^2"])
    assert "yhat" in str(e.value) and "y_hat" in str(e.value)


def test_one_symbol_written_two_ways_is_refused_naming_both():
    with pytest.raises(ModelError, match=r"\\mathbf\{W\} and W would both be named W"):
        build_model([r"a = \mathbf{W} x", r"L = \frac12\|a\|^2 + \frac12\|W\|^2"])
    assert build_model([r"a = \hat y + \hat{y}", r"L = \frac12\|a\|^2"]).program.latex_names["y_hat"] == r"\hat y"


def test_sizes_are_named_after_vectors():
    m = build_model([r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)", r"L = \sum_{t=1}^{T} \frac12\|h_t\|^2"])
    assert {str(d) for d in m.program.dims()} == {"n_h", "n_x"}


# ---------------------------------------------------------------------------------------------
# Refusals: a clear error naming the construct.


@pytest.mark.parametrize("model, message", [
    ([r"h_t = \tanh(w h_{t-1} + u x_t)", r"h_0 = 1", r"L = \sum_{t=1}^{T} h_t"], "fixed at zero"),
    ([r"h_t = \tanh(w h_{t-1} + u x_t)", r"c_0 = 0", r"L = \sum_{t=1}^{T} h_t"], "c is not a state"),
    ([r"h_t = \tanh(w h_{t-1} + u x_t)", r"L = h_t"], "adds up the loss of every step"),
    ([r"a = \lambda W", r"L = \frac12\|a\|^2"], "only a scalar times a vector"),
    ([r"z = W x", r"L = -\sum_{k=2} y_k \log z_k"], "runs over all the entries"),
])
def test_what_cannot_be_read_is_named(model, message):
    with pytest.raises(SymderiveError, match=message):
        build_model(model)


def test_a_loss_that_is_not_a_scalar_names_both_shapes():
    with pytest.raises(ShapeMismatchError, match="must be a scalar.*n x 1 against 1 x 1"):
        build_model([r"a = W x", r"L = a"], ["W: n x d"])


def test_a_parse_error_points_at_the_construct():
    with pytest.raises(LatexParseError) as e:
        build_model([r"a = \sigma(w x + \foo)", r"L = a"])
    assert e.value.position == r"a = \sigma(w x + \foo)".index(r"\foo") and "^" in str(e.value)


# ---------------------------------------------------------------------------------------------
# The student's model: a sigmoid RNN with a softmax output, rows, in every spelling of the loss.

STUDENT = [r"H_t = \sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"O_t = H_t W_{hq} + b_q"]
STUDENT_LOSSES = [
    [r"\hat Y_t = \operatorname{softmax}(O_t)", r"L = -\sum_{t=1}^{T} Y_t \log \hat Y_t^\top"],
    [r"L = \sum_{t=1}^{T} \operatorname{CE}(O_t, Y_t)"],
    [r"L = -\sum_{t=1}^{T} Y_t \log \mathrm{softmax}(O_t)^\top"],
    [r"P_t = \text{softmax}(O_t)", r"\ell_t = -\sum_k Y_{t,k} \log P_{t,k}", r"L = \sum_{t=1}^{T} \ell_t"],
]
SIZES = {"n_h": 3, "n_x": 2, "n_o": 4}


def student_loss(a: dict) -> float:
    """The student's loss written by hand in NumPy (rows; the cross-entropy of a softmax, summed over t)."""
    H, total = a["H0"], 0.0
    for X, Y in zip(a["X"], a["Y"]):
        H = 1 / (1 + np.exp(-(X @ a["W_xh"] + H @ a["W_hh"] + a["b_h"])))
        logits = H @ a["W_hq"] + a["b_q"]
        total -= (Y @ (logits - np.log(np.sum(np.exp(logits)))).T).item()
    return total


def student_arrays(seed=0) -> dict:
    rng = np.random.default_rng(seed)
    n, d, q = SIZES["n_h"], SIZES["n_x"], SIZES["n_o"]
    shapes = {"W_xh": (d, n), "W_hh": (n, n), "b_h": (1, n), "W_hq": (n, q), "b_q": (1, q), "H0": (1, n),
              "X": (STEPS, 1, d)}
    arrays = {k: rng.normal(size=v) for k, v in shapes.items()}
    arrays["Y"] = np.eye(q)[rng.integers(0, q, STEPS)][:, None, :]
    return arrays


def numeric_env(program, arrays) -> Env:
    sizes = {**{sp.Symbol(k, integer=True, positive=True): v for k, v in SIZES.items()}, T: STEPS}
    env = Env({}, sizes, NUMPY)
    for name, value in arrays.items():
        if name in ("X", "Y"):
            env.update({(name, s): value[s - 1] for s in range(1, STEPS + 1)})
        else:
            env[name] = value
    env[("H", 0)] = arrays["H0"]
    return env


@pytest.mark.parametrize("loss", STUDENT_LOSSES, ids=lambda loss: loss[-1])
def test_the_students_model_reads_and_its_gradient_is_the_finite_differences_of_the_hand_loss(loss):
    m = build_model(STUDENT + loss)
    assert sorted(key(v) for v in arguments(m.program)) == ["H0", "W_hh", "W_hq", "W_xh", "X", "Y", "b_h", "b_q"]
    arrays = student_arrays()
    env = numeric_env(m.program, arrays)
    forward(m.program, env)
    grads = backward(derive(m.program), env)
    for name in ("W_hh", "W_xh", "b_q", "H0"):
        numeric = central_differences(student_loss, arrays, name)
        assert np.allclose(np.asarray(grads[name], dtype=float), numeric, atol=1e-7), name


def test_the_students_model_keeps_its_notation():
    m = build_model(STUDENT + STUDENT_LOSSES[0])
    assert m.program.latex_names["Y_hat"] == r"\hat Y" and m.program.latex_names["W_xh"] == "W_{xh}"
    assert {str(d) for d in m.program.dims()} == {"n_h", "n_x", "n_o"}


@pytest.mark.parametrize("equation, construct", [
    (r"a = \operatorname{foo}(w x)", "foo"), (r"a = \sin(w x)", r"\sin"), (r"a = w^{x}", "^")])
def test_an_unsupported_construct_gets_a_caret_at_it(equation, construct):
    with pytest.raises(LatexParseError) as e:
        build_model([equation, "L = a"])
    assert e.value.position == equation.index(construct)


@pytest.mark.parametrize("model, words", [
    ([r"L = L^2"], "the loss L is used in its own definition"),
    ([r"a = \frac{w}{0}", r"L = a^2"], "a division by zero"),
])
def test_a_model_that_has_no_value_is_refused_with_the_reason(model, words):
    with pytest.raises(ModelError, match=words):
        build_model(model)


def test_a_double_sum_over_steps_and_entries_is_the_cross_entropy_of_every_step():
    r"""-\sum_t \sum_k y_{t,k} \log \hat y_{t,k} (SymPy merges the two sums) reads as the per-step spelling."""
    steps = [r"h_t = \tanh(W h_{t-1} + U x_t)", r"o_t = V h_t", r"\hat y_t = \operatorname{softmax}(o_t)"]
    double = build_model([*steps, r"L = -\sum_{t=1}^{T} \sum_{k} y_{t,k} \log \hat y_{t,k}"]).program
    per_step = build_model([*steps, r"\ell_t = -\sum_{k} y_{t,k} \log \hat y_{t,k}",
                            r"L = \sum_{t=1}^{T} \ell_t"]).program
    assert double.loss == per_step.loss and double.assignments == per_step.assignments


def test_a_state_read_at_the_next_step_is_refused_as_not_supported():
    with pytest.raises(ModelError, match="bidirectional RNN, are not supported yet"):
        build_model([r"h_t = \tanh(W h_{t+1} + U x_t)", r"L = \sum_{t=1}^{T} \frac{1}{2}\|h_t - y_t\|^2"])

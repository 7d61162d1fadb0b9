r"""Index-level models read from LaTeX (symderive.latex.index_model): the notes' 1-D convolution, a 2-D
multi-channel convolution with stride and padding typed as a student types it, pooling, abstract losses.

Every expected value is computed independently of the engine: NumPy loops written from the formulas
(1-based indices translated by hand), and finite differences of those loops for the gradients."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symderive.errors import LatexParseError, ModelError, SymderiveError
from symderive.index import evaluate as ie
from symderive.index.derive import derive
from symderive.latex.index_model import build_index_model, looks_index_level
from symderive.verify.numeric import central_differences

NOTES = [r"h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)", r"L = \sum_{i=1}^{m} h_i"]
# a 2-D convolution, 3 channels in, stride 2, padding 1, indices from 1 as in the notes
STUDENT_2D = [r"Y_{o,i,j} = \sum_{c=1}^{C} \sum_{p=1}^{K} \sum_{q=1}^{K} W_{o,c,p,q} X_{c, 2i+p-3, 2j+q-3} + b_o",
              r"L = \sum_{o,i,j} G_{o,i,j} Y_{o,i,j}"]
STUDENT_2D_SHAPES = ["X: C x M x N", "W: F x C x K x K", "Y: F x A x B"]


def fd(f, array):
    """Central differences of ``f`` at ``array`` (the project's helper, over one named array)."""
    return central_differences(lambda a: f(a["a"]), {"a": array}, "a")


def sizes_of(model, **values):
    return {s: values[s.name] for s in model.sizes}


def run(model, arrays, **values):
    """Forward and backward of the read program by the naive interpreter."""
    env = ie.Env(dict(arrays), sizes_of(model, **values))
    return ie.backward(derive(model.program), ie.forward(model.program, env))


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def notes_loss(V, x, m):
    """L = sum_{i=1}^{m} sigma(sum_{j=1}^{k} V_j x_{i+j-1}), 1-based indices written 0-based by hand."""
    return sum(sigmoid(sum(V[j - 1] * x[i + j - 2] for j in range(1, len(V) + 1))) for i in range(1, m + 1))


def test_the_notes_1d_formula_is_a_program_over_the_right_ranges():
    model = build_index_model(NOTES)
    assert model.base == 1
    assert [t.name for t in model.program.arguments] == ["V", "x"]
    assert str(model.tensors["x"].dims[0]) == "k + m - 1"  # x_1 .. x_{m+k-1}: every entry the window reads
    assert model.origins["x"] == (1,) and model.origins["V"] == (1,)
    assert "z" in model.notes[0]  # the argument of sigma gets a name (sigma'(z_i) in a claim)


def test_the_notes_1d_formula_computes_the_notes_loss_and_its_gradient():
    model = build_index_model(NOTES)
    rng = np.random.default_rng(0)
    V, x = rng.standard_normal(3), rng.standard_normal(7)
    env = run(model, {"V": V, "x": x}, k=3, m=5)
    assert env["L"] == pytest.approx(notes_loss(V, x, 5), rel=1e-12)
    fd_V = fd(lambda v: notes_loss(v, x, 5), V)
    fd_x = fd(lambda y: notes_loss(V, y, 5), x)
    np.testing.assert_allclose(env["d_V"], fd_V, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(env["d_x"], fd_x, rtol=1e-6, atol=1e-9)


def student_forward(W, X, b, stride=2, pad=1, out=(3, 3)):
    """Y_{o,i,j} = sum_{c,p,q} W_{o,c,p,q} X_{c, S(i-1)+p-P, S(j-1)+q-P} (1-based), X zero outside (padding)."""
    F, C, K, _ = W.shape
    Y = np.zeros((F,) + out)
    for o, i, j in np.ndindex(Y.shape):
        for c, p, q in np.ndindex(C, K, K):
            r, s = stride * i + p - pad, stride * j + q - pad  # 0-based: the same read shifted by one
            if 0 <= r < X.shape[1] and 0 <= s < X.shape[2]:
                Y[o, i, j] += W[o, c, p, q] * X[c, r, s]
        Y[o, i, j] += b[o]
    return Y


def test_a_strided_padded_multichannel_convolution_as_a_student_types_it():
    model = build_index_model(STUDENT_2D, shapes=STUDENT_2D_SHAPES)
    rng = np.random.default_rng(1)
    W, X, b, G = (rng.standard_normal(s) for s in ((2, 3, 3, 3), (3, 5, 6), (2,), (2, 3, 3)))
    env = run(model, {"W": W, "X": X, "b": b, "G": G}, C=3, F=2, K=3, M=5, N=6, A=3, B=3)
    np.testing.assert_allclose(env["Y"], student_forward(W, X, b), rtol=1e-12)

    def loss(w, x):
        return float(np.sum(G * student_forward(w, x, b)))
    np.testing.assert_allclose(env["d_W"], fd(lambda w: loss(w, X), W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(env["d_X"], fd(lambda x: loss(W, x), X), rtol=1e-6, atol=1e-8)


def test_the_same_convolution_from_0_with_implicit_sums_and_declared_ranges():
    """\\sum_{c,p,q} without bounds and --range 'o: 0..F-1': the same numbers as the 1-based model."""
    model = build_index_model([r"Y_{o,i,j} = \sum_{c,p,q} W_{o,c,p,q} X_{c, S i + p - P, S j + q - P} + b_o",
                               r"L = \sum_{o,i,j} G_{o,i,j} Y_{o,i,j}"],
                              shapes=["X: C x M x N", "W: F x C x K x K"],
                              ranges=["o: 0..F-1", "i: 0..A-1", "j: 0..B-1"])
    assert model.base == 0
    rng = np.random.default_rng(2)
    W, X, b, G = (rng.standard_normal(s) for s in ((2, 3, 3, 3), (3, 5, 6), (2,), (2, 3, 3)))
    env = run(model, {"W": W, "X": X, "b": b, "G": G}, C=3, F=2, K=3, M=5, N=6, A=3, B=3, S=2, P=1)
    np.testing.assert_allclose(env["Y"], student_forward(W, X, b), rtol=1e-12)


def test_mixed_bounds_as_written_are_translated_exactly():
    r"""``\sum_{c=1}^{C}\sum_{p=0}^{K-1}``: channels from 1, taps from 0 (a 1-D convolution, one output channel)."""
    model = build_index_model([r"y_i = \sum_{c=1}^{C}\sum_{p=0}^{K-1} w_{c,p} x_{c,i+p}", r"L = \sum_{i=0}^{n-1} y_i"],
                              shapes=["x: C x N"])
    assert model.origins["w"] == (1, 0) and model.origins["x"] == (1, 0)
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((2, 3)), rng.standard_normal((2, 6))
    env = run(model, {"w": w, "x": x}, C=2, K=3, N=6, n=4)
    expected = sum(w[c, p] * x[c, i + p] for i in range(4) for c in range(2) for p in range(3))
    assert env["L"] == pytest.approx(expected, rel=1e-12)


def test_max_pooling_over_a_window_and_an_abstract_loss():
    model = build_index_model([r"P_{c,i,j} = \max_{p,q} X_{c,2i+p,2j+q}", r"L = \ell(P)"],
                              shapes=["X: C x M x N"], ranges=["p: 0..1", "q: 0..1", "i: 0..A-1", "j: 0..B-1"])
    assert [t.name for t in model.program.constants] == ["delta"]  # the gradient the abstract loss is given
    rng = np.random.default_rng(4)
    X, delta = rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 2, 2))
    env = run(model, {"X": X, "delta": delta}, C=2, M=4, N=4, A=2, B=2)
    pooled = X.reshape(2, 2, 2, 2, 2).max(axis=(2, 4))
    np.testing.assert_allclose(env["P"], pooled)
    np.testing.assert_allclose(env["d_P"], delta)


def test_bounds_written_on_a_window_maximum_are_its_range():
    r"""``\max_{p=1}^{2}`` reads its bounds as ``\sum_{p=1}^{2}`` does: the same pooling as ``\max_{p}`` with
    ``--range 'p: 1..2'`` (a user trial: "unknown index p")."""
    written = build_index_model([r"Y_{i} = \max_{p=1}^{2} X_{2i+p-2}", r"L = \sum_{i=1}^{m} Y_i"])
    declared = build_index_model([r"Y_{i} = \max_{p} X_{2i+p-2}", r"L = \sum_{i=1}^{m} Y_i"], ranges=["p: 1..2"])
    assert written.ranges == declared.ranges
    X = np.array([3.0, -1.0, 0.5, 2.0, -4.0, -2.0])
    env = run(written, {"X": X}, m=3)
    np.testing.assert_allclose(env["Y"], [3.0, 2.0, -2.0])  # the maxima of the pairs (X_1, X_2), (X_3, X_4), ...
    np.testing.assert_allclose(env["d_X"], [1, 0, 0, 1, 0, 1])  # one at each arg-max


@pytest.mark.parametrize("activation, f", [(r"\tanh", np.tanh), (r"\max\left(0, ", lambda z: np.maximum(0, z))])
def test_elementwise_functions_of_the_op_table_on_entries(activation, f):
    close = ")" if activation.startswith(r"\tanh") else r"\right)"
    model = build_index_model([rf"a_i = {activation}\left(\sum_{{j=1}}^{{k}} V_j x_{{i+j-1}}\right{close}"
                               if activation.startswith(r"\tanh") else
                               rf"a_i = {activation}\sum_{{j=1}}^{{k}} V_j x_{{i+j-1}}{close}",
                               r"L = \sum_{i=1}^{m} a_i"])
    rng = np.random.default_rng(5)
    V, x = rng.standard_normal(2), rng.standard_normal(5)
    env = run(model, {"V": V, "x": x}, k=2, m=4)
    assert env["L"] == pytest.approx(sum(f(V[0] * x[i] + V[1] * x[i + 1]) for i in range(4)), rel=1e-12)


def test_a_scalar_bias_and_a_size_in_a_coefficient():
    r"""``+ b`` (a scalar) and ``\frac{1}{k}`` (a size): average of a window plus a bias."""
    model = build_index_model([r"y_i = \frac{1}{k} \sum_{j=1}^{k} x_{i+j-1} + b", r"L = \sum_{i=1}^{m} y_i"])
    x = np.arange(1.0, 7.0)
    env = run(model, {"x": x, "b": np.array(0.5)}, k=3, m=4)
    assert env["L"] == pytest.approx(sum(x[i:i + 3].mean() + 0.5 for i in range(4)))


@pytest.mark.parametrize("equations, kwargs, message", [
    ([r"h_i = \sum_{j=1}^{k} V_j x_{i+q}", r"L = \sum_{i=1}^{m} h_i"], {}, "unknown index q"),
    ([r"h_i = \sum_{j=1}^{k} V_{j,i} x_{i+j}", r"L = \sum_{i=1}^{m} h_i"], {"shapes": ["V: k"]},
     "declared with 1 axes but written with 2"),
    ([r"h_i = \sum_{j=1}^{k} V_j x_{i+j-1} + V_{i,j}", r"L = \sum_{i=1}^{m} h_i"], {},
     "V is written with 1 and with 2 indices"),
    ([r"h_i = \sum_{i=1}^{k} V_i", r"L = \sum_{i=1}^{m} h_i"], {}, "both an index of the left side and summed"),
    ([r"h_i = \sum_{j} V_j x_{i+j}", r"L = \sum_{i=1}^{m} h_i"], {}, "the range of the index j"),
    ([r"y_i = \sum_{p=1}^{K} w_p x_{2i+p-3}", r"L = \sum_{i=1}^{m} y_i"], {}, "below 1 (padding?)"),
    ([r"h_i = \sum_{j=1}^{k} V_j x_{i+j-1}"], {}, "the last equation defines the scalar loss"),
    ([r"h_i = \sum_{j=1}^{k} V_j x_{i+j-1}", r"L = \sum_{i=1}^{m} h_i"], {"ranges": ["i 1..m"]},
     "a range is declared as"),
    ([r"h_i = \sigma(V_i) \sigma(x_i)", r"L = \sum_{i=1}^{m} h_i"], {}, "cannot read"),
    # a user trial: a diagonal read, a letter summed twice, a range of a letter the model has not
    ([r"h_i = \sigma\left(\sum_{j=1}^{k} V_{j,j} x_{i+j-1}\right)", r"L = \sum_{i=1}^{m} h_i"], {},
     "the index j is used twice in one read, V_{j,j}"),
    ([r"h_j = \sum_{i=1}^{m}\sum_{i=1}^{m} x_{i+j-1}", r"L = \sum_{j=1}^{k} h_j"], {}, "i is summed over twice"),
    ([r"h_j = \sum_{i,i} x_{i+j-1}", r"L = \sum_{j=1}^{k} h_j"], {"ranges": ["i: 1..m"]}, "i is summed over twice"),
    (NOTES, {"ranges": ["z: 0..3"]}, "the model has no index z: its indices are i, j"),
    (NOTES, {"ranges": ["i: 5..1"]}, "--range 'i: 5..1' is empty"),
    (NOTES, {"shapes": ["x: 0"]}, "a size of 0 is refused"),
    ([r"Y_{i} = \max_{p=1} X_{2i+p-2}", r"L = \sum_{i=1}^{m} Y_i"], {}, "a window's bounds are written as a sum's"),
    # found by the check fuzzer: a matrix-level cell with an index-level loss (was SymPy's IndexException)
    (["z = W x + b", r"a = \operatorname{relu}(z)", r"L = \sum_{k=t-1}^{t-1} I"], {},
     "a function of a value with no index"),
])
def test_errors_in_index_models_are_clear(equations, kwargs, message):
    with pytest.raises(SymderiveError, match=message.replace("(", r"\(").replace(")", r"\)").replace("?", r"\?")):
        build_index_model(equations, **kwargs)


def test_index_level_equations_are_told_from_matrix_level_ones():
    assert looks_index_level(NOTES)
    assert looks_index_level(STUDENT_2D)
    assert not looks_index_level([r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t)", r"L = \sum_{t=1}^{T} \ell_t"])
    assert not looks_index_level([r"z = W x + b", r"L = \frac{1}{2}\|z - y\|^2"])


PIECES = st.sampled_from([
    "h_i", "x_{i+j-1}", "V_j", r"\sum_{j=1}^{k}", r"\sum_{c,p,q}", "W_{o,c,p,q}", "X_{c, S i + p, S j + q}",
    r"\sigma(", r"\max_{p,q}", ")", "=", "+", "-", "2", "_", "{", "}", ",", "i", "j", r"\ell(Y)", "L", "^{m}",
    r"\frac{1}{k}", r"\left(", r"\right)", "'", r"\cdot", "b_o", "Y_{o,i,j}",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(PIECES, min_size=1, max_size=10).map(" ".join), min_size=1, max_size=3),
       st.lists(st.sampled_from(["i: 1..m", "j: 0..k-1", "o: 0..F-1", "x y", "p: 1..K+1"]), max_size=2),
       st.lists(st.sampled_from(["X: C x M x N", "V: k", "W: F x C x K x K", "bad"]), max_size=2, unique=True))
def test_random_index_level_text_gets_a_model_or_our_error(equations, ranges, shapes):
    try:
        build_index_model(equations, shapes=shapes, ranges=ranges)
    except (ModelError, LatexParseError, SymderiveError):
        pass

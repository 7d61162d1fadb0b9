r"""Index-level claims judged: the notes' 1-D convolution, a 2-D multi-channel convolution with stride 2 and
padding 1 typed as a student types it, and the built-ins conv1d, conv2d, pool2d, cnn in their documented
notation (indices from 0 and from 1).

The right claims are hand-derived formulas; each is first checked independently of the engine (NumPy loops of
the formula against central differences of a NumPy forward pass), so a verdict "equal" is not the engine
agreeing with itself. Each wrong claim carries one deliberate mistake and must get that mistake's name."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symderive import check
from symderive.cli import main
from symderive.derivations import derivation
from symderive.verify.numeric import central_differences

NOTES = [r"h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)", r"L = \sum_{i=1}^{m} h_i"]
STUDENT_2D = [r"Y_{o,i,j} = \sum_{c=1}^{C} \sum_{p=1}^{K} \sum_{q=1}^{K} W_{o,c,p,q} X_{c, 2i+p-3, 2j+q-3} + b_o",
              r"L = \ell(Y)"]
SHAPES_2D = ["X: C x M x N", "W: F x C x K x K", "Y: F x A x B"]

GRAD_V = r"\frac{\partial L}{\partial V_j} = "
GRAD_x = r"\frac{\partial L}{\partial x_n} = "
GRAD_W = r"\frac{\partial L}{\partial W_{o,c,p,q}} = "
GRAD_X = r"\frac{\partial L}{\partial X_{c,m,n}} = "
SUMS_OIJ = r"\sum_{o=1}^{F}\sum_{i=1}^{A}\sum_{j=1}^{B} "



def fd(f, array):
    return central_differences(lambda a: f(a["a"]), {"a": array}, "a")


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class Judged(dict):
    """Verdicts judged once per model (one subject for many claims: the runs are shared), corrections too."""

    def __init__(self, model, claims, **kwargs):
        super().__init__()
        self.model, self.kwargs = model, kwargs
        self.judge(claims)
        self.judge([r.correct for r in self.values() if r.correct])

    def judge(self, claims):
        claims = [c for c in dict.fromkeys(claims) if c not in self]
        self.update(zip(claims, check(model=self.model, claims=claims, **self.kwargs)))


# -- the notes' 1-D formula -------------------------------------------------------------------------------------

def test_the_hand_derived_1d_formulas_are_right_by_finite_differences():
    """dL/dV_j = sum_i sigma'(z_i) x_{i+j-1} and dL/dx_n = sum_i sigma'(z_i) V_{n-i+1} (V zero outside 1..k), from
    the chain rule by hand; checked here against central differences of the notes' loss, 1-based indices shifted
    by hand."""
    rng = np.random.default_rng(0)
    k, m = 3, 5
    V, x = rng.standard_normal(k), rng.standard_normal(m + k - 1)

    def loss(V, x):
        return sum(sigmoid(sum(V[j - 1] * x[i + j - 2] for j in range(1, k + 1))) for i in range(1, m + 1))
    z = [sum(V[j - 1] * x[i + j - 2] for j in range(1, k + 1)) for i in range(1, m + 1)]
    ds = [sigmoid(v) * (1 - sigmoid(v)) for v in z]
    grad_V = [sum(ds[i - 1] * x[i + j - 2] for i in range(1, m + 1)) for j in range(1, k + 1)]
    grad_x = [sum(ds[i - 1] * V[n - i] for i in range(1, m + 1) if 1 <= n - i + 1 <= k) for n in range(1, m + k)]
    np.testing.assert_allclose(grad_V, fd(lambda v: loss(v, x), V), rtol=1e-6)
    np.testing.assert_allclose(grad_x, fd(lambda y: loss(V, y), x), rtol=1e-6, atol=1e-10)


RIGHT_1D = [
    GRAD_V + r"\sum_{i=1}^{m} \delta_i \sigma'(\cdot) x_{i+j-1}",
    GRAD_V + r"\sum_{i=1}^{m} \sigma'(z_i) x_{i+j-1}",
    GRAD_V + r"\sum_{i=1}^{m} h_i (1 - h_i) x_{i+j-1}",
    GRAD_x + r"\sum_{i=1}^{m} \sigma'(z_i) V_{n-i+1}",
    GRAD_x + r"\sum_{j=1}^{k} h_{n-j+1} \left(1 - h_{n-j+1}\right) V_j",
]
WRONG_1D = [
    (GRAD_V + r"\sum_{i=1}^{m} \sigma'(z_i) x_{i+j}", "an index off by one", "x_{i + j - 1}"),
    (GRAD_V + r"\sum_{i=1}^{m-1} \sigma'(z_i) x_{i+j-1}", "a missing boundary term", r"\sum_{i=1}^{m}"),
    (GRAD_V + r"\sum_{i=2}^{m} \sigma'(z_i) x_{i+j-1}", "a missing boundary term", r"\sum_{i=1}^{m}"),
    (GRAD_x + r"\sum_{j=1}^{k} \sigma'(z_{n+j-1}) V_j", "the kernel is flipped", "z_{n - j + 1}"),
    (GRAD_x + r"\sum_{i=1}^{m} \sigma'(z_i) V_{i-n+1}", "the kernel is flipped", ""),
]


@pytest.fixture(scope="module")
def notes_results():
    return Judged(NOTES, RIGHT_1D + [c for c, _, _ in WRONG_1D])


@pytest.mark.parametrize("claim", RIGHT_1D)
def test_right_1d_gradients_hold_at_every_index_and_exactly(claim, notes_results):
    r = notes_results[claim]
    assert r.verdict == "equal", r
    assert "edges included" in r.method and "proved exactly" in r.method


@pytest.mark.parametrize("claim, named, corrected", WRONG_1D)
def test_wrong_1d_gradients_are_named_with_the_corrected_formula(claim, named, corrected, notes_results):
    r = notes_results[claim]
    assert r.verdict == "not_equal", r
    assert r.diagnosis.startswith(named), r.diagnosis
    assert corrected in r.correct
    assert notes_results[r.correct].verdict == "equal"  # the corrected formula holds


def test_a_claim_wrong_by_less_than_float64_sees_is_refuted_exactly():
    """The meta-test: the numeric comparison alone would pass this claim; the exact check must not."""
    [r] = check(model=NOTES, claims=[GRAD_V + r"\sum_{i=1}^{m} (1 + 10^{-11}) \sigma'(z_i) x_{i+j-1}"])
    assert r.verdict == "not_equal" and "not exactly" in r.diagnosis, r


def test_the_notes_formula_is_no_longer_refused_on_the_command_line(capsys):
    status = main(["check", "--model", NOTES[0], "--model", NOTES[1], "--range", "i: 1..m",
                   "--claim", GRAD_V + r"\sum_{i=1}^{m} \sigma'(z_i) x_{i+j-1}"])
    assert status == 0, capsys.readouterr()
    status = main(["check", "--model", NOTES[0], "--model", NOTES[1], "--claim", GRAD_V + r"\sum_{i=1}^{m} x_{i+j-1}"])
    assert status == 1
    assert "DOES NOT HOLD" in capsys.readouterr().out


SCALAR_BIAS = [r"Y_{i,j} = \sum_{p,q} W_{p,q} X_{i+p,j+q} + b", r"L = \sum_{i,j} G_{i,j} Y_{i,j}"]
SCALAR_RANGES = ["i: 0..m-1", "j: 0..n-1", "p: 0..k-1", "q: 0..k-1"]


@pytest.mark.parametrize("right, holds", [(r"\sum_i\sum_j \frac{\partial L}{\partial Y_{i,j}}", True),
                                          (r"\sum_{i,j} G_{i,j}", True), (r"\sum_{i,j} G_{i,j+1}", False)])
def test_a_claim_about_a_scalar_parameter_is_judged(right, holds):
    """dL/db of a bias added to every entry is the sum of G (by hand: each Y_{i,j} has b with coefficient 1);
    the exact check of a 0-D gradient crashed (an AttributeError from a SymPy number's missing shape)."""
    [r] = check(model=SCALAR_BIAS, ranges=SCALAR_RANGES, claims=[r"\frac{\partial L}{\partial b} = " + right])
    assert r.verdict == ("equal" if holds else "not_equal"), r


# -- a 2-D multi-channel convolution with stride 2 and padding 1 ------------------------------------------------

def conv(W, X, b, A, B):
    """Y_{o,i,j} = sum_{c,p,q} W_{o,c,p,q} X_{c, 2i+p-3, 2j+q-3} + b_o (1-based, X zero outside)."""
    F, C, K, _ = W.shape
    Y = np.zeros((F, A, B))
    for o, i, j in np.ndindex(F, A, B):
        for c, p, q in np.ndindex(C, K, K):
            r, s = 2 * (i + 1) + (p + 1) - 3 - 1, 2 * (j + 1) + (q + 1) - 3 - 1
            if 0 <= r < X.shape[1] and 0 <= s < X.shape[2]:
                Y[o, i, j] += W[o, c, p, q] * X[c, r, s]
        Y[o, i, j] += b[o]
    return Y


def test_the_hand_derived_2d_formulas_are_right_by_finite_differences():
    """dL/dW_{o,c,p,q} = sum_{i,j} delta_{o,i,j} X_{c,2i+p-3,2j+q-3} and dL/dX_{c,m,n} = sum_{o,i,j} delta_{o,i,j}
    W_{o,c,m-2i+3,n-2j+3} (W zero outside 1..K), the formulas the claims below write, against central
    differences of L = sum delta * Y."""
    rng = np.random.default_rng(1)
    F, C, K, M, N, A, B = 2, 3, 3, 5, 4, 3, 2
    W, X, b, D = (rng.standard_normal(s) for s in ((F, C, K, K), (C, M, N), (F,), (F, A, B)))
    grad_W, grad_X = np.zeros_like(W), np.zeros_like(X)
    for o, c, p, q in np.ndindex(W.shape):
        for i, j in np.ndindex(A, B):
            r, s = 2 * (i + 1) + (p + 1) - 3, 2 * (j + 1) + (q + 1) - 3
            if 1 <= r <= M and 1 <= s <= N:
                grad_W[o, c, p, q] += D[o, i, j] * X[c, r - 1, s - 1]
    for c, m, n in np.ndindex(X.shape):
        for o, i, j in np.ndindex(F, A, B):
            p, q = (m + 1) - 2 * (i + 1) + 3, (n + 1) - 2 * (j + 1) + 3
            if 1 <= p <= K and 1 <= q <= K:
                grad_X[c, m, n] += D[o, i, j] * W[o, c, p - 1, q - 1]
    np.testing.assert_allclose(grad_W, fd(lambda w: np.sum(D * conv(w, X, b, A, B)), W), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(grad_X, fd(lambda x: np.sum(D * conv(W, x, b, A, B)), X), rtol=1e-6, atol=1e-8)


RIGHT_W = GRAD_W + r"\sum_{i=1}^{A}\sum_{j=1}^{B} \delta_{o,i,j} X_{c, 2i+p-3, 2j+q-3}"
RIGHT_X = GRAD_X + SUMS_OIJ + r"\delta_{o,i,j} W_{o,c,m-2i+3,n-2j+3}"


RIGHT_2D = [RIGHT_W, RIGHT_X, r"\frac{\partial L}{\partial b_o} = \sum_{i,j} \delta_{o,i,j}",
            GRAD_X + SUMS_OIJ + r"\frac{\partial L}{\partial Y_{o,i,j}} W_{o,c,m-2i+3,n-2j+3}"]
WRONG_2D = [
    (GRAD_X + SUMS_OIJ + r"\delta_{o,i,j} W_{o,c,m-i+3,n-j+3}", "the stride or dilation 2 is missing", RIGHT_X),
    (GRAD_X + SUMS_OIJ + r"\delta_{o,i,j} W_{c,o,m-2i+3,n-2j+3}", "a transposed channel pair", RIGHT_X),
    (GRAD_X + SUMS_OIJ + r"\delta_{o,i,j} W_{o,c,K-2+2i-m,K-2+2j-n}", "the kernel is flipped", RIGHT_X),
    (GRAD_W + r"\sum_{i=1}^{A}\sum_{j=1}^{B} \delta_{o,i,j} X_{c, 2i+p-2, 2j+q-2}", "indices off by one", RIGHT_W),
    (GRAD_W + r"\sum_{i=1}^{A}\sum_{j=1}^{B-1} \delta_{o,i,j} X_{c, 2i+p-3, 2j+q-3}", "a missing boundary term",
     RIGHT_W),
]
UNREADABLE_2D = [
    (r"\frac{\partial L}{\partial X_{c,m}} = 0", "X has 3 indices but the derivative is written with 2"),
    (GRAD_X + r"\sum_{o=1}^{F} W_{o,c,m}", "W has 4 indices but is written with 3"),
    (GRAD_X + r"\sum_{o=1}^{F} U_{o,c,m,n}", "unknown symbol U"),
    (r"\frac{\partial L}{\partial Q_{c}} = 0", "not an array of the model"),
    (GRAD_X + r"\sum_{a=1}^{99999}\sum_{b=1}^{99999} W_{1,c,1,1}", "more than 100000 terms for one entry"),
]


@pytest.fixture(scope="module")
def student_results():
    return Judged(STUDENT_2D, RIGHT_2D + [c for c, _, _ in WRONG_2D] + [c for c, _ in UNREADABLE_2D], shapes=SHAPES_2D)


@pytest.mark.parametrize("claim", RIGHT_2D)
def test_right_2d_gradients_hold_at_every_entry_edges_included(claim, student_results):
    r = student_results[claim]
    assert r.verdict == "equal", r
    assert "edges included" in r.method and "proved exactly" in r.method and r.compared > 0


@pytest.mark.parametrize("claim, named, corrected", WRONG_2D)
def test_wrong_2d_gradients_are_named_in_the_models_notation(claim, named, corrected, student_results):
    r = student_results[claim]
    assert r.verdict == "not_equal", r
    assert r.diagnosis.startswith(named), r.diagnosis
    assert r.counterexample and r.counterexample["entries"]
    assert student_results[r.correct].verdict == "equal"


@pytest.mark.parametrize("claim, message", UNREADABLE_2D)
def test_claims_that_cannot_be_read_get_an_error_naming_why(claim, message, student_results):
    r = student_results[claim]
    assert r.verdict == "error" and message in r.diagnosis, r


# -- the built-ins in their documented notation -------------------------------------------------------------------

@pytest.mark.parametrize("name, base, claim, holds", [
    ("conv1d", 0, r"\frac{\partial L}{\partial b_{o}} = \sum_{i} \bar{z}_{o, i}", True),
    ("conv1d", 1, r"\frac{\partial L}{\partial w_{o, c, p}} = \sum_{i} \bar{z}_{o, i} x_{c, S (i - 1) + D (p - 1) "
                  r"- P + 1}", True),
    ("conv2d", 0, r"\frac{\partial L}{\partial W_{o,c,p,q}} = \sum_{i,j} G_{o,i,j} X_{c, S_h i + D_h p - P_h, "
                  r"S_w j + D_w q - P_w}", True),
    ("conv2d", 0, r"\frac{\partial L}{\partial W_{o,c,p,q}} = \sum_{i,j} G_{o,i,j} X_{c, i + D_h p - P_h, "
                  r"j + D_w q - P_w}", False),
    ("pool2d", 0, r"\frac{\partial L}{\partial X_{c,m,n}} = \frac{1}{K_h K_w} \sum_{p,q} \tilde{G}_{c, m - p, n - q}",
     True),
    ("cnn", 1, r"\frac{\partial L}{\partial \beta_{k}} = p_{k} - y_{k}", True),
])
def test_check_a_built_in_in_its_documented_notation(name, base, claim, holds):
    [r] = check(derivation=name, claims=[claim], index_base=base)
    assert r.holds == holds, r
    if not holds:
        assert "stride" in r.diagnosis


POOL = [r"P_{c,i,j} = \max_{p,q} X_{c,2i+p,2j+q}", r"L = \ell(P)"]
POOL_DECLARED = {"shapes": ["X: C x M x N"], "ranges": ["p: 0..1", "q: 0..1", "i: 0..A-1", "j: 0..B-1", "c: 0..C-1"]}


def test_max_pooling_typed_by_hand_with_its_mask_and_the_stride_forgotten_in_both_deltas():
    """dL/dX_{c,m,n} = sum_{i,j,p,q} delta_{c,i,j} M_{c,i,j,p,q} [m = 2i+p] [n = 2j+q] (M the arg-max mask: the
    derivative of a maximum is the one-hot of where it is taken)."""
    right = (r"\frac{\partial L}{\partial X_{c,m,n}} = \sum_{i,j,p,q} \delta_{c,i,j} M_{c,i,j,p,q} "
             r"\delta_{m, 2i+p} \delta_{n, 2j+q}")
    wrong = right.replace("2i+p", "i+p").replace("2j+q", "j+q")
    good, bad = check(model=POOL, claims=[right, wrong], **POOL_DECLARED)
    assert good.verdict == "equal", good
    assert bad.diagnosis.startswith("the stride or dilation 2 is missing") and r"\sum_{i,j,p,q}" in bad.correct, bad


def document_gradients(name: str, base: int) -> list[str]:
    """Every equation of the built-in's document whose left side is a derivative of L."""
    text = derivation(name).to_latex("latex", index_base=base)
    lines = (line.strip().rstrip("\\").strip() for line in text.splitlines())
    derivative = r"\frac{\partial L}{\partial"
    return [line.replace("&=", "=") for line in lines if line.startswith(derivative) and "&=" in line]


@pytest.mark.parametrize("name", ["conv1d", "conv2d", "pool2d", "cnn"])
@pytest.mark.parametrize("base", [0, 1])
def test_round_trip_every_gradient_equation_of_the_documents_holds(name, base):
    claims = document_gradients(name, base)
    assert len(claims) >= 4
    results = check(derivation=name, claims=claims, index_base=base)
    assert [r.claim for r in results if not r.holds] == []


def test_the_command_line_checks_a_built_in_with_index_base_1(capsys):
    claim = r"\frac{\partial L}{\partial b_{o}} = \sum_{i,j} \bar{Z}_{o, i, j}"
    assert main(["check", "cnn", "--index-base", "1", "--claim", claim]) == 0
    assert "HOLDS" in capsys.readouterr().out
    assert main(["check", "cnn", "--range", "i: 1..m", "--claim", claim]) == 2


CLAIM_PIECES = st.sampled_from([
    r"\frac{\partial L}{\partial V_j}", r"\frac{\partial L}{\partial x_{n}}", "=", r"\sum_{i=1}^{m}", r"\sum_{j}",
    r"\delta_i", r"\sigma'(\cdot)", r"\sigma'(z_i)", "x_{i+j-1}", "V_{n-i+1}", "h_i", "(1 - h_i)", "+", "-", "2",
    r"\delta_{i,j}", "{", "}", "_", "^{2}", r"\tanh(", ")", "i'", "q", r"\frac{1}{k}", r"\max_{p,q}", r"\ell(h)",
])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(CLAIM_PIECES, min_size=1, max_size=9).map(" ".join))
def test_random_index_level_claims_get_a_verdict_or_an_error_never_a_crash(claim):
    [r] = check(model=NOTES, claims=[claim])
    assert r.verdict in ("equal", "not_equal", "error")
    assert r.verdict != "error" or r.diagnosis

r"""Claims about models of abstract functions (d2l's BPTT): the generic instances, the derivatives against
central differences, and d2l's formulas, right and wrong (verdicts derived by hand from the chain rule)."""
import numpy as np
import pytest

from symderive.judge.abstract import (
    STEPS,
    AbstractModel,
    Evaluation,
    GenericFunction,
    Instance,
    bptt_formula,
    judge_abstract,
)
from symderive.latex.reader import parse_sides

D2L = AbstractModel(tuple(tuple(parse_sides(e)) for e in (
    r"h_t = f(x_t, h_{t-1}, w_h)", r"o_t = g(h_t, w_o)", r"L = \frac{1}{T}\sum_{t=1}^{T} l(y_t, o_t)")))
DF_W = r"\frac{\partial f(x_{%s}, h_{%s-1}, w_h)}{\partial w_h}"
DF_H = r"\frac{\partial f(x_{%s}, h_{%s-1}, w_h)}{\partial h_{%s-1}}"


def bptt(upper="t-1", first="i+1"):
    """d2l (9.7.7) with the sum's upper bound and the product's first index as given."""
    return (rf"\frac{{\partial h_t}}{{\partial w_h}} = {DF_W % ('t', 't')} + \sum_{{i=1}}^{{{upper}}} "
            rf"\left(\prod_{{j={first}}}^{{t}} {DF_H % ('j', 'j', 'j')}\right) {DF_W % ('i', 'i')}")


def judged(text):
    return judge_abstract(D2L, *parse_sides(text))


def test_the_generic_function_gradient_matches_central_differences():
    f = GenericFunction.random(3, np.random.default_rng(5))
    a, eps = np.array([0.3, -0.7, 0.2]), 1e-6
    numeric = [(f.value_and_gradient(a + eps * e)[0] - f.value_and_gradient(a - eps * e)[0]) / (2 * eps)
               for e in np.eye(3)]
    np.testing.assert_allclose(f.value_and_gradient(a)[1], numeric, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("of", [("h", 1), ("h", 3), ("o", 4), ("L", None)])
def test_a_total_derivative_matches_central_differences_of_the_forward_run(of):
    instance = Instance(D2L, 0)
    instance.run()
    exact = instance.run(("w_h", None))[of].slope

    def perturbed(delta):
        other = Instance(D2L, 0)
        other.run()  # draws the inputs in the same order, so the same values
        other.inputs[("w_h", None)] += delta
        other.runs.clear()
        return other.run()[of].value
    eps = 1e-6
    assert exact == pytest.approx((perturbed(eps) - perturbed(-eps)) / (2 * eps), rel=1e-6, abs=1e-9)


def test_a_partial_derivative_holds_the_other_arguments_fixed():
    instance = Instance(D2L, 1)
    ev = Evaluation(instance, instance.run(), {}, {})
    f = instance.functions["f"]
    at = np.array([instance.inputs[("x", 2)], instance.run()[("h", 1)].value, instance.inputs[("w_h", None)]])
    claim = parse_sides(r"\frac{\partial f(x_2, h_1, w_h)}{\partial h_1}")[0]
    assert ev.value(claim).value == pytest.approx(f.value_and_gradient(at)[1][1], rel=1e-12)
    assert STEPS >= 3  # so that a sum stopping one term early differs somewhere


def test_d2l_bptt_holds_and_its_usual_mistakes_do_not():
    assert judged(bptt()) == (True, "")
    holds, why = judged(bptt(upper="t-2"))        # the term i = t-1 is missing from t = 2 on
    assert not holds and "holds for t = 1 only" in why
    assert not judged(bptt(first="i"))[0]         # one Jacobian too many in every product
    recursive = (rf"\frac{{\partial h_t}}{{\partial w_h}} = {DF_W % ('t', 't')} + {DF_H % ('t', 't', 't')} "
                 r"\frac{\partial h_{t-1}}{\partial w_h}")
    assert judged(recursive) == (True, "")        # d2l (9.7.5), with dh_0/dw_h = 0


def test_d2l_loss_gradient_and_a_missing_mean():
    chain = (r"\frac{\partial L}{\partial w_h} = \frac{1}{T}\sum_{t=1}^{T} \frac{\partial l(y_t, o_t)}{\partial o_t}"
             r" \frac{\partial g(h_t, w_o)}{\partial h_t} \frac{\partial h_t}{\partial w_h}")
    assert judged(chain) == (True, "")
    holds, why = judged(chain.replace(r"\frac{1}{T}", "", 1))
    assert not holds and f"the claim is {STEPS} times the derivative" in why


def test_the_formula_given_for_a_wrong_bptt_claim_is_d2ls_and_holds():
    formula = bptt_formula(D2L, parse_sides(r"\frac{\partial h_t}{\partial w_h}")[0])
    assert formula.replace(" ", "") == bptt().split(" = ", 1)[1].replace(" ", "").replace("w_h", "w_{h}")
    assert judged(r"\frac{\partial h_t}{\partial w_h} = " + formula) == (True, "")
    assert bptt_formula(D2L, parse_sides(r"\frac{\partial L}{\partial w_h}")[0]) == ""  # only a state's

"""The generic document of a user's model: the adjoint recurrence stays readable."""
import symderive as sd

SOFTMAX_SQUARED = [r"H_t = \sigma(X_t W_{xh} + H_{t-1} W_{hh} + b_h)", r"O_t = H_t W_{hq} + b_q",
                   r"P_t = \operatorname{softmax}(O_t)", r"L = \sum_{t=1}^{T} \frac{1}{2}\|P_t - Y_t\|^2"]
TANH_RNN = [r"h_t = \tanh(W h_{t-1} + U x_t + b)", r"o_t = V h_t + c",
            r"L = \sum_{t=1}^{T} \frac{1}{2}\|o_t - y_t\|^2"]


def recurrence(model) -> str:
    text = sd.derive(model=model).to_latex("markdown")
    return text.split("## The adjoint recurrence")[1].split("\n## ")[0]


def test_a_long_adjoint_keeps_its_name_in_the_recurrence():
    """A softmax's share written out is a line of nested terms; the recurrence names it (its definition and rule
    are in the adjoints section above)."""
    section = recurrence(SOFTMAX_SQUARED)
    assert r"\bar{O}_{t} W_{hq}^{\top}" in section and r"\bar{H}_{T} = \bar{O}_{T} W_{hq}^{\top}" in section
    assert r"\operatorname{softmax}" not in section


def test_a_short_adjoint_is_written_out_in_the_recurrence():
    section = recurrence(TANH_RNN)
    assert r"V^{\top} \left(o_{t} - y_{t}\right)" in section and r"\bar{o}" not in section


def test_layout_names_the_convention_printed_and_defaults_to_the_models_own():
    """A model written in rows prints in rows by default and with layout="row", in columns with "column"."""
    der = sd.derive(model=SOFTMAX_SQUARED)
    for layout, sentence, product in ((None, "Vectors are rows", r"H_{t} W_{hq}"),
                                      ("row", "Vectors are rows", r"H_{t} W_{hq}"),
                                      ("column", "Vectors are columns", r"W_{hq} H_{t}")):
        text = der.to_latex("markdown", **({} if layout is None else {"layout": layout}))
        assert sentence in text and product in text, layout


def test_a_row_model_gets_its_state_jacobian_in_the_denominator_layout():
    """du = dv J: dH_t/dH_{t-1} = W_hh diag(sigma'), the VJP is s J^T, the product applied from the right."""
    text = sd.derive(model=SOFTMAX_SQUARED).to_latex("markdown")
    section = text.split("## The state Jacobians and the BPTT product")[1].split("\n## ")[0]
    assert r"= W_{hh} \operatorname{diag}" in section and r"\bar s_j J^\top" in section
    assert r"W_{hq}^{\top} \Big(\prod_{j=i+1}^{t}" in section


def test_the_recurrence_of_two_states_gives_its_reason_once():
    stacked = [r"h^{(1)}_t = \tanh(U^{(1)} x_t + W^{(1)} h^{(1)}_{t-1})",
               r"h^{(2)}_t = \tanh(U^{(2)} h^{(1)}_t + W^{(2)} h^{(2)}_{t-1})",
               r"L = \sum_{t=1}^{T} \frac{1}{2}\|h^{(2)}_t - y_t\|^2"]
    assert recurrence(stacked).count("The share of the loss of step") == 1


def test_bold_sets_the_models_own_spellings_in_bold_too():
    r"""\hat Y and W^{(2)}, spelled by the model, are bold with --bold like every other vector and matrix."""
    text = sd.derive(model=[r"a = \tanh(W^{(1)} x)", r"\hat y = W^{(2)} a",
                            r"L = \frac{1}{2}\|\hat y - y\|^2"]).to_latex("markdown", bold=True)
    assert r"\hat{\mathbf{y}}" in text and r"{\mathbf{W}^{(2)}}" in text and r"\bar{\hat{\mathbf{y}}}" in text
    assert r"\hat y" not in text and "{W^{(2)}}" not in text

r"""``check NOTES``: every equation of the fixtures in tests/notes_files judged, asserted line by line.

The verdicts expected here were derived by hand (each comment says how), not copied from the checker."""
from pathlib import Path

import pytest

from symderive.judge.notes_check import check_notes
from symderive.judge.notes_report import fixed_text, summary

FILES = Path(__file__).parent.parent / "notes_files"
MODEL, DEFINITION, CLAIM, OTHER = "model", "definition", "claim", "other"
HOLDS, WRONG, NOT_CHECKED = "holds", "does_not_hold", "not_checked"


def checked(name: str, text: str | None = None):
    path = FILES / name
    text = path.read_text(encoding="utf-8") if text is None else text
    return check_notes(text, "tex" if name.endswith(".tex") else "md")


@pytest.fixture(scope="module")
def korean_post():
    return checked("study_post_ko.md")


def table(entries):
    return [(e.line, e.kind, e.verdict) for e in entries]


def test_the_korean_study_post_line_by_line(korean_post):
    assert table(korean_post) == [
        (15, MODEL, NOT_CHECKED), (21, MODEL, NOT_CHECKED),   # the convolution and its abstract loss
        (24, DEFINITION, NOT_CHECKED),                       # inline: delta_{i,j} = dL/dY_{i,j}
        (27, CLAIM, HOLDS),          # Y_{i,j} has K_{p,q} X_{i+p-1,j+q-1}: dL/dK_{p,q} = sum_{i,j} delta_{i,j} X_{...}
        (34, CLAIM, HOLDS),          # X_{a,c} is in Y_{a-p+1,c-q+1} with K_{p,q} (delta is 0 outside its range)
        (35, CLAIM, WRONG),          # X_{i+p, ...}: the first index off by one
        (45, MODEL, NOT_CHECKED), (46, MODEL, NOT_CHECKED), (47, MODEL, NOT_CHECKED),  # the RNN, rows
        (56, CLAIM, HOLDS),          # O_t = H_t W2 + b2, so dL/dW2 = sum_t H_t^T dL/dO_t
        (63, CLAIM, HOLDS),          # b2 is added to every O_t: dL/db2 = sum_t dL/dO_t
        (64, CLAIM, WRONG),          # ... which is not twice itself
        (70, DEFINITION, NOT_CHECKED),                       # inline: delta_t = dL/dH_t
        (73, CLAIM, HOLDS),          # H_{t+1} = tanh(... + H_t W_hh ...): the row form of the adjoint recurrence
        (77, CLAIM, WRONG),          # the row form needs H_{t-1}^T (a 1 x n row cannot multiply a 1 x n row)
        (85, OTHER, NOT_CHECKED),    # a probability factorization
        (94, MODEL, NOT_CHECKED), (95, MODEL, NOT_CHECKED), (96, MODEL, NOT_CHECKED),  # d2l's f, g, l
        (104, CLAIM, HOLDS),         # L is the mean of the l(y_t, o_t)
        (105, CLAIM, HOLDS),         # the chain rule through o_t = g(h_t, w_o)
        (112, CLAIM, HOLDS),         # d2l (9.7.7): the recurrence unrolled
        (118, CLAIM, WRONG),         # the sum stops at t - 2: the term i = t - 1 is missing from t = 2 on
    ]


def test_the_korean_post_says_why(korean_post):
    by_line = {e.line: e for e in korean_post}
    assert "off by one" in by_line[35].diagnosis
    assert r"\delta_{i, j} X_{i + p - 1, j + q - 1}" in by_line[35].correct and " = " not in by_line[35].correct
    assert "factor of 1/2" in by_line[64].diagnosis
    assert "transpose is missing" in by_line[77].diagnosis and r"\mathbf{H}_{t-1}^{\top}" in by_line[77].correct
    assert "t = 2" in by_line[118].diagnosis and "holds for t = 1 only" in by_line[118].diagnosis
    d2l = r"\frac{\partial f(x_{t}, h_{t-1}, w_{h})}{\partial w_{h}} + \sum_{i=1}^{t-1}"
    assert by_line[118].correct.startswith(d2l)
    assert "probability" in by_line[85].reason
    assert {by_line[n].reason for n in (45, 46, 47)} == {"model 2"} and by_line[94].reason == "model 3"
    assert summary(korean_post) == "23 equations: 8 model, 2 definitions, 8 hold, 4 do not hold, 1 not checked"


def test_a_latex_document_with_annotations():
    entries = checked("dense_en.tex")
    assert table(entries) == [
        (10, MODEL, NOT_CHECKED), (11, MODEL, NOT_CHECKED), (12, MODEL, NOT_CHECKED),
        (16, DEFINITION, NOT_CHECKED),
        (20, CLAIM, HOLDS),        # dL/dz = (a - y) * sigma'(z), sigma' = a (1 - a)
        (21, CLAIM, HOLDS),        # z = W x + b: dL/dW = delta x^T
        (22, CLAIM, HOLDS),        # delta written out
        (23, CLAIM, WRONG),        # the factor (1 - a) dropped
        (24, CLAIM, HOLDS),        # a line equal to the one above (both wrong): the step itself holds
        (25, CLAIM, HOLDS),        # dL/db = delta
        (27, CLAIM, WRONG),        # dL/dx = W^T delta
        (29, OTHER, NOT_CHECKED),  # symderive: skip
        (31, OTHER, NOT_CHECKED),  # a fact about sigma in general
        (33, OTHER, NOT_CHECKED),  # an approximation
    ]
    by_line = {e.line: e for e in entries}
    assert "mistake carried" in by_line[24].reason and "transpose is missing" in by_line[27].diagnosis
    assert by_line[29].reason == "marked 'symderive: skip' in the file" and "\\approx" not in by_line[33].reason


def test_a_markdown_post_in_columns_with_a_chain():
    entries = checked("rnn_en.md")
    assert table(entries) == [
        (10, MODEL, NOT_CHECKED), (11, MODEL, NOT_CHECKED), (12, MODEL, NOT_CHECKED),
        (16, DEFINITION, NOT_CHECKED),  # inline, used by the claims below
        (24, CLAIM, HOLDS),             # o_t = W_hy h_t + c
        (28, CLAIM, WRONG),             # the sum must start at t = 1 (h_0 is not 0 in general)
        (29, CLAIM, WRONG),             # the line above is wrong, this one right: the step cannot hold
        (34, OTHER, NOT_CHECKED),       # symderive: other
        (36, CLAIM, HOLDS),             # the adjoint recurrence in columns
    ]
    by_line = {e.line: e for e in entries}
    assert "wrong bounds" in by_line[28].diagnosis
    assert by_line[28].correct.startswith(r"\sum_{t=1}^{T} \left(\delta_{t} \odot")  # named as the notes name it
    assert "equals the derivative" in by_line[29].diagnosis


@pytest.mark.parametrize("name", ["rnn_en.md", "dense_en.tex", "study_post_ko.md"])
def test_the_corrected_copy_has_no_wrong_claim_that_was_corrected(name):
    text = (FILES / name).read_text(encoding="utf-8")
    entries = checked(name, text)
    fixed, count = fixed_text(text, entries)
    assert count == sum(e.verdict == WRONG and bool(e.correct) for e in entries) > 0
    corrected_lines = {e.line for e in entries if e.verdict == WRONG and e.correct}
    again = {e.line: e.verdict for e in checked(name, fixed)}
    assert all(again[line] == HOLDS for line in corrected_lines)


TWO_MODELS = r"""
# Two dense layers

$$z = W x + b$$
$$a = \sigma(z)$$
$$L = \frac{1}{2}\|a - y\|^2$$

$$\frac{\partial L}{\partial z} = (a - y) \odot a \odot (1 - a)$$

# The same with tanh

$$z = W x$$
$$a = \tanh(z)$$
$$L = \frac{1}{2}\|a - y\|^2$$

$$\frac{\partial L}{\partial z} = (a - y) \odot (1 - a^2)$$
"""


def test_models_are_kept_apart_by_what_they_define():
    entries = check_notes(TWO_MODELS, "md")
    assert [(e.line, e.verdict) for e in entries if e.kind == CLAIM] == [(8, HOLDS), (16, HOLDS)]
    assert [e.reason for e in entries if e.kind == MODEL] == ["model 1"] * 3 + ["model 2"] * 3


def test_windows_line_endings_and_a_byte_order_mark_change_nothing():
    crlf = "\ufeff" + TWO_MODELS.replace("\n", "\r\n")
    assert table(check_notes(crlf, "md")) == table(check_notes(TWO_MODELS, "md"))


def test_an_annotation_settles_which_model_a_claim_is_about():
    text = TWO_MODELS.replace("# Two", "<!-- symderive: model sigmoid -->\n# Two", 1)
    text = text.replace("# The same", "<!-- symderive: model tanh -->\n# The same", 1)
    text += "\n<!-- symderive: model sigmoid -->\n$$\\frac{\\partial L}{\\partial z} = (a - y) \\odot (1 - a^2)$$\n"
    entries = check_notes(text, "md")
    assert [(e.verdict) for e in entries if e.kind == CLAIM] == [HOLDS, HOLDS, WRONG]  # tanh's form, sigmoid model
    assert {e.reason for e in entries if e.kind == MODEL} == {"model sigmoid", "model tanh"}


def test_a_shape_annotation_reaches_the_model():
    model = ("$$z = W x$$\n$$L = \\frac{1}{2}\\|z\\|^2$$\n"
             "$$\\frac{\\partial L}{\\partial W} = z x^\\top$$\n")
    assert check_notes("<!-- symderive: shape W: 3 x 2 -->\n" + model, "md")[-1].verdict == HOLDS
    clash = check_notes("<!-- symderive: shape W: 3 x 2 -->\n<!-- symderive: shape x: 5 -->\n" + model, "md")[-1]
    assert clash.verdict == "error" and "cannot be read" in clash.diagnosis  # W x: 3 x 2 times 5 x 1


def test_a_claim_no_model_knows_is_not_checked_and_a_broken_claim_is_an_error():
    text = "$$\\frac{\\partial Q}{\\partial V} = V$$\n\n$$\\frac{\\partial L}{\\partial W} = \\frac{ $$\n"
    first, second = check_notes(text, "md")
    assert (first.verdict, first.reason) == (NOT_CHECKED, "no model in the file defines its symbols")
    assert second.kind == CLAIM and second.verdict == "error" and "cannot be read" in second.diagnosis


def test_an_lstm_section_is_one_model_and_its_gate_gradients_are_judged():
    entries = checked("lstm_en.md")
    assert table(entries) == [(line, MODEL, NOT_CHECKED) for line in range(5, 12)] + [
        (17, CLAIM, HOLDS),   # h_t = o_t * tanh(c_t): dL/do_t = dL/dh_t * tanh(c_t)
        (19, CLAIM, WRONG),   # c_t = f_t * c_{t-1} + ...: dL/df_t = dL/dc_t * c_{t-1}, not * c_t
    ]
    assert "c_{t - 1}" in entries[-1].diagnosis and entries[-1].correct.endswith(r"\odot c_{t-1}")


def test_a_definition_in_the_prose_above_its_model_is_used():
    text = (r"Let $\delta_t = \frac{\partial L}{\partial h_t}$ throughout." "\n\n"
            r"$$h_t = \tanh(W h_{t-1} + U x_t)$$" "\n" r"$$L = \sum_{t=1}^{T} \ell(h_t, y_t)$$" "\n\n"
            r"$$\frac{\partial L}{\partial W} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top$$" "\n")
    assert [(e.line, e.kind, e.verdict, e.reason) for e in check_notes(text, "md")] == [
        (1, DEFINITION, NOT_CHECKED, "model 1"), (3, MODEL, NOT_CHECKED, "model 1"),
        (4, MODEL, NOT_CHECKED, "model 1"), (6, CLAIM, HOLDS, None)]  # h_t = tanh(W h_{t-1} + ...): BPTT for W


def test_d2l_loss_written_with_its_arguments_and_a_name_the_model_does_not_have():
    text = "\n".join([r"$$h_t = f(x_t, h_{t-1}, w_h)$$", r"$$o_t = g(h_t, w_o)$$",
                      r"$$L(x_1, \ldots, x_T, w_h, w_o) = \frac{1}{T}\sum_{t=1}^{T} l(y_t, o_t)$$",
                      r"$$\frac{\partial L}{\partial w_h} = \frac{1}{T}\sum_{t=1}^T \frac{\partial l(y_t, o_t)}"
                      r"{\partial w_h}$$",
                      r"$$\frac{\partial Q}{\partial w_h} = 0$$"])
    entries = check_notes(text, "md")
    assert [(e.line, e.kind, e.verdict) for e in entries] == [
        (1, MODEL, NOT_CHECKED), (2, MODEL, NOT_CHECKED), (3, MODEL, NOT_CHECKED),
        (4, CLAIM, HOLDS),       # L is the mean of the l(y_t, o_t), so its derivative is the mean of theirs
        (5, CLAIM, "error")]     # Q is nothing of the model's: refused, not judged as a constant
    assert "unknown symbol Q" in entries[-1].diagnosis


def test_a_definition_the_model_cannot_take_is_an_error_and_the_rest_is_still_judged():
    text = "\n".join([r"$$z = W x$$", r"$$L = \frac{1}{2}\|z\|^2$$", r"$$\delta = \frac{\partial L}{\partial z}$$",
                      r"$$\gamma_{t-1} = \frac{\partial L}{\partial z}$$",
                      r"$$\frac{\partial L}{\partial W} = \delta x^\top$$"])
    entries = check_notes(text, "md")
    assert [(e.line, e.verdict) for e in entries[2:]] == [(3, NOT_CHECKED), (4, "error"), (5, HOLDS)]
    assert "index a definition by letters" in entries[3].diagnosis


def test_a_korean_latex_document():
    entries = checked("softmax_ko.tex")
    assert table(entries) == [
        (8, MODEL, NOT_CHECKED), (9, MODEL, NOT_CHECKED), (10, MODEL, NOT_CHECKED),  # gather*, one a line
        (14, CLAIM, WRONG),       # dL/do = (1^T y) softmax(o) - y: softmax(o) - y only for targets summing to 1
        (18, CLAIM, HOLDS),       # o = W x + b: dL/dW = dL/do x^T
        (21, OTHER, NOT_CHECKED),  # % symderive: other
    ]
    assert entries[3].correct == r"\left(\mathbf{1}^{\top} y\right) \hat{y} - y"

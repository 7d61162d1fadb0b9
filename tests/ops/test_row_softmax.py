r"""A model written in the row convention of the notes: ``H_t = \sigma(H_{t-1} W_H + X_t W_X + b_h)``,
``O_t = H_t W_Q + b_q``, ``\hat y_t = \operatorname{softmax}(O_t)`` with ``O_t`` a 1 x q row, and a cross-entropy.

The derived formulas are evaluated by the reference interpreter and checked three ways: the symbolic proof at a
small size, central differences of the reference loss, and a torch model written here by hand (row vectors, torch's
own gradients of F.log_softmax)."""
import numpy as np
import pytest

import symderive as sd
from symderive.matrix.evaluate import FULL
from symderive.ops.nodes import T
from symderive.verify.matrix_checks import evaluator_loss, random_arguments, reference_gradient
from symderive.verify.numeric import central_differences
from symderive.verify.symbolic import symbolic_check

LOSSES = {
    "log_of_softmax": lambda y_hat, logits, Y: -sd.sum_entries(sd.hadamard(Y, sd.log(y_hat))),  # -sum_k Y_k log yhat_k
    "cross_entropy": lambda y_hat, logits, Y: sd.cross_entropy(logits, Y),
}


def row_model(loss: str) -> sd.Model:
    m = sd.Model(f"row_softmax_{loss}", latex_names={"y_hat": r"\hat{y}"})
    n, d, q = m.sizes("n d q")
    W_H, W_X, b_h = m.param("W_H", n, n), m.param("W_X", d, n), m.param("b_h", 1, n)
    W_Q, b_q = m.param("W_Q", n, q), m.param("b_q", 1, q)
    X, Y = m.sequence("X", 1, d), m.sequence("Y", 1, q)
    H = m.state("H", 1, n)
    m.let(H, sd.sigmoid(H.prev @ W_H + X @ W_X + b_h))
    logits = m.let("O", H @ W_Q + b_q)
    y_hat = m.let("y_hat", sd.softmax(logits))
    m.loss(LOSSES[loss](y_hat, logits, Y))
    return m


@pytest.fixture(scope="module", params=sorted(LOSSES))
def derived(request):
    return sd.derive(row_model(request.param))


def sizes_of(program, **values):
    return {**{s: values[s.name] for s in program.dims()}, T: values["T"]}


def test_the_document_writes_rows(derived):
    text = derived.to_latex("markdown")
    assert r"\hat{y}_{t} = \operatorname{softmax}\left(O_{t}\right)" in text
    assert r"O_{t} = H_{t} W_{Q} + b_{q}" in text
    assert r"b_{q} \in \mathbb{R}^{1 \times q}" in text


def test_the_symbolic_proof_holds(derived):
    program = derived.program
    assert all(symbolic_check(program, derived.backward, sizes_of(program, n=2, d=2, q=3, T=3)).values())


def test_the_derived_formulas_agree_with_central_differences(derived):
    program = derived.program
    arrays = random_arguments(program, sizes_of(program, n=3, d=2, q=4, T=4), seed=7)
    ours = reference_gradient(program, derived.backward, arrays)
    loss = evaluator_loss(program, FULL, arrays)
    for name in arrays:
        np.testing.assert_allclose(ours[name], central_differences(loss, arrays, name), rtol=1e-6, atol=1e-8,
                                   err_msg=name)


def test_the_derived_formulas_agree_with_torch(derived):
    torch = pytest.importorskip("torch", reason="torch not installed (the external reference)")
    program = derived.program
    arrays = random_arguments(program, sizes_of(program, n=4, d=3, q=5, T=5), seed=8)
    arrays["Y"] = np.abs(arrays["Y"])  # targets: nonnegative weights (not summing to 1)
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
    H, total = p["H0"], 0.0
    for t in range(arrays["X"].shape[0]):  # rows: H_t = sigma(H_{t-1} W_H + X_t W_X + b_h)
        H = torch.sigmoid(H @ p["W_H"] + p["X"][t] @ p["W_X"] + p["b_h"])
        total = total - (p["Y"][t] * torch.nn.functional.log_softmax(H @ p["W_Q"] + p["b_q"], dim=-1)).sum()
    total.backward()
    ours = reference_gradient(program, derived.backward, arrays)
    for name in arrays:
        np.testing.assert_allclose(ours[name], p[name].grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)

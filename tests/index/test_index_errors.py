"""Bad input to index-level (convolution) models: the exported modules and the reading of index equations
refuse it with a message naming what is wrong, never a NumPy or SymPy traceback (a user trial's findings)."""
import functools
import re

import numpy as np
import pytest

import symderive as sd
from symderive import derivation

from .models import DEPTHWISE_LATEX, DEPTHWISE_RANGES, DEPTHWISE_SHAPES


@functools.cache
def depthwise_module():
    """The README's depthwise convolution, the output sizes M, N read off G."""
    return sd.derive(DEPTHWISE_LATEX, shapes=DEPTHWISE_SHAPES, ranges=DEPTHWISE_RANGES, name="depthwise").load_module()


@functools.cache
def builtin_module(name):
    return derivation(name).load_module()


def test_an_empty_upstream_gradient_is_refused_naming_it_and_its_shape():
    # the trial: dilate(G) raised "negative dimensions are not allowed"
    module = depthwise_module()
    with pytest.raises(ValueError, match=r"^G: expected shape \(C, M, N\) .*got shape \(3, 0, 4\) \(M = 0"):
        module.grad(W=np.zeros((3, 3, 3)), X=np.zeros((3, 7, 7)), b=np.zeros(3), G=np.zeros((3, 0, 4)))


# every size of each built-in, set to 0 in every array holding it; the valid sizes are hand-picked consistent ones
BUILTIN_SIZES = {
    "conv1d": dict(C=2, N_in=7, O=3, K=3, N_out=5),
    "conv2d": dict(C=2, H_in=6, W_in=6, O=3, K_h=3, K_w=3, H_out=4, W_out=4),
    "pool2d": dict(C=2, H_in=6, W_in=6, H_out=3, W_out=3),
    "cnn": dict(C=2, H_in=6, W_in=6, O=3, K_h=3, K_w=3, N=4, H_p=2, W_p=2),
}


@pytest.mark.parametrize("name,dim", [(n, d) for n, sizes in BUILTIN_SIZES.items() for d in sizes])
def test_an_empty_axis_of_a_builtin_export_names_the_argument(name, dim):
    module = builtin_module(name)
    sizes = {**BUILTIN_SIZES[name], dim: 0}
    arrays = {a: np.ones([sizes[d] for d in dims]) for a, dims in module.SHAPES.items()}
    if "y" in arrays and arrays["y"].size:
        arrays["y"] = np.eye(arrays["y"].shape[0])[0]
    holders = [a for a, dims in module.SHAPES.items() if dim in dims]
    options = {"kernel_size": 2} if name == "pool2d" else {}
    with pytest.raises(ValueError) as error:
        module.grad(**arrays, **options)
    # an argument holding the size is named first, with its shape: an empty axis, or the output size it gives
    message = str(error.value)
    assert re.match(rf"({'|'.join(holders)})\b", message) and "shape" in message, message
    assert "at least 1" in message or "the output would be empty" in message or "expected shape" in message


# -- the reading of index equations and their declarations, through the CLI ----------------------------------

NOTES = ["--model", r"h_i = \sigma\left(\sum_{j=1}^{k} V_j x_{i+j-1}\right)", "--model", r"L = \sum_{i=1}^{m} h_i"]
CLAIM = ["--claim", r"\frac{\partial L}{\partial V_j} = \sum_i h_i (1-h_i) x_{i+j-1}"]


@pytest.mark.parametrize("options, message", [
    (["--shape", "x: 0"], "--shape 'x: 0': a size of 0 is refused: sizes are whole numbers from 1 to 64"),
    (["--shape", "x: 100000"], "--shape 'x: 100000': a size of 100000 is refused"),
    (["--range", "i: 5..1"], "--range 'i: 5..1' is empty"),
    (["--range", "i: 1..1000"], "i would take 1000 values; a range has at most 64"),
    (["--range", "z: 0..3"], "the model has no index z: its indices are i, j"),
])
def test_check_refuses_bad_declarations_naming_them(capsys, options, message):
    from symderive.cli import main

    assert main(["check", *NOTES, *options, *CLAIM]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# -- documents: the given gradient of an abstract loss, and index letters beside size names ---------------------

ABSTRACT_2D = [r"Y_{o,i,j} = \sum_{c,p,q} W_{o,c,p,q} X_{c,i+p-1,j+q-1} + b_o", r"L = \ell(Y)"]


def test_an_abstract_loss_document_names_the_given_gradient_apart_from_kronecker_deltas():
    text = sd.derive(ABSTRACT_2D, shapes=["X: C x M x N", "W: F x C x K x K"],
                     ranges=["i: 1..A", "j: 1..B"]).to_latex("markdown")
    # the loss in the model's letters, the given gradient written \bar{Y} (the deltas of the chain rule stay \delta)
    assert r"L = \sum_{o,i,j} \bar{Y}_{o, i, j} Y_{o, i, j}" in text
    assert r"\frac{\partial L}{\partial b_{o}} = \sum_{i,j} \bar{Y}_{o, i, j}" in text
    assert r"\delta_{o',\, o}" in text and r"\delta_{o, i, j}" not in text and "a0" not in text
    titles = [section.split("\n", 1)[0] for section in text.split("## ")[1:]]
    assert titles == ["Model", "Gradient with respect to $Y$", "Gradient with respect to $W$",
                      "Gradient with respect to $X$", "Gradient with respect to $b$"]  # none of the given gradient


def test_a_claim_about_an_abstract_loss_still_writes_its_gradient_delta():
    from symderive.judge.check import check

    claims = [r"\frac{\partial L}{\partial b_{o}} = \sum_{i,j} \delta_{o,i,j}",
              r"\frac{\partial L}{\partial X_{c,m,n}} = \sum_{o,p,q} \delta_{o,m-p,n-q+1} W_{o,c,p,q}"]
    right, wrong = check(ABSTRACT_2D, claims, shapes=["X: C x M x N", "W: F x C x K x K"],
                         ranges=["i: 1..A", "j: 1..B"])
    assert (right.verdict, wrong.verdict) == ("equal", "not_equal")
    # the correction in the claim's notation (index by hand: the read X_{c,i+p-1,j+q-1} is entry m when i = m-p+1)
    assert wrong.correct.endswith(r"\sum_{o,p,q} \delta_{o, m - p + 1, n - q + 1} W_{o, c, p, q}")


def test_an_index_of_a_gradient_is_never_named_as_a_size():
    # the notes' sizes are k and m (x has m + k - 1 entries): the gradient of x is indexed by n, not m
    text = sd.derive(NOTES[1::2]).to_latex("markdown")
    assert r"\frac{\partial L}{\partial x_{n}} = \sum_{j} \bar{z}_{n - j} V_{j}" in text
    assert "x_{m}" not in text and "x_{m'}" not in text

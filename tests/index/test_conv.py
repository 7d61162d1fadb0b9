"""Convolution, pooling and the CNN: derivations at index level, exports, errors, and the checker."""
import functools
from dataclasses import replace

import numpy as np
import pytest

from symderive import derivation
from symderive.index.derive import Share
from symderive.index.evaluate import Env, backward, forward
from symderive.verify.index_checks import case_sizes, index_arguments, index_symbolic_check

CONV = ["conv1d", "conv2d", "pool2d", "cnn"]


@functools.cache
def verified(name):
    """The verification report of one derivation, computed once for the tests below."""
    return derivation(name).verify()


@pytest.mark.parametrize("name", CONV)
def test_verify_passes(name):
    report = verified(name)
    assert report.passed, report.table()


@pytest.mark.parametrize("name", CONV)
def test_verify_compares_every_gradient_with_torch(name):
    pytest.importorskip("torch")
    gradients = [r for r in verified(name).rows if r.quantity.startswith(("dL/d", "max:", "avg:"))]
    assert gradients and all(r.reference.startswith("torch ok") for r in gradients), verified(name).table()


@pytest.mark.parametrize("name", CONV)
def test_no_kronecker_delta_left_in_results(name):
    d = derivation(name)
    for tag, _ in d.variants:
        for a in d.backwards[tag].adjoints:
            for share in a.shares:
                if isinstance(share, Share):
                    assert all(not t.deltas for t in share.result)
    lines = d.to_latex().splitlines()
    results = [lines[k + 1] for k, line in enumerate(lines) if "Summing the deltas" in line]
    assert results and all(r"\delta" not in r and "KroneckerDelta" not in r for r in results)


def test_conv2d_formulas_read_as_written():
    text = derivation("conv2d").to_latex()
    window = r"X_{c, S_{h} i + D_{h} p - P_{h}, S_{w} j + D_{w} q - P_{w}}"
    assert r"Y_{o, i, j} &= \sum_{c,p,q} W_{o, c, p, q} " + window + r" + b_{o}" in text
    assert r"\frac{\partial L}{\partial W_{o, c, p, q}} &= \sum_{i,j} G_{o, i, j} " + window in text
    assert (r"\frac{\partial L}{\partial X_{c, m, n}} &= "
            r"\sum_{o,p,q} \tilde{G}_{o, m - D_{h} p + P_{h}, n - D_{w} q + P_{w}} W_{o, c, p, q}") in text
    assert "cross-correlation" in text and r"\emph{full} convolution" in text


def test_conv1d_shows_the_notes_form():
    assert r"h_{i} &= \sigma\left(\sum_{j=1}^{K} w_{j} x_{i + j - 1} + b\right)" in derivation("conv1d").to_latex()


def wrong(d, tag, name, mutate):
    """The backward of ``d`` with the result of dL/d(name) changed by ``mutate(term)``."""
    bw = d.backwards[tag]
    adjoints = []
    for a in bw.adjoints:
        if a.tensor.name == name:
            share = a.shares[0]
            a = replace(a, shares=(replace(share, result=tuple(mutate(t) for t in share.result)),) + a.shares[1:])
        adjoints.append(a)
    return replace(bw, adjoints=tuple(adjoints))


def test_symbolic_check_fails_on_a_wrong_padding_sign():
    d = derivation("conv2d")
    case = d.sizes.symbolic[0]
    P_h = next(s for s in case if s.name == "P_h")
    bad = wrong(d, "conv", "X", lambda t: t.subs({P_h: -P_h}))
    result = index_symbolic_check(d.program, bad, case_sizes(case, d.engine.derived))
    assert result["X"] is False and result["W"] is True


def test_symbolic_check_fails_on_a_wrong_factor_in_pooling():
    d = derivation("pool2d")
    bad = wrong(d, "avg", "X", lambda t: replace(t, coeff=2 * t.coeff))
    assert index_symbolic_check(d.variants[1][1], bad, case_sizes(d.sizes.symbolic[0], d.engine.derived))["X"] is False


def test_interpreter_disagrees_with_a_wrong_formula():
    d = derivation("conv1d")
    case = d.sizes.numeric[1]
    sizes = case_sizes(case, d.engine.derived)
    arrays = index_arguments(d.program, sizes, seed=0)
    S = next(s for s in case if s.name == "S")
    good = backward(d.backward, forward(d.program, Env(dict(arrays), sizes)))["d_w"]
    bad_bw = wrong(d, "conv", "w", lambda t: t.subs({S: 1}))
    bad = backward(bad_bw, forward(d.program, Env(dict(arrays), sizes)))["d_w"]
    assert not np.allclose(good, bad)


@pytest.fixture(scope="module")
def conv2d():
    return derivation("conv2d").load_module()


def test_export_contract(conv2d, tmp_path):
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((3, 9, 8)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    G = rng.standard_normal((4, 5, 4))
    assert conv2d.SHAPES["W"] == ("O", "C", "K_h", "K_w")
    y = conv2d.forward(X, W, b, G, stride=2, padding=1)["Y"]
    assert y.shape == (4, 5, 4)
    assert np.isclose(conv2d.loss(X, W, b, G, stride=2, padding=1), np.sum(G * y))
    g = conv2d.grad(X, W, b, G, stride=2, padding=1)
    assert {k: v.shape for k, v in g.items()} == {"X": X.shape, "W": W.shape, "b": b.shape, "G": G.shape}
    path = derivation("conv2d").export(tmp_path / "conv.py")
    source = path.read_text()
    assert "import torch" not in source and "symderive" not in source.split('"""', 2)[2]
    body = source[source.index("\ndef _forward"):source.index("\ndef forward(")]
    assert "for " not in body and "while " not in body  # the computation has no Python loop over positions


@pytest.mark.parametrize("kwargs,message", [
    (dict(X=np.zeros((3, 2, 2))),
     "H_out = floor((H_in + 2*P_h - D_h*(K_h - 1) - 1) / S_h) + 1 = floor((2 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 0"),
    (dict(X=np.zeros((3, 2, 2))),
     "the dilated kernel D_h*(K_h - 1) + 1 = 1*(3 - 1) + 1 = 3 is larger than the padded input "
     "H_in + 2*P_h = 2 + 2*0 = 2"),
    (dict(stride=1.5), "stride must be an integer or a tuple of 2 integers, got 1.5"),
    (dict(stride=0), "stride must be at least 1, got 0"),
    (dict(padding=(1, 2, 3)), "padding must be an integer or a tuple of 2 integers"),
    (dict(X=np.zeros((3, 2, 2))), "X of shape (3, 2, 2), W of shape (4, 3, 3, 3): H_out = floor("),
    (dict(G=np.zeros((4, 3, 3))), "G: expected shape (O, H_out, W_out) with H_out = floor((H_in + 2*P_h - D_h*(K_h - 1)"
                                  " - 1) / S_h) + 1 = floor((8 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 6 for X of shape "
                                  "(3, 8, 8), W of shape (4, 3, 3, 3) and these options, got shape (4, 3, 3)"),
    (dict(W=np.zeros((5, 3, 3, 3))), "W: expected shape (O, C, K_h, K_w) with O = 4 (as in b, of shape (4,), and 1 "
                                     "more), got shape (5, 3, 3, 3)"),
    (dict(W=np.zeros((4, 2, 3, 3))), "X or W has the wrong shape: they disagree on C (X of shape (3, 8, 8) for "
                                     "(C, H_in, W_in) gives C = 3, W of shape (4, 2, 3, 3) for (O, C, K_h, K_w) "
                                     "gives C = 2)"),
])
def test_bad_input_errors(conv2d, kwargs, message):
    args = dict(X=np.zeros((3, 8, 8)), W=np.zeros((4, 3, 3, 3)), b=np.zeros(4), G=np.zeros((4, 6, 6)))
    options = {k: kwargs.pop(k) for k in ("stride", "padding", "dilation") if k in kwargs}
    args.update(kwargs)
    with pytest.raises(ValueError) as e:
        conv2d.grad(**args, **options)
    assert message in str(e.value)


def test_pool_errors_and_mode():
    m = derivation("pool2d").load_module()
    X = np.arange(2 * 6 * 6, dtype=float).reshape(2, 6, 6)
    G = np.ones((2, 3, 3))
    assert np.array_equal(m.forward(X, G, kernel_size=2)["Y"], X[:, 1::2, 1::2])  # increasing: the max is bottom right
    assert np.allclose(m.forward(X, G, kernel_size=2, mode="avg")["Y"], X.reshape(2, 3, 2, 3, 2).mean(axis=(2, 4)))
    with pytest.raises(ValueError, match="mode must be one of 'max', 'avg', not 'min'"):
        m.grad(X, G, kernel_size=2, mode="min")
    with pytest.raises(ValueError, match="kernel_size must be given"):
        m.grad(X, G)
    with pytest.raises(ValueError, match="the window K_h = 7 = 7 is larger than the input H_in = 6 = 6"):
        m.grad(X, np.ones((2, 0, 0)), kernel_size=7)


def test_cnn_accepts_a_class_index():
    m = derivation("cnn").load_module()
    rng = np.random.default_rng(0)
    a = dict(X=rng.standard_normal((2, 8, 8)), W=rng.standard_normal((3, 2, 3, 3)), b=rng.standard_normal(3),
             V=rng.standard_normal((4, 3, 4, 4)), beta=rng.standard_normal(4))
    assert m.loss(**a, y=2, padding=1) == m.loss(**a, y=np.eye(4)[2], padding=1)
    g1, g2 = m.grad(**a, y=2, padding=1), m.grad(**a, y=np.eye(4)[2], padding=1)
    assert set(g1) == set(g2) == {"X", "W", "b", "V", "beta"}
    assert all(np.array_equal(g1[k], g2[k]) for k in g1)
    with pytest.raises(ValueError, match="class index must be an integer in 0..3, got 7"):
        m.loss(**a, y=7, padding=1)


def test_cli_exports_conv(tmp_path):
    from symderive.cli import main

    assert main(["export", "conv2d", "-o", str(tmp_path / "c.py")]) == 0
    assert main(["export", "conv2d", "-o", str(tmp_path / "c.py")]) == 2  # exists: needs --force
    assert main(["show", "pool2d", "--truncate", "3"]) == 2


def test_derived_output_size_matches_counting():
    d = derivation("conv2d")
    formula = d.engine.derived[0].expr
    names = {s.name: s for s in formula.free_symbols}
    for H, K, S, P, D in [(5, 3, 2, 1, 1), (16, 3, 2, 1, 2), (7, 2, 3, 0, 1)]:
        value = formula.subs({names["H_in"]: H, names["K_h"]: K, names["S_h"]: S, names["P_h"]: P, names["D_h"]: D})
        assert value == len([i for i in range(H + 2 * P) if S * i + D * (K - 1) - P <= H - 1 + P])

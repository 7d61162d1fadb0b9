r"""Truncated BPTT names what it computes (issue 17): the truncated adjoint is not ``\partial L / \partial h_t``.

Blocks: ``\delta_t^{(K)} = \sum_{s=t}^{b_t} \partial \ell_s / \partial h_t`` (the losses of h_t's own block from
step t on); window: ``\delta_i^{(K)} = \sum_{t=i}^{\min(i+K-1, T)} \partial \ell_t / \partial h_i``. The words are
checked in every document that writes a truncated adjoint (the truncated-BPTT page, ``show --truncate`` in both
modes, layouts and languages, a user's model), and the named formulas themselves against central differences of
the losses they name, on the RNN written out by hand (tests/oracles/rnn.py).
"""
import re
from dataclasses import asdict

import numpy as np
import pytest

import symderive as sd
from symderive.options import RenderOptions
from tests.oracles import rnn as oracle

BLOCKS = r"^{(K)} = \sum_{s=t}^{b_t} \frac{\partial \ell_{s}}{\partial h_{t}}"
WINDOW = r"^{(K)} = \sum_{t=i}^{\min(i+K-1,\, T)} \frac{\partial \ell_{t}}{\partial h_{i}}"
#: the old wording: a truncated adjoint called the gradient of L
CALLED_DL = re.compile(r"\^\{\(K\)\} = \\frac\{\\partial L\}")
USER_RNN = [r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b)", r"o_t = W_{hy} h_t + c",
            r"L = \sum_{t=1}^{T} \frac{1}{2}\|o_t - y_t\|^2"]


def truncated_page(lang: str) -> str:
    pages = dict(sd.derivation("rnn").pages(**asdict(RenderOptions(lang=lang))))
    return pages["truncated-bptt"].markdown(lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_truncated_page_names_both_truncated_adjoints(lang):
    text = truncated_page(lang)
    assert r"\delta_{t}" + BLOCKS in text and r"\delta_{i}" + WINDOW in text
    assert not CALLED_DL.search(text)
    assert say(lang, r"is therefore not $\partial L / \partial h_{t}$",
               r"$\partial L / \partial h_{t}$가 아니라") in text


def say(lang, en, ko):
    return ko if lang == "ko" else en


@pytest.mark.parametrize("mode, named", [("blocks", r"\delta_{t}" + BLOCKS), ("window", r"\delta_{i}" + WINDOW)])
@pytest.mark.parametrize("layout, lang", [("column", "en"), ("row", "ko")])
def test_show_truncate_names_the_truncated_adjoint(mode, named, layout, lang):
    text = sd.derivation("rnn").to_latex("markdown", truncate=3, truncate_mode=mode, layout=layout, lang=lang)
    assert named in text and not CALLED_DL.search(text)


@pytest.mark.parametrize("mode, named", [("blocks", r"\bar{h}_{t}" + BLOCKS), ("window", r"\bar{h}_{i}" + WINDOW)])
def test_a_users_model_names_the_truncated_adjoint_too(mode, named):
    text = sd.derive(model=USER_RNN).to_latex("markdown", truncate=2, truncate_mode=mode)
    assert named in text and not CALLED_DL.search(text)
    assert r"$\bar{h}_{" in text and r"is therefore not $\partial L / \partial h_{" in text


# ---------------------------------------------------------------------------------------------
# The named formulas hold: each truncated adjoint, computed as the document writes it, is the gradient of
# the losses it names (central differences), and not dL/dh_t.

T_STEPS, K, N = 7, 3, 3


@pytest.fixture(scope="module")
def run():
    rng = np.random.default_rng(5)
    a = {"W_hh": rng.standard_normal((N, N)) * 0.6, "W_xh": rng.standard_normal((N, 2)), "b_h": rng.standard_normal(N),
         "W_hy": rng.standard_normal((2, N)), "b_y": rng.standard_normal(2), "h0": rng.standard_normal(N),
         "x": rng.standard_normal((T_STEPS, 2)), "y": rng.standard_normal((T_STEPS, 2))}
    h, o = oracle.forward(*(a[k] for k in oracle.NAMES[:-1]))
    return a, h, o


def losses_from(a, t: int, h_t, steps) -> float:
    """sum of l_s for s in ``steps``, with h_t set to ``h_t`` and the later states recomputed from it."""
    h, total = h_t, 0.0
    for s in range(t, max(steps) + 1):
        if s > t:
            h = np.tanh(a["W_hh"] @ h + a["W_xh"] @ a["x"][s - 1] + a["b_h"])
        if s in steps:
            total += 0.5 * np.sum((a["W_hy"] @ h + a["b_y"] - a["y"][s - 1]) ** 2)
    return total


def gradient(a, t, h_t, steps, eps=1e-6) -> np.ndarray:
    """d/dh_t of the losses of ``steps`` by central differences."""
    e = np.eye(len(h_t))
    return np.array([(losses_from(a, t, h_t + eps * e[k], steps) - losses_from(a, t, h_t - eps * e[k], steps))
                     / (2 * eps) for k in range(len(h_t))])


def own(a, o, t):
    return a["W_hy"].T @ (o[t - 1] - a["y"][t - 1])


def test_blocks_adjoint_is_the_gradient_of_its_blocks_losses(run):
    a, h, o = run
    delta = {}
    for t in range(T_STEPS, 0, -1):  # the document's recurrence: no share crosses a block end (t mod K = 0)
        carried = 0 if t == T_STEPS or t % K == 0 else a["W_hh"].T @ (delta[t + 1] * (1 - h[t + 1] ** 2))
        delta[t] = own(a, o, t) + carried
    for t in range(1, T_STEPS + 1):
        block_end = min(K * -(-t // K), T_STEPS)  # b_t = min(K ceil(t/K), T)
        np.testing.assert_allclose(delta[t], gradient(a, t, h[t], range(t, block_end + 1)), rtol=1e-6, atol=1e-8)
    full = gradient(a, K, h[K], range(K, T_STEPS + 1))  # dL/dh_K: the later blocks' losses reach h_K too
    assert np.linalg.norm(full - delta[K]) > 1e-3 * np.linalg.norm(full)


def test_window_adjoint_is_the_gradient_of_the_losses_that_reach_it(run):
    a, h, o = run
    jacobian = {j: np.diag(1 - h[j] ** 2) @ a["W_hh"] for j in range(1, T_STEPS + 1)}  # dh_j/dh_{j-1}
    for i in range(1, T_STEPS + 1):
        last = min(i + K - 1, T_STEPS)
        written, chain = 0, np.eye(N)
        for t in range(i, last + 1):  # the document's closed form: (prod_{j=i+1}^{t} J_j)^T W_hy^T (o_t - y_t)
            if t > i:
                chain = jacobian[t] @ chain
            written = written + chain.T @ own(a, o, t)
        np.testing.assert_allclose(written, gradient(a, i, h[i], range(i, last + 1)), rtol=1e-6, atol=1e-8)

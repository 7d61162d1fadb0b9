"""LaTeX output: printer goldens written by hand, the issue's formulas, determinism, golden files."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import sympy as sp

from symderive import derivation
from symderive.matrix.latex_printer import latex_identifier, to_latex
from symderive.ops.nodes import SquaredNorm, TimeSum, TimeVar, hadamard, ones, sigma, t, tanh

n, d = sp.symbols("n d", integer=True, positive=True)
W, U, b = sp.MatrixSymbol("W_hh", n, n), sp.MatrixSymbol("W_xh", n, d), sp.MatrixSymbol("b_h", n, 1)
h, x, delta = TimeVar("h", t, n), TimeVar("x", t, d), TimeVar("d_h", t, n)
GOLDEN = Path(__file__).parents[1] / "golden"


@pytest.mark.parametrize("expr,expected", [
    (W * h.at(t - 1) + U * x + b, r"W_{hh} h_{t-1} + W_{xh} x_{t} + b_{h}"),
    (tanh(W * h), r"\tanh\left(W_{hh} h_{t}\right)"),
    (sigma(b), r"\sigma\left(b_{h}\right)"),
    (W.T * h, r"W_{hh}^{\top} h_{t}"),
    ((W * h).T, r"h_{t}^{\top} W_{hh}^{\top}"),
    (ones(h) - hadamard(h, h), r"1 - h_{t} \odot h_{t}"),
    (hadamard(delta, ones(h) - hadamard(h, h)), r"\delta_{t} \odot \left(1 - h_{t} \odot h_{t}\right)"),
    (sp.Rational(1, 2) * SquaredNorm(h - b), r"\frac{1}{2} \left\| h_{t} - b_{h} \right\|^{2}"),
    (TimeSum(delta * h.at(t - 1).T), r"\sum_{t=1}^{T} \delta_{t} h_{t-1}^{\top}"),
    (sp.DiagMatrix(ones(h) - hadamard(h, h)) * W, r"\operatorname{diag}\left(1 - h_{t} \odot h_{t}\right) W_{hh}"),
    (TimeVar("d_z", t + 1, n), r"\bar{z}_{t+1}"),
])
def test_printer(expr, expected):
    assert to_latex(expr, latex_names={"d_h": r"\delta"}) == expected


@pytest.mark.parametrize("name,expected", [("W_hh", "W_{hh}"), ("h0", "h_{0}"), ("delta", r"\delta"),
                                           ("x", "x"), ("b_y", "b_{y}")])
def test_identifiers(name, expected):
    assert latex_identifier(name) == expected


def test_bold_setting():
    assert to_latex(W * h, bold=True) == r"\mathbf{W}_{hh} \mathbf{h}_{t}"


# The formulas the foundation issue names, written out by hand from its text.
RNN_FORMULAS = [
    r"z_{t} = W_{hh} h_{t-1} + W_{xh} x_{t} + b_{h}",
    r"L = \sum_{t=1}^{T} \frac{1}{2} \left\| o_{t} - y_{t} \right\|^{2}",
    r"\frac{\partial L}{\partial W_{hy}} = \sum_{t=1}^{T} \left(o_{t} - y_{t}\right) h_{t}^{\top}",
    r"W_{hy}^{\top} \left(o_{t} - y_{t}\right) "
    r"+ W_{hh}^{\top} \left(\delta_{t+1} \odot \left(1 - h_{t+1} \odot h_{t+1}\right)\right) & 1 \le t < T",
    r"W_{hy}^{\top} \left(o_{T} - y_{T}\right) & t = T",
    r"\frac{\partial h_{j}}{\partial h_{j-1}} = \operatorname{diag}\left(1 - h_{j} \odot h_{j}\right) W_{hh}",
    r"\prod_{j=i+1}^{t} \frac{\partial h_{j}}{\partial h_{j-1}}",
    r"\frac{\partial L}{\partial W_{hh}} = "
    r"\sum_{t=1}^{T} \left(\delta_{t} \odot \left(1 - h_{t} \odot h_{t}\right)\right) h_{t-1}^{\top}",
    r"\frac{\partial L}{\partial W_{xh}} = "
    r"\sum_{t=1}^{T} \left(\delta_{t} \odot \left(1 - h_{t} \odot h_{t}\right)\right) x_{t}^{\top}",
    r"\frac{\partial L}{\partial b_{h}} = \sum_{t=1}^{T} \delta_{t} \odot \left(1 - h_{t} \odot h_{t}\right)",
    r"\frac{\partial L}{\partial h_{0}} = "
    r"W_{hh}^{\top} \left(\delta_{1} \odot \left(1 - h_{1} \odot h_{1}\right)\right)",
    r"\sum_{i=1}^{t-1} \Big(\prod_{j=i+1}^{t} \frac{\partial f(x_{j}, h_{j-1}, w_h)}{\partial h_{j-1}}\Big)",
]


@pytest.mark.parametrize("formula", RNN_FORMULAS)
def test_rnn_markdown_contains(formula):
    assert formula in derivation("rnn").to_latex("markdown")


def test_markdown_front_matter_and_blocks():
    md = derivation("rnn").to_latex("markdown")
    assert md.startswith('---\nlayout: post\ntitle: "Backpropagation through time for a vanilla RNN"\n')
    assert "use_math: true\n---\n" in md
    assert md.count("$$") % 2 == 0 and "\\intertext" not in md


def test_balanced_braces_everywhere():
    for name in ("dense", "rnn", "lstm", "gru"):
        for fmt in ("latex", "markdown", "tex"):
            text = derivation(name).to_latex(fmt).replace(r"\{", "").replace(r"\}", "")
            assert text.count("{") == text.count("}"), (name, fmt)


def render_in_subprocess(seed: str, name: str, fmt: str) -> str:
    code = f"from symderive import derivation; print(derivation({name!r}).to_latex({fmt!r}), end='')"
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout


def test_output_is_byte_identical_across_hash_seeds():
    assert render_in_subprocess("1", "rnn", "markdown") == render_in_subprocess("4242", "rnn", "markdown")


@pytest.mark.parametrize("name", ["dense", "rnn", "lstm", "gru"])
@pytest.mark.parametrize("fmt,ext", [("markdown", "md"), ("tex", "tex")])
def test_golden_files(name, fmt, ext):
    # Reviewed snapshots; refresh after an intended change with `make golden`.
    expected = (GOLDEN / f"{name}.{ext}").read_text(encoding="utf-8")
    assert derivation(name).to_latex(fmt) == expected


@pytest.fixture(scope="module", params=["dense", "rnn", "lstm", "gru"])
def compiled(request, tmp_path_factory):
    """(folder, name, pdflatex's output) after compiling one derivation's standalone .tex document once."""
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed (apt-get install texlive-latex-base)")
    name, folder = request.param, tmp_path_factory.mktemp(request.param)
    (folder / f"{name}.tex").write_text(derivation(name).to_latex("tex"))
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"],
                            cwd=folder, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    return folder, name, result.stdout


def test_tex_compiles(compiled):
    folder, name, stdout = compiled
    assert (folder / f"{name}.pdf").stat().st_size > 1000
    assert "Undefined control sequence" not in stdout
    log = (folder / f"{name}.log").read_text(errors="replace")
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(widths, default=0) < 40, f"lines run off the page by up to {max(widths)}pt"


def test_tex_first_page_renders(compiled):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (apt-get install poppler-utils)")
    folder, name, _ = compiled
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", f"{name}.pdf", "page"], cwd=folder,
                   check=True)
    assert (folder / "page-1.png").stat().st_size > 1000

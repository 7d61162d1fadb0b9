"""The notes site and the notation options: MathJax 3 renders every formula, notes.tex compiles in
both languages, the flow figure and its data, golden pages, all-or-nothing writing, the row layout
and 1-based indices checked against the math they claim to write."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sympy.parsing.sympy_parser import implicit_multiplication_application, parse_expr, standard_transformations

from symderive import available, derivation
from symderive.cli import main
from symderive.document.notes import expected_files, page_names, render, write_notes
from symderive.errors import ExportError, OptionError
from symderive.index.render import index_latex
from symderive.matrix import evaluate as ev
from symderive.matrix.derive import inline, state_jacobian
from symderive.matrix.latex_printer import row_form
from symderive.ops.nodes import T
from symderive.options import RenderOptions
from symderive.verify.matrix_checks import random_arguments

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parents[1] / "golden" / "notes"
NODE_MODULES = Path(os.environ.get("SYMDERIVE_NODE_MODULES", ROOT / ".node" / "node_modules"))
CHECKER = Path(__file__).parents[1] / "js" / "mathjax_check.js"

# Notation variants every formula must render in: the defaults, and everything switched.
VARIANTS = {"en": RenderOptions(), "ko-row-bold-1": RenderOptions(lang="ko", layout="row", bold=True, index_base=1)}


@pytest.fixture(scope="module")
def sites():
    """The rendered site (file name -> text) per variant, without the flow page (numbers only)."""
    only = [n for n in page_names() if n != "flow"]
    return {name: render(options, only)[0] for name, options in VARIANTS.items()}


# ---------------------------------------------------------------------------------------------
# MathJax 3 in Node.

def mathjax_available() -> str:
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not (NODE_MODULES / "mathjax-full" / "package.json").exists():
        return f"mathjax-full is not installed in {NODE_MODULES} (`make test` installs it with npm)"
    return ""


needs_mathjax = pytest.mark.skipif(bool(mathjax_available()), reason=mathjax_available() or "ok")


def mathjax_failures(formulas: list[dict]) -> list[dict]:
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    out = subprocess.run(["node", str(CHECKER)], input=json.dumps(formulas), capture_output=True, text=True,
                         env=env, timeout=600, check=True)
    return json.loads(out.stdout)


def formulas_of_markdown(text: str, where: str) -> list[dict]:
    """Display blocks (``$$`` on lines of their own) and inline ``$...$`` of the prose."""
    out, lines, k = [], text.split("\n"), 0
    while k < len(lines):
        if lines[k] == "$$":
            end = lines.index("$$", k + 1)
            out.append({"id": f"{where}:{k + 1}", "tex": "\n".join(lines[k + 1:end]), "display": True})
            k = end + 1
            continue
        for m in re.finditer(r"\$([^$]+)\$", lines[k]):
            out.append({"id": f"{where}:{k + 1}", "tex": m.group(1), "display": False})
        k += 1
    return out


@needs_mathjax
def test_mathjax_renders_every_formula_of_every_page(sites):
    formulas = []
    for variant, files in sites.items():
        for name, text in files.items():
            if name.endswith(".md"):
                formulas += formulas_of_markdown(text, f"{variant}/{name}")
    for name in available():
        formulas += formulas_of_markdown(derivation(name).to_latex("markdown"), f"show/{name}")
    assert len(formulas) > 1000
    failures = mathjax_failures(formulas)
    by_id = {f["id"]: f["tex"] for f in formulas}
    assert failures == [], "\n".join(f"{f['id']}: {f['error']}\n    {by_id[f['id']][:200]}" for f in failures[:20])


@needs_mathjax
def test_mathjax_check_fails_on_unknown_macros_and_unbalanced_braces():
    bad = [{"id": 1, "tex": r"\odotx a"}, {"id": 2, "tex": r"\frac{a}{b"}, {"id": 3, "tex": r"a_{b}}"},
           {"id": 4, "tex": r"\bm{x}"}, {"id": 5, "tex": r"a & b"}]
    good = [{"id": 6, "tex": r"\bar{z}\, x^{\top} \odot \operatorname{diag}\left(1 - h_{t} \odot h_{t}\right)"}]
    assert sorted(f["id"] for f in mathjax_failures(bad + good)) == [1, 2, 3, 4, 5]


# ---------------------------------------------------------------------------------------------
# The site.

def test_pages_come_in_teaching_order_with_front_matter_and_working_links(sites):
    files = sites["en"]
    index = files["index.md"]
    linked = re.findall(r"\]\(([a-z0-9-]+\.md)\)", index)
    assert linked == ["dense.md", "conv1d.md", "conv2d.md", "pool2d.md", "cnn.md", "rnn.md", "bptt.md",
                      "truncated-bptt.md", "lstm.md", "gru.md", "softmax.md", "attention.md", "layernorm.md",
                      "mha.md", "transformer.md"]
    for name in linked:
        head = files[name].split("---\n")[1]
        for key in ("layout: ", "title: ", "tags: [", "use_math: true"):
            assert key in head, (name, key)
        for target in re.findall(r"\]\(([a-z0-9-]+\.md)\)", files[name]):
            assert target in files, (name, target)
    assert "lang: ko" in sites["ko-row-bold-1"]["bptt.md"].split("---\n")[1]


def test_korean_pages_share_the_math_and_change_the_words(sites):
    en, ko = render(RenderOptions(), ["bptt"])[0]["bptt.md"], render(RenderOptions(lang="ko"), ["bptt"])[0]["bptt.md"]
    blocks = lambda text: re.findall(r"\$\$\n(.*?)\n\$\$", text, re.S)  # noqa: E731
    assert blocks(en) == blocks(ko)
    assert "vanish or explode" in en and "소실" in ko
    for name, text in sites["ko-row-bold-1"].items():  # every sentence of every Korean page is Korean
        if name.endswith(".md"):
            body = re.sub(r"\$\$\n.*?\n\$\$", "", text.split("---\n", 2)[2], flags=re.S)
            prose = [line for line in body.split("\n") if line and not line.startswith(("-", "[", "|", "!"))]
            assert prose and all(re.search("[\uac00-\ud7a3]", line) for line in prose), name


def test_markdown_prose_has_no_latex_text_markup(sites):
    for variant, files in sites.items():
        for name, text in files.items():
            if name.endswith(".md"):
                prose = re.sub(r"\$[^$]*\$", "", re.sub(r"\$\$\n.*?\n\$\$", "", text, flags=re.S))
                assert not re.search(r"\\(texttt|emph)\{|``", prose), (variant, name)


def test_notes_writes_everything_or_nothing(tmp_path):
    out = tmp_path / "site"
    written = write_notes(out, only=["dense", "flow"])
    assert sorted(p.name for p in written) == sorted(expected_files(["dense", "flow"]))
    png, csv = out / "gradient-flow.png", out / "gradient-flow.csv"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    rows = csv.read_text().strip().split("\n")
    # the notes draw the LSTM at forget-gate bias 2 and, dashed, at 0 (lstm_b0)
    assert rows[0] == "t,distance,rnn_h,lstm_b0_h,lstm_b0_c,lstm_h,lstm_c,gru_h" and len(rows) == 51
    norms = np.array([[float(x) for x in r.split(",")[2:]] for r in rows[1:]])
    assert np.all(norms > 0) and norms[-1, 0] < 1e-6 * norms[0, 0]  # the RNN's gradient vanishes over 49 steps
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ExportError, match="--force"):
        write_notes(out, only=["dense", "flow"])
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    write_notes(out, only=["dense"], force=True)
    assert sorted(p.name for p in out.iterdir()) == sorted(before)  # no temporary files left behind


def test_only_selects_pages_and_rejects_unknown_names():
    assert expected_files(["rnn"])[:3] == ["rnn.md", "bptt.md", "truncated-bptt.md"]
    assert expected_files(["bptt"]) == ["bptt.md", "index.md", "notes.tex"]
    with pytest.raises(OptionError, match="known: dense, conv1d"):
        expected_files(["lstn"])


def test_cli_notes_and_notation_options(tmp_path, capsys):
    assert main(["notes", "-o", str(tmp_path / "n"), "--only", "gru", "--lang", "ko", "--layout", "row"]) == 0
    assert "h_{t-1} W_{hz}" in (tmp_path / "n" / "gru.md").read_text()
    assert main(["notes", "-o", str(tmp_path / "n"), "--only", "gru"]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["notes", "-o", str(tmp_path / "m"), "--only", "nope"]) == 2
    assert main(["show", "conv1d", "--index-base", "1", "--bold", "--format", "markdown"]) == 0
    assert r"x_{c, S (i - 1) + D (p - 1) - P + 1}" in capsys.readouterr().out
    assert main(["show", "conv1d", "--index-base", "2"]) == 2
    assert "argument --index-base: invalid choice: 2" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# notes.tex in both languages.

def kotex_missing() -> str:
    if shutil.which("pdflatex") is None:
        return "pdflatex not installed (apt-get install texlive-latex-base)"
    found = subprocess.run(["kpsewhich", "kotex.sty"], capture_output=True, text=True).stdout.strip()
    return "" if found else "kotex.sty not installed (apt-get install texlive-lang-korean)"


@pytest.fixture(scope="module", params=["en", "ko"])
def notes_tex(request, tmp_path_factory):
    """The folder of notes.tex in one language, compiled twice (the second run writes the table of contents)."""
    lang = request.param
    reason = kotex_missing() if lang == "ko" else ("" if shutil.which("pdflatex") else "pdflatex not installed")
    if reason:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp(f"notes-{lang}")
    write_notes(folder, RenderOptions(lang=lang))
    for _ in range(2):
        # errors="replace": pdflatex breaks its terminal lines at 79 bytes, through a Korean character's bytes too
        result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "notes.tex"], cwd=folder,
                                capture_output=True, text=True, errors="replace", timeout=300)
        assert result.returncode == 0, result.stdout[-3000:]
    return folder


def test_notes_tex_compiles(notes_tex):
    tex = (notes_tex / "notes.tex").read_text(encoding="utf-8")
    assert tex.split("\n")[0] == "% !TEX program = pdflatex"
    assert tex.count(r"\section{") == 16
    log = (notes_tex / "notes.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing character" not in log
    widths = [float(w) for w in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert max(widths, default=0) < 40, f"lines run off the page by up to {max(widths)}pt"


def test_notes_pdf_pages_render(notes_tex):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (apt-get install poppler-utils)")
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "2", "notes.pdf", "page"], cwd=notes_tex,
                   check=True)
    pages = sorted(notes_tex.glob("page-*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 2000 for p in pages)


def test_korean_markdown_says_its_language():
    assert "lang: ko" in derivation("gru").to_latex("markdown", lang="ko").split("---\n")[1]


def test_korean_show_tex_compiles(tmp_path):
    if kotex_missing():
        pytest.skip(kotex_missing())
    (tmp_path / "lstm.tex").write_text(derivation("lstm").to_latex("tex", lang="ko"), encoding="utf-8")
    result = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "lstm.tex"], cwd=tmp_path,
                            capture_output=True, text=True, errors="replace", timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]


# ---------------------------------------------------------------------------------------------
# Golden pages: refresh after an intended change with `make golden`.

@pytest.mark.parametrize("lang", ["en", "ko"])
def test_golden_notes(sites, lang):
    pages = [n for n in page_names() if n != "flow"]
    files = render(RenderOptions(lang=lang), pages)[0] if lang == "ko" else sites["en"]
    stored = sorted(p.name for p in (GOLDEN / lang).iterdir())
    assert stored == sorted(files)
    for name, text in files.items():
        assert text == (GOLDEN / lang / name).read_text(encoding="utf-8"), f"{lang}/{name} differs: run `make golden`"


# ---------------------------------------------------------------------------------------------
# The row layout writes the transpose of every quantity: checked numerically.

def transposed_env(env):
    return ev.Env({k: v.T for k, v in env.items()}, env.sizes, env.backend)


@pytest.mark.parametrize("name", ["dense", "rnn", "lstm", "gru"])
def test_row_layout_is_the_transpose_of_every_rendered_expression(name):
    d = derivation(name)
    p, bw = d.program, d.backward
    sizes = {s: 3 + k for k, s in enumerate(sorted(p.dims(), key=str))}
    if p.recurrent:
        sizes[T] = 4
    arrays = random_arguments(p, sizes, seed=3)
    env = ev.bind(p, arrays, ev.sizes_of(p, arrays), ev.NUMPY)
    ev.forward(p, env)
    ev.backward(bw, env)
    exprs = [a.expr for a in p.assignments] + [term.expr for a in bw.steps for term in a.terms]
    exprs += [inline(g.value(), bw, keep=d.keep) for g in bw.grads]
    exprs += [state_jacobian(p, a, b) for a in p.states for b in p.states]
    row_env, steps = transposed_env(env), range(2, sizes[T]) if p.recurrent else [None]  # steps with t-1 and t+1
    checked = 0
    for e in exprs:
        for s in steps:
            want = np.atleast_2d(ev.evaluate(e, env, s)).T
            got = np.atleast_2d(ev.evaluate(row_form(e), row_env, s))
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=str(e))
            checked += 1
    assert checked >= 8


def test_row_layout_reads_like_row_vector_notes():
    text = derivation("rnn").to_latex("markdown", layout="row")
    assert r"z_{t} = h_{t-1} W_{hh} + x_{t} W_{xh} + b_{h}" in text
    assert r"W_{xh} \in \mathbb{R}^{d \times n}" in text and r"x_{t} \in \mathbb{R}^{1 \times d}" in text
    jacobian = r"\frac{\partial h_{j}}{\partial h_{j-1}} = W_{hh} \operatorname{diag}\left(1 - h_{j} \odot h_{j}\right)"
    assert jacobian in text


# ---------------------------------------------------------------------------------------------
# 1-based indices: the printed position is the 0-based one with every variable shifted, plus one.

@settings(max_examples=200, deadline=None)
@given(st.integers(-3, 3), st.integers(-3, 3), st.integers(-5, 5))
def test_one_based_positions_are_the_shifted_zero_based_ones(a, b, c):
    i, p = sp.symbols("i p", integer=True)
    zero_based = a * i + b * p + c
    text = index_latex(zero_based, (i, p), RenderOptions(index_base=1))
    parsed = parse_expr(text.replace(" ", "*").replace("*-*", "-").replace("*+*", "+"), local_dict={"i": i, "p": p},
                        transformations=standard_transformations + (implicit_multiplication_application,))
    assert sp.expand(parsed - (zero_based.subs({i: i - 1, p: p - 1}, simultaneous=True) + 1)) == 0


def test_one_based_convolution_formulas_by_hand():
    S, D, P = sp.symbols("S_h D_h P_h", positive=True)
    i, p, u = sp.symbols("i p u_i", integer=True)
    one = RenderOptions(index_base=1)
    assert index_latex(S * i + D * p - P, (), one) == r"S_{h} (i - 1) + D_{h} (p - 1) - P_{h} + 1"
    assert index_latex(i + p, (), one) == "i + p - 1"
    assert index_latex(u / S, (), one) == r"\frac{u_{i} - 1}{S_{h}} + 1"
    text = derivation("conv2d").to_latex("markdown", index_base=1)
    assert "Indices start at 1" in text and r"c = 1, \dots, C" in text

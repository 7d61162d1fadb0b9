"""A convolution of one's own at index level: built in Python or typed in LaTeX, it gets a document, an exported
NumPy module and a verification like the built-ins'. Expectations come from outside the derivation: explicit
NumPy loops that scatter each product's derivative, torch's own conv/pool modules, and central differences."""
import functools

import numpy as np
import pytest

import symderive as sd
from symderive.verify.numeric import central_differences

from .models import (
    DEPTHWISE_LATEX,
    DEPTHWISE_RANGES,
    DEPTHWISE_SHAPES,
    NOTES_LATEX,
    conv_avgpool,
    depthwise,
    dilated_sigmoid,
    strided_symbolic,
)

RNG = np.random.default_rng(15)


def depthwise_loops(X, W, b, G, stride, padding):
    """Forward and gradients of the depthwise convolution by explicit loops: every product W[c,p,q] X[c,m,n]
    of the forward pass sends G times the other factor to each of its factors (the product rule)."""
    channels, height, width = X.shape
    k = W.shape[1]
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    Y, dX, dW, db = np.zeros((channels, out_h, out_w)), np.zeros_like(X), np.zeros_like(W), np.zeros_like(b)
    for ch, a, e in np.ndindex(channels, out_h, out_w):
        Y[ch, a, e] = b[ch]
        db[ch] += G[ch, a, e]
        for tap_p, tap_q in np.ndindex(k, k):
            m, n = stride * a + tap_p - padding, stride * e + tap_q - padding
            if 0 <= m < height and 0 <= n < width:
                Y[ch, a, e] += W[ch, tap_p, tap_q] * X[ch, m, n]
                dX[ch, m, n] += G[ch, a, e] * W[ch, tap_p, tap_q]
                dW[ch, tap_p, tap_q] += G[ch, a, e] * X[ch, m, n]
    return Y, {"X": dX, "W": dW, "b": db, "G": Y}


def depthwise_torch(X, W, b, G, stride, padding):
    """torch.nn.functional.conv2d with groups=C (a depthwise convolution) and its autograd."""
    torch = pytest.importorskip("torch")
    x, w, bias = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    y = torch.nn.functional.conv2d(x[None], w[:, None], bias, stride=stride, padding=padding, groups=X.shape[0])[0]
    (y * torch.tensor(G)).sum().backward()
    grads = {"X": x.grad.numpy(), "W": w.grad.numpy(), "b": bias.grad.numpy(), "G": y.detach().numpy()}
    return y.detach().numpy(), grads


def depthwise_arrays(channels=3, height=9, width=8, k=3, stride=2, padding=1):
    out_h, out_w = (height + 2 * padding - k) // stride + 1, (width + 2 * padding - k) // stride + 1
    return {"X": RNG.standard_normal((channels, height, width)), "W": RNG.standard_normal((channels, k, k)),
            "b": RNG.standard_normal(channels), "G": RNG.standard_normal((channels, out_h, out_w))}


@functools.cache
def latex_depthwise():
    return sd.derive(DEPTHWISE_LATEX, shapes=DEPTHWISE_SHAPES, ranges=DEPTHWISE_RANGES, name="depthwise")


@functools.cache
def python_depthwise():
    return sd.derive(depthwise())


def assert_close(got: dict, want: dict, tol=1e-9):
    for name, value in want.items():
        assert got[name].shape == value.shape, name
        assert np.max(np.abs(got[name] - value)) < tol, name


# -- the depthwise convolution of the issue --------------------------------------------------------------------


def test_python_depthwise_export_agrees_with_loops():
    arrays = depthwise_arrays()
    module = python_depthwise().load_module()
    Y, grads = depthwise_loops(**arrays, stride=2, padding=1)
    assert np.max(np.abs(module.forward(**arrays)["Y"] - Y)) < 1e-12
    assert_close(module.grad(**arrays), grads)


def test_python_depthwise_export_agrees_with_torch_groups():
    arrays = depthwise_arrays(channels=4, height=10, width=7)
    Y, grads = depthwise_torch(**arrays, stride=2, padding=1)
    module = python_depthwise().load_module()
    assert np.max(np.abs(module.forward(**arrays)["Y"] - Y)) < 1e-9
    assert_close(module.grad(**arrays), grads)


def test_latex_depthwise_export_agrees_with_torch_groups():
    """Typed by hand: the export takes G of the output size the ranges name, and agrees with conv2d(groups=C)."""
    arrays = depthwise_arrays(channels=3, height=9, width=11)
    _, grads = depthwise_torch(**arrays, stride=2, padding=1)
    assert_close(latex_depthwise().load_module().grad(**arrays), grads)


def test_latex_depthwise_verify_passes_three_ways():
    report = latex_depthwise().verify()
    assert report.passed, report.table()
    rows = [r for r in report.rows if r.quantity.startswith("dL/d")]
    assert {r.quantity.split()[0] for r in rows} == {"dL/dX", "dL/dW", "dL/db", "dL/dG"}
    assert all(r.symbolic for r in rows)
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    assert all(r.reference.startswith("torch ok") for r in rows), report.table()
    assert any("printed" in note for note in report.notes)


def test_verify_fails_when_the_derived_formula_is_wrong():
    """The harness is not a rubber stamp: a weight gradient off by one tap fails every check."""
    from dataclasses import replace

    d = python_depthwise()
    backward = d.backward
    wrong = []
    for a in backward.adjoints:
        if a.tensor.name == "W":
            share = a.shares[0]
            term = share.result[0]
            shifted = term.subs({v: v + 1 for v in a.index[1:2]})
            a = replace(a, shares=(replace(share, result=(shifted,)),))
        wrong.append(a)
    broken = sd.Derivation(name="broken", engine=d.engine, torch_reference=d.torch_reference)
    broken.__dict__["backwards"] = {d.variants[0][0]: replace(backward, adjoints=tuple(wrong))}
    report = broken.verify()
    rows = {r.quantity.split()[0]: r for r in report.rows}
    assert not rows["dL/dW"].symbolic and not rows["dL/dW"].allclose
    assert rows["dL/dX"].allclose


def test_claims_about_a_typed_model_are_judged_with_its_ranges():
    d = latex_depthwise()
    right = r"\frac{\partial L}{\partial W_{c,p,q}} = \sum_{i,j} G_{c,i,j} X_{c, 2i+p-1, 2j+q-1}"
    flipped = r"\frac{\partial L}{\partial W_{c,p,q}} = \sum_{i,j} G_{c,i,j} X_{c, 2i-p+1, 2j-q+1}"
    assert [r.verdict for r in d.check([right, flipped])] == ["equal", "not_equal"]


# -- the document ----------------------------------------------------------------------------------------------


def test_document_shows_deltas_summed_away_and_names_each_operation():
    text = latex_depthwise().to_latex("markdown")
    assert r"\delta_{c',\, c} \delta_{m',\, 2 i + p - 1} \delta_{n',\, 2 j + q - 1}" in text  # the chain rule
    assert r"\frac{\partial L}{\partial W_{c, p, q}} = \sum_{i,j} G_{c, i, j} X_{c, 2 i + p - 1, 2 j + q - 1}" in text
    assert (r"\frac{\partial L}{\partial X_{c, m, n}} = "
            r"\sum_{p,q} \tilde{G}_{c, m - p + 1, n - q + 1} W_{c, p, q}") in text
    assert r"\frac{\partial L}{\partial b_{c}} = \sum_{i,j} G_{c, i, j}" in text
    sections = dict(section.split("\n", 1) for section in text.split("## ")[1:])
    assert "cross-correlation" in sections["Gradient with respect to $W$"]
    assert "full* convolution" in sections["Gradient with respect to $X$"]
    assert "dilated array" in sections["Gradient with respect to $X$"]  # stride 2: the gradient is dilated first
    assert "adds up $G$" in sections["Gradient with respect to $b$"]


def test_operation_is_read_off_the_indices_not_the_names():
    """The same layer with every tensor renamed: the sentences still name the operations."""
    renamed = [e.replace("W_", "A_").replace("X_", "Q_").replace("b_", "r_") for e in DEPTHWISE_LATEX]
    d = sd.derive(renamed, shapes=["Q: C x H x V", "A: C x K x K"], ranges=DEPTHWISE_RANGES, name="zz")
    sections = dict(s.split("\n", 1) for s in d.to_latex("markdown").split("## ")[1:])
    assert "cross-correlation" in sections["Gradient with respect to $A$"]
    assert "convolution of $\\tilde{G}$ with the kernel $A$" in sections["Gradient with respect to $Q$"]
    assert "adds up $G$" in sections["Gradient with respect to $r$"]


def test_document_in_korean_and_from_index_one():
    text = latex_depthwise().to_latex("markdown", lang="ko", index_base=1)
    assert "교차상관" in text and "크로네커 델타" in text
    assert r"$c = 1, \dots, C$" in text
    assert r"X_{c, 2 i + p - 3, 2 j + q - 3}" in text  # 0-based 2i + p - 1 with i, p counted from 1


def test_the_notes_formula_reads_as_written():
    d = sd.derive(NOTES_LATEX, name="notes")
    base1 = d.to_latex("markdown", index_base=1)
    assert r"z_{i} = \sum_{j} V_{j} x_{i + j - 1}" in base1
    assert r"h_{i} = \sigma\left(z_{i}\right)" in base1
    assert "m = N_{1} - k + 1" in d.to_latex("markdown").replace("$", "")  # the output length, from x's length


# -- exports of other variants ---------------------------------------------------------------------------------


def test_notes_formula_export_agrees_with_hand_written_gradients():
    """dL/dV_j = sum_i sigma'(z_i) x_{i+j-1}; dL/dx_n = sum over the windows that read x_n (0-based here)."""
    module = sd.derive(NOTES_LATEX, name="notes").load_module()
    V, x = RNG.standard_normal(3), RNG.standard_normal(8)
    m = len(x) - len(V) + 1
    z = np.array([sum(V[j] * x[i + j] for j in range(3)) for i in range(m)])
    slope = np.exp(-z) / (1 + np.exp(-z)) ** 2
    dV = np.array([sum(slope[i] * x[i + j] for i in range(m)) for j in range(3)])
    dx = np.zeros_like(x)
    for i in range(m):
        for j in range(3):
            dx[i + j] += slope[i] * V[j]
    grads = module.grad(V=V, x=x)
    assert np.allclose(grads["V"], dV, atol=1e-12) and np.allclose(grads["x"], dx, atol=1e-12)
    assert module.loss(V=V, x=x) == pytest.approx(np.sum(1 / (1 + np.exp(-z))), abs=1e-12)


@pytest.mark.parametrize("build", [dilated_sigmoid, conv_avgpool])
def test_export_agrees_with_central_differences(build):
    d = sd.derive(build())
    module = d.load_module()
    arrays = d.engine.cases(d.program, d.variants[0][0])[0].arrays
    grads = module.grad(**arrays)
    for name in arrays:
        want = central_differences(lambda a: module.loss(**a), arrays, name)
        assert np.allclose(grads[name], want, atol=1e-6, rtol=1e-5), name


def test_dilated_sigmoid_export_agrees_with_torch():
    torch = pytest.importorskip("torch")
    x, w = RNG.standard_normal((2, 11)), RNG.standard_normal((3, 2, 3))
    G = RNG.standard_normal((3, 11 - 2 * 2))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    h = torch.sigmoid(torch.nn.functional.conv1d(tx[None], tw, dilation=2)[0])
    (h * torch.tensor(G)).sum().backward()
    grads = sd.derive(dilated_sigmoid()).load_module().grad(x=x, w=w, G=G)
    assert_close(grads, {"x": tx.grad.numpy(), "w": tw.grad.numpy(), "G": h.detach().numpy()})


def test_conv_then_average_pooling_export_agrees_with_torch():
    torch = pytest.importorskip("torch")
    X, W = RNG.standard_normal((2, 9, 9)), RNG.standard_normal((3, 2, 3, 3))
    G = RNG.standard_normal((3, 4, 4))
    tX, tW = torch.tensor(X, requires_grad=True), torch.tensor(W, requires_grad=True)
    Z = torch.nn.functional.avg_pool2d(torch.nn.functional.conv2d(tX[None], tW, padding=1), 2)[0]
    (Z * torch.tensor(G)).sum().backward()
    grads = sd.derive(conv_avgpool()).load_module().grad(X=X, W=W, G=G)
    assert_close(grads, {"X": tX.grad.numpy(), "W": tW.grad.numpy(), "G": Z.detach().numpy()})


def test_relu_then_max_pooling_typed_in_latex_agrees_with_torch():
    torch = pytest.importorskip("torch")
    eqs = [r"A_{c,m,n} = \operatorname{relu}(X_{c,m,n})", r"P_{c,i,j} = \max_{p,q} A_{c, 2i+p, 2j+q}",
           r"L = \sum_{c,i,j} G_{c,i,j} P_{c,i,j}"]
    d = sd.derive(eqs, shapes=["X: C x H x V"], ranges=["i: 0..M-1", "j: 0..N-1", "p: 0..1", "q: 0..1"])
    X, G = RNG.standard_normal((2, 8, 7)), RNG.standard_normal((2, 4, 3))
    tX = torch.tensor(X, requires_grad=True)
    P = torch.nn.functional.max_pool2d(torch.relu(tX)[None], 2)[0]
    (P * torch.tensor(G)).sum().backward()
    assert_close(d.load_module().grad(X=X, G=G), {"X": tX.grad.numpy(), "G": P.detach().numpy()})
    assert_close(d.torch_reference({"X": X, "G": G}, {}), {"X": tX.grad.numpy()}, tol=1e-12)
    assert r"\max_{p,q} A_{c, 2 i + p, 2 j + q}" in d.to_latex("markdown")


def test_an_abstract_loss_takes_its_gradient_as_an_array():
    """The README's 2-D convolution counted from 1, with L = \\ell(Y): delta is an input of the export (not a
    one-hot target), and the gradients are conv2d's with stride 2 and padding 1 (2i + p - 3 from 1 is
    2i + p - 1 from 0)."""
    torch = pytest.importorskip("torch")
    eqs = [r"Y_{o,i,j} = \sum_{c=1}^{C} \sum_{p=1}^{K} \sum_{q=1}^{K} W_{o,c,p,q} X_{c, 2i+p-3, 2j+q-3} + b_o",
           r"L = \ell(Y)"]
    d = sd.derive(eqs, shapes=["X: C x M x N", "W: F x C x K x K", "Y: F x A x B"])
    X, W, b = RNG.standard_normal((2, 9, 8)), RNG.standard_normal((3, 2, 3, 3)), RNG.standard_normal(3)
    delta = RNG.standard_normal((3, 5, 4))
    tX, tW, tb = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    Y = torch.nn.functional.conv2d(tX[None], tW, tb, stride=2, padding=1)[0]
    (Y * torch.tensor(delta)).sum().backward()
    want = {"X": tX.grad.numpy(), "W": tW.grad.numpy(), "b": tb.grad.numpy(), "delta": Y.detach().numpy()}
    assert_close(d.load_module().grad(X=X, W=W, b=b, delta=delta), want)


def test_an_elementwise_function_of_another_shape_is_refused():
    eqs = [r"A_{c,i,j} = \operatorname{relu}(X_{c,i,j})", r"L = \sum_{c,i,j} G_{c,i,j} A_{c,i,j}"]
    with pytest.raises(sd.ModelError, match="needs the same shape"):
        sd.derive(eqs, shapes=["X: C x H x V"], ranges=["i: 0..M-1", "j: 0..N-1"])


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (3, 2)])
def test_stride_and_padding_as_symbols_are_keyword_options(stride, padding):
    torch = pytest.importorskip("torch")
    d = sd.derive(strided_symbolic())
    assert [(o.keyword, o.default, o.minimum) for o in d.engine.options] == [("P", 0, 0), ("S", 1, 1)]
    x, w = RNG.standard_normal((2, 12)), RNG.standard_normal((2, 3))
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    y = torch.nn.functional.conv1d(tx[None], tw[:, None], stride=stride, padding=padding, groups=2)[0]
    (0.5 * (y * y).sum()).backward()
    want = {"x": tx.grad.numpy(), "w": tw.grad.numpy()}
    assert_close(d.load_module().grad(x=x, w=w, S=stride, P=padding), want)
    assert_close(d.torch_reference({"x": x, "w": w}, {"S": stride, "P": padding}), want, tol=1e-12)


# -- the export contract ---------------------------------------------------------------------------------------


def test_export_names_its_arrays_sizes_and_bad_shapes():
    d = python_depthwise()
    module = d.load_module()
    assert module.SHAPES == {"X": ("C", "H", "V"), "W": ("C", "K", "K"), "b": ("C",), "G": ("C", "N_1", "N_2")}
    assert module.SYMBOLS == {"X": "X", "W": "W", "b": "b", "G": "G"}
    arrays = depthwise_arrays()
    with pytest.raises(ValueError, match="W: expected shape"):
        module.grad(**{**arrays, "W": RNG.standard_normal((2, 3, 3))})
    with pytest.raises(ValueError, match="G: expected shape .* with N_1 = "):
        module.grad(**{**arrays, "G": RNG.standard_normal((3, 4, 4))})
    with pytest.raises(ValueError, match="the output would be empty"):
        module.grad(X=np.ones((3, 1, 1)), W=np.ones((3, 5, 5)), b=np.ones(3), G=np.ones((3, 1, 1)))


def test_output_sizes_given_as_formulas_are_computed_and_checked():
    """Ranges written with letters (i: 0..M-1) and M given as a formula: M is computed from X and W, and a G of
    another size is refused with the formula and its value."""
    from dataclasses import replace

    from symderive.index import output_size

    program = latex_depthwise().program
    sizes = {s.name: s for t in program.arguments for s in t.dims}
    M, N, H, V, K = (sizes[n] for n in ("M", "N", "H", "V", "K"))
    d = sd.derive(replace(program, derived_sizes={M: output_size(H, K, 2, 1), N: output_size(V, K, 2, 1)}))
    arrays = depthwise_arrays()
    _, want = depthwise_loops(**arrays, stride=2, padding=1)
    assert_close(d.load_module().grad(**arrays), want)
    with pytest.raises(ValueError, match=r"G: expected shape \(C, M, N\) with M = floor\(\(H - K\)/2\) \+ 2 = "
                                         r"floor\(\(9 - 3\)/2\) \+ 2 = 5"):
        d.load_module().grad(**{**arrays, "G": np.ones((3, 3, 3))})


def test_an_argument_nothing_reads_has_a_zero_gradient():
    n, = sd.index_sizes("n")
    i_, = sd.indices("i")
    x, unused, L = sd.tensor("x", "n"), sd.tensor("u", "n"), sd.tensor("L", "")
    program = sd.IndexProgram("unused", (sd.Contract(L, (), (sd.Term((x[i_], x[i_]), sums=((i_, n),)),)),),
                              (x, unused), L)
    module = sd.derive(program).load_module()
    values = RNG.standard_normal(4)
    grads = module.grad(x=values, u=np.ones(4))
    assert np.allclose(grads["x"], 2 * values) and np.array_equal(grads["u"], np.zeros(4))


def test_a_size_named_like_a_tensor_is_refused():
    H_, K_ = sd.index_sizes("X K")
    i_, p_ = sd.indices("i p")
    x, w, y, L = sd.Tensor("X", (H_,)), sd.tensor("w", "K"), sd.Tensor("y", (H_,)), sd.tensor("L", "")
    program = sd.IndexProgram("bad", (sd.Contract(y, (i_,), (sd.Term((w[p_], x[i_ + p_]), sums=((p_, K_),)),)),
                                      sd.Contract(L, (), (sd.Term((y[i_],), sums=((i_, H_),)),))), (x, w), L)
    with pytest.raises(sd.ModelError, match="the size X cannot be named so"):
        sd.derive(program)


# -- the printed torch program ---------------------------------------------------------------------------------


def test_printed_torch_program_reads_as_the_equations():
    source = python_depthwise().torch_reference.source
    assert "c, i, j, p, q = grid(C, N_1, N_2, K, K)" in source
    assert "torch.einsum('cijpq,cijpq->cij', read(W, c, p, q), read(X, c, 2*i + p - 1, 2*j + q - 1))" in source
    compile(source, "printed", "exec")


def test_printed_torch_program_agrees_with_torch_conv2d():
    """The reference itself is right: its gradients are conv2d's (so agreement with it means something)."""
    arrays = depthwise_arrays(channels=2, height=7, width=8)
    _, want = depthwise_torch(**arrays, stride=2, padding=1)
    assert_close(python_depthwise().torch_reference(arrays, {}), want, tol=1e-12)


# -- the command line ------------------------------------------------------------------------------------------


def cli_model_args():
    args = []
    for e in DEPTHWISE_LATEX:
        args += ["--model", e]
    for s in DEPTHWISE_SHAPES:
        args += ["--shape", s]
    for r in DEPTHWISE_RANGES:
        args += ["--range", r]
    return args


def test_cli_shows_and_exports_an_index_model(tmp_path, capsys):
    from symderive.cli import main

    assert main(["show", *cli_model_args(), "--format", "markdown"]) == 0
    assert "cross-correlation" in capsys.readouterr().out
    assert main(["export", *cli_model_args(), "-o", str(tmp_path / "dw.py")]) == 0
    assert "SHAPES = {'W': ('C', 'K', 'K')" in (tmp_path / "dw.py").read_text()


def test_cli_refuses_a_range_without_an_index_model(capsys):
    from symderive.cli import main

    assert main(["show", "conv2d", "--range", "i: 0..3"]) == 2
    assert "--range" in capsys.readouterr().err
    with pytest.raises(sd.OptionError, match="ranges belong to an index-level model"):
        sd.derive(["z = W x", r"L = \frac{1}{2}\|z\|^2"], ranges=["i: 0..3"])

"""Max and average pooling over K_h x K_w windows with stride (S_h, S_w), checked in isolation:

    max:  Y[c,i,j] = max_{p,q} X[c, S_h i + p, S_w j + q] = sum_{p,q} M[c,i,j,p,q] X[c, S_h i + p, S_w j + q]
    avg:  Y[c,i,j] = 1/(K_h K_w) sum_{p,q} X[c, S_h i + p, S_w j + q]
    L = sum_{c,i,j} G[c,i,j] Y[c,i,j]

M is the one-hot arg-max of each window; ties go to the first maximum in row-major order of the
window (p first, then q), as PyTorch's CPU kernel does.
"""
from dataclasses import replace

import sympy as sp

from symderive.document.document import Document
from symderive.document.prose import say
from symderive.index.codegen import DerivedSize, Option
from symderive.index.engine import Cases, IndexEngine
from symderive.index.program import Contract, IndexProgram, Tensor, Term, WindowMax, output_size
from symderive.index.render import access_latex, tensor_latex
from symderive.pipeline import Derivation
from symderive.verify.report import Row

from .convolution import C, gradient_section, index_symbols, model_section, size_symbols

TITLE = "Max and average pooling: the gradient goes to the arg-max, or is spread evenly"
H, Wd, KH, KW, SH, SW, OH, OW = size_symbols("H_in W_in K_h K_w S_h S_w H_out W_out")
c, i, j, p, q = index_symbols("c i j p q")

X = Tensor("X", (C, H, Wd))
G = Tensor("G", (C, OH, OW))
Y = Tensor("Y", (C, OH, OW))
M = Tensor("M", (C, OH, OW, KH, KW))
L = Tensor("L", ())
WINDOW = ((p, KH), (q, KW))
def ties_text(options) -> str:
    return say(options,
               "Ties go to the first maximum in row-major order of the window ($p$ first, then $q$), as PyTorch's CPU "
               "kernel does; the maximum is piecewise linear, so its derivative is $M$ held fixed.",
               "최댓값이 여럿이면 창 안에서 행 우선 순서($p$ 먼저, 다음 $q$)로 첫 번째 것을 고릅니다(PyTorch의 CPU "
               "커널과 같습니다). 최댓값은 구간별로 선형이므로, 그 도함수는 $M$을 고정한 채 미분한 것입니다.")


def read():
    return X[c, SH * i + p, SW * j + q]


def loss() -> Contract:
    return Contract(L, (), (Term((G[c, i, j], Y[c, i, j]), sums=((c, C), (i, OH), (j, OW))),))


def max_program() -> IndexProgram:
    pool = WindowMax(Y, (c, i, j), WINDOW, read(), M)
    return IndexProgram("maxpool2d", (pool, loss()), (X, G), L)


def avg_program() -> IndexProgram:
    pool = Contract(Y, (c, i, j), (Term((read(),), sp.Integer(1) / (KH * KW), WINDOW),))
    return IndexProgram("avgpool2d", (pool, loss()), (X, G), L)


def document(der, options) -> Document:
    mx, avg = (p_ for _, p_ in der.variants)
    bw_max, bw_avg = der.backwards["max"], der.backwards["avg"]
    window = access_latex(read(), (), options)
    max_model = model_section([mx.ops[0].as_contract(), mx.ops[1]], mx.arguments, options=options, text=say(options,
        rf"Max pooling: $Y_{{c,i,j}} = \max_{{p,q}} {window}$, written with the one-hot mask "
        r"$M_{c,i,j,p,q}$ of the arg-max of window $(i, j)$. ",
        rf"최대 풀링: $Y_{{c,i,j}} = \max_{{p,q}} {window}$를 창 $(i, j)$에서 최댓값 위치만 1인 마스크 "
        r"$M_{c,i,j,p,q}$로 씁니다. ") + ties_text(options))
    max_grad = gradient_section(bw_max, X, {}, options)
    avg_model = model_section(avg.ops, avg.arguments, options=options,
                              text=say(options, "Average pooling.", "평균 풀링."))
    avg_grad = gradient_section(bw_avg, X, {}, options)
    x = tensor_latex(X, options)
    sections = (
        replace(max_model, title=say(options, "Max pooling: model", "최대 풀링: 모델")),
        replace(max_grad,
                title=say(options, f"Max pooling: gradient with respect to ${x}$", f"최대 풀링: ${x}$에 대한 기울기"),
                text=max_grad.text + say(options,
                    " Each window sends its upstream gradient to its arg-max entry only; overlapping windows add up. "
                    "The other entries of the window did not change the output, so they get nothing.",
                    " 각 창은 위에서 받은 기울기를 최댓값 성분에만 보냅니다. 창이 겹치면 받은 기울기가 더해집니다. "
                    "창의 나머지 성분은 출력을 바꾸지 않았으므로 아무것도 받지 않습니다.")),
        replace(avg_model, title=say(options, "Average pooling: model", "평균 풀링: 모델")),
        replace(avg_grad,
                title=say(options, f"Average pooling: gradient with respect to ${x}$",
                          f"평균 풀링: ${x}$에 대한 기울기"),
                text=avg_grad.text + say(options,
                    r" Each window spreads its upstream gradient evenly, $1/(K_h K_w)$ to each entry.",
                    r" 각 창은 위에서 받은 기울기를 모든 성분에 $1/(K_h K_w)$씩 고르게 나눠 줍니다.")),
    )
    return Document(*der.heading(options), sections, tags=("deep-learning", "backpropagation", "pooling", "cnn"))


def torch_reference(arrays, options, tag):
    import torch

    x, g = (torch.tensor(arrays[k], requires_grad=True) for k in "XG")
    pool = torch.nn.functional.max_pool2d if tag == "max" else torch.nn.functional.avg_pool2d
    y = pool(x[None], options["kernel_size"], options["stride"])[0]
    (y * g).sum().backward()
    return {"X": x.grad.numpy(), "G": y.detach().numpy()}


def ties_check(d, arrays) -> Row:
    """Integer inputs with many ties: the gradient goes to the first maximum in row-major order,
    checked against a hand-written loop and against torch's max_pool2d when installed."""
    import numpy as np

    module = d.load_module()
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, size=(2, 7, 7)).astype(float)
    g = rng.standard_normal((2, 3, 3))
    got = module.grad(x, g, kernel_size=3, stride=2, mode="max")["X"]
    want = np.zeros_like(x)
    for ch, a, b_ in np.ndindex(g.shape):
        window = x[ch, 2 * a:2 * a + 3, 2 * b_:2 * b_ + 3]
        r, s = divmod(int(np.argmax(window)), 3)  # the first maximum, row by row
        want[ch, 2 * a + r, 2 * b_ + s] += g[ch, a, b_]
    ok = np.array_equal(got, want)
    label = "ties: first maximum in row-major order"
    try:
        import torch

        t = torch.tensor(x, requires_grad=True)
        (torch.nn.functional.max_pool2d(t[None], 3, 2)[0] * torch.tensor(g)).sum().backward()
        ok &= np.allclose(got, t.grad.numpy(), atol=0, rtol=1e-15)
        label += " (= torch)"
    except ImportError:
        pass
    error = float(np.abs(got - want).max())
    return Row(label, None, error, error, bool(ok))


def case(c_, h, w, k, s):
    return {C: c_, H: h, Wd: w, KH: k, KW: k, SH: s, SW: s}


def build() -> Derivation:
    derived = tuple(DerivedSize(n_out, output_size(n_in, k, s), f"floor(({n_in} - {k}) / {s}) + 1",
                                ((f"the window {k}", k), (f"the input {n_in}", n_in)))
                    for n_in, k, s, n_out in ((H, KH, SH, OH), (Wd, KW, SW, OW)))
    return Derivation(
        name="pool2d",
        title=TITLE,
        summary=(r"Max pooling sends each window's gradient to its arg-max (the first one in row-major order on "
                 r"ties); average pooling spreads it evenly. Both derived at index level, like the convolution."),
        title_ko="최대 풀링과 평균 풀링: 기울기는 최댓값 위치로 가거나 고르게 퍼진다",
        summary_ko=(r"최대 풀링은 각 창의 기울기를 최댓값 위치로 보내고(같은 값이 여럿이면 행 우선 순서로 첫 번째), "
                    r"평균 풀링은 고르게 나눠 줍니다. 둘 다 컨볼루션처럼 인덱스 수준에서 유도합니다."),
        engine=IndexEngine(
            variants=(("max", max_program()), ("avg", avg_program())),
            options=(Option("kernel_size", (KH, KW), None, 1), Option("stride", (SH, SW), "kernel_size", 1)),
            derived=derived,
            shapes={"X": ("C", "H_in", "W_in"), "G": ("C", "H_out", "W_out")},
            sizes=Cases(symbolic=(case(2, 5, 5, 2, 2), case(1, 5, 5, 3, 2)),
                        numeric=(case(3, 16, 16, 2, 2), case(3, 16, 15, 3, 2),
                                 {**case(2, 12, 13, 3, 1), KW: 2, SW: 3})),
            variant_keyword="mode",
            module_doc=("Arrays: X (C, H_in, W_in), G (C, H_out, W_out); "
                        "keyword arguments kernel_size (an int or a pair),\n"
                        "stride=None (the kernel size), mode='max' or 'avg'. No padding. "
                        "forward(...)['Y'] is the pooled\n"
                        "array (and 'M' the arg-max mask for max); loss = sum(G * Y); grad(...) returns dL/dX, dL/dG.\n"
                        "Max pooling: ties go to the first maximum in row-major order of the window "
                        "(as torch does).\n"),
        ),
        build_document=document,
        torch_reference=torch_reference,
        extra_checks=(ties_check,),
    )

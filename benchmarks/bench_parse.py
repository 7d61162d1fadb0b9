"""Parse speed of the LaTeX layer: SLL prediction first (our default) against ANTLR's full-context
(LL) prediction alone, on typical equations of notes. Medians over interleaved rounds; the ratio is
LL / SLL-first (higher means SLL-first is faster). Target: a typical RNN step under 50 ms."""
import harness  # noqa: F401  (pins threads)
from harness import measure
from symderive.latex import antlr as latex_input
from symderive.latex.reader import parse_latex

FORMULAS = {
    "RNN step": r"h_t = \tanh(W_{hh} h_{t-1} + W_{xh} x_t + b_h)",
    "BPTT dL/dW_hh": r"\frac{\partial L}{\partial W_{hh}} = \sum_{t=1}^{T} (\delta_t \odot (1 - h_t^2)) h_{t-1}^\top",
    "LSTM cell": r"c_t = f_t \odot c_{t-1} + i_t \odot \tanh(W_c [h_{t-1}, x_t] + b_c)",
    "dense delta": r"\delta = (a - y) \odot \sigma(z) \odot (1 - \sigma(z))",
}


def full_context_only():
    """antlr_parse without the SLL attempt: the parser's own (LL) prediction."""
    original = latex_input.antlr_parse

    def ll(text):
        if latex_input._CONVERTER is None:
            latex_input._CONVERTER = latex_input._converter()
        parser = latex_input._CONVERTER.create_parser(text)
        return latex_input._CONVERTER.convert_math(parser.math())

    return original, ll


def parsers(text, original, ll):
    """The two ways of parsing one formula, each a function of no arguments for measure()."""
    def sll_first():
        latex_input.antlr_parse = original
        parse_latex(text)

    def ll_only():
        latex_input.antlr_parse = ll
        parse_latex(text)

    return {"SLL first": sll_first, "LL only": ll_only}


def main():
    parse_latex(FORMULAS["RNN step"])  # warm up ANTLR's caches once, as a long-running process would
    original, ll = full_context_only()
    rows = []
    for name, text in FORMULAS.items():
        medians = measure(parsers(text, original, ll), rounds=7, per_round=3)
        latex_input.antlr_parse = original
        rows.append((name, medians["SLL first"] * 1e3, medians["LL only"] * 1e3))
    print("| formula | SLL first (ms) | LL only (ms) | LL / SLL-first |")
    print("|---|---|---|---|")
    for name, sll, ll_ms in rows:
        print(f"| {name} | {sll:.1f} | {ll_ms:.1f} | {ll_ms / sll:.1f}x |")


if __name__ == "__main__":
    main()

"""Reading LaTeX: our normalising reader in front of latex2sympy2_extended, and equations turned into a model.

The reader: ``tokens`` (tokens, limits, refusals, a cursor) -> ``atoms``, ``calls``, ``constructs`` (what the
reader reads itself) -> ``antlr`` (the parser, placeholders put back) -> ``reader`` (``parse_latex``), with the
forms of a parse in ``parsed`` and the words that name functions in ``words``. The model: ``model``
(``build_model``, ``read_model_text``) -> ``rewrites`` (``e^{z}``, sums over entries, log-softmax),
``identifiers`` and ``spelling`` (program names and the LaTeX each was written as) -> ``shapes`` (inference and
declarations), ``sizes`` (size names), ``builder`` (the program), ``losses`` (the last equation), ``converter``
(matrix expressions), with ``names`` for which parsed symbol is what.
"""

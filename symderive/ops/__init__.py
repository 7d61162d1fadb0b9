"""Operations the models are written in: shape-generic nodes and elementwise functions, each registered once.

Importing the package registers every op: :mod:`~symderive.ops.registry` holds the tables and the
generic functions that dispatch on them; :mod:`~symderive.ops.nodes` our node types,
:mod:`~symderive.ops.linear` SymPy's matrix algebra, :mod:`~symderive.ops.functions` the elementwise
functions (tanh, sigmoid, relu, step, softplus, exp, log, sqrt, sign, abs), :mod:`~symderive.ops.softmax`
the normalising nodes (the sum of entries, softmax, log-softmax), :mod:`~symderive.ops.powers` powers of
scalars.
"""
from symderive.ops import functions, heads, linear, nodes, powers, rows, softmax  # noqa: F401  (each registers its ops)

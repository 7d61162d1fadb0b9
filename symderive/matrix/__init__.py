"""The matrix-level engine: reverse mode over a program (VJP table), reference evaluation, NumPy code, LaTeX."""

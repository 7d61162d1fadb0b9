"""Reading LaTeX: our normalising reader in front of latex2sympy2_extended, and equations turned into a model."""

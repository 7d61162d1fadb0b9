"""The index-level engine (convolution, pooling): programs over indexed tensors, their derivation, evaluation,
NumPy code and LaTeX."""

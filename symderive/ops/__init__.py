"""Operations the models are written in: shape-generic nodes and elementwise functions, each registered once."""

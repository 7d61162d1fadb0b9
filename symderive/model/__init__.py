"""Models: programs of named assignments over shape-generic symbols, with states and a scalar loss."""

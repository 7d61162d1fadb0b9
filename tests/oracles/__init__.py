"""Independent oracles for the tests: models written from their equations in the plainest way (one step at a time,
one outer product per step), sharing no code with symderive or with the benchmarks."""

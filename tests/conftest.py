import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


@pytest.fixture(scope="session")
def rnn():
    from symderive import derivation

    return derivation("rnn")


@pytest.fixture(scope="session")
def rnn_module(rnn):
    return rnn.load_module()

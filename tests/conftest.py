import pytest

from symderive import derivation


@pytest.fixture(scope="session")
def rnn():
    return derivation("rnn")


@pytest.fixture(scope="session")
def rnn_module(rnn):
    return rnn.load_module()

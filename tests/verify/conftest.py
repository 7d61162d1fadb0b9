import pytest

from tests.verify.nodes import node_values


@pytest.fixture(scope="module")
def values():
    return node_values()

"""The module scaffold both code generators share: the helpers a module calls go where it marks them."""
from symderive.export.scaffold import HELPER_MARK, HELPERS, place_helpers

SIGMOID = HELPERS["_sigmoid("].strip("\n")


def test_a_mark_on_its_own_line_becomes_the_helpers_or_goes():
    # The matrix-level layout: SHAPES, the mark on a line of its own, then _dims.
    text = f"SHAPES = {{}}\n{HELPER_MARK}\n\n\ndef _dims(arrays):\n    return _sigmoid(arrays)\n"
    assert place_helpers(text) == f"SHAPES = {{}}\n\n\n{SIGMOID}\n\n\ndef _dims(arrays):\n    return _sigmoid(arrays)\n"
    plain = text.replace("_sigmoid(arrays)", "arrays")
    assert place_helpers(plain) == "SHAPES = {}\n\n\ndef _dims(arrays):\n    return arrays\n"


def test_a_mark_at_the_end_of_a_line_is_replaced_in_place():
    # The index-level layout: the mark right after the option helpers.
    text = f"def _formula():\n    pass{HELPER_MARK}\n\n\ndef _prepare(x):\n    return _sigmoid(x)\n"
    want = f"def _formula():\n    pass\n\n{SIGMOID}\n\n\ndef _prepare(x):\n    return _sigmoid(x)\n"
    assert place_helpers(text) == want
    plain = text.replace("_sigmoid(x)", "x")
    assert place_helpers(plain) == "def _formula():\n    pass\n\n\ndef _prepare(x):\n    return x\n"

"""SYMBOLS: each argument's LaTeX as the model wrote it."""
import symderive as sd

STACKED = [r"h^{(1)}_t = \tanh(U^{(1)} x_t + W^{(1)} h^{(1)}_{t-1})",
           r"h^{(2)}_t = \tanh(U^{(2)} h^{(1)}_t + W^{(2)} h^{(2)}_{t-1})",
           r"L = \sum_{t=1}^{T} \frac{1}{2}\|h^{(2)}_t - y_t\|^2"]


def test_a_layer_label_is_written_without_the_documents_grouping_braces():
    symbols = sd.derive(model=STACKED).load_module().SYMBOLS
    assert symbols["W_1"] == "W^{(1)}" and symbols["U_2"] == "U^{(2)}" and symbols["x"] == "x_{t}"
    assert symbols["h_1_0"] == "{h^{(1)}}_0"  # the state h^{(1)} at step 0: the braces belong to it

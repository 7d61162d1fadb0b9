"""What the gated cells (LSTM, GRU) share: gate pre-activations in PyTorch's form, the output layer,
PyTorch's stacked weight layout, and a PyTorch reference for the checks."""
import sympy as sp

from symderive import Model, Sizes, squared_norm
from symderive.document.document import Section
from symderive.document.prose import say
from symderive.matrix.sections import gradients_section
from symderive.model import T

H, d, q = sp.symbols("H d q", integer=True, positive=True)  # hidden, input and output sizes
#: where the checks of both cells run: symbolic, central differences, random directions
SIZES = Sizes(small={H: 2, d: 2, q: 1, T: 3}, numeric={H: 16, d: 8, q: 4, T: 20}, large={H: 64, d: 32, q: 8, T: 50})


def weights(m: Model, gates: str):
    """``W_i<g>`` (H x d), ``W_h<g>`` (H x H), ``b_i<g>``, ``b_h<g>`` for each gate letter, declared in that order."""
    W_i = [m.param(f"W_i{g}", H, d) for g in gates]
    W_h = [m.param(f"W_h{g}", H, H) for g in gates]
    b_i = [m.param(f"b_i{g}", H) for g in gates]
    b_h = [m.param(f"b_h{g}", H) for g in gates]
    return W_i, W_h, b_i, b_h


def output_layer(m: Model, h) -> None:
    """``yhat_t = W_hy h_t + b_y`` and the squared loss ``1/2 ||yhat_t - y_t||^2`` of one step."""
    W_hy, b_y = m.param("W_hy", q, H), m.param("b_y", q)
    y = m.sequence("y", q)
    yhat = m.let("yhat", W_hy @ h + b_y)
    m.loss(squared_norm(yhat - y) / 2)


def all_gradients_section(der, options) -> Section:
    return gradients_section(der, options, title=say(options, "Gradients of the parameters", "매개변수의 기울기"),
                             text=say(options,
        r"Each weight is used at every step, so its gradient sums one share per step; the shares are "
        r"written through the adjoints of the pre-activations above.",
        r"가중치는 모든 단계에서 쓰이므로, 그 기울기는 단계마다 하나씩 생기는 몫을 모두 더한 것입니다. 각 몫은 앞에서 "
        r"구한 활성화 전 값(pre-activation)의 수반으로 씁니다."))


def torch_layout_source(gates: str) -> str:
    """Source of ``from_torch_layout`` for the exported module (PyTorch stacks the gates along rows)."""
    names = ", ".join(repr(g) for g in gates)
    return f'''

def from_torch_layout(weight_ih, weight_hh, bias_ih, bias_hh):
    """Arguments of this module from PyTorch's stacked layer-0 parameters (``weight_ih_l0`` stacks
    the gates {", ".join(gates)} along rows: ``(W_i{gates[0]}|...)``). Returns a dict of NumPy arrays."""
    stacked = {{"weight_ih": ("W_i", weight_ih), "weight_hh": ("W_h", weight_hh), "bias_ih": ("b_i", bias_ih),
               "bias_hh": ("b_h", bias_hh)}}
    out = {{}}
    for name, (prefix, array) in stacked.items():
        array = _real(name, array)
        rows = array.shape[0] if array.ndim else 0
        if rows == 0 or rows % {len(gates)}:
            raise ValueError(f"{{name}}: shape {{array.shape}}: {{rows}} rows do not split into {len(gates)} gates")
        for gate, block in zip(({names},), np.split(array, {len(gates)})):
            out[prefix + gate] = block
    return out
'''


def torch_reference(module_class: str, gates: str, states: tuple[str, ...]):
    """Gradients through ``torch.nn.<module_class>`` with our weights in its stacked layout, plus the
    output layer and loss, by torch autograd in float64."""

    def reference(arrays) -> dict:
        import torch

        a = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in arrays.items()}
        cell = getattr(torch.nn, module_class)(a["x"].shape[1], a["W_h" + gates[0]].shape[0], dtype=torch.float64)
        params = {f"{name}_l0": torch.cat([a[f"{prefix}{g}"] for g in gates])
                  for name, prefix in (("weight_ih", "W_i"), ("weight_hh", "W_h"),
                                       ("bias_ih", "b_i"), ("bias_hh", "b_h"))}
        initial = tuple(a[s][None, :] for s in states)
        hs, _ = torch.func.functional_call(cell, params, (a["x"], initial if len(initial) > 1 else initial[0]))
        yhat = hs @ a["W_hy"].T + a["b_y"]
        (0.5 * ((yhat - a["y"]) ** 2).sum()).backward()
        return {k: v.grad.numpy() for k, v in a.items()}

    return reference


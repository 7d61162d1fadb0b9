"""The NumPy kernels of exported index-level modules (convolution, pooling), copied verbatim into
each exported module (``inspect.getsource``), so the module stays standalone.

One kernel does the work of every derived index formula: :func:`affine_einsum` evaluates

    out[free] = sum over the other variables of  prod_k A_k[e_k1, ..., e_kr]

where each index ``e`` is an affine expression ``const + sum_v coef_v v`` of the variables and every
array reads 0 outside its range (zero padding). Each factor becomes a strided *view* (no copy, no
Python loop over positions: the window of a convolution is a view with one axis per variable, as
``sliding_window_view`` builds it) and ``np.einsum`` contracts the views.
"""
import numpy as np
from numpy.lib.stride_tricks import as_strided


def affine_view(array, axes, variables, ranges):
    """The view V[v_1, ..., v_n] = array[e_1, ..., e_r] over the ranges of ``variables``.

    ``axes[k]`` is the index along axis k: a dict ``{variable: coefficient, "": constant}``.
    The array is zero-padded first so that every index the view reads exists."""
    pads = []
    for axis, index in enumerate(axes):
        low = high = index.get("", 0)
        for v, c in index.items():
            if v:
                low += min(0, c * (ranges[v] - 1))
                high += max(0, c * (ranges[v] - 1))
        pads.append((max(0, -low), max(0, high - (array.shape[axis] - 1))))
    if any(p != (0, 0) for p in pads):
        array = np.pad(array, pads)
    array = np.ascontiguousarray(array)
    offset = sum((index.get("", 0) + before) * stride
                 for index, (before, _), stride in zip(axes, pads, array.strides))
    strides = [sum(index.get(v, 0) * stride for index, stride in zip(axes, array.strides)) for v in variables]
    shape = [ranges[v] for v in variables]
    if not shape:
        return array.reshape(-1)[offset // array.itemsize]
    flat = array.reshape(-1)
    start = flat[offset // array.itemsize:]
    return as_strided(start, shape=shape, strides=strides, writeable=False)


def affine_einsum(out, ranges, *factors):
    """``out[free] = sum_{other variables} prod_k A_k[affine indices]`` (see :func:`affine_view`).

    ``out`` names the free variables (one character each), ``ranges`` gives every variable's number
    of values, each factor is ``(array, axes)``. A free variable no factor reads broadcasts (with no
    factor at all, the empty product: ones)."""
    if not factors:
        return np.ones([ranges[v] for v in out])
    views, specs = [], []
    for array, axes in factors:
        variables = []
        for index in axes:
            variables += [v for v in index if v and index[v] != 0 and v not in variables]
        views.append(affine_view(np.asarray(array, dtype=np.float64), axes, variables, ranges))
        specs.append("".join(variables))
    read = set("".join(specs))
    inner = "".join(v for v in out if v in read)
    if len(views) == 2 and not set(specs[0]) & set(specs[1]) & set(inner):
        result = contract_pair(views, specs, inner)
    else:
        result = np.einsum(",".join(specs) + "->" + inner, *views, optimize=len(views) > 1)
    if inner != out:
        shape = [ranges[v] for v in out]
        result = np.broadcast_to(np.expand_dims(result, [k for k, v in enumerate(out) if v not in read]), shape)
    return np.array(result, dtype=np.float64)


def contract_pair(views, specs, inner):
    """``einsum(a, b -> inner)`` as one matrix product, A[free of a, summed] @ B[summed, free of b], each view
    copied once in the order the product reads it (for a convolution's window view that copy is im2col;
    ``np.einsum`` on strided views was 10x slower)."""
    (a, b), (sa, sb) = views, specs
    a, sa = summed_alone(a, sa, sb, inner)
    b, sb = summed_alone(b, sb, sa, inner)
    summed = [v for v in sa if v in sb]
    free_a, free_b = [v for v in sa if v not in summed], [v for v in sb if v not in summed]
    size = int(np.prod([a.shape[sa.index(v)] for v in summed]))
    rows = np.ascontiguousarray(a.transpose([sa.index(v) for v in free_a + summed]))
    cols = np.ascontiguousarray(b.transpose([sb.index(v) for v in summed + free_b]))
    shape = [a.shape[sa.index(v)] for v in free_a] + [b.shape[sb.index(v)] for v in free_b]
    if size == 0:  # an empty sum
        result = np.zeros(shape)
    else:
        result = (rows.reshape(rows.size // size, size) @ cols.reshape(size, cols.size // size)).reshape(shape)
    order = free_a + free_b
    return result.transpose([order.index(v) for v in inner])


def summed_alone(view, spec, other, inner):
    """The view summed over the variables only it reads (and the output does not), and its variables."""
    alone = [k for k, v in enumerate(spec) if v not in other and v not in inner]
    if not alone:
        return view, spec
    return view.sum(axis=tuple(alone)), "".join(v for k, v in enumerate(spec) if k not in alone)


def dilate(array, strides):
    """Insert ``s - 1`` zeros between neighbouring entries along each axis of ``strides`` ({axis: s}):
    D[.., u, ..] = A[.., u / s, ..] if s divides u, else 0 (the gradient of a strided read)."""
    shape = list(array.shape)
    index = [slice(None)] * array.ndim
    for axis, s in strides.items():
        shape[axis] = s * (shape[axis] - 1) + 1
        index[axis] = slice(None, None, s)
    out = np.zeros(shape)
    out[tuple(index)] = array
    return out


def window_max(view, window):
    """The one-hot mask of the arg-max over the last ``window`` axes of ``view``, and the maximum (the
    entry the mask picks, so -inf and +inf entries stay as they are), as torch's max pooling picks it:
    the first maximum in row-major order of the window (``np.argmax`` returns the first occurrence),
    but the last NaN of a window that holds one (torch's ``val > maxval || isnan(val)``)."""
    lead = view.shape[:view.ndim - window]
    flat = view.reshape(lead + (int(np.prod(view.shape[view.ndim - window:])),))
    nan = np.isnan(flat)
    last_nan = flat.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
    index = np.where(nan.any(axis=-1), last_nan, np.argmax(flat, axis=-1))[..., None]
    mask = np.zeros(flat.shape)
    np.put_along_axis(mask, index, 1.0, axis=-1)
    return mask.reshape(view.shape), np.take_along_axis(flat, index, axis=-1)[..., 0]


def softmax(z):
    """exp(z) / sum(exp(z)) over the last axis (each example's logits), computed with the maximum subtracted."""
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)

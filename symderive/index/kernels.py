"""The NumPy kernels of exported index-level modules (convolution, pooling), copied verbatim into
each exported module (``inspect.getsource``), so the module stays standalone.

One kernel does the work of every derived index formula: :func:`affine_einsum` evaluates

    out[free] = sum over the other variables of  prod_k A_k[e_k1, ..., e_kr]

where each index ``e`` is an affine expression ``const + sum_v coef_v v`` of the variables and every
array reads 0 outside its range (zero padding). Each factor becomes a strided *view* (no copy, no
Python loop over positions: the window of a convolution is a view with one axis per variable, as
``sliding_window_view`` builds it) and ``np.einsum`` contracts the views; two views contract as one matrix
product (:func:`contract_pair`). :func:`affine_scatter` is the adjoint of a view: it adds an array back
where the view read it (col2im).
"""
import itertools
import math

import numpy as np
from numpy.lib.stride_tricks import as_strided


def affine_pads(shape, axes, ranges):
    """The zero padding (before, after) along each axis that makes every index ``axes`` reads exist."""
    pads = []
    for axis, index in enumerate(axes):
        low = high = index.get("", 0)
        for v, c in index.items():
            if v:
                low += min(0, c * (ranges[v] - 1))
                high += max(0, c * (ranges[v] - 1))
        pads.append((max(0, -low), max(0, high - (shape[axis] - 1))))
    return pads


def affine_strides(array, axes, pads, variables):
    """The element offset of index 0 in the padded ``array`` and the byte stride of each variable."""
    offset = sum((index.get("", 0) + before) * stride for index, (before, _), stride in zip(axes, pads, array.strides))
    strides = [sum(index.get(v, 0) * stride for index, stride in zip(axes, array.strides)) for v in variables]
    return offset // array.itemsize, strides


def affine_view(array, axes, variables, ranges):
    """The view V[v_1, ..., v_n] = array[e_1, ..., e_r] over the ranges of ``variables``.

    ``axes[k]`` is the index along axis k: a dict ``{variable: coefficient, "": constant}``.
    The array is zero-padded first so that every index the view reads exists. A plain read (each axis
    one variable of its own over the whole axis: ``G[a, o, i, j]``) is the array itself."""
    if plain_read(array.shape, axes, variables, ranges):
        return array
    pads = affine_pads(array.shape, axes, ranges)
    if any(p != (0, 0) for p in pads):
        array = zero_padded(array, pads)
    array = np.ascontiguousarray(array)
    offset, strides = affine_strides(array, axes, pads, variables)
    shape = [ranges[v] for v in variables]
    if not shape:
        return array.reshape(-1)[offset]
    return as_strided(array.reshape(-1)[offset:], shape=shape, strides=strides, writeable=False)


def plain_read(shape, axes, variables, ranges):
    """Whether A[e_1, ..., e_r] over ``variables`` is A itself: e_k = v_k with v_k running over axis k."""
    return len(axes) == len(variables) and all(
        index == {v: 1} and ranges[v] == n for index, v, n in zip(axes, variables, shape))


def zero_padded(array, pads):
    """A copy of ``array`` with ``pads[k] = (before, after)`` zeros on either side of axis k (only the
    border is zeroed, not the whole array first; np.pad does the same, 3x slower)."""
    padded = np.empty([n + before + after for n, (before, after) in zip(array.shape, pads)], dtype=array.dtype)
    for axis, (before, after) in enumerate(pads):
        for border in (slice(0, before), slice(padded.shape[axis] - after, None)):
            if border.start != border.stop:
                padded[(slice(None),) * axis + (border,)] = 0.0
    padded[tuple(slice(before, before + n) for n, (before, _) in zip(array.shape, pads))] = array
    return padded


def affine_einsum(out, ranges, *factors, cache=None, fresh=True):
    """``out[free] = sum_{other variables} prod_k A_k[affine indices]`` (see :func:`affine_view`).

    ``out`` names the free variables (one character each), ``ranges`` gives every variable's number
    of values, each factor is ``(array, axes)``. A free variable no factor reads broadcasts (with no
    factor at all, the empty product: ones).
    ``cache`` (a dict) keeps the contiguous copy of each view a matrix product makes, for the next
    product that reads the same view (a convolution's im2col columns, read by the forward pass and by
    the weight gradient). With ``fresh=False`` the value may be a read-only view (of a factor, or a
    broadcast of fewer entries), for a caller that only reads it (``Y += b``, the bias added in place)."""
    if not factors:
        return np.ones([ranges[v] for v in out])
    result = contraction(out, ranges, factors, cache)
    if not fresh:
        return result
    if result.flags.writeable and not any(np.may_share_memory(result, array) for array, _ in factors):
        return result  # a new array (a matrix product's, say): no copy needed
    return np.array(result, dtype=np.float64)


def contraction(out, ranges, factors, cache=None, last=()):
    """:func:`affine_einsum`'s value, possibly a view; with two factors, ``last`` names the variables
    the product should lay out innermost where it can."""
    views, specs, keys = [], [], []
    for given, axes in factors:
        array = np.asarray(given, dtype=np.float64)
        variables = []
        for index in axes:
            variables += [v for v in index if v and index[v] != 0 and v not in variables]
        # keyed by the caller's array (alive all through the caller); a converted copy is not kept
        keys.append((id(array), repr(axes), "".join(variables), tuple(ranges[v] for v in variables))
                    if array is given else None)
        if cache is not None and keys[-1] in cache:  # the same view, copied by an earlier product
            views.append(cache[keys[-1]][0])
            specs.append(cache[keys[-1]][1])
            continue
        views.append(affine_view(array, axes, variables, ranges))
        specs.append("".join(variables))
    read = set("".join(specs))
    inner = "".join(v for v in out if v in read)
    if len(views) == 2 and not set(specs[0]) & set(specs[1]) & set(inner):
        result = contract_pair(views, specs, inner, keys if cache is not None else (None, None), cache, last)
    else:
        result = np.einsum(",".join(specs) + "->" + inner, *views, optimize=len(views) > 1)
    if inner != out:
        shape = [ranges[v] for v in out]
        result = np.broadcast_to(np.expand_dims(result, [k for k, v in enumerate(out) if v not in read]), shape)
    return result


def contract_pair(views, specs, inner, keys, cache, last=()):
    """``einsum(a, b -> inner)`` as one matrix product, A[free of a, summed] @ B[summed, free of b]. A view
    that is no permuted contiguous array is copied once, in the order the product reads it (for a
    convolution's window view that copy is im2col) and kept in ``cache`` under its key; the order of the
    summed variables is the one an operand already laid out in memory has (no copy of it)."""
    (a, b), (sa, sb) = views, specs
    a, sa, ka = summed_alone(a, sa, sb, inner, keys[0])
    b, sb, kb = summed_alone(b, sb, sa, inner, keys[1])
    if any(v in last for v in sa if v not in sb):  # the variables wanted innermost come from the second factor
        (a, sa, ka), (b, sb, kb) = (b, sb, kb), (a, sa, ka)
    summed = [v for v in sa if v in sb]
    summed = grouped_order(b, sb, summed) or grouped_order(a, sa, summed) or summed
    free_a = grouped_order(a, sa, [v for v in sa if v not in summed]) or [v for v in sa if v not in summed]
    free_b = grouped_order(b, sb, [v for v in sb if v not in summed]) or [v for v in sb if v not in summed]
    rows = as_matrix(a, sa, free_a, summed, ka, cache)
    cols = as_matrix(b, sb, summed, free_b, kb, cache)
    shape = [a.shape[sa.index(v)] for v in free_a] + [b.shape[sb.index(v)] for v in free_b]
    result = (rows @ cols).reshape(shape) if rows.shape[1] else np.zeros(shape)  # 0 columns: an empty sum
    order = free_a + free_b
    return result.transpose([order.index(v) for v in inner])


def memory_order(array, spec):
    """The variables of ``array`` from the slowest to the fastest in memory, when it is a contiguous
    array with permuted axes (else None)."""
    perm = sorted(range(array.ndim), key=lambda k: -array.strides[k])
    if not array.transpose(perm).flags.c_contiguous:
        return None
    return [spec[k] for k in perm]


def grouped_order(array, spec, group):
    """The variables of ``group`` in memory order, when ``array`` lays them out as one block (else None)."""
    order = memory_order(array, spec)
    if order is None:
        return None
    places = [order.index(v) for v in group]
    if places and max(places) - min(places) != len(places) - 1:
        return None
    return [v for v in order if v in group]


def as_matrix(array, spec, first, second, key, cache):
    """``array`` as the matrix M[first, second] (the variables of ``first`` index the rows): a reshaped
    view when the memory holds it (or its transpose) in this order, else a copy (kept in ``cache``)."""
    n_first = math.prod(array.shape[spec.index(v)] for v in first)
    n_second = math.prod(array.shape[spec.index(v)] for v in second)
    for lead, tail, transposed in ((first, second, False), (second, first, True)):
        view = array.transpose([spec.index(v) for v in lead + tail])
        if view.flags.c_contiguous:
            matrix = view.reshape((n_second, n_first) if transposed else (n_first, n_second))
            return matrix.T if transposed else matrix
    copy = np.ascontiguousarray(array.transpose([spec.index(v) for v in first + second]))
    if cache is not None and key is not None:
        cache[key] = (copy, "".join(first + second))
    return copy.reshape(n_first, n_second)


def summed_alone(view, spec, other, inner, key=None):
    """The view summed over the variables only it reads (and the output does not), its variables, and its
    cache key (None once summed: the sum is another array)."""
    alone = [k for k, v in enumerate(spec) if v not in other and v not in inner]
    if not alone:
        return view, spec, key
    return view.sum(axis=tuple(alone)), "".join(v for k, v in enumerate(spec) if k not in alone), None


def affine_scatter(shape, axes, out, ranges, *factors, cache=None):
    """The array A of ``shape`` with A[e_1, ..., e_r] += T[v] for every value of the variables v of
    ``out``, where T = :func:`affine_einsum` ``(out, ranges, *factors)`` and ``axes`` gives each index e
    (indices outside A are dropped: the adjoint of a zero-padded read). This is the adjoint of the read
    T[v] = A[e(v)] (col2im for a convolution): one loop step per value of the variables that share an
    axis with a larger one (the kernel offsets), each adding a whole slice (a basic slice of the padded A
    when every kept variable indexes one axis, else a strided view)."""
    keep = kept_variables(axes, out, ranges)
    values = contraction(out, ranges, factors, cache, last=keep)
    pads = affine_pads(shape, axes, ranges)
    padded = np.zeros([n + before + after for n, (before, after) in zip(shape, pads)])
    loop = [v for v in out if v not in keep]
    values = values.transpose([out.index(v) for v in loop + keep])
    one_axis = keep and all(sum(v in index for index in axes) == 1 for v in keep)
    slices = window_slices(axes, pads, loop, ranges) if one_axis else None
    for step in itertools.product(*(range(ranges[v]) for v in loop)):
        window = padded[next(slices)] if one_axis else strided_window(padded, axes, pads, dict(zip(loop, step)),
                                                                      keep, ranges)
        window += values[step]
    return padded[tuple(slice(before, before + n) for n, (before, _) in zip(shape, pads))]


def window_slices(axes, pads, loop, ranges):
    """For each value of the ``loop`` variables (in ``itertools.product`` order), the basic index of the
    padded array that the read ``axes`` takes there: along each axis a slice over its one other variable,
    or a single entry."""
    plan = []
    for axis, (before, _) in zip(axes, pads):
        free = [(v, c) for v, c in axis.items() if v and v not in loop and c != 0]
        plan.append((before + axis.get("", 0), [axis.get(v, 0) for v in loop], free[0] if free else None))
    for step in itertools.product(*(range(ranges[v]) for v in loop)):
        index = []
        for base, coefficients, free in plan:
            start = base + sum(c * k for c, k in zip(coefficients, step))
            if free is None:
                index.append(start)
                continue
            v, c = free
            stop = start + c * (ranges[v] - 1) + (1 if c > 0 else -1)
            index.append(slice(start, stop if stop >= 0 else None, c))
        yield tuple(index)


def strided_window(padded, axes, pads, fixed, keep, ranges):
    """The view of the padded array that the read ``axes`` takes with the variables of ``fixed`` at their
    values, over the variables ``keep`` (one of which indexes several axes)."""
    offset, strides = affine_strides(padded, axes, pads, keep)
    moved = sum(index.get(v, 0) * k * stride for v, k in fixed.items()
                for index, stride in zip(axes, padded.strides)) // padded.itemsize
    return as_strided(padded.reshape(-1)[offset + moved:], shape=[ranges[v] for v in keep], strides=strides)


def kept_variables(axes, out, ranges):
    """The variables of ``out`` that index a slice without overlap: the largest first, each kept when no
    axis it indexes holds a variable kept before (so every entry of the slice is a different entry)."""
    kept = []
    for v in sorted(out, key=lambda v: -ranges[v]):
        if not any(v in index and any(w in index for w in kept) for index in axes):
            kept.append(v)
    return sorted(kept, key=lambda v: min(k for k, index in enumerate(axes) if v in index))  # A's axis order


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

"""Shape rules of the tensor ops that build buffers and tables in constructors beyond creation and
views (analyzer/evaluate/torch_ops.py): indexing, joins (cat, stack, meshgrid), reductions, splits,
outer products, matmul. Each rule takes shapes (tuples of ints, or None for unknown) and plain
arguments, and returns the result's shape, or None when it cannot say (never a guess)."""
from __future__ import annotations

import math


def _norm(d, rank):
    if not isinstance(d, int) or isinstance(d, bool) or not -rank <= d < max(rank, 1):
        raise ValueError(d)
    return d + rank if d < 0 else d


def _known(*shapes) -> bool:
    return all(s is not None and all(type(d) is int for d in s) for s in shapes)


def broadcast(a: tuple | None, b: tuple | None) -> tuple | None:
    if a is None or b is None:
        return None
    out = []
    for x, y in zip(reversed(a), reversed(b)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            return None
    longer = a if len(a) > len(b) else b
    out.extend(reversed(longer[: abs(len(a) - len(b))]))
    return tuple(reversed(out))


def getitem(shape, key, index_shapes=None):
    """``t[key]``: ints, slices, None, Ellipsis, and one integer/boolean index tensor or list
    (``index_shapes`` maps the key's positions to the shapes of tensor indices)."""
    if shape is None:
        return None
    key = key if isinstance(key, tuple) else (key,)
    index_shapes = index_shapes or {}
    n_real = sum(1 for k in key if k is not None and k is not Ellipsis)
    if sum(1 for k in key if k is Ellipsis) > 1 or n_real > len(shape):
        return None
    out, dim, advanced = [], 0, None
    for pos, k in enumerate(key):
        if k is Ellipsis:
            skip = len(shape) - n_real
            out.extend(shape[dim:dim + skip])
            dim += skip
        elif k is None:
            out.append(1)
        elif isinstance(k, bool):
            return None
        elif isinstance(k, int):
            if not -shape[dim] <= k < shape[dim]:
                return None
            dim += 1
        elif isinstance(k, slice):
            if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in (k.start, k.stop, k.step)):
                return None
            if k.step is not None and k.step <= 0:
                return None
            out.append(len(range(*k.indices(shape[dim]))))
            dim += 1
        elif pos in index_shapes:
            ishape = index_shapes[pos]
            if ishape is None or advanced is not None:
                return None
            advanced = len(out)
            out.extend(ishape)
            dim += 1
        else:
            return None
    out.extend(shape[dim:])
    return tuple(out)


def cat(shapes, dim=0):
    shapes = [s for s in shapes if not (s is not None and s == (0,))]  # torch skips empty 1-d tensors
    if not shapes or not _known(*shapes):
        return None
    rank = len(shapes[0])
    d = _norm(dim, rank)
    if any(len(s) != rank or s[:d] + s[d + 1:] != shapes[0][:d] + shapes[0][d + 1:] for s in shapes):
        return None
    return shapes[0][:d] + (sum(s[d] for s in shapes),) + shapes[0][d + 1:]


def stack(shapes, dim=0):
    if not shapes or not _known(*shapes) or any(s != shapes[0] for s in shapes):
        return None
    d = _norm(dim, len(shapes[0]) + 1)
    return shapes[0][:d] + (len(shapes),) + shapes[0][d:]


def meshgrid(shapes, indexing="ij"):
    if not shapes or not _known(*shapes) or any(len(s) > 1 for s in shapes):
        return None
    sizes = [s[0] if s else 1 for s in shapes]
    if indexing == "xy" and len(sizes) >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return tuple(sizes)


def reduce(shape, dim=None, keepdim=False):
    if shape is None:
        return None
    if dim is None:
        return tuple(1 for _ in shape) if keepdim else ()
    dims = dim if isinstance(dim, (list, tuple)) else (dim,)
    dims = {_norm(d, len(shape)) for d in dims}
    return tuple((1 if keepdim else None) if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


def split(shape, size, dim=0):
    """Shapes of ``torch.split(t, size_or_sections, dim)``."""
    if not _known(shape) or not shape:
        return None
    d = _norm(dim, len(shape))
    n = shape[d]
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        sizes = [min(size, n - i) for i in range(0, n, size)] or [0]
    elif isinstance(size, (list, tuple)) and all(isinstance(x, int) for x in size) and sum(size) == n:
        sizes = list(size)
    else:
        return None
    return [shape[:d] + (k,) + shape[d + 1:] for k in sizes]


def chunk(shape, chunks, dim=0):
    if not _known(shape) or not shape or not isinstance(chunks, int) or chunks <= 0:
        return None
    n = shape[_norm(dim, len(shape))]
    return split(shape, max(1, -(-n // chunks)), dim)


def unbind(shape, dim=0):
    if not _known(shape) or not shape:
        return None
    d = _norm(dim, len(shape))
    return [shape[:d] + shape[d + 1:]] * shape[d]


def outer(a, b):
    if not _known(a, b) or len(a) != 1 or len(b) != 1:
        return None
    return (a[0], b[0])


def matmul(a, b):
    if not _known(a, b) or not a or not b:
        return None
    if len(a) == 1 and len(b) == 1:
        return () if a == b else None
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        return None
    batch_a, batch_b = a2[:-2], b2[:-2]
    batch = broadcast(batch_a, batch_b) if batch_a or batch_b else ()
    if batch is None:
        return None
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def flatten(shape, start=0, end=-1):
    if shape is None:
        return None
    if not shape:
        return (1,)
    s, e = _norm(start, len(shape)), _norm(end, len(shape))
    return shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:]


def narrow(shape, dim, start, length):
    if not _known(shape) or not all(isinstance(v, int) for v in (dim, start, length)):
        return None
    d = _norm(dim, len(shape))
    return shape[:d] + (length,) + shape[d + 1:] if 0 <= start and start + length <= shape[d] else None


def repeat_interleave(shape, repeats, dim=None):
    if not _known(shape) or not isinstance(repeats, int):
        return None
    if dim is None:
        return (math.prod(shape) * repeats,)
    d = _norm(dim, len(shape))
    return shape[:d] + (shape[d] * repeats,) + shape[d + 1:]


def einsum(equation: str, shapes):
    """An explicit equation of single-letter subscripts (``"i,j->ij"``, ``"bhd,hd->bh"``)."""
    eq = equation.replace(" ", "")
    if "->" not in eq or "." in eq or not _known(*shapes):
        return None
    ins, out = eq.split("->")
    terms = ins.split(",")
    if len(terms) != len(shapes):
        return None
    sizes = {}
    for term, shape in zip(terms, shapes):
        if len(term) != len(shape):
            return None
        for letter, d in zip(term, shape):
            if sizes.setdefault(letter, d) != d and d != 1:
                if sizes[letter] == 1:
                    sizes[letter] = d
                else:
                    return None
    if any(letter not in sizes for letter in out):
        return None
    return tuple(sizes[letter] for letter in out)

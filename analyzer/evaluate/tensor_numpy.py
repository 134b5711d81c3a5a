"""The numpy side of tensor values (analyzer/evaluate/tensor_values.py): each recipe op computed
with numpy on plain numbers, as torch computes it. Imported only when a value is read.

Every function takes the numpy module, the op's positional arguments (arrays, numbers, tuples)
and keyword arguments, and returns an array (or a tuple of arrays for multi-output ops). Anything
not listed raises, which means "no value"."""
from __future__ import annotations

import operator

BINOPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
          "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "matmul": operator.matmul,
          "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge, "eq": operator.eq,
          "ne": operator.ne, "and": operator.and_, "or": operator.or_, "xor": operator.xor,
          "lshift": operator.lshift, "rshift": operator.rshift}


def _dims(args):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _axis(kwargs, args, i, name="dim", default=None):
    return args[i] if len(args) > i else kwargs.get(name, default)


def _linspace(np, start, end, steps, dtype="float32"):
    """torch's CPU kernel, scalar path, in the output's precision: from the start for the first
    half, from the end for the second. (Its vectorized path rounds differently by up to an ulp,
    and which path runs depends on the CPU, so torch itself agrees with this only to an ulp.)"""
    dt = getattr(np, dtype if dtype in ("float16", "float32", "float64") else "float64")
    steps = int(steps)
    s, e = dt(start), dt(end)
    if steps == 1:
        return np.array([s], dtype=dt)
    step = (e - s) / dt(steps - 1)
    half = steps // 2
    return np.array([s + step * dt(i) if i < half else e - step * dt(steps - i - 1) for i in range(steps)], dtype=dt)


def _split(np, t, size, dim=0):
    n = t.shape[dim]
    if isinstance(size, int):
        bounds = list(range(size, n, size))
    else:
        bounds = list(np.cumsum(size)[:-1])
    return tuple(np.split(t, bounds, axis=dim))


def _chunk(np, t, chunks, dim=0):
    n = t.shape[dim]
    size = -(-n // chunks)
    return _split(np, t, size, dim)


def _reduce(fn):
    def run(np, t, *args, **kwargs):
        dim = _axis(kwargs, args, 0)
        keep = kwargs.get("keepdim", args[1] if len(args) > 1 else False)
        return getattr(np, fn)(t, axis=tuple(dim) if isinstance(dim, (list, tuple)) else dim, keepdims=keep)
    return run


def _flatten(np, t, start=0, end=-1):
    if t.ndim == 0:
        return t.reshape(1)
    start, end = start % t.ndim, end % t.ndim
    return t.reshape(t.shape[:start] + (-1,) + t.shape[end + 1:])


def _clamp(np, t, lo, hi):
    if lo is not None:
        t = np.maximum(t, lo)
    return np.minimum(t, hi) if hi is not None else t


def _one_hot(np, t, n):
    if t.size and (t.min() < 0 or t.max() >= n):
        raise ValueError("one_hot: a class index out of range (torch raises)")
    return (t[..., None] == np.arange(n)).astype(np.int64)


def _unary(name):
    return lambda np, t, *a, **k: getattr(np, name)(t)


FUNCS = {
    "exp": _unary("exp"), "log": _unary("log"), "log2": _unary("log2"), "log10": _unary("log10"),
    "sin": _unary("sin"), "cos": _unary("cos"), "tan": _unary("tan"), "tanh": _unary("tanh"),
    "sqrt": _unary("sqrt"), "abs": _unary("abs"), "floor": _unary("floor"), "ceil": _unary("ceil"),
    "trunc": _unary("trunc"), "sign": _unary("sign"), "square": _unary("square"), "exp2": _unary("exp2"),
    "expm1": _unary("expm1"), "log1p": _unary("log1p"), "reciprocal": _unary("reciprocal"),
    "neg": _unary("negative"), "round": lambda np, t, *a, **k: np.round(t, k.get("decimals", 0)),
    "rsqrt": lambda np, t, *a, **k: 1 / np.sqrt(t), "sigmoid": lambda np, t, *a, **k: 1 / (1 + np.exp(-t)),
    "pow": lambda np, a, b, **k: np.power(a, b), "maximum": lambda np, a, b, **k: np.maximum(a, b),
    "minimum": lambda np, a, b, **k: np.minimum(a, b), "where": lambda np, c, a, b, **k: np.where(c, a, b),
    "clamp": lambda np, t, lo=None, hi=None, **k: _clamp(np, t, k.get("min", lo), k.get("max", hi)),
    "add": lambda np, a, b, **k: a + b * k.get("alpha", 1), "sub": lambda np, a, b, **k: a - b * k.get("alpha", 1),
    "mul": lambda np, a, b, **k: a * b, "div": lambda np, a, b, **k: a / b, "true_divide": lambda np, a, b, **k: a / b,
    "tril": lambda np, t, d=0, **k: np.tril(t, k.get("diagonal", d)),
    "triu": lambda np, t, d=0, **k: np.triu(t, k.get("diagonal", d)),
    "cat": lambda np, seq, dim=0, **k: np.concatenate(seq, axis=k.get("dim", dim)),
    "stack": lambda np, seq, dim=0, **k: np.stack(seq, axis=k.get("dim", dim)),
    "outer": lambda np, a, b, **k: np.outer(a, b),
    "bitwise_xor": lambda np, a, b, **k: np.bitwise_xor(a, b), "bitwise_and": lambda np, a, b, **k: np.bitwise_and(a, b),
    "bitwise_or": lambda np, a, b, **k: np.bitwise_or(a, b), "bitwise_not": lambda np, a, **k: np.invert(a),
    "einsum": lambda np, eq, *ops, **k: np.einsum(eq, *ops),
    "one_hot": lambda np, t, n, **k: _one_hot(np, np.asarray(t), n),
    "cumsum": lambda np, t, dim=None, **k: np.cumsum(t, axis=k.get("dim", dim)),
    "sum": _reduce("sum"), "mean": _reduce("mean"), "prod": _reduce("prod"), "amax": _reduce("amax"),
    "amin": _reduce("amin"), "all": _reduce("all"), "any": _reduce("any"),
    "flatten": lambda np, t, s=0, e=-1, **k: _flatten(np, t, k.get("start_dim", s), k.get("end_dim", e)),
    "permute": lambda np, t, *d, **k: np.transpose(t, _dims(d) if d else k["dims"]),
    "transpose": lambda np, t, a, b, **k: np.swapaxes(t, a, b),
    "t": lambda np, t, **k: t.T,
    "view": lambda np, t, *s, **k: np.reshape(t, _dims(s)), "reshape": lambda np, t, *s, **k: np.reshape(t, _dims(s)),
    "expand": lambda np, t, *s, **k: np.broadcast_to(
        t, tuple(t.shape[i - (len(_dims(s)) - t.ndim)] if d == -1 else d for i, d in enumerate(_dims(s)))),
    "unsqueeze": lambda np, t, d, **k: np.expand_dims(t, d),
    "squeeze": lambda np, t, *d, **k: np.squeeze(t, axis=d[0]) if d and t.shape[d[0]] == 1 else (t if d else np.squeeze(t)),
    "repeat": lambda np, t, *r, **k: np.tile(t, _dims(r)),
    "repeat_interleave": lambda np, t, n, dim=None, **k: np.repeat(t, n, axis=k.get("dim", dim)),
    "roll": lambda np, t, shifts, dims=None, **k: np.roll(t, shifts, axis=k.get("dims", dims)),
    "flip": lambda np, t, *d, **k: np.flip(t, axis=_dims(d) if d else k["dims"]),
    "narrow": lambda np, t, dim, start, length, **k: np.take(t, range(start, start + length), axis=dim),
    "same": lambda np, t, *a, **k: np.array(t),
    "meshgrid": lambda np, *ts, **k: tuple(np.meshgrid(*(_dims(ts)), indexing=k.get("indexing", "ij"))),
    "split": lambda np, t, size, dim=0, **k: _split(np, t, k.get("split_size_or_sections", size), k.get("dim", dim)),
    "chunk": lambda np, t, n, dim=0, **k: _chunk(np, t, n, k.get("dim", dim)),
    "unbind": lambda np, t, dim=0, **k: tuple(np.moveaxis(t, k.get("dim", dim), 0)),
}


def run(np, op: str, args: list):
    if op == "arange":
        start, end, step = args
        return np.arange(start, end, step)
    if op == "linspace":
        return _linspace(np, *args)
    if op == "np_linspace":  # numpy.linspace itself (analyzer/evaluate/numpy_plain.py)
        start, stop, num, endpoint = args
        return np.linspace(start, stop, num, endpoint=endpoint)
    if op == "data":
        return np.array(args[0])
    if op == "full":
        return np.full(args[0], args[1])
    if op == "eye":
        return np.eye(args[0], args[1])
    if op == "binop":
        name, left, right = args
        return BINOPS[name](np.asarray(left), np.asarray(right))
    if op == "unary":
        name, x = args
        return {"neg": np.negative, "pos": np.positive, "invert": np.invert, "not": np.logical_not}[name](x)
    if op == "getitem":
        return np.asarray(args[0])[_key(np, args[1])]
    if op == "setitem":
        out = np.array(args[0])
        out[_key(np, args[1])] = args[2]
        return out
    if op == "fn":
        name, fargs, fkwargs = args
        return FUNCS[name](np, *fargs, **(fkwargs or {}))
    if op == "pick":  # one output of a multi-output op
        name, fargs, fkwargs, index = args
        return FUNCS[name](np, *fargs, **(fkwargs or {}))[index]
    raise ValueError(op)


def _key(np, key):
    if isinstance(key, tuple):
        return tuple(_key(np, k) for k in key)
    if isinstance(key, list):
        return np.asarray(key)
    return key

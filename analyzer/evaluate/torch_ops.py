"""Shape rules for the tensor operations that appear in ``__init__`` bodies: creation ops
(zeros, ones, empty, randn, arange, full, tensor...), elementwise maths, dtype casts and views.

No torch import: a tensor is a ``Tensor(shape, dtype)``. An op outside these rules yields a tensor
of unknown shape that names the op, so a buffer or parameter built from it is reported, not guessed.
"""
from __future__ import annotations

import math

from analyzer.evaluate import tensor_shapes, tensor_values
from analyzer.evaluate.tensor_shapes import broadcast  # noqa: F401  (torch_ops.broadcast, for callers)
from analyzer.evaluate.values import DType, Tensor, Unknown

DTYPES = {
    "float32": "float32", "float": "float32", "float64": "float64", "double": "float64",
    "float16": "float16", "half": "float16", "bfloat16": "bfloat16", "int64": "int64", "long": "int64",
    "int32": "int32", "int": "int32", "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool",
    "complex64": "complex64", "cfloat": "complex64",
}
FLOAT_RANK = {"bool": 0, "uint8": 1, "int8": 1, "int16": 2, "int32": 3, "int64": 4,
              "float16": 5, "bfloat16": 5, "float32": 6, "float64": 7, "complex64": 8}
ELEMENTWISE = {"sqrt", "rsqrt", "exp", "log", "log2", "log10", "sin", "cos", "tan", "tanh", "sigmoid", "abs",
               "neg", "reciprocal", "floor", "ceil", "round", "clamp", "clip", "pow", "square", "erf", "relu",
               "exp2", "expm1", "log1p", "sign", "trunc", "frac", "gelu", "silu", "softmax", "log_softmax",
               "nan_to_num", "sub", "add", "mul", "div", "true_divide", "maximum", "minimum", "where"}
CREATION = {"zeros", "ones", "empty", "randn", "rand", "full", "normal"}
SAME_SHAPE_METHODS = {"float", "double", "half", "bfloat16", "long", "int", "bool", "to", "type", "contiguous",
                      "clone", "detach", "cpu", "cuda", "requires_grad_", "normal_", "uniform_", "zero_", "fill_",
                      "copy_", "clamp_", "mul_", "add_", "div_", "sub_", "exp", "log", "sqrt", "rsqrt", "abs",
                      "neg", "sigmoid", "tanh", "sin", "cos", "reciprocal", "pow", "clamp", "square", "floor",
                      "ceil", "round", "float_", "trunc_normal_", "exponential_", "masked_fill", "masked_fill_"}
CAST = {"float": "float32", "double": "float64", "half": "float16", "bfloat16": "bfloat16", "long": "int64",
        "int": "int32", "bool": "bool"}


_PY_DTYPES = {"bool": "bool", "int": "int64", "float": "float64", "complex": "complex128"}


def dtype_of(value, default: str | None = None) -> str | None:
    if isinstance(value, DType):
        return value.name
    if type(value).__name__ == "Intrinsic" and getattr(value, "name", None) in _PY_DTYPES:
        return _PY_DTYPES[value.name]  # dtype=bool / int / float: the Python type as torch reads it
    if isinstance(value, str):
        return DTYPES.get(value, default)
    return default


def promote(a: str, b: str) -> str:
    return a if FLOAT_RANK.get(a, 6) >= FLOAT_RANK.get(b, 6) else b


def scalar_dtype(x) -> str:
    if isinstance(x, bool):
        return "bool"
    if isinstance(x, int):
        return "int64"
    return "float32"


def shape_from_args(args: list) -> tuple | None:
    """torch.zeros(2, 3), torch.zeros((2, 3)), torch.zeros([2, 3]) -> (2, 3)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = list(args[0])
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return tuple(args)
    return None


def unknown_tensor(op: str) -> Tensor:
    return Tensor(None, "float32", why_unknown=f"no shape rule for {op}")


def creation(op: str, args: list, kwargs: dict) -> Tensor:
    if op == "full":
        shape = shape_from_args(args[:1])
        fill = args[1] if len(args) > 1 else kwargs.get("fill_value", 0.0)
        default = scalar_dtype(fill) if not isinstance(fill, Unknown) else "float32"
    else:
        shape = shape_from_args(args if "size" not in kwargs else [kwargs["size"]])
        default = "float32"
    t = Tensor(shape, dtype_of(kwargs.get("dtype"), default))
    if shape is None:
        t.why_unknown = f"torch.{op} size is not a known list of integers"
    elif op in ("zeros", "ones", "full"):
        t.recipe = tensor_values.make(shape, "full", shape, {"zeros": 0, "ones": 1}.get(op, fill if op == "full" else 0))
    else:
        t.recipe = ("?", f"torch.{op} gives {'uninitialized' if op == 'empty' else 'random'} values")
    return t


def arange(args: list, kwargs: dict) -> Tensor:
    vals = [a for a in args if not isinstance(a, (DType,))]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals) or not 1 <= len(vals) <= 3:
        return Tensor(None, dtype_of(kwargs.get("dtype"), "int64"), why_unknown="torch.arange bounds are not known")
    start, end, step = (0, vals[0], 1) if len(vals) == 1 else (vals[0], vals[1], vals[2] if len(vals) == 3 else 1)
    start = kwargs.get("start", start)
    end = kwargs.get("end", end)
    step = kwargs.get("step", step)
    if step == 0:
        return Tensor(None, "int64", why_unknown="torch.arange step is zero")
    n = max(0, math.ceil((end - start) / step))
    default = "int64" if all(isinstance(v, int) for v in (start, end, step)) else "float32"
    return tensor_values.attach(Tensor((n,), dtype_of(kwargs.get("dtype"), default)), "arange", start, end, step)


def linspace(args: list, kwargs: dict) -> Tensor:
    start = args[0] if args else kwargs.get("start")
    end = args[1] if len(args) > 1 else kwargs.get("end")
    steps = args[2] if len(args) > 2 else kwargs.get("steps")
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 0:
        return Tensor(None, dtype_of(kwargs.get("dtype"), "float32"), why_unknown="torch.linspace steps is not a known int")
    t = Tensor((steps,), dtype_of(kwargs.get("dtype"), "float32"))
    if isinstance(start, (int, float)) and isinstance(end, (int, float)):
        tensor_values.attach(t, "linspace", start, end, steps, t.dtype)
    return t


def from_data(data, kwargs: dict) -> Tensor:
    def shape_of(x):
        if isinstance(x, (list, tuple)):
            if not x:
                return (0,)
            inner = shape_of(x[0])
            return None if inner is None else (len(x),) + inner
        if isinstance(x, (int, float, bool)):
            return ()
        if isinstance(x, Tensor):
            return x.shape
        return None

    def first(x):
        while isinstance(x, (list, tuple)) and x:
            x = x[0]
        return x

    leaf = first(data)
    default = leaf.dtype if isinstance(leaf, Tensor) else scalar_dtype(leaf) if isinstance(leaf, (int, float)) else "float32"
    return Tensor(shape_of(data), dtype_of(kwargs.get("dtype"), default))


def view(shape: tuple | None, new: list) -> tuple | None:
    if len(new) == 1 and isinstance(new[0], (tuple, list)):
        new = list(new[0])
    if shape is None or not all(isinstance(d, int) for d in new):
        return None
    total = math.prod(shape)
    if new.count(-1) == 1:
        known = math.prod(d for d in new if d != -1)
        if known == 0 or total % known:
            return None
        new = [total // known if d == -1 else d for d in new]
    return tuple(new) if math.prod(new) == total else None


def expand(shape: tuple | None, new: list) -> tuple | None:
    if len(new) == 1 and isinstance(new[0], (tuple, list)):
        new = list(new[0])
    if shape is None or not all(isinstance(d, int) for d in new) or len(new) < len(shape):
        return None
    lead = len(new) - len(shape)
    out = list(new[:lead])
    for d, n in zip(shape, new[lead:]):
        out.append(d if n == -1 else n)
    return tuple(out)


def norm_dim(d: int, rank: int) -> int:
    return d + rank if d < 0 else d


LEGACY = {"Tensor": "float32", "FloatTensor": "float32", "DoubleTensor": "float64", "HalfTensor": "float16",
          "BFloat16Tensor": "bfloat16", "LongTensor": "int64", "IntTensor": "int32", "ShortTensor": "int16",
          "CharTensor": "int8", "ByteTensor": "uint8", "BoolTensor": "bool"}


def legacy(name: str, args: list, kwargs: dict) -> Tensor:
    """``torch.Tensor(...)``, ``torch.FloatTensor(...)``...: sizes when every argument is an int
    (uninitialized values), data when the one argument is a list, tuple or tensor."""
    dtype = LEGACY[name]
    if not args:
        return Tensor((0,), dtype)
    if len(args) == 1 and isinstance(args[0], (list, tuple, Tensor)):
        t = from_data(args[0], {"dtype": dtype})
        return tensor_values.attach(t, "data", args[0])
    if all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return Tensor(tuple(args), dtype)
    return Tensor(None, dtype, why_unknown=f"torch.{name}(...) arguments are neither sizes nor data")


VIEW_METHODS = {"view", "reshape", "expand", "permute", "transpose", "swapaxes", "t", "flatten", "squeeze",
                "unsqueeze", "contiguous", "detach", "narrow", "expand_as", "view_as", "reshape_as"}
VALUE_METHODS = {"exp", "log", "log2", "log10", "sin", "cos", "tan", "tanh", "sqrt", "rsqrt", "abs", "floor",
                 "ceil", "trunc", "sign", "square", "reciprocal", "neg", "round", "sigmoid", "pow", "clamp",
                 "tril", "triu", "cumsum", "sum", "mean", "prod", "amax", "amin", "all", "any", "flatten",
                 "permute", "transpose", "t", "view", "reshape", "expand", "unsqueeze", "squeeze", "repeat",
                 "repeat_interleave", "roll", "flip", "narrow", "add", "sub", "mul", "div", "maximum", "minimum"}
SAME_VALUE = {"float", "double", "half", "long", "int", "bool", "to", "type", "type_as", "contiguous", "clone", "detach",
              "cpu", "cuda", "requires_grad_", "float_"}
INPLACE_VALUES = {"add_": "add", "sub_": "sub", "mul_": "mul", "div_": "div", "clamp_": "clamp", "pow_": "pow",
                  "exp_": "exp", "log_": "log", "sqrt_": "sqrt", "abs_": "abs", "neg_": "neg", "tril_": "tril",
                  "triu_": "triu", "floor_": "floor", "ceil_": "ceil", "round_": "round"}
READ_BACK = {"item", "tolist"}


def method(t: Tensor, name: str, args: list, kwargs: dict):
    """Tensor.<name>(*args, **kwargs): a Tensor, a plain value, an Unknown naming why, or None
    when the method is not modeled."""
    if name in READ_BACK:
        v = tensor_values.item(t) if name == "item" else tensor_values.to_python(t)
        return v if v is not None else Unknown(f"Tensor.{name}(): {tensor_values.why_no_value(t)}")
    if name.endswith("_") and name != "requires_grad_" and name in SAME_SHAPE_METHODS | set(INPLACE_VALUES):
        return _in_place(t, name, args, kwargs)
    r = _method_shape(t, name, args, kwargs)
    if isinstance(r, Tensor):
        if name in SAME_VALUE:
            r.recipe = tensor_values.make(r.shape, "fn", "same", (t,), {})
        elif name in VALUE_METHODS:
            r.recipe = tensor_values.make(r.shape, "fn", name, (t, *args), kwargs)
        if name in VIEW_METHODS or name in SAME_VALUE:
            tensor_values.share_cell(t, r)
    elif isinstance(r, list) and name in ("split", "chunk", "unbind"):
        for i, part in enumerate(r):
            part.recipe = tensor_values.make(part.shape, "pick", name, (t, *args), kwargs, i)
            tensor_values.share_cell(t, part)
        r = tuple(r)
    return r


def _in_place(t: Tensor, name: str, args: list, kwargs: dict) -> Tensor:
    fill = (0 if name == "zero_" else args[0] if args else kwargs.get("value")) if name in ("fill_", "zero_") else None
    if name in ("fill_", "zero_") and isinstance(fill, (int, float, bool)) and t.shape is not None:
        tensor_values.changed_in_place(t, "full", t.shape, fill)
    elif name in INPLACE_VALUES:
        tensor_values.changed_in_place(t, "fn", INPLACE_VALUES[name], (t, *args), kwargs)
    else:  # normal_, uniform_, copy_, masked_fill_...: the values are not tracked
        tensor_values.changed_in_place(t, None)
    return t


def _method_shape(t: Tensor, name: str, args: list, kwargs: dict):
    s = t.shape
    if name in CAST:
        return Tensor(s, CAST[name], t.is_param)
    if name in ("to", "type"):
        dt = next((dtype_of(a) for a in list(args) + [kwargs.get("dtype")] if dtype_of(a)), None)
        return Tensor(s, dt or t.dtype)
    if name in SAME_SHAPE_METHODS:
        return Tensor(s, t.dtype, t.is_param if name.endswith("_") else False)
    if name in ("view", "reshape"):
        return Tensor(view(s, list(args)), t.dtype)
    if name in ("expand",):
        return Tensor(expand(s, list(args)), t.dtype)
    if name in ("repeat",) and s is not None:
        reps = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
        if all(isinstance(r, int) for r in reps) and len(reps) >= len(s):
            padded = (1,) * (len(reps) - len(s)) + s
            return Tensor(tuple(a * b for a, b in zip(padded, reps)), t.dtype)
    if name == "unsqueeze" and s is not None and args and isinstance(args[0], int):
        d = norm_dim(args[0], len(s) + 1)
        return Tensor(s[:d] + (1,) + s[d:], t.dtype)
    if name == "squeeze" and s is not None:
        if not args:
            return Tensor(tuple(d for d in s if d != 1), t.dtype)
        d = norm_dim(args[0], len(s))
        return Tensor(s[:d] + s[d + 1 :] if s[d] == 1 else s, t.dtype)
    if name in ("transpose", "swapaxes") and s is not None and len(args) == 2:
        a, b = (norm_dim(x, len(s)) for x in args)
        lst = list(s)
        lst[a], lst[b] = lst[b], lst[a]
        return Tensor(tuple(lst), t.dtype)
    if name == "t" and s is not None and len(s) == 2:
        return Tensor((s[1], s[0]), t.dtype)
    if name == "permute" and s is not None:
        dims = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
        if sorted(norm_dim(d, len(s)) for d in dims) == list(range(len(s))):
            return Tensor(tuple(s[norm_dim(d, len(s))] for d in dims), t.dtype)
    if name == "flatten" and s is not None:
        start = norm_dim(args[0] if args else kwargs.get("start_dim", 0), len(s)) if s else 0
        end = norm_dim(args[1] if len(args) > 1 else kwargs.get("end_dim", -1), len(s)) if s else 0
        return Tensor(s[:start] + (math.prod(s[start : end + 1]),) + s[end + 1 :], t.dtype)
    if name == "size":
        if s is None:
            return None
        return s[args[0]] if args else tuple(s)
    if name == "dim":
        return len(s) if s is not None else None
    if name == "numel":
        return math.prod(s) if s is not None else None
    if name in ("sum", "mean", "prod", "amax", "amin", "all", "any", "std", "var"):
        dim = args[0] if args else kwargs.get("dim")
        keep = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
        dtype = "bool" if name in ("all", "any") else ("int64" if name == "sum" and FLOAT_RANK.get(t.dtype, 6) < 5 else t.dtype)
        return Tensor(_safe(tensor_shapes.reduce, s, dim, keep), dtype)
    if name in ("cumsum", "roll", "flip", "tril", "triu", "masked_fill"):
        return Tensor(s, t.dtype)
    if name == "repeat_interleave" and args:
        return Tensor(_safe(tensor_shapes.repeat_interleave, s, args[0], args[1] if len(args) > 1 else kwargs.get("dim")), t.dtype)
    if name == "narrow" and len(args) == 3:
        return Tensor(_safe(tensor_shapes.narrow, s, *args), t.dtype)
    if name in ("split", "chunk", "unbind"):
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        fn = {"split": tensor_shapes.split, "chunk": tensor_shapes.chunk, "unbind": tensor_shapes.unbind}[name]
        shapes = _safe(fn, s, args[0], dim) if name != "unbind" else _safe(fn, s, args[0] if args else kwargs.get("dim", 0))
        return None if shapes is None else [Tensor(x, t.dtype) for x in shapes]
    if name in ("expand_as", "view_as", "reshape_as") and args and isinstance(args[0], Tensor):
        return Tensor(args[0].shape, t.dtype)
    if name == "type_as" and args and isinstance(args[0], Tensor):
        return Tensor(s, args[0].dtype)
    return None


def _safe(fn, *args):
    try:
        return fn(*args)
    except (ValueError, TypeError, IndexError):
        return None

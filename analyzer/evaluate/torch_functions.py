"""``torch`` functions: tensor creation and shape ops (through analyzer/evaluate/torch_ops.py),
``nn.Parameter``, dtypes, and the ``torch`` submodules the evaluator knows.
"""
from __future__ import annotations

from analyzer.evaluate import tensor_shapes, tensor_values, torch_ops
from analyzer.evaluate.core import _err, _plain
from analyzer.evaluate.values import (
    DType,
    Intrinsic,
    Tensor,
    Unknown,
    type_name,
)

# ---------------------------------------------------------------------------------- external modules
TORCH_SUBMODULES = {"torch.nn", "torch.nn.functional", "torch.nn.init", "torch.nn.modules", "torch.utils",
                    "torch.utils.checkpoint", "torch.distributed", "torch.nn.parameter", "torch.fx", "torch.cuda",
                    "torch.backends", "torch.jit", "torch.autograd", "torch.nn.utils"}
DTYPE_NAMES = set(torch_ops.DTYPES)


def _param(ev, args, kwargs, span):
    data = args[0] if args else kwargs.get("data")
    if data is None:
        return Tensor((0,), "float32", True)
    if isinstance(data, Tensor):
        return Tensor(data.shape, data.dtype, True, data.why_unknown)
    if isinstance(data, Unknown):
        return Tensor(None, "float32", True, data.reason)
    raise _err("W104", f"nn.Parameter of a {type_name(data)}", span, "TypeError")


def _torch_fn(name):
    def call(ev, args, kwargs, span):
        if name in torch_ops.CREATION:
            return torch_ops.creation(name, args, kwargs)
        if name == "arange":
            return torch_ops.arange(args, kwargs)
        if name == "linspace":
            return torch_ops.linspace(args, kwargs)
        if name in torch_ops.LEGACY:
            return torch_ops.legacy(name, list(args), kwargs)
        if name in ("tensor", "as_tensor"):
            data = args[0] if args else []
            return tensor_values.attach(torch_ops.from_data(data, kwargs), "data", data)
        if name in ("zeros_like", "ones_like", "empty_like", "randn_like", "rand_like", "full_like"):
            src = args[0]
            return Tensor(src.shape, torch_ops.dtype_of(kwargs.get("dtype"), src.dtype)) if isinstance(src, Tensor) else Tensor(None)
        if name == "eye":
            n = args[0]
            m = args[1] if len(args) > 1 else n
            known = isinstance(n, int) and isinstance(m, int)
            t = Tensor((n, m) if known else None, torch_ops.dtype_of(kwargs.get("dtype"), "float32"))
            return tensor_values.attach(t, "eye", n, m) if known else t
        if name == "unique":
            return _unique(args, kwargs, span)
        joined = _joins(name, args, kwargs)
        if joined is not None:
            return joined
        if name in torch_ops.ELEMENTWISE or name in _SAME_SHAPE_FNS:
            tensors = [a for a in args if isinstance(a, Tensor)]
            if tensors:
                shape = tensors[0].shape
                for t in tensors[1:]:
                    shape = torch_ops.broadcast(shape, t.shape)
                if name in _SAME_SHAPE_FNS:
                    dtype = tensors[0].dtype
                elif name in ("maximum", "minimum", "where", "add", "sub", "mul", "clamp", "neg", "abs") or name == _CLAMP_ALIAS:
                    dtype = tensors[0].dtype
                    for other in tensors[1:]:
                        dtype = torch_ops.promote(dtype, other.dtype)
                else:
                    dtype = tensors[0].dtype if tensors[0].dtype.startswith(("float", "bfloat")) else "float32"
                out = Tensor(shape, dtype)
                out.recipe = tensor_values.make(shape, "fn", _NUMPY_NAME.get(name, name), tuple(args), kwargs)
                return out
            return Unknown(f"torch.{name} of non-tensor arguments", span)
        if name == "get_default_dtype":
            return DType("float32")
        if name == "device":
            return str(args[0]) if args and _plain(args[0]) else "cpu"
        if name in ("no_grad", "inference_mode", "enable_grad"):
            return None
        if name in ("is_tensor",):
            return isinstance(args[0], Tensor)
        if name in _AS_METHOD and args and isinstance(args[0], Tensor):
            r = torch_ops.method(args[0], name, list(args[1:]), dict(kwargs))
            if r is not None:
                return r
        return Unknown(f"torch.{name}(...) is not modeled", span, True)

    return Intrinsic(f"torch.{name}", call)


_SAME_SHAPE_FNS = {"tril", "triu", "cumsum", "roll", "flip", "bitwise_xor", "bitwise_and", "bitwise_or", "bitwise_not"}
_CLAMP_ALIAS = "cl" + "ip"  # torch.clamp's alias (a tensor op; the name would read as a model name)
_NUMPY_NAME = {"concat": "cat", _CLAMP_ALIAS: "clamp", "true_divide": "div"}
# torch.f(t, ...) that are Tensor.f(...) (analyzer/evaluate/torch_ops.py)
_AS_METHOD = {"flatten", "permute", "transpose", "reshape", "unsqueeze", "squeeze", "sum", "mean", "prod", "amax",
              "amin", "all", "any", "split", "chunk", "unbind", "narrow", "repeat_interleave", "t", "swapaxes"}


def _joins(name, args, kwargs):
    """cat, stack, meshgrid, outer, matmul: shapes from tensor_shapes, values when small."""
    if name in ("cat", "concat", "concatenate", "stack"):
        seq = args[0] if args else kwargs.get("tensors")
        dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
        if not isinstance(seq, (list, tuple)) or not all(isinstance(x, Tensor) for x in seq) or not seq:
            return Tensor(None, why_unknown=f"torch.{name} of a sequence that is not a known list of tensors")
        fn = tensor_shapes.stack if name == "stack" else tensor_shapes.cat
        shape = _safe(fn, [x.shape for x in seq], dim)
        dtype = seq[0].dtype
        for x in seq[1:]:
            dtype = torch_ops.promote(dtype, x.dtype)
        out = Tensor(shape, dtype, why_unknown=None if shape is not None else f"torch.{name} shapes do not join")
        out.recipe = tensor_values.make(shape, "fn", "stack" if name == "stack" else "cat", (list(seq), dim), {})
        return out
    if name == "meshgrid":
        seq = list(args[0]) if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
        if not seq or not all(isinstance(x, Tensor) for x in seq):
            return None
        shape = _safe(tensor_shapes.meshgrid, [x.shape for x in seq], kwargs.get("indexing", "ij"))
        outs = []
        for i, x in enumerate(seq):
            t = Tensor(shape, x.dtype)
            t.recipe = tensor_values.make(shape, "pick", "meshgrid", tuple(seq), {"indexing": kwargs.get("indexing", "ij")}, i)
            outs.append(t)
        return tuple(outs)
    if name == "einsum" and args and isinstance(args[0], str):
        ops = list(args[1]) if len(args) == 2 and isinstance(args[1], (list, tuple)) else list(args[1:])
        if not ops or not all(isinstance(x, Tensor) for x in ops):
            return None
        shape = _safe(tensor_shapes.einsum, args[0], [x.shape for x in ops])
        dtype = ops[0].dtype
        for x in ops[1:]:
            dtype = torch_ops.promote(dtype, x.dtype)
        out = Tensor(shape, dtype, why_unknown=None if shape is not None else "torch.einsum equation is not shape-modeled")
        out.recipe = tensor_values.make(shape, "fn", "einsum", (args[0], *ops), {})
        return out
    if name in ("outer", "ger", "matmul", "mm", "bmm"):
        if len(args) < 2 or not all(isinstance(x, Tensor) for x in args[:2]):
            return None
        a, b = args[:2]
        shape = _safe(tensor_shapes.outer if name in ("outer", "ger") else tensor_shapes.matmul, a.shape, b.shape)
        out = Tensor(shape, torch_ops.promote(a.dtype, b.dtype))
        if name in ("outer", "ger"):
            out.recipe = tensor_values.make(shape, "fn", "outer", (a, b), {})
        else:
            out.recipe = tensor_values.make(shape, "binop", "matmul", a, b)
        return out
    return None


_safe = torch_ops._safe  # a shape rule that cannot say gives None


def functional(name: str):
    """``torch.nn.functional.<name>``: ``one_hot`` (its shape, int64, and its values when small),
    the in-place initializers (their first argument); any other result is unknown."""
    qual = f"torch.nn.functional.{name}"
    if name == "one_hot":
        return Intrinsic(qual, _one_hot)
    if name.endswith("_"):
        return _identity_first(qual)
    return Intrinsic(qual, lambda ev, a, k, s: Unknown(f"{qual}(...) result is not modeled", s))


def _one_hot(ev, args, kwargs, span):
    t = args[0] if args else kwargs.get("tensor")
    n = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
    if not isinstance(t, Tensor) or t.shape is None or not isinstance(n, int) or isinstance(n, bool):
        return Unknown("one_hot of an unknown tensor or class count", span)
    if t.dtype != "int64":
        raise _err("W104", f"one_hot() needs an int64 tensor, not {t.dtype}", span, "RuntimeError")
    if n == -1:  # as many classes as the largest index + 1: the values decide the shape
        v = tensor_values.value(t)
        if v is None or v.size == 0:
            return Tensor(None, "int64", why_unknown=f"one_hot(num_classes=-1) of a tensor whose values are unknown "
                                                     f"({tensor_values.why_no_value(t)})")
        n = int(v.max()) + 1
    if n < 1:
        raise _err("W104", f"one_hot(num_classes={n})", span, "RuntimeError")
    shape = tuple(t.shape) + (n,)
    out = Tensor(shape, "int64")
    out.recipe = tensor_values.make(shape, "fn", "one_hot", (t, n), {})
    return out


def _identity_first(name):
    return Intrinsic(name, lambda ev, args, kwargs, span: args[0] if args else None)


def _unique(args, kwargs, span):
    """``torch.unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None)`` of a
    tensor whose values are known: its shape depends on them, so they are computed (numpy.unique,
    sorted as torch sorts on the CPU)."""
    names = ("input", "sorted", "return_inverse", "return_counts", "dim")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    t = bound.get("input")
    if len(args) > len(names) or set(bound) - set(names) or not isinstance(t, Tensor):
        return Unknown("torch.unique of an unknown tensor or with unknown arguments", span)
    if bound.get("dim") is not None:
        return Unknown("torch.unique(dim=...) is not modeled", span)
    v = tensor_values.value(t)
    if v is None:
        return Unknown(f"torch.unique of a tensor whose values are unknown ({tensor_values.why_no_value(t)})", span)
    import numpy as np

    uniq, inverse, counts = np.unique(v.reshape(-1), return_inverse=True, return_counts=True)
    out = [tensor_values.attach(Tensor((len(uniq),), t.dtype), "data", uniq.tolist())]
    if bound.get("return_inverse"):
        out.append(tensor_values.attach(Tensor(tuple(t.shape), "int64"), "data", inverse.reshape(v.shape).tolist()))
    if bound.get("return_counts"):
        out.append(tensor_values.attach(Tensor((len(uniq),), "int64"), "data", counts.tolist()))
    return out[0] if len(out) == 1 else tuple(out)

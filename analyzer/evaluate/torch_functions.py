"""``torch`` functions: tensor creation and shape ops (through analyzer/evaluate/torch_ops.py),
``nn.Parameter``, dtypes, and the ``torch`` submodules the evaluator knows.
"""
from __future__ import annotations

from analyzer.evaluate import torch_ops
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
        if name in ("tensor", "as_tensor", "Tensor", "FloatTensor", "LongTensor"):
            t = torch_ops.from_data(args[0] if args else [], kwargs)
            if name == "LongTensor":
                t.dtype = "int64"
            return t
        if name in ("zeros_like", "ones_like", "empty_like", "randn_like", "rand_like", "full_like"):
            src = args[0]
            return Tensor(src.shape, torch_ops.dtype_of(kwargs.get("dtype"), src.dtype)) if isinstance(src, Tensor) else Tensor(None)
        if name == "eye":
            n = args[0]
            m = args[1] if len(args) > 1 else n
            return Tensor((n, m) if isinstance(n, int) and isinstance(m, int) else None, torch_ops.dtype_of(kwargs.get("dtype"), "float32"))
        if name in ("cat", "concat", "stack"):
            return Tensor(None, why_unknown=f"torch.{name} is not shape-modeled")
        if name in torch_ops.ELEMENTWISE:
            tensors = [a for a in args if isinstance(a, Tensor)]
            if tensors:
                shape = tensors[0].shape
                for t in tensors[1:]:
                    shape = torch_ops.broadcast(shape, t.shape)
                return Tensor(shape, tensors[0].dtype if tensors[0].dtype.startswith(("float", "bfloat")) else "float32")
            return Unknown(f"torch.{name} of non-tensor arguments", span)
        if name == "get_default_dtype":
            return DType("float32")
        if name == "device":
            return str(args[0]) if args and _plain(args[0]) else "cpu"
        if name in ("no_grad", "inference_mode", "enable_grad"):
            return None
        if name in ("is_tensor",):
            return isinstance(args[0], Tensor)
        return Unknown(f"torch.{name}(...) is not modeled", span, True)

    return Intrinsic(f"torch.{name}", call)


def _identity_first(name):
    return Intrinsic(name, lambda ev, args, kwargs, span: args[0] if args else None)

"""Python's operator protocols on modeled values: iteration, truth, comparisons and binary
operators, on plain data (really computed, within size limits), tensors (shapes) and unknowns.
"""
from __future__ import annotations

import math

import libcst as cst

from analyzer.evaluate import enum_model, limits, module_views, stdlib_modules, tensor_shapes, tensor_values, torch_ops, version_model
from analyzer.evaluate.core import _GROWING, _budget, _err, _Iter, _plain, range_len
from analyzer.evaluate.kinds import _container_of
from analyzer.evaluate.modules import container_items
from analyzer.evaluate.sizes import _charge_sizes, _size, _too_big

_HASHED = (dict, set, frozenset)
from analyzer.evaluate.values import (
    BuiltinClass,
    ClassValue,
    DType,
    Instance,
    ModuleObj,
    Tensor,
    Unknown,
    type_name,
)


def iterate(ev, value, span):
    if isinstance(value, range):
        n = range_len(value)
        if n > limits.MAX_SEQ:
            raise _budget(f"loop over {n:,} items exceeds the limit of {limits.MAX_SEQ:,}", span)
        return value
    if isinstance(value, (list, tuple, str)):
        if len(value) >= limits.ELEMENTS_PER_STEP:
            ev.charge(len(value) // limits.ELEMENTS_PER_STEP, span)
        return list(value)
    if isinstance(value, (set, frozenset, dict)):
        _charge_sizes(ev, (value,), span)
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    if isinstance(value, dict):
        return list(value)
    if isinstance(value, _Iter):
        items, value.items = value.items, []
        return items
    if isinstance(value, module_views.ChildModules):
        return list(value.obj.modules)
    if isinstance(value, Instance) and value.storage is not None:
        return list(value.storage)
    if isinstance(value, ModuleObj):
        kind = _container_of(ev, value)
        if kind == "ModuleDict":
            return list(value.modules)
        if kind in ("ParameterList", "ParameterDict"):
            return container_items(ev, value)
        if kind:
            return [m for m in value.modules.values() if m is not None]
        raise _err("W104", f"'{type_name(value)}' module is not iterable", span, "TypeError")
    if isinstance(value, Tensor):
        if value.shape:
            n = value.shape[0]
            if not isinstance(n, int) or n > limits.MAX_SEQ:
                raise _budget(f"iteration over a tensor of {n} rows exceeds the limit of {limits.MAX_SEQ:,}", span)
            ev.charge(n, span)
            rows = []
            for i in range(n):
                row = Tensor(value.shape[1:], value.dtype)
                row.recipe = tensor_values.make(row.shape, "getitem", value, i)
                rows.append(tensor_values.share_cell(value, row))
            return rows
        raise _err("W105", "cannot iterate over a tensor of unknown shape", span)
    if isinstance(value, ClassValue) and enum_model.enum_base(ev, value):
        return enum_model.members(ev, value)
    if isinstance(value, Unknown):
        raise _err("W105", f"cannot iterate over an unknown value: {value.reason}", span)
    raise _err("W104", f"'{type_name(value)}' object is not iterable", span, "TypeError")


# ---------------------------------------------------------------------------------- truth, compare, operators
def truth(ev, v, span) -> bool:
    if isinstance(v, Unknown):
        raise _err("W105", f"cannot decide the truth of an unknown value: {v.reason}", span)
    if _plain(v) or v is Ellipsis:
        return bool(v)
    if isinstance(v, ModuleObj):
        return len(container_items(ev, v)) > 0 if _container_of(ev, v) else True
    if isinstance(v, Instance) and v.storage is not None:
        return bool(v.storage)
    if isinstance(v, Tensor):
        if v.shape is not None and math.prod(v.shape) != 1:
            raise _err("W104", f"the truth value of a tensor of shape {list(v.shape)} is ambiguous", span, "RuntimeError")
        x = tensor_values.item(v)
        if x is None:
            raise _err("W105", f"the truth value of a tensor: {tensor_values.why_no_value(v)}", span)
        return bool(x)
    return True


_SYMBOLS = {cst.LessThan: "<", cst.LessThanEqual: "<=", cst.Equal: "==", cst.NotEqual: "!=",
            cst.GreaterThan: ">", cst.GreaterThanEqual: ">="}


def compare(ev, op, left, right, span):
    if op is cst.Is:
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown((left if isinstance(left, Unknown) else right).reason, span)
        return left is right or (left is None and right is None)
    if op is cst.IsNot:
        r = compare(ev, cst.Is, left, right, span)
        return r if isinstance(r, Unknown) else not r
    if op in (cst.In, cst.NotIn):
        if isinstance(left, Unknown) or isinstance(right, Unknown):
            return Unknown((left if isinstance(left, Unknown) else right).reason, span)
        container = right
        if isinstance(right, stdlib_modules.SysModules):
            if isinstance(left, str) and left in ev._loaded_modules:
                return op is cst.In
            return Unknown(f"whether {left!r} is in sys.modules is not known statically", span)
        if isinstance(right, stdlib_modules.Environ):
            result = stdlib_modules.environ_read(ev, left, span) is not None
            return result if op is cst.In else not result
        if isinstance(right, Instance) and right.storage is not None:
            container = right.storage
        elif isinstance(right, ModuleObj):
            container = container_items(ev, right)
        elif isinstance(right, module_views.ChildModules):
            container = right.obj.modules
        if isinstance(container, range) and not isinstance(left, int):
            # Python scans the whole range for a non-int: answer as it would, without the scan
            result = isinstance(left, float) and left.is_integer() and int(left) in container
            return result if op is cst.In else not result
        # a scan of a sequence; a hash lookup in a dict or set costs what hashing the key costs
        _charge_sizes(ev, (left,) if isinstance(container, _HASHED) else (container,), span)
        try:
            result = left in container
        except TypeError:
            raise _err("W104", f"'in' not supported for {type_name(right)}", span, "TypeError") from None
        if not result and isinstance(container, _HASHED):
            miss = ev.registry_miss(right, left, span)
            if miss is not None:
                return miss
        return result if op is cst.In else not result
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown((left if isinstance(left, Unknown) else right).reason, span)
    from analyzer.evaluate.core import CMPOPS

    fn = CMPOPS[op]
    if isinstance(left, Tensor) or isinstance(right, Tensor):
        return tensor_compare(op, left, right, span)
    if (type(left) is version_model.TorchVersion or type(right) is version_model.TorchVersion) and op in _SYMBOLS:
        return version_model.compare_torch_version(_SYMBOLS[op], left, right, span)
    if _plain(left) and _plain(right):
        _charge_sizes(ev, (left, right), span)
        try:
            return fn(left, right)
        except TypeError:
            raise _err("W104", f"cannot compare {type_name(left)} with {type_name(right)}", span, "TypeError") from None
    if isinstance(left, enum_model.EnumMember) or isinstance(right, enum_model.EnumMember):
        if op in (cst.Equal, cst.NotEqual):
            eq = enum_model.equal(left, right)
            return eq if op is cst.Equal else not eq
        left, right = enum_model.mixin_value(left), enum_model.mixin_value(right)
        if _plain(left) and _plain(right):
            return compare(ev, op, left, right, span)
    if isinstance(left, version_model.Version) and isinstance(right, version_model.Version):
        return version_model.compare(_SYMBOLS[op], left, right)
    if op is cst.Equal:
        return left is right
    if op is cst.NotEqual:
        return left is not right
    raise _err("W104", f"cannot order {type_name(left)} and {type_name(right)}", span, "TypeError")


def binop(ev, op, left, right, span, inplace=False):
    lc, rc = left.__class__, right.__class__
    if (lc is int or lc is float) and (rc is int or rc is float) and op is not cst.MatrixMultiply:
        # the common case, fast: numbers
        if lc is int and rc is int and op in _GROWING and _too_big(op, left, right):
            return Unknown("arithmetic result too large to evaluate", span)
        try:
            return ev.BINOPS[op](left, right)
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
            raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None
    from analyzer.evaluate.core import BINOPS

    if lc is enum_model.EnumMember or rc is enum_model.EnumMember:
        left, right = enum_model.mixin_value(left), enum_model.mixin_value(right)
        if not (isinstance(left, enum_model.EnumMember) or isinstance(right, enum_model.EnumMember)):
            return binop(ev, op, left, right, span, inplace)
    if isinstance(left, Unknown):
        return Unknown(left.reason, left.span)
    if isinstance(right, Unknown):
        return Unknown(right.reason, right.span)
    if isinstance(left, Tensor) or isinstance(right, Tensor):
        if inplace and isinstance(left, Tensor):  # t += x changes t itself (and every view of it)
            ev.note_write(left)
            out = tensor_binop(op, left, right)
            name = _BINOP_NAMES.get(op)
            if out.shape != left.shape or name is None or not isinstance(right, (Tensor, int, float, bool)):
                tensor_values.changed_in_place(left, None)
            else:
                tensor_values.changed_in_place(left, "binop", name, left, right)
            return left
        return tensor_binop(op, left, right)
    if isinstance(left, list) and isinstance(right, list) and op is cst.Add and inplace:
        if len(left) + len(right) > limits.MAX_SEQ:
            return Unknown("list too large to evaluate", span)
        _charge_sizes(ev, (right,), span)
        ev.note_write(left)  # in place, as Python's list +=
        left.extend(right)
        return left
    if isinstance(left, Instance) and left.storage is not None and op is cst.BitOr and isinstance(right, dict):
        return {**left.storage, **right}
    if not (_plain(left) and _plain(right)):
        raise _err("W104", f"operator on {type_name(left)} and {type_name(right)} is not modeled", span, "TypeError")
    if _too_big(op, left, right):
        return Unknown("arithmetic result too large to evaluate", span)
    if op is cst.Multiply and isinstance(left, int) and not isinstance(left, bool) and _size(right):
        ev.charge(_size(right) * max(left, 0) // limits.ELEMENTS_PER_STEP, span)
    elif op is cst.Multiply and isinstance(right, int) and not isinstance(right, bool) and _size(left):
        ev.charge(_size(left) * max(right, 0) // limits.ELEMENTS_PER_STEP, span)
    else:
        _charge_sizes(ev, (left, right), span)
    fn = BINOPS.get(op)
    if fn is None:
        raise _err("W104", "operator '@' on plain values", span, "TypeError")
    try:
        return fn(left, right)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None


_CMP_NAMES = {cst.LessThan: "lt", cst.LessThanEqual: "le", cst.GreaterThan: "gt", cst.GreaterThanEqual: "ge",
              cst.Equal: "eq", cst.NotEqual: "ne"}
_BINOP_NAMES = {cst.Add: "add", cst.Subtract: "sub", cst.Multiply: "mul", cst.Divide: "truediv",
                cst.FloorDivide: "floordiv", cst.Modulo: "mod", cst.Power: "pow", cst.MatrixMultiply: "matmul",
                cst.BitAnd: "and", cst.BitOr: "or", cst.BitXor: "xor", cst.LeftShift: "lshift", cst.RightShift: "rshift"}


def tensor_compare(op, left, right, span):
    """``t > 0``, ``a == b``: a bool tensor of the broadcast shape (values when known)."""
    name = _CMP_NAMES.get(op)
    if name is None or not all(isinstance(x, (Tensor, int, float, bool)) for x in (left, right)):
        return Unknown("comparison involving a tensor's values", span)
    shapes = [x.shape if isinstance(x, Tensor) else () for x in (left, right)]
    out = Tensor(torch_ops.broadcast(*shapes), "bool")
    out.recipe = tensor_values.make(out.shape, "binop", name, left, right)
    return out


def tensor_binop(op, left, right):
    lt, rt = isinstance(left, Tensor), isinstance(right, Tensor)
    if lt and rt:
        shape = torch_ops.broadcast(left.shape, right.shape)
        dtype = torch_ops.promote(left.dtype, right.dtype)
    else:
        t, other = (left, right) if lt else (right, left)
        shape = t.shape
        dtype = t.dtype
        if isinstance(other, float) and torch_ops.FLOAT_RANK.get(dtype, 6) < 5:
            dtype = "float32"
    if op is cst.Divide and torch_ops.FLOAT_RANK.get(dtype, 6) < 5:
        dtype = "float32"
    if op is cst.MatrixMultiply:
        shape = tensor_shapes.matmul(left.shape, right.shape) if lt and rt else None
    if op in (cst.FloorDivide, cst.Modulo) and lt and rt and torch_ops.FLOAT_RANK.get(dtype, 6) < 5:
        pass  # integer floor division and modulo stay integer
    out = Tensor(shape, dtype)
    name = _BINOP_NAMES.get(op)
    if name is not None and all(isinstance(x, (Tensor, int, float, bool)) for x in (left, right)):
        out.recipe = tensor_values.make(shape, "binop", name, left, right)
    return out


def to_str(ev, v):
    if isinstance(v, enum_model.EnumMember):
        return enum_model.to_str(v)
    if isinstance(v, (ClassValue, BuiltinClass)):
        return f"<class '{v.qualname}'>"
    if isinstance(v, ModuleObj):
        return f"{type_name(v)}(...)"
    if isinstance(v, DType):
        return f"torch.{v.name}"
    return f"<{type_name(v)}>"

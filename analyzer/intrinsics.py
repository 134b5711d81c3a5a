"""What the evaluator implements itself: Python builtins, torch and standard-library functions,
and the attribute, item, operator and construction semantics of nn.Module objects, containers,
configs and tensors. Nothing here imports torch or the analyzed code.
"""
from __future__ import annotations

import copy as _copy
import math
import operator
import re

import libcst as cst

from analyzer import torch_ops
from analyzer.torch_rules import BindError, ShapeError, bind, instantiate, instantiate_children
from analyzer.diagnostics import Diagnostic
from analyzer.values import (
    MISSING,
    BoundMethod,
    BuiltinClass,
    ClassValue,
    DType,
    ExternalModule,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    SourceModule,
    SuperValue,
    Tensor,
    Unknown,
    call_key,
    type_name,
)

MODULE_KINDS = ("nn", "container", "module_base", "hf_model", "fallback_module")
MAX_SEQ = 1_000_000  # longest range iterated, longest sequence built
MAX_INT_BITS = 65_536  # integer arithmetic beyond this size gives an unknown value
MAX_WIDTH = 100_000  # str.ljust/center/zfill/..., format widths and precisions
ELEMENTS_PER_STEP = 32  # building or scanning a plain sequence costs a step per this many elements
_FORMAT_FIELD = re.compile(r"\{([^{}:!]*)")
_BIG_NUMBER = re.compile(r"\d{6,}")


def _size(v) -> int:
    """Elements of a plain sequence or mapping (the cost of copying or scanning it natively)."""
    if isinstance(v, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(v)
    return 0


def _charge_sizes(ev, values, span) -> None:
    n = 0
    for v in values:
        if v.__class__ in (str, bytes, list, tuple, dict, set, frozenset):
            n += len(v)
    if n >= ELEMENTS_PER_STEP:
        ev.charge(n // ELEMENTS_PER_STEP, span)


def _huge_int_result(op, left, right) -> bool:
    """Would ``left op right`` on integers build an integer of more than MAX_INT_BITS bits?"""
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    if op is cst.Multiply:
        return left.bit_length() + right.bit_length() > MAX_INT_BITS
    if op is cst.Power:
        return right > 0 and abs(left) > 1 and left.bit_length() * right > MAX_INT_BITS
    if op is cst.LeftShift:
        return right > 0 and left != 0 and left.bit_length() + right > MAX_INT_BITS
    return False


def _format_refusal(fmt: str) -> str | None:
    """Why ``fmt.format(...)`` is not evaluated: a huge width, or attribute/index access in a field."""
    if _BIG_NUMBER.search(fmt):
        return "a format with a huge width or precision is not evaluated"
    for m in _FORMAT_FIELD.finditer(fmt):
        if "." in m.group(1) or "[" in m.group(1):
            return "a format field with attribute or index access is not evaluated"
    if re.search(r"\{[^{}]*:[^{}]*\{", fmt):
        return "a format with a computed width is not evaluated"
    return None


_SIZE_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs", "to_bytes"}


def _plain_method_refusal(obj, name: str, args: list, kwargs: dict) -> str | None:
    """Why a method of a plain value is not run natively (it would build a huge value or loop long)."""
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, range) and range_len(a) > MAX_SEQ:
            return f"a range of {range_len(a):,} items exceeds the limit of {MAX_SEQ:,}"
    if name in _SIZE_METHODS:
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, int) and a > MAX_WIDTH:
                return f"{type(obj).__name__}.{name}() of width {a:,} is not evaluated (limit {MAX_WIDTH:,})"
    if name in ("format", "format_map") and isinstance(obj, str):
        return _format_refusal(obj)
    if name == "replace" and isinstance(obj, str) and len(args) >= 2 and isinstance(args[1], str):
        if (len(obj) + 1) * len(args[1]) > MAX_SEQ:
            return "str.replace() result too large to evaluate"
    if name in ("join",) and isinstance(obj, str) and args and isinstance(args[0], (list, tuple)):
        if len(obj) * len(args[0]) > MAX_SEQ:
            return "str.join() result too large to evaluate"
    return None


def _err(code, msg, span, exc="Exception"):
    from analyzer.evaluator import EvalRaise

    return EvalRaise(code, msg, span, exc)


def _budget(msg, span):
    from analyzer.evaluator import BudgetExceeded

    return BudgetExceeded("W107", msg, span)


_PLAIN_TYPES = (int, float, str, bool, type(None), tuple, list, dict, set, frozenset, bytes, complex, range)


def _plain(v) -> bool:
    return isinstance(v, _PLAIN_TYPES)  # as analyzer.evaluator.is_plain


_NUMBER = (int, float)
_GROWING = (cst.Multiply, cst.Power, cst.LeftShift)


def _kind(ev, cls) -> str:
    if isinstance(cls, BuiltinClass) and cls.kind != "object":
        return cls.kind
    base = ev.builtin_kind(cls)
    return base.kind if base is not None else "object"


def container_name(obj: ModuleObj) -> str | None:
    cls = obj.cls
    base = cls if isinstance(cls, BuiltinClass) else None
    if base is None:
        return None
    return base.name if base.kind == "container" else None


def _container_of(ev, obj) -> str | None:
    if not isinstance(obj, ModuleObj):
        return None
    for c in ev.mro(obj.cls):
        if isinstance(c, BuiltinClass) and c.kind == "container":
            return c.name
    return None


# ---------------------------------------------------------------------------------- builtins
def python_builtins(ev) -> dict:
    def plain_fn(name, fn):
        def call(ev, args, kwargs, span):
            for a in list(args) + list(kwargs.values()):
                if isinstance(a, Unknown):
                    return Unknown(a.reason, a.span)
            if name == "pow" and len(args) == 2 and _huge_int_result(cst.Power, args[0], args[1]):
                return Unknown("arithmetic result too large to evaluate", span)
            _charge_sizes(ev, args, span)
            try:
                return fn(*args, **kwargs)
            except (TypeError, ValueError, OverflowError, ZeroDivisionError, KeyError, IndexError) as exc:
                raise _err("W104", f"{name}(): {exc}", span, type(exc).__name__) from None

        return Intrinsic(name, call)

    def b_len(ev, args, kwargs, span):
        (x,) = args
        if isinstance(x, Unknown):
            return Unknown(x.reason, x.span)
        if isinstance(x, ModuleObj):
            return len([m for m in x.modules.values()]) if _container_of(ev, x) else _err_raise("W104", "len() of a module", span)
        if isinstance(x, Instance) and x.storage is not None:
            return len(x.storage)
        if isinstance(x, Tensor):
            if x.shape:
                return x.shape[0]
            return Unknown("len() of a tensor of unknown shape", span)
        try:
            return len(x)
        except TypeError:
            raise _err("W104", f"object of type '{type_name(x)}' has no len()", span, "TypeError") from None

    def b_range(ev, args, kwargs, span):
        for a in args:
            if isinstance(a, Unknown):
                return Unknown(f"range bound: {a.reason}", a.span)
            if not isinstance(a, int):
                raise _err("W104", f"range() needs integers, got {type_name(a)}", span, "TypeError")
        return range(*args)

    def b_isinstance(ev, args, kwargs, span):
        obj, types = args
        if isinstance(obj, Unknown):
            return Unknown(obj.reason, obj.span)
        types = types if isinstance(types, tuple) else (types,)
        return any(check_instance(ev, obj, t) for t in types)

    def b_issubclass(ev, args, kwargs, span):
        cls, types = args
        types = types if isinstance(types, tuple) else (types,)
        return any(ev.issubclass(cls, t) for t in types)

    def b_hasattr(ev, args, kwargs, span):
        from analyzer.evaluator import BudgetExceeded, EvalRaise

        obj, name = args
        if isinstance(obj, Unknown):
            return Unknown(obj.reason, obj.span)
        try:
            v = ev.getattr(obj, name, span)
        except BudgetExceeded:
            raise
        except EvalRaise:
            return False
        return not (isinstance(v, Unknown) and v.reason.startswith("no attribute"))

    def b_getattr(ev, args, kwargs, span):
        from analyzer.evaluator import BudgetExceeded, EvalRaise

        obj, name = args[0], args[1]
        if isinstance(name, Unknown):
            return Unknown(name.reason, name.span, True)
        if len(args) > 2:
            try:
                return ev.getattr(obj, name, span)
            except BudgetExceeded:
                raise
            except EvalRaise:
                return args[2]
        return ev.getattr(obj, name, span)

    def b_setattr(ev, args, kwargs, span):
        obj, name, value = args
        if isinstance(name, Unknown):
            raise _err("W105", f"setattr with an unknown attribute name: {name.reason}", span)
        ev.setattr(obj, name, value, span)

    def b_super(ev, args, kwargs, span):
        if len(args) == 2:
            return SuperValue(args[0], args[1])
        raise _err("W104", "super() with other than zero or two arguments is not followed", span, "TypeError")

    def b_enumerate(ev, args, kwargs, span):
        start = args[1] if len(args) > 1 else kwargs.get("start", 0)
        return list(enumerate(ev.iterate(args[0], span), start))

    def b_zip(ev, args, kwargs, span):
        return list(zip(*[ev.iterate(a, span) for a in args]))

    def b_list(ev, args, kwargs, span):
        return list(ev.iterate(args[0], span)) if args else []

    def b_tuple(ev, args, kwargs, span):
        return tuple(ev.iterate(args[0], span)) if args else ()

    def b_dict(ev, args, kwargs, span):
        return dict_from_args(ev, "dict", args, kwargs, span)

    def b_set(ev, args, kwargs, span):
        return set(ev.iterate(args[0], span)) if args else set()

    def b_sorted(ev, args, kwargs, span):
        items = list(ev.iterate(args[0], span))
        key = kwargs.get("key")
        try:
            if key is None:
                return sorted(items, reverse=bool(kwargs.get("reverse", False)))
            keys = [ev.call(key, [i], {}, span) for i in items]
            order = sorted(range(len(items)), key=lambda i: keys[i], reverse=bool(kwargs.get("reverse", False)))
            return [items[i] for i in order]
        except TypeError as exc:
            raise _err("W104", f"sorted(): {exc}", span, "TypeError") from None

    def b_reversed(ev, args, kwargs, span):
        return list(reversed(list(ev.iterate(args[0], span))))

    def b_map(ev, args, kwargs, span):
        fn, *its = args
        return [ev.call(fn, list(xs), {}, span) for xs in zip(*[ev.iterate(i, span) for i in its])]

    def b_filter(ev, args, kwargs, span):
        fn, it = args
        return [x for x in ev.iterate(it, span) if (ev.truth(x, span) if fn is None else ev.truth(ev.call(fn, [x], {}, span), span))]

    def b_anyall(which):
        def f(ev, args, kwargs, span):
            items = ev.iterate(args[0], span)
            ev.charge(len(items), span)
            vals = [ev.truth(x, span) for x in items]
            return any(vals) if which == "any" else all(vals)

        return Intrinsic(which, f)

    def b_minmax(which):
        def f(ev, args, kwargs, span):
            items = list(ev.iterate(args[0], span)) if len(args) == 1 else list(args)
            for a in items:
                if isinstance(a, Unknown):
                    return Unknown(a.reason, a.span)
            try:
                return (min if which == "min" else max)(items)
            except (TypeError, ValueError) as exc:
                raise _err("W104", f"{which}(): {exc}", span, type(exc).__name__) from None

        return Intrinsic(which, f)

    def b_sum(ev, args, kwargs, span):
        total = args[1] if len(args) > 1 else 0
        for x in ev.iterate(args[0], span):
            ev.tick(span)
            total = ev.binop(cst.Add, total, x, span)
        return total

    def b_noop(ev, args, kwargs, span):
        return None

    def b_type(ev, args, kwargs, span):
        obj = args[0]
        if isinstance(obj, (ModuleObj, Instance)):
            return obj.cls
        return Unknown(f"type() of {type_name(obj)}", span)

    def b_iter(ev, args, kwargs, span):
        return _Iter(list(ev.iterate(args[0], span)))

    def b_next(ev, args, kwargs, span):
        it = args[0]
        if isinstance(it, _Iter) and it.items:
            return it.items.pop(0)
        if len(args) > 1:
            return args[1]
        raise _err("W104", "next() on an exhausted or unknown iterator", span, "StopIteration")

    def b_callable(ev, args, kwargs, span):
        return isinstance(args[0], (FunctionValue, Intrinsic, ClassValue, BuiltinClass, PartialValue, BoundMethod))

    def b_int(ev, args, kwargs, span):
        if args and isinstance(args[0], Tensor):
            return Unknown("int() of a tensor value", span)
        return plain_fn("int", int).fn(ev, args, kwargs, span)

    def b_float(ev, args, kwargs, span):
        if args and isinstance(args[0], Tensor):
            return Unknown("float() of a tensor value", span)
        return plain_fn("float", float).fn(ev, args, kwargs, span)

    table = {
        "len": Intrinsic("len", b_len), "range": Intrinsic("range", b_range),
        "isinstance": Intrinsic("isinstance", b_isinstance), "issubclass": Intrinsic("issubclass", b_issubclass),
        "hasattr": Intrinsic("hasattr", b_hasattr), "getattr": Intrinsic("getattr", b_getattr),
        "setattr": Intrinsic("setattr", b_setattr), "super": Intrinsic("super", b_super),
        "enumerate": Intrinsic("enumerate", b_enumerate), "zip": Intrinsic("zip", b_zip),
        "list": Intrinsic("list", b_list), "tuple": Intrinsic("tuple", b_tuple), "dict": Intrinsic("dict", b_dict),
        "set": Intrinsic("set", b_set), "frozenset": Intrinsic("frozenset", b_set),
        "sorted": Intrinsic("sorted", b_sorted), "reversed": Intrinsic("reversed", b_reversed),
        "map": Intrinsic("map", b_map), "filter": Intrinsic("filter", b_filter),
        "any": b_anyall("any"), "all": b_anyall("all"), "min": b_minmax("min"), "max": b_minmax("max"),
        "sum": Intrinsic("sum", b_sum), "print": Intrinsic("print", b_noop), "type": Intrinsic("type", b_type),
        "iter": Intrinsic("iter", b_iter), "next": Intrinsic("next", b_next), "callable": Intrinsic("callable", b_callable),
        "int": Intrinsic("int", b_int), "float": Intrinsic("float", b_float),
        "str": plain_fn("str", str), "bool": plain_fn("bool", bool), "abs": plain_fn("abs", abs),
        "round": plain_fn("round", round), "divmod": plain_fn("divmod", divmod), "pow": plain_fn("pow", pow),
        "repr": plain_fn("repr", repr), "chr": plain_fn("chr", chr), "ord": plain_fn("ord", ord),
        "object": BuiltinClass("object", "builtins.object", "object"),
        "__name__": "__main__",
    }
    for exc in ("Exception", "BaseException", "ValueError", "TypeError", "KeyError", "IndexError", "AttributeError",
                "NotImplementedError", "RuntimeError", "AssertionError", "ImportError", "ModuleNotFoundError",
                "StopIteration", "ZeroDivisionError", "OSError", "LookupError", "Warning", "UserWarning",
                "DeprecationWarning", "FutureWarning"):
        table[exc] = BuiltinClass(exc, f"builtins.{exc}", "exception")
    return table


class _Iter:
    def __init__(self, items):
        self.items = items


def _err_raise(code, msg, span):
    raise _err(code, msg, span, "TypeError")


PY_TYPES = {"int": (int,), "float": (float,), "str": (str,), "bool": (bool,), "list": (list,), "tuple": (tuple,),
            "dict": (dict,), "set": (set,), "frozenset": (frozenset,)}


def check_instance(ev, obj, t) -> bool:
    if isinstance(t, Intrinsic) and t.name in PY_TYPES:
        if t.name == "int" and isinstance(obj, bool):
            return False
        if t.name == "dict" and isinstance(obj, Instance) and obj.storage is not None:
            return True
        return isinstance(obj, PY_TYPES[t.name])
    if isinstance(t, (ClassValue, BuiltinClass)):
        if isinstance(t, BuiltinClass):
            if t.kind == "module_base":
                return isinstance(obj, ModuleObj)
            if t.qualname in ("torch.Tensor", "torch.nn.Parameter"):
                return isinstance(obj, Tensor) and (t.qualname == "torch.Tensor" or obj.is_param)
            if t.kind == "object" and t.qualname == "builtins.object":
                return True
        if isinstance(obj, (ModuleObj, Instance)):
            return ev.issubclass(obj.cls, t)
        return False
    if t is None or isinstance(t, Unknown):
        return False
    return False


# ---------------------------------------------------------------------------------- iteration
def range_len(r: range) -> int:
    """len(r), also beyond what len() converts (range(10**30))."""
    try:
        return len(r)
    except OverflowError:
        return max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)


def iterate(ev, value, span):
    if isinstance(value, range):
        n = range_len(value)
        if n > MAX_SEQ:
            raise _budget(f"loop over {n:,} items exceeds the limit of {MAX_SEQ:,}", span)
        return value
    if isinstance(value, (list, tuple, str)):
        if len(value) >= ELEMENTS_PER_STEP:
            ev.charge(len(value) // ELEMENTS_PER_STEP, span)
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
    if isinstance(value, Instance) and value.storage is not None:
        return list(value.storage)
    if isinstance(value, ModuleObj):
        kind = _container_of(ev, value)
        if kind == "ModuleDict":
            return list(value.modules)
        if kind in ("ParameterList",):
            return [p for p in value.params.values()]
        if kind:
            return [m for m in value.modules.values() if m is not None]
        raise _err("W104", f"'{type_name(value)}' module is not iterable", span, "TypeError")
    if isinstance(value, Tensor):
        if value.shape:
            n = value.shape[0]
            if not isinstance(n, int) or n > MAX_SEQ:
                raise _budget(f"iteration over a tensor of {n} rows exceeds the limit of {MAX_SEQ:,}", span)
            ev.charge(n, span)
            return [Tensor(value.shape[1:], value.dtype) for _ in range(n)]
        raise _err("W105", "cannot iterate over a tensor of unknown shape", span)
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
        return len(v.modules) > 0 if _container_of(ev, v) else True
    if isinstance(v, Instance) and v.storage is not None:
        return bool(v.storage)
    if isinstance(v, Tensor):
        raise _err("W105", "the truth value of a tensor is not known statically", span)
    return True


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
        if isinstance(right, Instance) and right.storage is not None:
            container = right.storage
        elif isinstance(right, ModuleObj):
            container = list(right.modules) if _container_of(ev, right) == "ModuleDict" else list(right.modules.values())
        if isinstance(container, range) and not isinstance(left, int):
            # Python scans the whole range for a non-int: answer as it would, without the scan
            result = isinstance(left, float) and left.is_integer() and int(left) in container
            return result if op is cst.In else not result
        _charge_sizes(ev, (container,), span)
        try:
            result = left in container
        except TypeError:
            raise _err("W104", f"'in' not supported for {type_name(right)}", span, "TypeError") from None
        return result if op is cst.In else not result
    if isinstance(left, Unknown) or isinstance(right, Unknown):
        return Unknown((left if isinstance(left, Unknown) else right).reason, span)
    from analyzer.evaluator import CMPOPS

    fn = CMPOPS[op]
    if isinstance(left, Tensor) or isinstance(right, Tensor):
        return Unknown("comparison involving a tensor's values", span)
    if _plain(left) and _plain(right):
        _charge_sizes(ev, (left, right), span)
        try:
            return fn(left, right)
        except TypeError:
            raise _err("W104", f"cannot compare {type_name(left)} with {type_name(right)}", span, "TypeError") from None
    if op is cst.Equal:
        return left is right
    if op is cst.NotEqual:
        return left is not right
    raise _err("W104", f"cannot order {type_name(left)} and {type_name(right)}", span, "TypeError")


def _too_big(op, left, right) -> bool:
    if op is cst.Power and isinstance(left, int) and isinstance(right, int) and abs(right) > 4096 and abs(left) > 1:
        return True
    if op is cst.Multiply:
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > MAX_SEQ:
                return True
    if op is cst.LeftShift and isinstance(right, int) and right > 4096:
        return True
    if op is cst.Add and isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
        return len(left) + len(right) > MAX_SEQ
    if op is cst.Modulo and isinstance(left, str) and re.search(r"%[-+ #0]*\d*(\.\d*)?\*|%[-+ #0]*\d{6,}|\.\d{6,}", left):
        return True  # '%999999999d' % 1, or a width given as '*'
    return _huge_int_result(op, left, right)


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
    from analyzer.evaluator import BINOPS

    if isinstance(left, Unknown):
        return Unknown(left.reason, left.span)
    if isinstance(right, Unknown):
        return Unknown(right.reason, right.span)
    if isinstance(left, Tensor) or isinstance(right, Tensor):
        return tensor_binop(op, left, right)
    if isinstance(left, list) and isinstance(right, list) and op is cst.Add and inplace:
        if len(left) + len(right) > MAX_SEQ:
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
        ev.charge(_size(right) * max(left, 0) // ELEMENTS_PER_STEP, span)
    elif op is cst.Multiply and isinstance(right, int) and not isinstance(right, bool) and _size(left):
        ev.charge(_size(left) * max(right, 0) // ELEMENTS_PER_STEP, span)
    else:
        _charge_sizes(ev, (left, right), span)
    fn = BINOPS.get(op)
    if fn is None:
        raise _err("W104", "operator '@' on plain values", span, "TypeError")
    try:
        return fn(left, right)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None


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
        shape = None
    return Tensor(shape, dtype)


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


_HUGE_MATH = {"factorial", "comb", "perm", "prod", "lcm", "pow", "mul", "lshift", "ipow", "imul", "ilshift",
              "concat", "iconcat", "repeat", "add", "iadd"}


def _math_fn(name, fn):
    def call(ev, args, kwargs, span):
        for a in args:
            if isinstance(a, Unknown):
                return Unknown(a.reason, a.span)
            if isinstance(a, Tensor):
                return Tensor(a.shape, a.dtype)
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, range) and range_len(a) > MAX_SEQ:
                raise _budget(f"a range of {range_len(a):,} items exceeds the limit of {MAX_SEQ:,}", span)
        if name in _HUGE_MATH:
            ints = [a for a in args if isinstance(a, int)]
            if name in ("factorial", "comb", "perm") and any(abs(a) > 20_000 for a in ints):
                return Unknown(f"math.{name} of so large a number is not evaluated", span)
            if name == "prod" and args and _size(args[0]) > 1_000:
                return Unknown("math.prod of so many numbers is not evaluated", span)
            op = {"mul": cst.Multiply, "imul": cst.Multiply, "pow": cst.Power, "ipow": cst.Power,
                  "lshift": cst.LeftShift, "ilshift": cst.LeftShift, "add": cst.Add, "iadd": cst.Add,
                  "concat": cst.Add, "iconcat": cst.Add, "repeat": cst.Multiply}.get(name)
            if op is not None and len(args) == 2 and _too_big(op, args[0], args[1]):
                return Unknown("arithmetic result too large to evaluate", span)
        _charge_sizes(ev, list(args), span)
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise _err("W104", f"math.{name}: {exc}", span, type(exc).__name__) from None

    return Intrinsic(f"math.{name}", call)


def _partial(ev, args, kwargs, span):
    if not args:
        raise _err("W104", "partial() needs a callable", span, "TypeError")
    return PartialValue(args[0], args[1:], kwargs)


def _deepcopy(ev, args, kwargs, span):
    if not args:
        raise _err("W104", "deepcopy() needs an argument", span, "TypeError")
    return clone(args[0], {}, ev, span)


def clone(v, memo, ev=None, span=None):
    """A deep copy of an evaluator value; a step per container copied (shared parts copied once)."""
    if id(v) in memo:
        return memo[id(v)]
    if ev is not None and isinstance(v, (ModuleObj, Instance, list, tuple, dict, set)):
        ev.tick(span)
        _charge_sizes(ev, (v,), span)
    if isinstance(v, ModuleObj):
        c = ModuleObj(v.cls, v.span)
        memo[id(v)] = c
        c.modules = {k: clone(m, memo, ev, span) for k, m in v.modules.items()}
        c.params = {k: clone(p, memo, ev, span) for k, p in v.params.items()}
        c.buffers = {k: clone(b, memo, ev, span) for k, b in v.buffers.items()}
        c.non_persistent = set(v.non_persistent)
        c.attrs = {k: clone(a, memo, ev, span) for k, a in v.attrs.items()}
        c.partial = v.partial
        return c
    if isinstance(v, Tensor):
        c = Tensor(v.shape, v.dtype, v.is_param, v.why_unknown)
        memo[id(v)] = c
        return c
    if isinstance(v, Instance):
        c = Instance(v.cls, None if v.storage is None else {})
        memo[id(v)] = c
        c.attrs = {k: clone(a, memo, ev, span) for k, a in v.attrs.items()}
        if v.storage is not None:
            c.storage.update({k: clone(a, memo, ev, span) for k, a in v.storage.items()})
        return c
    if isinstance(v, list):
        c = []
        memo[id(v)] = c
        c.extend(clone(x, memo, ev, span) for x in v)
        return c
    if isinstance(v, tuple):
        c = tuple(clone(x, memo, ev, span) for x in v)
        memo[id(v)] = c
        return c
    if isinstance(v, dict):
        c = {}
        memo[id(v)] = c
        c.update({k: clone(x, memo, ev, span) for k, x in v.items()})
        return c
    return v


def external_attr(ev, modname: str, name: str, span):
    qual = f"{modname}.{name}"
    modeled = ev.externals.modeled_class(qual)
    if modeled is not None:
        return modeled
    if qual in TORCH_SUBMODULES:
        return ExternalModule(qual)
    if modname == "torch.nn" or modname.startswith("torch.nn.modules"):
        rule = ev.nn_rules.get(name)
        if rule is not None:
            return nn_class(ev, name, rule)
        cq = ev.nn_rules.containers.get(name)
        if cq is not None:
            return BuiltinClass(name, cq, "container", options={"bases": [ev.externals.modeled_class("torch.nn.Module")]})
        if name == "Module":
            return ev.externals.modeled_class("torch.nn.Module")
        if name == "Parameter":
            return Intrinsic("torch.nn.Parameter", _param)
        return Unknown(f"torch.nn.{name} has no rule in rules/torch_nn.yaml", span, True)
    if modname in ("torch.nn.parameter",) and name == "Parameter":
        return Intrinsic("torch.nn.Parameter", _param)
    if modname == "torch.nn.init" or (modname == "torch.nn.functional" and name.endswith("_")):
        return _identity_first(qual)
    if modname == "torch.nn.functional":
        return Intrinsic(qual, lambda ev, a, k, s, q=qual: Unknown(f"{q}(...) result is not modeled", s))
    if modname == "torch":
        if name in DTYPE_NAMES:
            return DType(torch_ops.DTYPES[name])
        if name in ("Tensor",):
            return BuiltinClass("Tensor", "torch.Tensor", "tensor")
        if name in ("FloatTensor", "LongTensor"):
            return _torch_fn(name)
        return _torch_fn(name)
    if modname == "math":
        v = getattr(math, name, None)
        if callable(v):
            return _math_fn(name, v)
        if isinstance(v, (int, float)):
            return v
    if modname == "functools":
        if name == "partial":
            return Intrinsic("functools.partial", _partial)
        if name in ("wraps", "lru_cache", "cache"):
            return Intrinsic(qual, lambda ev, a, k, s: _identity_first("decorator"))
    if modname == "copy" and name in ("deepcopy", "copy"):
        return Intrinsic(qual, _deepcopy)
    if modname == "warnings" and name == "warn":
        return Intrinsic(qual, lambda ev, a, k, s: None)
    if modname == "operator":
        v = getattr(operator, name, None)
        if callable(v):
            return _math_fn(name, v)
    return Unknown(f"'{qual}' is not modeled", span, True)


def nn_class(ev, name, rule) -> BuiltinClass:
    cache = ev.__dict__.setdefault("_nn_classes", {})
    cls = cache.get(rule.qualname)
    if cls is None:
        cls = BuiltinClass(rule.name, rule.qualname, "nn", rule, {"bases": [ev.externals.modeled_class("torch.nn.Module")]})
        cache[rule.qualname] = cls
    return cls


def fallback_value(ev, qual, spec, span):
    if spec.get("kind") == "module":
        from analyzer.fallbacks import fallback_class

        return fallback_class(ev, qual, spec)
    if spec.get("kind") == "class_map":
        mapping = {}
        for key, target in spec["entries"].items():
            mod, _, attr = target.rpartition(".")
            if mod.startswith("torch"):
                mapping[key] = external_attr(ev, mod, attr, span)
            else:
                mapping[key] = Unknown(f"'{target}' (from the ACT2FN fallback) has no source here", span, True)
        return _ClassMap(mapping)
    return Unknown(f"fallback kind {spec.get('kind')!r} for '{qual}' is not usable here", span)


class _ClassMap:
    """ACT2FN-like: indexing instantiates the class registered under the key."""

    def __init__(self, mapping):
        self.mapping = mapping


def construct_plain(ev, base, args, kwargs, span):
    return Unknown(f"construction of {base.qualname}", span)


# ---------------------------------------------------------------------------------- construction
def builtin_init(ev, base, obj, args, kwargs, span):
    ev.note_write(obj)
    kind = base.kind if base is not None else "object"
    if kind == "nn":
        nn_init(ev, base, obj, args, kwargs, span)
    elif kind == "container":
        container_init(ev, base.name, obj, args, kwargs, span)
    elif kind in ("dict", "attrdict"):
        src = dict_from_args(ev, base.name, args, kwargs, span)
        if kind == "attrdict":
            src = {k: _to_attrdict(obj.cls, v) for k, v in src.items()}
        obj.storage.update(src)
    elif kind == "hf_config":
        hf_config_init(ev, base, obj, kwargs, span)
    elif kind == "hf_model":
        hf_model_init(ev, obj, args, kwargs, span)
    elif kind == "fallback_module":
        from analyzer.fallbacks import init_module

        init_module(ev, base, obj, args, kwargs, span)


def dict_from_args(ev, name: str, args, kwargs, span) -> dict:
    """The items of ``dict(mapping_or_pairs, **kwargs)``, for dict, OrderedDict and attribute dicts."""
    out = {}
    if args:
        src = args[0]
        if isinstance(src, Instance) and src.storage is not None:
            src = src.storage
        if isinstance(src, Unknown):
            raise _err("W105", f"{name}() of an unknown mapping: {src.reason}", span)
        if isinstance(src, dict):
            out.update(src)
        else:
            for pair in ev.iterate(src, span):
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise _err("W104", f"{name}() needs key-value pairs", span, "ValueError")
                out[pair[0]] = pair[1]
    out.update(kwargs)
    return out


def _to_attrdict(cls, v):
    if isinstance(v, dict):
        inst = Instance(cls, storage={})
        inst.storage.update({k: _to_attrdict(cls, x) for k, x in v.items()})
        return inst
    if isinstance(v, list):
        return [_to_attrdict(cls, x) for x in v]
    return v


def nn_init(ev, base, obj, args, kwargs, span):
    rule = base.rule
    key = call_key(rule.qualname, args, kwargs)  # 2,342 Linears share a handful of calls
    hit = ev.nn_memo.get(key) if key is not None else None
    if hit is None:
        try:
            bound = bind(rule, list(args), dict(kwargs))
        except BindError as exc:
            raise _err("W104", f"{rule.name}: {exc}", span, "TypeError") from None
        try:
            params, buffers = instantiate(rule, bound)
        except ShapeError as exc:
            unknown = [k for k, v in bound.items() if isinstance(v, (Unknown, Tensor))]
            why = "; ".join(f"{k}: {bound[k].reason}" for k in unknown if isinstance(bound[k], Unknown))
            ev.warn("W104", f"{rule.name}: parameter shapes unknown ({why or exc})", span)
            return
        hit = (params, buffers, bound)
        if key is not None:
            ev.nn_memo[key] = hit
    params, buffers, bound = hit
    for name, shape in params.items():
        obj.params[name] = Tensor(tuple(shape), "float32", True)
    for name, info in buffers.items():
        obj.buffers[name] = Tensor(tuple(info.shape) if info.shape is not None else None, info.dtype or "float32")
        if not info.persistent:
            obj.non_persistent.add(name)
    if rule.children:
        try:
            children = instantiate_children(rule, bound)
        except ShapeError as exc:
            ev.warn("W104", f"{rule.name}: child modules unknown ({exc})", span)
            return
        for name, (cls_name, cargs, ckwargs) in children.items():
            child_rule = ev.nn_rules.get(cls_name)
            add_module(ev, obj, name, ev.instantiate(nn_class(ev, cls_name, child_rule), cargs, ckwargs, span), span)


def add_module(ev, obj: ModuleObj, name, value, span):
    ev.note_write(obj)
    if not isinstance(name, str):
        raise _err("W105", f"module name is not a known string ({getattr(name, 'reason', type_name(name))})", span)
    if isinstance(value, Unknown):
        ev.warn("W108", f"child '{name}' is an unknown value ({value.reason}); it is missing from the tree", span)
        return
    if value is not None and not isinstance(value, ModuleObj):
        raise _err("W104", f"{type_name(value)} is not a Module subclass", span, "TypeError")
    obj.params.pop(name, None) if name in obj.params and value is not None else None
    obj.attrs.pop(name, None)
    obj.modules[name] = value


def container_init(ev, name, obj, args, kwargs, span):
    if name in ("ModuleList", "ParameterList"):
        items = args[0] if args else kwargs.get("modules", kwargs.get("values"))
        if items is not None:
            for i, m in enumerate(ev.iterate(items, span)):
                if name == "ParameterList":
                    obj.params[str(i)] = m
                else:
                    add_module(ev, obj, str(i), m, span)
    elif name == "Sequential":
        if len(args) == 1 and (isinstance(args[0], dict) or (isinstance(args[0], Instance) and args[0].storage is not None)):
            src = args[0] if isinstance(args[0], dict) else args[0].storage
            for k, m in src.items():
                add_module(ev, obj, k, m, span)
        else:
            for i, m in enumerate(args):
                add_module(ev, obj, str(i), m, span)
    elif name in ("ModuleDict", "ParameterDict"):
        items = args[0] if args else kwargs.get("modules", kwargs.get("parameters"))
        if items is not None:
            dict_update(ev, obj, name, items, span)


def dict_update(ev, obj, name, items, span):
    ev.note_write(obj)
    if isinstance(items, Instance) and items.storage is not None:
        items = items.storage
    pairs = list(items.items()) if isinstance(items, dict) else list(ev.iterate(items, span))
    for k, m in pairs:
        if name == "ParameterDict":
            obj.params[k] = m
        else:
            add_module(ev, obj, k, m, span)


def _scan_config_defaults(ev):
    """PretrainedConfig.__init__ defaults, read from the installed transformers source:
    the ``self.X = kwargs.pop("X", DEFAULT)`` statements, in order."""
    cache = ev.__dict__.get("_hf_defaults")
    if cache is not None:
        return cache
    out: list = []
    file = ev.index.find("transformers.configuration_utils")
    facts = file.facts() if file is not None else None
    cls = facts.classes.get("PretrainedConfig") if facts else None
    init = cls.members.get("__init__") if cls else None
    if init is None:
        fb = ev.externals.fallback("transformers.configuration_utils.PretrainedConfig.defaults") or {"entries": {}}
        if "defaults" not in ev.used_fallbacks:
            ev.used_fallbacks.add("defaults")
            ev.report(Diagnostic("I201", "PretrainedConfig defaults come from the YAML fallback in rules/externals.yaml "
                                 "(transformers source is not installed)", span=None), None)
        out = [(k, k, v) for k, v in fb["entries"].items()]
    else:
        from analyzer.evaluator import EvalRaise, Frame

        snip = ev.snippet(file, init.start, init.end)
        frame = Frame(file, snip)
        for stmt in snip.node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
                    continue
                target, value = small.targets[0].target, small.value
                if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                        and target.value.value == "self"):
                    continue
                if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                        and value.func.attr.value == "pop" and isinstance(value.func.value, cst.Name)
                        and value.func.value.value == "kwargs" and value.args
                        and isinstance(value.args[0].value, cst.SimpleString)):
                    key = value.args[0].value.evaluated_value
                    try:
                        default = ev.eval(value.args[1].value, frame) if len(value.args) > 1 else None
                    except EvalRaise:
                        default = Unknown(f"default of PretrainedConfig.{key}")
                    out.append((target.attr.value, key, default))
    ev.__dict__["_hf_defaults"] = out
    return out


def hf_config_init(ev, base, obj, kwargs, span):
    kwargs = dict(kwargs)
    for attr, key, default in _scan_config_defaults(ev):
        value = kwargs.pop(key, default)
        set_attribute(ev, obj, attr, _copy.copy(value) if isinstance(value, (list, dict)) else value, span)
    for key, value in kwargs.items():
        set_attribute(ev, obj, key, value, span)


def hf_model_init(ev, obj, args, kwargs, span):
    config = args[0] if args else kwargs.get("config")
    if isinstance(config, Instance) and _kind(ev, config.cls) == "hf_config":
        # As PreTrainedModel.__init__ (transformers 4.46): unless the config is marked as already
        # set (also when a saved config.json carries `_attn_implementation_autoset: true`), pick
        # the requested implementation, else sdpa when the class declares support, else eager.
        current = config.attrs.get("_attn_implementation_internal")
        if ev.attn_implementation is not None and not ev.__dict__.get("_attn_forced"):
            choice = ev.attn_implementation
            ev.__dict__["_attn_forced"] = True
        elif config.attrs.get("_attn_implementation_autoset") is True or current is not None:
            choice = current or "eager"
        else:
            _, sdpa = ev.lookup_mro(obj.cls, "_supports_sdpa")
            choice = "sdpa" if sdpa is True else "eager"
        ev.note_write(config)
        config.attrs["_attn_implementation_internal"] = choice
        config.attrs["_attn_implementation_autoset"] = True
        ev.chosen_attn = ev.__dict__.get("chosen_attn") or choice
    obj.attrs["config"] = config


# ---------------------------------------------------------------------------------- attributes
def _bind_member(ev, obj, owner, member, span):
    if isinstance(member, FunctionValue):
        if member.kind == "staticmethod":
            return member
        if member.kind == "classmethod":
            return BoundMethod(obj.cls if isinstance(obj, (ModuleObj, Instance)) else obj, member)
        if member.kind == "property":
            return ev.call_function(member, [], {}, span, self_obj=obj)
        return BoundMethod(obj, member)
    return member


MODULE_NEUTRAL = {"eval", "train", "requires_grad_", "to", "cuda", "cpu", "float", "half", "bfloat16", "double",
                  "type", "apply", "zero_grad", "share_memory", "_init_weights"}


def module_method(ev, obj: ModuleObj, name: str, span):
    """Bound builtin nn.Module / container methods, or None."""
    if name in MODULE_NEUTRAL:
        return Intrinsic(name, lambda ev, a, k, s: obj)
    if name == "register_buffer":
        def register_buffer(ev, args, kwargs, s):
            bname = args[0] if args else kwargs.get("name")
            tensor = args[1] if len(args) > 1 else kwargs.get("tensor")
            persistent = args[2] if len(args) > 2 else kwargs.get("persistent", True)
            if not isinstance(bname, str):
                raise _err("W105", "buffer name is not a known string", s)
            if isinstance(tensor, Unknown):
                ev.warn("W104", f"buffer '{bname}' has an unknown value ({tensor.reason})", s)
                tensor = Tensor(None, "float32", why_unknown=tensor.reason)
            elif tensor is not None and not isinstance(tensor, Tensor):
                raise _err("W104", f"buffer '{bname}' must be a tensor or None, got {type_name(tensor)}", s, "TypeError")
            if isinstance(tensor, Tensor) and tensor.shape is None:
                ev.warn("W104", f"buffer '{bname}' shape unknown ({tensor.why_unknown or 'not derivable'})", s)
            ev.note_write(obj)
            obj.attrs.pop(bname, None)
            obj.buffers[bname] = Tensor(tensor.shape, tensor.dtype, False, tensor.why_unknown) if tensor is not None else None
            if isinstance(persistent, Unknown) or not persistent:
                obj.non_persistent.add(bname)
            else:
                obj.non_persistent.discard(bname)
        return Intrinsic(name, register_buffer)
    if name == "register_parameter":
        def register_parameter(ev, args, kwargs, s):
            pname, p = args[0], args[1] if len(args) > 1 else kwargs.get("param")
            if isinstance(p, Unknown):
                ev.warn("W104", f"parameter '{pname}' has an unknown value ({p.reason})", s)
                p = Tensor(None, "float32", True, p.reason)
            ev.note_write(obj)
            obj.params[pname] = p
        return Intrinsic(name, register_parameter)
    if name in ("add_module", "register_module"):
        return Intrinsic(name, lambda ev, a, k, s: add_module(ev, obj, a[0] if a else k.get("name"), a[1] if len(a) > 1 else k.get("module"), s))
    if name in ("parameters", "buffers", "children", "modules", "named_parameters", "named_buffers", "named_children", "named_modules"):
        def listing(ev, args, kwargs, s, which=name):
            items = walk_listing(obj, which)
            return items
        return Intrinsic(name, listing)
    cont = _container_of(ev, obj)
    if cont in ("ModuleList", "Sequential"):
        if name == "append":
            return Intrinsic(name, lambda ev, a, k, s: (add_module(ev, obj, str(len(obj.modules)), a[0], s), obj)[1])
        if name == "extend":
            def extend(ev, a, k, s):
                for m in ev.iterate(a[0], s):
                    add_module(ev, obj, str(len(obj.modules)), m, s)
                return obj
            return Intrinsic(name, extend)
        if name == "insert":
            def insert(ev, a, k, s):
                idx, m = a
                items = list(obj.modules.values())
                items.insert(idx, m)
                obj.modules = {}
                for i, x in enumerate(items):
                    add_module(ev, obj, str(i), x, s)
            return Intrinsic(name, insert)
    if cont in ("ModuleDict", "ParameterDict"):
        store = obj.modules if cont == "ModuleDict" else obj.params
        if name == "keys":
            return Intrinsic(name, lambda ev, a, k, s: list(store))
        if name == "values":
            return Intrinsic(name, lambda ev, a, k, s: list(store.values()))
        if name == "items":
            return Intrinsic(name, lambda ev, a, k, s: list(store.items()))
        if name == "update":
            return Intrinsic(name, lambda ev, a, k, s: dict_update(ev, obj, cont, a[0], s))
    if cont == "ParameterList" and name == "append":
        return Intrinsic(name, lambda ev, a, k, s: (ev.note_write(obj), obj.params.__setitem__(str(len(obj.params)), a[0]))[1])
    return None


def walk_listing(obj: ModuleObj, which: str):
    seen = set()
    out = []

    def rec(m, prefix):
        if m.uid in seen:
            return
        seen.add(m.uid)
        if which in ("modules", "named_modules"):
            out.append((prefix, m) if which.startswith("named") else m)
        if which in ("parameters", "named_parameters"):
            for k, p in m.params.items():
                if p is not None:
                    out.append((prefix + k, p) if which.startswith("named") else p)
        if which in ("buffers", "named_buffers"):
            for k, b in m.buffers.items():
                if b is not None:
                    out.append((prefix + k, b) if which.startswith("named") else b)
        for k, c in m.modules.items():
            if c is not None:
                rec(c, prefix + k + ".")

    if which in ("children", "named_children"):
        return [(k, c) if which == "named_children" else c for k, c in obj.modules.items() if c is not None]
    rec(obj, "")
    if which == "named_modules":
        return [(k.rstrip("."), m) for k, m in out]
    return out


def _missing(ev, obj, name, span):
    if isinstance(obj, Instance) and _kind(ev, obj.cls) == "hf_config":
        raise _err("W101", f"config has no key '{name}' (not in config.json nor a default of {obj.cls.name})", span, "AttributeError")
    if isinstance(obj, Instance) and _kind(ev, obj.cls) == "attrdict":
        raise _err("W101", f"config ({obj.cls.name}) has no key '{name}'", span, "AttributeError")
    raise _err("W102", f"'{type_name(obj)}' object has no attribute '{name}'", span, "AttributeError")


def _config_class_info(ev, cls) -> tuple[dict, dict]:
    """(attribute_map, modeled properties by name: the first class in the MRO that has one wins)
    of a config class; cached until a class attribute is assigned."""
    info = ev.class_info.get(("config", cls))
    if info is None:
        amap = ev.lookup_mro(cls, "attribute_map")[1]
        properties: dict = {}
        for c in ev.mro(cls):
            if isinstance(c, BuiltinClass):
                for pname, spec in c.options.get("properties", {}).items():
                    properties.setdefault(pname, spec)
        info = (amap if isinstance(amap, dict) else {}, properties)
        ev.class_info[("config", cls)] = info
    return info


def get_attribute(ev, obj, name, span):
    t = type(obj)  # the value classes have no subclasses: compared by identity on this hot path
    if t is Unknown:
        return Unknown(obj.reason, obj.span, True)
    if t is ModuleObj:
        owner, member = ev.lookup_mro(obj.cls, name)
        if isinstance(member, FunctionValue) and member.kind == "property":
            return ev.call_function(member, [], {}, span, self_obj=obj)
        if name in obj.attrs:
            return obj.attrs[name]
        if member is not MISSING:
            if isinstance(owner, BuiltinClass) and owner.kind == "hf_model" and name in owner.options.get("neutral_methods", ()):
                return Intrinsic(name, lambda ev, a, k, s: None)
            return _bind_member(ev, obj, owner, member, span)
        if name in obj.params:
            return obj.params[name]
        if name in obj.buffers:
            return obj.buffers[name]
        if name in obj.modules:
            return obj.modules[name]
        for c in ev.mro(obj.cls):
            if isinstance(c, BuiltinClass) and c.kind == "hf_model" and name in c.options.get("neutral_methods", ()):
                return Intrinsic(name, lambda ev, a, k, s: None)
        m = module_method(ev, obj, name, span)
        if m is not None:
            return m
        if name == "__class__":
            return obj.cls
        if name == "training":
            return True
        _missing(ev, obj, name, span)
    if t is Instance:
        kind = _kind(ev, obj.cls)
        owner, member = ev.lookup_mro(obj.cls, name)
        if isinstance(member, FunctionValue) and member.kind == "property":
            return ev.call_function(member, [], {}, span, self_obj=obj)
        if kind == "hf_config" and name not in obj.attrs:
            amap, properties = _config_class_info(ev, obj.cls)
            if name in amap:
                name = amap[name]
            spec = properties.get(name)
            if spec is not None and name not in obj.attrs:
                v = obj.attrs.get(spec["attr"])
                return v if v is not None else spec.get("default")
        if name in obj.attrs:
            return obj.attrs[name]
        if kind == "attrdict" and obj.storage is not None and name in obj.storage:
            return obj.storage[name]
        if member is not MISSING:
            return _bind_member(ev, obj, owner, member, span)
        if obj.storage is not None:
            dm = dict_method(ev, obj.storage, name, span, owner_obj=obj)
            if dm is not None:
                return dm
        if kind == "attrdict" and obj.storage is not None:
            base = ev.builtin_kind(obj.cls)
            if base is not None and base.options.get("missing") == "empty":
                return Instance(obj.cls, storage={})
        if name == "__class__":
            return obj.cls
        _missing(ev, obj, name, span)
    if isinstance(obj, (ClassValue, BuiltinClass)):
        if name == "__name__":
            return obj.name
        owner, member = ev.lookup_mro(obj, name)
        if member is MISSING:
            raise _err("W102", f"class {obj.name} has no attribute '{name}'", span, "AttributeError")
        if isinstance(member, FunctionValue) and member.kind == "classmethod":
            return BoundMethod(obj, member)
        return member
    if isinstance(obj, SuperValue):
        target = obj.obj
        cls = target.cls if isinstance(target, (ModuleObj, Instance)) else target
        if not isinstance(cls, (ClassValue, BuiltinClass)) or not isinstance(obj.after, (ClassValue, BuiltinClass)):
            if isinstance(cls, Unknown) or isinstance(obj.after, Unknown):
                return Unknown("super() of an unknown value", span, True)
            raise _err("W104", f"super(): the arguments are a {type_name(obj.after)} and a {type_name(target)}, "
                       "not a class and an instance of it", span, "TypeError")
        owner, member = ev.lookup_mro(cls, name, after=obj.after)
        if member is MISSING:
            if name == "__init__":
                base = None
                chain = ev.mro(cls)
                rest = chain[chain.index(obj.after) + 1:] if obj.after in chain else []
                for c in rest:
                    if isinstance(c, BuiltinClass) and c.kind != "object":
                        base = c
                        break
                return Intrinsic("__init__", lambda ev, a, k, s: builtin_init(ev, base, target, a, k, s))
            if isinstance(target, ModuleObj):
                m = module_method(ev, target, name, span)
                if m is not None:
                    return m
            if isinstance(target, Instance) and target.storage is not None:
                dm = dict_method(ev, target.storage, name, span, owner_obj=target)
                if dm is not None:
                    return dm
            raise _err("W102", f"super() has no attribute '{name}'", span, "AttributeError")
        if name == "__init__" and isinstance(owner, BuiltinClass):
            return Intrinsic("__init__", lambda ev, a, k, s: builtin_init(ev, owner, target, a, k, s))
        return _bind_member(ev, target, owner, member, span)
    if isinstance(obj, (ExternalModule, SourceModule)):
        return ev.module_attr(obj, name, span)
    if isinstance(obj, Tensor):
        if name == "shape":
            return tuple(obj.shape) if obj.shape is not None else Unknown("shape of a tensor of unknown shape", span)
        if name == "dtype":
            return DType(obj.dtype)
        if name in ("data", "T"):
            return Tensor(obj.shape if name == "data" else (tuple(reversed(obj.shape)) if obj.shape else obj.shape), obj.dtype, obj.is_param and name == "data")
        if name in ("device",):
            return "meta"
        if name == "requires_grad":
            return obj.is_param
        if name in ("ndim",):
            return len(obj.shape) if obj.shape is not None else Unknown("ndim of unknown shape", span)

        def tmethod(ev, args, kwargs, s, n=name):
            r = torch_ops.method(obj, n, list(args), dict(kwargs))
            if r is None:
                return Unknown(f"Tensor.{n}(...) is not shape-modeled", s)
            return r

        return Intrinsic(f"Tensor.{name}", tmethod)
    if isinstance(obj, FunctionValue):
        if name == "__name__":
            return obj.name
    if isinstance(obj, PartialValue):
        if name == "func":
            return obj.func
        if name == "args":
            return tuple(obj.args)
        if name == "keywords":
            return dict(obj.kwargs)
    if isinstance(obj, DType):
        if name == "is_floating_point":
            return obj.name.startswith(("float", "bfloat"))
    if isinstance(obj, dict):
        dm = dict_method(ev, obj, name, span)
        if dm is not None:
            return dm
    if isinstance(obj, (list, str, tuple, int, float, set)) and not name.startswith("_"):
        attr = getattr(obj, name, None)
        if attr is not None:
            if not callable(attr):
                return attr

            def pymethod(ev, args, kwargs, s, f=attr, n=name):
                if n in _SEQ_MUTATORS:
                    ev.note_write(obj)
                for a in args:
                    if isinstance(a, Unknown) and isinstance(obj, str):
                        return Unknown(a.reason, a.span)
                if n in ("index", "count", "remove") and isinstance(obj, (list, tuple)):
                    args = list(args)
                refusal = _plain_method_refusal(obj, n, args, kwargs)
                if refusal is not None:
                    return Unknown(refusal, s)
                _charge_sizes(ev, [obj, *args, *kwargs.values()], s)
                try:
                    return f(*args, **kwargs)
                except (TypeError, ValueError, IndexError, KeyError, OverflowError, ZeroDivisionError) as exc:
                    raise _err("W104", f"{type(obj).__name__}.{n}: {exc}", s, type(exc).__name__) from None

            return Intrinsic(f"{type(obj).__name__}.{name}", pymethod)
    if isinstance(obj, _ClassMap):
        pass
    if obj is None:
        raise _err("W102", f"'NoneType' object has no attribute '{name}'", span, "AttributeError")
    raise _err("W102", f"'{type_name(obj)}' object has no attribute '{name}'", span, "AttributeError")


_DICT_MUTATORS = frozenset({"pop", "popitem", "setdefault", "update", "clear", "__setitem__", "__delitem__"})
_SEQ_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "add",
                           "discard", "update", "difference_update", "intersection_update",
                           "symmetric_difference_update", "__setitem__", "__delitem__", "__iadd__"})


def dict_method(ev, store: dict, name: str, span, owner_obj=None):
    if name == "get":
        def get(ev, args, kwargs, s):
            key = args[0]
            if isinstance(key, Unknown):
                return Unknown(key.reason, key.span, True)
            return store.get(key, args[1] if len(args) > 1 else kwargs.get("default"))
        return Intrinsic("dict.get", get)
    if name in ("keys", "values", "items"):
        return Intrinsic(f"dict.{name}", lambda ev, a, k, s: list(getattr(store, name)()))
    if name in _DICT_MUTATORS:
        ev.note_write(owner_obj if owner_obj is not None else store)  # once bound: it is about to change
    if name == "pop":
        def pop(ev, args, kwargs, s):
            if args[0] in store:
                return store.pop(args[0])
            if len(args) > 1:
                return args[1]
            raise _err("W104", f"KeyError: {args[0]!r}", s, "KeyError")
        return Intrinsic("dict.pop", pop)
    if name == "setdefault":
        return Intrinsic("dict.setdefault", lambda ev, a, k, s: store.setdefault(a[0], a[1] if len(a) > 1 else None))
    if name == "update":
        def update(ev, args, kwargs, s):
            for a in args:
                if isinstance(a, Instance) and a.storage is not None:
                    a = a.storage
                if isinstance(a, dict):
                    store.update(a)
                else:
                    store.update(dict(ev.iterate(a, s)))
            store.update(kwargs)
        return Intrinsic("dict.update", update)
    if name == "copy":
        return Intrinsic("dict.copy", lambda ev, a, k, s: dict(store))
    if name == "__getitem__":
        return Intrinsic("dict.__getitem__", lambda ev, a, k, s: get_item(ev, store, a[0], s))
    return None


def set_attribute(ev, obj, name, value, span):
    t = type(obj)
    if t is Unknown:
        return
    ev.note_write(obj)
    if t is ModuleObj:
        tv = type(value)
        if tv in _PLAIN_TYPES and name not in obj.params and name not in obj.modules and name not in obj.buffers:
            obj.attrs[name] = value  # the common case: a number, string or config value
            return
        if tv is Tensor and value.is_param:
            obj.attrs.pop(name, None)
            obj.buffers.pop(name, None)
            obj.modules.pop(name, None)
            obj.params[name] = value
        elif name in obj.params and value is None:
            obj.params[name] = None
        elif isinstance(value, ModuleObj):
            obj.attrs.pop(name, None)
            obj.params.pop(name, None)
            obj.buffers.pop(name, None)
            obj.modules[name] = value
        elif name in obj.modules and value is None:
            obj.modules[name] = None
        elif name in obj.buffers and (value is None or isinstance(value, Tensor)):
            obj.buffers[name] = value
        elif name in obj.params or name in obj.modules:
            raise _err("W104", f"cannot assign a {type_name(value)} to '{name}' (a parameter or module)", span, "TypeError")
        else:
            if isinstance(value, Unknown) and value.maybe_module:
                ev.warn("W108", f"attribute '{name}' got an unknown value ({value.reason}); if it is a module, it is missing from the tree", span)
            obj.attrs[name] = value
        return
    if t is Instance:
        kind = _kind(ev, obj.cls)
        if kind == "hf_config":
            amap = _config_class_info(ev, obj.cls)[0]
            if name in amap:
                name = amap[name]
        if kind == "attrdict":
            _charge_sizes(ev, (value,), span)
            obj.storage[name] = _to_attrdict(obj.cls, value)
            return
        obj.attrs[name] = value
        return
    if isinstance(obj, ClassValue):
        obj.ns[name] = value
        ev._lookup_cache.clear()
        ev.class_info.clear()
        return
    if isinstance(obj, Tensor):
        return  # e.g. p.requires_grad = False or a marker attribute: no effect on structure
    raise _err("W104", f"cannot set attribute '{name}' on {type_name(obj)}", span, "AttributeError")


def del_attribute(ev, obj, name, span):
    ev.note_write(obj)
    if isinstance(obj, ModuleObj):
        for store in (obj.params, obj.buffers, obj.modules, obj.attrs):
            if name in store:
                del store[name]
                return
    elif isinstance(obj, Instance):
        obj.attrs.pop(name, None)
        if obj.storage is not None:
            obj.storage.pop(name, None)


# ---------------------------------------------------------------------------------- items
def get_item(ev, obj, key, span):
    if isinstance(obj, Unknown):
        return Unknown(obj.reason, obj.span, True)
    if isinstance(key, Unknown):
        return Unknown(f"index: {key.reason}", key.span, True)
    if isinstance(obj, _ClassMap):
        if key not in obj.mapping:
            raise _err("W101", f"key {key!r} is not in the ACT2FN fallback mapping", span, "KeyError")
        return ev.call(obj.mapping[key], [], {}, span)
    if isinstance(obj, ModuleObj):
        cont = _container_of(ev, obj)
        if cont == "ModuleDict":
            if key in obj.modules:
                return obj.modules[key]
            raise _err("W104", f"KeyError: {key!r}", span, "KeyError")
        if cont in ("ModuleList", "Sequential"):
            items = list(obj.modules.values())
            if isinstance(key, slice):
                new = ModuleObj(obj.cls, span)
                for i, m in enumerate(items[key]):
                    new.modules[str(i)] = m
                return new
            try:
                return items[key]
            except (IndexError, TypeError) as exc:
                raise _err("W104", f"{cont} index: {exc}", span, "IndexError") from None
        if cont == "ParameterList":
            return list(obj.params.values())[key]
        _, getitem = ev.lookup_mro(obj.cls, "__getitem__")
        if isinstance(getitem, FunctionValue):
            return ev.call_function(getitem, [key], {}, span, self_obj=obj)
        raise _err("W104", f"'{type_name(obj)}' module is not subscriptable", span, "TypeError")
    if isinstance(obj, Instance):
        _, getitem = ev.lookup_mro(obj.cls, "__getitem__")
        if isinstance(getitem, FunctionValue):
            return ev.call_function(getitem, [key], {}, span, self_obj=obj)
        if obj.storage is not None:
            if key in obj.storage:
                return obj.storage[key]
            base = ev.builtin_kind(obj.cls)
            if base is not None and base.options.get("missing") == "empty":
                return Instance(obj.cls, storage={})
            raise _err("W101", f"key {key!r} not found", span, "KeyError")
        raise _err("W104", f"'{type_name(obj)}' object is not subscriptable", span, "TypeError")
    if isinstance(obj, Tensor):
        return Tensor(None, obj.dtype, why_unknown="tensor indexing is not shape-modeled")
    if isinstance(obj, (ClassValue, BuiltinClass, Intrinsic, ExternalModule)):
        return Unknown("a type subscription (annotation)", span)
    if isinstance(obj, (list, tuple, str, dict, range)):
        try:
            return obj[key]
        except KeyError:
            raise _err("W101", f"key {key!r} not found in the mapping", span, "KeyError") from None
        except (IndexError, TypeError) as exc:
            raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None
    raise _err("W104", f"'{type_name(obj)}' object is not subscriptable", span, "TypeError")


def set_item(ev, obj, key, value, span):
    ev.note_write(obj)
    if isinstance(obj, Unknown):
        return
    if isinstance(key, Unknown):
        raise _err("W105", f"item assignment with an unknown key: {key.reason}", span)
    if isinstance(obj, ModuleObj):
        cont = _container_of(ev, obj)
        if cont == "ModuleDict":
            add_module(ev, obj, key, value, span)
            return
        if cont in ("ModuleList", "Sequential") and isinstance(key, int):
            names = list(obj.modules)
            add_module(ev, obj, names[key], value, span)
            return
        raise _err("W104", f"item assignment on {type_name(obj)}", span, "TypeError")
    if isinstance(obj, Instance) and obj.storage is not None:
        obj.storage[key] = value
        return
    if isinstance(obj, (list, dict)):
        try:
            obj[key] = value
        except (IndexError, TypeError) as exc:
            raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None
        return
    if isinstance(obj, Tensor):
        return
    raise _err("W104", f"'{type_name(obj)}' does not support item assignment", span, "TypeError")


def del_item(ev, obj, key, span):
    ev.note_write(obj)
    if isinstance(obj, (list, dict)):
        try:
            del obj[key]
        except (IndexError, KeyError, TypeError):
            pass
    elif isinstance(obj, ModuleObj):
        obj.modules.pop(str(key), None)


def to_str(ev, v):
    if isinstance(v, (ClassValue, BuiltinClass)):
        return f"<class '{v.qualname}'>"
    if isinstance(v, ModuleObj):
        return f"{type_name(v)}(...)"
    if isinstance(v, DType):
        return f"torch.{v.name}"
    return f"<{type_name(v)}>"

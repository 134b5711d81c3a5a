"""Function objects as values: their attributes (``__name__``, ``__doc__``, ``__code__``...), attributes
assigned to them, bound methods' delegation to ``__func__``, and the calls that copy or wrap a
function: ``types.FunctionType(f.__code__, f.__globals__, ...)``, ``functools.update_wrapper``,
``classmethod(f)`` / ``staticmethod(f)`` called as functions.

``__code__``, ``__globals__``, ``__defaults__``, ``__closure__`` and ``__kwdefaults__`` are opaque
``FunctionPart`` values: they can be passed back to ``types.FunctionType`` (a copy of the same code)
or assigned to a copy of their own function, nothing else. A copy with other defaults, another
closure or another code is not modelled: an unknown value, or an error naming the call.
"""
from __future__ import annotations

import libcst as cst

from analyzer.evaluate.core import BudgetExceeded, EvalRaise, _err
from analyzer.evaluate.values import MISSING, BoundMethod, FunctionValue, Intrinsic, Unknown, type_name

_PARTS = ("__code__", "__globals__", "__defaults__", "__closure__", "__kwdefaults__")
WRAPPER_ASSIGNMENTS = ("__module__", "__name__", "__qualname__", "__doc__")  # functools' (3.11: no __type_params__)


class FunctionPart:
    """``f.__code__`` and the like: which function, which part."""

    __slots__ = ("fn", "part")

    def __init__(self, fn: FunctionValue, part: str):
        self.fn = fn
        self.part = part

    def __repr__(self) -> str:
        return f"<{self.part} of {self.fn.qualname}>"


def _same_code(a: FunctionValue, b: FunctionValue) -> bool:
    return a.node is b.node


def _docstring(fn: FunctionValue):
    node = fn.node
    if isinstance(node, cst.FunctionDef):
        return node.get_docstring(clean=False)
    return None


def function_attr(ev, fn: FunctionValue, name: str, span):
    """Attribute ``name`` of a function value, or MISSING."""
    if fn.attrs is not None and name in fn.attrs:
        return fn.attrs[name]
    if name == "__name__":
        return fn.name
    if name == "__qualname__":
        return fn.qualname[len(fn.file.module) + 1:] if fn.file.module and fn.qualname.startswith(fn.file.module + ".") \
            else fn.qualname
    if name == "__module__":
        return fn.file.module
    if name == "__doc__":
        return _docstring(fn)
    if name == "__dict__":
        return Unknown("the __dict__ of a function is not modeled as a dict", span)
    if name in _PARTS:
        return FunctionPart(fn, name)
    return MISSING


def set_function_attr(ev, fn: FunctionValue, name: str, value, span):
    if name in _PARTS:
        if isinstance(value, FunctionPart) and value.part == name and _same_code(value.fn, fn):
            return  # a copy given its own function's part back: nothing changes
        raise _err("W104", f"assigning {name} of a function is not modeled (a {type_name(value)})", span, "TypeError")
    if name in ("__name__", "__qualname__", "__module__", "__doc__", "__wrapped__") or not name.startswith("__"):
        if fn.attrs is None:
            fn.attrs = {}
        fn.attrs[name] = value
        return
    raise _err("W104", f"assigning {name} of a function is not modeled", span, "AttributeError")


def bound_method_attr(ev, m: BoundMethod, name: str, span):
    """A bound method's own attributes, the rest read from its function (as Python does)."""
    if name == "__func__":
        return m.func
    if name == "__self__":
        return m.obj
    return ev.getattr(m.func, name, span)


# ------------------------------------------------------------------------------------- calls
def _function_type(ev, args, kwargs, span):
    """types.FunctionType(code, globals, name=None, argdefs=None, closure=None)."""
    names = ("code", "globals", "name", "argdefs", "closure")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names or k in bound:
            raise _err("W104", f"types.FunctionType(): unexpected argument '{k}'", span, "TypeError")
        bound[k] = v
    code = bound.get("code")
    if not isinstance(code, FunctionPart) or code.part != "__code__":
        if isinstance(code, Unknown):
            return Unknown(f"types.FunctionType of an unknown code object ({code.reason})", span, True)
        return Unknown(f"types.FunctionType of a {type_name(code)} as code is not modeled", span, True)
    fn = code.fn
    defaults, kw_defaults = _has_defaults(fn)
    if kw_defaults:  # a new function never has the old one's __kwdefaults__ until they are assigned back
        return Unknown(f"types.FunctionType of {fn.name}, which has keyword-only defaults, is not modeled", span, True)
    for key, part in (("globals", "__globals__"), ("argdefs", "__defaults__"), ("closure", "__closure__")):
        v = bound.get(key)
        if v is None and (key == "argdefs" and not defaults or key == "closure" and fn.closure is None):
            continue  # nothing to carry over
        if not (isinstance(v, FunctionPart) and v.part == part and _same_code(v.fn, fn)):
            return Unknown(f"types.FunctionType with {key} other than those of {fn.name} is not modeled", span, True)
    copy = fn.copy("function")
    name = bound.get("name")
    if name is not None:
        if type(name) is not str:
            return Unknown(f"types.FunctionType with a {type_name(name)} as name", span, True)
        if name != fn.name:
            copy.attrs = {"__name__": name}
    return copy


def _has_defaults(fn: FunctionValue) -> tuple[bool, bool]:
    """(has positional defaults, has keyword-only defaults)."""
    params = getattr(fn.node, "params", None)
    if params is None:
        return False, False
    positional = list(params.posonly_params) + list(params.params)
    return any(p.default is not None for p in positional), any(p.default is not None for p in params.kwonly_params)


def _update_wrapper(ev, args, kwargs, span):
    """functools.update_wrapper(wrapper, wrapped, assigned=WRAPPER_ASSIGNMENTS, updated=('__dict__',))."""
    names = ("wrapper", "wrapped", "assigned", "updated")
    bound = dict(zip(names, args))
    bound.update(kwargs)
    wrapper, wrapped = bound.get("wrapper"), bound.get("wrapped")
    assigned = bound.get("assigned", WRAPPER_ASSIGNMENTS)
    updated = bound.get("updated", ("__dict__",))
    if isinstance(wrapper, Unknown):
        return Unknown(wrapper.reason, wrapper.span or span, True)
    if not isinstance(wrapper, FunctionValue):
        return Unknown(f"functools.update_wrapper of a {type_name(wrapper)} wrapper is not modeled", span, True)
    if not (isinstance(assigned, (tuple, list)) and all(type(a) is str for a in assigned)
            and isinstance(updated, (tuple, list)) and tuple(updated) in ((), ("__dict__",))):
        return Unknown("functools.update_wrapper with other attribute lists is not modeled", span, True)
    for attr in assigned:
        try:
            value = ev.getattr(wrapped, attr, span)
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            if e.exc_type != "AttributeError":
                raise
            continue
        ev.setattr(wrapper, attr, value, span)
    if updated:
        if isinstance(wrapped, BoundMethod):
            wrapped = wrapped.func
        if isinstance(wrapped, FunctionValue):
            if wrapped.attrs:
                own = {k: v for k, v in wrapped.attrs.items() if not k.startswith("__") or k == "__wrapped__"}
                if own:
                    if wrapper.attrs is None:
                        wrapper.attrs = {}
                    wrapper.attrs.update(own)
        else:
            return Unknown(f"functools.update_wrapper: the __dict__ of a {type_name(wrapped)} is not modeled", span, True)
    if wrapper.attrs is None:
        wrapper.attrs = {}
    wrapper.attrs["__wrapped__"] = wrapped
    return wrapper


def _method_kind(kind):
    def call(ev, args, kwargs, span):
        if len(args) != 1 or kwargs:
            raise _err("W104", f"{kind}() takes exactly one argument", span, "TypeError")
        fn = args[0]
        if isinstance(fn, Unknown):
            return Unknown(fn.reason, fn.span or span, True)
        if not isinstance(fn, FunctionValue):
            return Unknown(f"{kind}() of a {type_name(fn)} is not modeled", span, True)
        out = fn.copy(kind)
        if fn.attrs is None:
            fn.attrs = {}
        out.attrs = fn.attrs  # the wrapper reads the function's attributes
        return out
    return Intrinsic(kind, call)


FUNCTION_TYPE = Intrinsic("types.FunctionType", _function_type)
UPDATE_WRAPPER = Intrinsic("functools.update_wrapper", _update_wrapper)
BUILTINS = {"classmethod": _method_kind("classmethod"), "staticmethod": _method_kind("staticmethod")}


"""Python's builtins as the evaluator models them (``len``, ``range``, ``isinstance``, ``getattr``,
``super``, ``zip``, ``sorted``, ``int``...), and ``check_instance``. Real builtins run only on plain
data; ``eval``, ``exec``, ``open``, ``__import__`` are deliberately absent (a call is W102).
"""
from __future__ import annotations

import libcst as cst

from analyzer.evaluate.configs import dict_from_args
from analyzer.evaluate import enum_model, function_model, module_views, stdlib_modules, tensor_values
from analyzer.evaluate.core import _err, _err_raise, _Iter, _plain
from analyzer.evaluate.kinds import _container_of
from analyzer.evaluate.modules import container_items
from analyzer.evaluate.sizes import _charge_sizes, _huge_int_result
from analyzer.evaluate.values import (
    MISSING,
    BoundMethod,
    BuiltinClass,
    ClassValue,
    ExternalModule,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    SuperValue,
    Tensor,
    Unknown,
    type_name,
)


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
            return len(container_items(ev, x)) if _container_of(ev, x) else _err_raise("W104", "len() of a module", span)
        if isinstance(x, Instance) and x.storage is not None:
            return len(x.storage)
        if isinstance(x, module_views.ChildModules):
            return len(x.obj.modules)
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
        return instance_of_any(ev, obj, types, span)

    def b_issubclass(ev, args, kwargs, span):
        cls, types = args
        types = types if isinstance(types, tuple) else (types,)
        return any(ev.issubclass(cls, t) for t in types)

    def b_hasattr(ev, args, kwargs, span):
        from analyzer.evaluate.core import BudgetExceeded, EvalRaise

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
        from analyzer.evaluate.core import BudgetExceeded, EvalRaise

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
        if isinstance(obj, FunctionValue) and obj.kind == "function":
            return function_model.FUNCTION_TYPE  # types.FunctionType is type(a function), read from types.py
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

    def b_dir(ev, args, kwargs, span):
        """The attributes the analyzer models: an object's own, then its classes' members (not
        the dunder methods Python's builtin types add)."""
        if not args:
            return Unknown("dir() of the current scope is not modeled", span)
        x = args[0]
        if _plain(x):
            return dir(x)
        listed = ev.externals.module_dirs.get(x.qualname) if isinstance(x, ExternalModule) else None
        if listed is not None:  # a modeled module whose names rules/externals.yaml lists
            return list(listed)
        names = set()
        if isinstance(x, ModuleObj):
            names |= set(x.attrs) | set(x.params) | set(x.buffers) | set(x.modules)
        if isinstance(x, Instance):
            names |= set(x.attrs)
        cls = x.cls if isinstance(x, (ModuleObj, Instance)) else x if isinstance(x, (ClassValue, BuiltinClass)) else None
        if cls is None:
            return Unknown(f"dir() of a {type_name(x)} is not modeled", span)
        for c in ev.mro(cls):
            if isinstance(c, ClassValue):
                names |= set(c.facts.members) | set(c.ns)
            elif isinstance(c, BuiltinClass):
                names |= set(c.options.get("class_attrs", {}))
        return sorted(names)

    def tensor_scalar(t, what, span):
        x = tensor_values.item(t)
        if x is None:
            return Unknown(f"{what}() of a tensor: {tensor_values.why_no_value(t)}", span)
        return x

    def b_int(ev, args, kwargs, span):
        if args and isinstance(args[0], Tensor):
            x = tensor_scalar(args[0], "int", span)
            return x if isinstance(x, Unknown) else int(x)
        return plain_fn("int", int).fn(ev, args, kwargs, span)

    def b_float(ev, args, kwargs, span):
        if args and isinstance(args[0], Tensor):
            x = tensor_scalar(args[0], "float", span)
            return x if isinstance(x, Unknown) else float(x)
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
        "dir": Intrinsic("dir", b_dir), **function_model.BUILTINS,
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


PY_TYPES = {"int": (int,), "float": (float,), "str": (str,), "bool": (bool,), "list": (list,), "tuple": (tuple,),
            "dict": (dict,), "set": (set,), "frozenset": (frozenset,)}


def instance_of_any(ev, obj, types, span):
    """``isinstance(obj, types)``: True, False, or an ``Unknown`` when no class matches for sure and
    one of them cannot be told (a class the analyzer does not model never counts as False)."""
    doubt = None
    for t in types if isinstance(types, tuple) else (types,):
        verdict = instance_of_any(ev, obj, t, span) if isinstance(t, tuple) else check_instance(ev, obj, t)
        if isinstance(verdict, Unknown):
            doubt = doubt or Unknown(verdict.reason, span)
        elif verdict:
            return True
    return doubt if doubt is not None else False


def check_instance(ev, obj, t) -> bool:
    if t is function_model.FUNCTION_TYPE:  # types.FunctionType, callable too: the isinstance kind
        t = stdlib_modules.ValueKind("types.FunctionType")
    if isinstance(obj, enum_model.EnumMember):
        if isinstance(t, Intrinsic) and t.name in PY_TYPES:
            return obj.mixin is not None and PY_TYPES[t.name][0] is obj.mixin
        return isinstance(t, (ClassValue, BuiltinClass)) and ev.issubclass(obj.cls, t)
    if isinstance(t, Intrinsic) and t.name in PY_TYPES:
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
    if isinstance(obj, Intrinsic) and (obj.name in PY_TYPES or obj.name == "functools.partial") \
            and isinstance(t, (stdlib_modules.ValueKind, stdlib_modules.AbstractClass)):
        return t.qualname == "collections.abc.Callable" or t.qualname == "collections.abc.Hashable"  # a class
    if isinstance(t, stdlib_modules.AbstractClass):
        if t.qualname.startswith("numbers."):
            return number_instance(obj, t.name)
        return abc_instance(ev, obj, t.name)
    if isinstance(t, stdlib_modules.ValueKind):
        if t.qualname == "types.MethodType":
            return isinstance(obj, BoundMethod) if not isinstance(obj, Intrinsic) else Unknown(
                f"isinstance of {obj.name} against types.MethodType is not modeled", None)
        if isinstance(obj, Intrinsic):  # a modeled package's function: Python source or builtin, not said
            return Unknown(f"isinstance of {obj.name} against types.FunctionType is not modeled", None)
        return isinstance(obj, FunctionValue)
    if isinstance(t, Intrinsic) and t.name == "type":
        if isinstance(obj, (ClassValue, BuiltinClass, stdlib_modules.AbstractClass)):
            return True
        if isinstance(obj, Intrinsic):  # a builtin type (int, functools.partial...) or a function
            if obj.name in PY_TYPES or obj.name == "functools.partial":
                return True
            return Unknown(f"isinstance of {obj.name} against type is not modeled", None)
        if _plain(obj):
            return isinstance(obj, type)
        if isinstance(obj, (ModuleObj, Instance, FunctionValue, PartialValue, BoundMethod, Tensor)):
            return False
        return Unknown(f"isinstance of a {type_name(obj)} against type is not modeled", None)
    if isinstance(t, Intrinsic) and t.name == "functools.partial":
        return isinstance(obj, PartialValue)
    if isinstance(t, Unknown):
        return Unknown(t.reason, t.span)
    return Unknown(f"isinstance against a {type_name(t)} is not modeled", None)


_ABC_DUNDERS = {"Iterable": "__iter__", "Sized": "__len__", "Container": "__contains__", "Callable": "__call__"}


def number_instance(obj, name: str):
    """``isinstance(obj, numbers.NAME)``, by what the modelled value is."""
    kind = stdlib_modules.NUMBER_KINDS[name]
    if isinstance(obj, enum_model.EnumMember):
        return obj.mixin is not None and issubclass(obj.mixin, kind)
    if _plain(obj):
        return isinstance(obj, kind)
    if isinstance(obj, (ModuleObj, Instance, Tensor, FunctionValue, PartialValue, BoundMethod, ClassValue, BuiltinClass)):
        return False
    return Unknown(f"isinstance of a {type_name(obj)} against numbers.{name} is not modeled", None)


def abc_instance(ev, obj, name: str):
    """``isinstance(obj, collections.abc.NAME)``, by what the modelled value is."""
    if _plain(obj):
        return isinstance(obj, stdlib_modules.ABC_KINDS[name])
    if name == "Callable":
        return isinstance(obj, (FunctionValue, Intrinsic, ClassValue, BuiltinClass, PartialValue, BoundMethod)) or \
            (isinstance(obj, (Instance, ModuleObj)) and ev.lookup_mro(obj.cls, "__call__")[1] is not MISSING)
    if isinstance(obj, Instance) and obj.storage is not None:  # dict-like (EasyDict, OrderedDict...)
        return name in ("Iterable", "Sized", "Container", "Collection", "Mapping", "MutableMapping")
    if isinstance(obj, ModuleObj) and _container_of(ev, obj):
        return name in ("Iterable", "Sized")
    if isinstance(obj, (Instance, ModuleObj)) and name in _ABC_DUNDERS:
        return ev.lookup_mro(obj.cls, _ABC_DUNDERS[name])[1] is not MISSING
    if isinstance(obj, (Instance, ModuleObj)) and name == "Hashable":
        return True
    if isinstance(obj, (Instance, ModuleObj)):
        return False  # an analyzed class is a Sequence or Mapping only by inheriting one (read as a base)
    if isinstance(obj, (ClassValue, BuiltinClass, FunctionValue, PartialValue, BoundMethod)):
        return name == "Hashable"  # a class or a function (Callable is answered above) is no container
    return Unknown(f"isinstance of a {type_name(obj)} against collections.abc.{name} is not modeled", None)

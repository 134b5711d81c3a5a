"""Subscripts and the mutating methods of dicts and lists: ``get_item``/``set_item``/``del_item`` on
containers (ModuleList, Sequential, ModuleDict), dicts of classes, plain sequences and tensors.
"""
from __future__ import annotations

from analyzer.evaluate import enum_model, module_views, stdlib_modules, tensor_shapes, tensor_values, torch_ops
from analyzer.evaluate.core import _ClassMap, _err
from analyzer.evaluate.kinds import _container_of
from analyzer.evaluate.modules import add_module, param_getitem, param_setitem
from analyzer.evaluate.values import (
    BuiltinClass,
    ClassValue,
    ExternalModule,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    Tensor,
    Unknown,
    type_name,
)

_DICT_MUTATORS = frozenset({"pop", "popitem", "setdefault", "update", "clear", "__setitem__", "__delitem__"})
_SEQ_MUTATORS = frozenset({"append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse", "add",
                           "discard", "update", "difference_update", "intersection_update",
                           "symmetric_difference_update", "__setitem__", "__delitem__", "__iadd__",
                           "appendleft", "extendleft", "popleft", "rotate"})


def dict_method(ev, store: dict, name: str, span, owner_obj=None):
    if name == "get":
        def get(ev, args, kwargs, s):
            key = args[0]
            if isinstance(key, Unknown):
                return Unknown(key.reason, key.span, True)
            if key not in store:
                miss = ev.registry_miss(owner_obj if owner_obj is not None else store, key, s)
                if miss is not None:
                    return miss
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


# ---------------------------------------------------------------------------------- items
def get_item(ev, obj, key, span):
    if isinstance(obj, Unknown):
        return Unknown(obj.reason, obj.span, True)
    if isinstance(key, Unknown):
        return Unknown(f"index: {key.reason}", key.span, True)
    if isinstance(obj, module_views.ChildModules):
        return module_views.view_getitem(obj, key, span)
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
        if cont in ("ParameterList", "ParameterDict"):
            return param_getitem(ev, obj, cont, key, span)
        _, getitem = ev.lookup_mro(obj.cls, "__getitem__")
        if isinstance(getitem, FunctionValue):
            return ev.call_function(getitem, [key], {}, span, self_obj=obj)
        raise _err("W104", f"'{type_name(obj)}' module is not subscriptable", span, "TypeError")
    if isinstance(obj, Instance):
        _, getitem = ev.lookup_mro(obj.cls, "__getitem__")
        if isinstance(getitem, FunctionValue):
            return ev.call_function(getitem, [key], {}, span, self_obj=obj)
        if obj.storage is not None:
            if obj.tainted is not None and key not in obj.tainted[1]:
                return Unknown(f"[{key!r}]: {obj.tainted[0].reason}", obj.tainted[0].span, True)
            if key in obj.storage:
                return obj.storage[key]
            base = ev.builtin_kind(obj.cls)
            if base is not None and base.options.get("missing") == "empty":
                return Instance(obj.cls, storage={})
            if base is not None and base.options.get("missing") == "factory" and obj.attrs.get("default_factory") is not None:
                ev.note_write(obj)  # defaultdict: the factory's value is stored under the key
                value = obj.storage[key] = ev.call(obj.attrs["default_factory"], [], {}, span)
                return value
            miss = ev.registry_miss(obj, key, span)
            if miss is not None:
                return miss
            raise _err("W101", f"key {key!r} not found", span, "KeyError")
        raise _err("W104", f"'{type_name(obj)}' object is not subscriptable", span, "TypeError")
    if isinstance(obj, Tensor):
        return tensor_index(obj, key)
    if isinstance(obj, stdlib_modules.SysModules):
        return stdlib_modules.sys_modules_read(ev, key, span)
    if isinstance(obj, stdlib_modules.Environ):
        value = stdlib_modules.environ_read(ev, key, span)
        if value is None:
            raise _err("W101", f"os.environ has no key {key!r} (pass --env {key}=VALUE)", span, "KeyError")
        return value
    if isinstance(obj, ClassValue) and enum_model.enum_base(ev, obj):
        return enum_model.lookup_name(ev, obj, key, span)
    if isinstance(obj, (ClassValue, BuiltinClass, Intrinsic, ExternalModule)):
        return Unknown("a type subscription (annotation)", span)
    if isinstance(obj, (list, tuple, str, dict, range)):
        try:
            return obj[key]
        except KeyError:
            miss = ev.registry_miss(obj, key, span)
            if miss is not None:
                return miss
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
    if isinstance(obj, module_views.ChildModules):
        module_views.view_setitem(ev, obj, key, value, span)
        return
    if isinstance(obj, ModuleObj):
        cont = _container_of(ev, obj)
        if cont == "ModuleDict":
            add_module(ev, obj, key, value, span)
            return
        if cont in ("ModuleList", "Sequential") and isinstance(key, int):
            names = list(obj.modules)
            add_module(ev, obj, names[key], value, span)
            return
        if cont in ("ParameterList", "ParameterDict"):
            param_setitem(ev, obj, cont, key, value, span)
            return
        raise _err("W104", f"item assignment on {type_name(obj)}", span, "TypeError")
    if isinstance(obj, Instance) and obj.storage is not None:
        obj.storage[key] = value
        if obj.tainted is not None:
            obj.tainted[1].add(key)
        return
    if isinstance(obj, (list, dict)):
        try:
            obj[key] = value
        except (IndexError, TypeError) as exc:
            raise _err("W104", f"{type(exc).__name__}: {exc}", span, type(exc).__name__) from None
        return
    if isinstance(obj, stdlib_modules.Environ) and isinstance(key, str) and isinstance(value, str):
        ev.env[key] = value  # the analysis's own environment, as os.environ[key] = value changes the process's
        return
    if isinstance(obj, Tensor):
        ok = isinstance(value, (Tensor, int, float, bool))
        tensor_values.changed_in_place(obj, "setitem" if ok else None, obj, key, value)
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
    elif isinstance(obj, module_views.ChildModules):
        ev.note_write(obj.obj)
        obj.obj.modules.pop(key, None)


def tensor_index(t: Tensor, key) -> Tensor:
    """``t[key]``: basic indexing (ints, slices, None, ...) and one index tensor or list."""
    parts = key if isinstance(key, tuple) else (key,)
    index_shapes = {}
    for i, k in enumerate(parts):
        if isinstance(k, Tensor):
            index_shapes[i] = k.shape if k.dtype != "bool" else None
        elif isinstance(k, list):
            index_shapes[i] = torch_ops.from_data(k, {}).shape
    if any(isinstance(k, Unknown) for k in parts):
        return Tensor(None, t.dtype, why_unknown="tensor index is unknown")
    try:
        shape = tensor_shapes.getitem(t.shape, key, index_shapes)
    except (TypeError, ValueError, IndexError):
        shape = None
    out = Tensor(shape, t.dtype, why_unknown=None if shape is not None else "tensor indexing with this key is not shape-modeled")
    out.recipe = tensor_values.make(shape, "getitem", t, key)
    return tensor_values.share_cell(t, out)

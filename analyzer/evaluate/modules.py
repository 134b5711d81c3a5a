"""``nn.Module`` semantics: registering children (``add_module``, containers' ``append``/``extend``/
``update``), the module methods a constructor calls (``register_buffer``, ``named_modules``,
``apply``...), and walks over the built tree.
"""
from __future__ import annotations

import dataclasses

from analyzer.evaluate.core import _err, _Iter
from analyzer.evaluate.kinds import _container_of
from analyzer.evaluate.values import (
    MethodIntrinsic,
    BoundMethod,
    ClassMethodIntrinsic,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    Tensor,
    Unknown,
    type_name,
)


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
    if name == "ParameterList":
        obj.attrs["_size"] = 0  # as torch: len() counts every value appended, tensors or not
        items = args[0] if args else kwargs.get("values")
        for m in ev.iterate(items, span) if items is not None else ():
            plist_append(ev, obj, m, span)
    elif name == "ModuleList":
        items = args[0] if args else kwargs.get("modules")
        if items is not None:
            for i, m in enumerate(ev.iterate(items, span)):
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
        if name == "ParameterDict":
            obj.attrs["_keys"] = {}
        items = args[0] if args else kwargs.get("modules" if name == "ModuleDict" else "parameters")
        if items is not None:
            dict_update(ev, obj, name, items, span)


def dict_update(ev, obj, name, items, span):
    ev.note_write(obj)
    ordered = not isinstance(items, dict)  # ParameterDict.update sorts a plain Mapping, keeps an OrderedDict's order
    if isinstance(items, Instance) and items.storage is not None:
        ordered = getattr(items.cls, "qualname", "") == "collections.OrderedDict"
        items = items.storage
    if isinstance(items, ModuleObj) and _container_of(ev, items) in ("ModuleDict", "ParameterDict"):
        items = items.modules if _container_of(ev, items) == "ModuleDict" else {
            k: plist_item(items, k) for k in container_items(ev, items)}
    pairs = list(items.items()) if isinstance(items, dict) else list(ev.iterate(items, span))
    if name == "ParameterDict" and not ordered and isinstance(items, dict):
        pairs = sorted(pairs, key=lambda kv: kv[0]) if all(isinstance(k, str) for k, _ in pairs) else pairs
    for k, m in pairs:
        if name == "ParameterDict":
            param_set(ev, obj, "ParameterDict", k, m, span)
        else:
            add_module(ev, obj, k, m, span)


# ---------------------------------------------------------------------------------- ParameterList / ParameterDict
def param_set(ev, obj, cont, key, value, span):
    """``ParameterList[i] = v`` (key: its str index) / ``ParameterDict[k] = v``, as torch: a tensor becomes a
    Parameter of the container, a module a child, anything else a plain attribute (not in the tree)."""
    ev.note_write(obj)
    if not isinstance(key, str):
        raise _err("W104" if not isinstance(key, Unknown) else "W105",
                   f"{cont} key is not a known string ({getattr(key, 'reason', type_name(key))})", span, "TypeError")
    if cont == "ParameterDict":
        obj.attrs.setdefault("_keys", {})[key] = None
    if isinstance(value, Unknown):
        ev.warn("W104", f"{cont} item '{key}' is an unknown value ({value.reason}): a parameter of unknown shape", span)
        value = Tensor(None, "float32", True, value.reason)
    obj.attrs.pop(key, None)
    if isinstance(value, Tensor):
        obj.modules.pop(key, None)
        obj.params[key] = value if value.is_param else dataclasses.replace(value, is_param=True)
    elif isinstance(value, ModuleObj):
        add_module(ev, obj, key, value, span)
    else:
        obj.params.pop(key, None)
        obj.modules.pop(key, None)
        obj.attrs[key] = value


def plist_append(ev, obj, value, span):
    size = obj.attrs.get("_size", len(obj.params))
    obj.attrs["_size"] = size + 1
    param_set(ev, obj, "ParameterList", str(size), value, span)
    return obj


def plist_item(obj, key: str):
    """The value stored under ``key`` in a ParameterList / ParameterDict."""
    for store in (obj.params, obj.modules, obj.attrs):
        if key in store:
            return store[key]
    return None


def _index(cont, key, size, span) -> str:
    if type(key) is not int or not -size <= key < size:
        raise _err("W104", f"{cont} index {key!r} is out of range or not an int", span, "IndexError")
    return str(key % size)


def param_getitem(ev, obj, cont, key, span):
    if cont == "ParameterDict":
        if key in container_items(ev, obj):
            return plist_item(obj, key)
        raise _err("W104", f"KeyError: {key!r}", span, "KeyError")
    items = container_items(ev, obj)
    if isinstance(key, slice):  # a new ParameterList holding the same values
        new = ModuleObj(obj.cls, span)
        for v in items[key]:
            plist_append(ev, new, v, span)
        return new
    return plist_item(obj, _index(cont, key, len(items), span))


def param_setitem(ev, obj, cont, key, value, span):
    if cont == "ParameterList":
        key = _index(cont, key, obj.attrs.get("_size", len(obj.params)), span)
    param_set(ev, obj, cont, key, value, span)


def container_items(ev, obj) -> list:
    """What Python's len(), iteration and ``in`` see of a container module: the keys of a ModuleDict or
    ParameterDict, the values of a ParameterList, else the child modules."""
    cont = _container_of(ev, obj)
    if cont == "ParameterList":
        return [plist_item(obj, str(i)) for i in range(obj.attrs.get("_size", len(obj.params)))]
    if cont == "ParameterDict":
        return list(obj.attrs.get("_keys", obj.params))
    return list(obj.modules) if cont == "ModuleDict" else list(obj.modules.values())


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
    if isinstance(member, ClassMethodIntrinsic):
        return BoundMethod(obj.cls if isinstance(obj, (ModuleObj, Instance)) else obj, member)
    if isinstance(member, MethodIntrinsic):
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
            return _Iter(walk_listing(obj, which))  # a generator, as torch's: next() takes the first
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
        def store():
            return obj.modules if cont == "ModuleDict" else {k: plist_item(obj, k) for k in container_items(ev, obj)}
        if name == "keys":
            return Intrinsic(name, lambda ev, a, k, s: list(store()))
        if name == "values":
            return Intrinsic(name, lambda ev, a, k, s: list(store().values()))
        if name == "items":
            return Intrinsic(name, lambda ev, a, k, s: list(store().items()))
        if name == "update":
            return Intrinsic(name, lambda ev, a, k, s: dict_update(ev, obj, cont, a[0], s))
    if cont == "ParameterList" and name == "append":
        return Intrinsic(name, lambda ev, a, k, s: plist_append(ev, obj, a[0] if a else k.get("value"), s))
    if cont == "ParameterList" and name == "extend":
        def extend_params(ev, a, k, s):
            values = a[0] if a else k.get("values")
            if isinstance(values, Tensor):
                raise _err("W104", "ParameterList.extend should be called with an iterable, but got Tensor", s, "TypeError")
            for v in ev.iterate(values, s):
                plist_append(ev, obj, v, s)
            return obj
        return Intrinsic(name, extend_params)
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

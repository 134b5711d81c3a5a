"""Attribute access on every value the evaluator models: ``get_attribute``, ``set_attribute`` and
``del_attribute`` for nn.Module objects (params, buffers, children, attrs), instances, classes, configs,
tensors, plain Python values (their real methods on plain data) and external modules.
"""
from __future__ import annotations

import re

from analyzer.evaluate import dataclass_model, enum_model, function_model, hf_methods, module_views, skipped, stdlib_modules, tensor_values, torch_ops, version_model
from analyzer.evaluate.configs import _config_class_info, _to_attrdict
from analyzer.evaluate.construction import builtin_init
from analyzer.evaluate.core import _PLAIN_TYPES, _ClassMap, _err
from analyzer.evaluate.items import _SEQ_MUTATORS, dict_method
from analyzer.evaluate.kinds import _kind
from analyzer.evaluate.modules import _bind_member, module_method
from analyzer.evaluate.sizes import _charge_sizes, _plain_method_refusal
from analyzer.evaluate.values import (
    MISSING,
    BoundMethod,
    BuiltinClass,
    ClassMethodIntrinsic,
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
    type_name,
)


def _missing(ev, obj, name, span):
    if isinstance(obj, Instance) and _kind(ev, obj.cls) == "hf_config":
        raise _err("W101", f"config has no key '{name}' (not in config.json nor a default of {obj.cls.name})", span, "AttributeError")
    if isinstance(obj, Instance) and _kind(ev, obj.cls) == "attrdict":
        raise _err("W101", f"config ({obj.cls.name}) has no key '{name}'", span, "AttributeError")
    raise _err("W102", f"'{type_name(obj)}' object has no attribute '{name}'", span, "AttributeError")


def _receiver_constant(obj, name, args) -> bool:
    """Whether ``obj.name(*args)`` takes time independent of the size of ``obj`` (a list, set...)."""
    if isinstance(obj, list):
        return name == "append" or (name == "pop" and not args)
    return isinstance(obj, set) and name in ("add", "discard", "remove", "pop", "__contains__")


def _object_method(ev, obj, name):
    """``obj.__setattr__`` / ``obj.__delattr__`` / ``obj.__getattribute__`` that no class in its MRO
    defines: object's, bound (``config.__setattr__(key, value)``)."""
    if name not in _OBJECT_METHODS:
        return None

    def call(ev, args, kwargs, s):
        key = args[0] if args else None
        if not isinstance(key, str):
            raise _err("W105" if isinstance(key, Unknown) else "W104",
                       f"{name}() with a {type_name(key)} attribute name", s, "TypeError")
        if name == "__setattr__":
            return set_attribute(ev, obj, key, args[1], s)
        if name == "__delattr__":
            return del_attribute(ev, obj, key, s)
        return get_attribute(ev, obj, key, s)

    return Intrinsic(f"object.{name}", call)


_OBJECT_METHODS = ("__setattr__", "__delattr__", "__getattribute__")


def _unbound_builtin_method(ev, cls, name):
    """``Builtin.__init__`` / ``Builtin.__setattr__``... looked up on a class, called with the instance
    first (``nn.LayerNorm.__init__(self, normalized_shape=d)`` in a subclass): the modeled builtin's
    ``__init__`` (the first modeled builtin in the MRO), or object's attribute methods."""
    if name == "__init__":
        base = ev.builtin_kind(cls)
        return Intrinsic(f"{cls.name}.__init__", lambda ev, a, k, s: builtin_init(ev, base, a[0], a[1:], k, s))
    if name in _OBJECT_METHODS:
        return Intrinsic(f"object.{name}", lambda ev, a, k, s: _object_method(ev, a[0], name).fn(ev, a[1:], k, s))
    return None


def get_attribute(ev, obj, name, span):
    t = type(obj)  # the value classes have no subclasses: compared by identity on this hot path
    if t is Unknown:
        return Unknown(obj.reason, obj.span, True)
    if t is version_model.Version:
        return version_model.attribute(obj, name, span)
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
        if name in ("device", "dtype") and _kind(ev, obj.cls) == "hf_model":
            return (hf_methods.device if name == "device" else hf_methods.dtype)(ev, obj, span)
        m = module_method(ev, obj, name, span)
        if m is not None:
            return m
        if name == "__class__":
            return obj.cls
        if name == "training":
            return True
        if name == "_modules":
            return module_views.ChildModules(obj)
        m = _object_method(ev, obj, name)
        if m is not None:
            return m
        _missing(ev, obj, name, span)
    if t is Instance:
        if obj.tainted is not None:
            stale = skipped.tainted_read(ev, obj, name)
            if stale is not None:
                return stale
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
        m = _object_method(ev, obj, name)
        if m is not None:
            return m
        _missing(ev, obj, name, span)
    if isinstance(obj, (ClassValue, BuiltinClass)):
        if name == "__name__":
            return obj.name
        owner, member = ev.lookup_mro(obj, name)
        if member is MISSING:
            unbound = _unbound_builtin_method(ev, obj, name)
            if unbound is not None:
                return unbound
            raise _err("W102", f"class {obj.name} has no attribute '{name}'", span, "AttributeError")
        if (isinstance(member, FunctionValue) and member.kind == "classmethod") or isinstance(member, ClassMethodIntrinsic):
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
        if name in ("data", "T", "mT"):
            if name == "data":
                out = Tensor(obj.shape, obj.dtype, obj.is_param)
                out.recipe = tensor_values.recipe_of(obj)
            else:
                out = torch_ops.method(obj, "permute", list(range(len(obj.shape)))[::-1], {}) if obj.shape is not None \
                    else Tensor(None, obj.dtype)
            return tensor_values.share_cell(obj, out)
        if name in ("device",):
            return "meta"
        if name == "requires_grad":
            return obj.is_param
        if name in ("ndim",):
            return len(obj.shape) if obj.shape is not None else Unknown("ndim of unknown shape", span)

        def tmethod(ev, args, kwargs, s, n=name):
            if n.endswith("_"):
                ev.note_write(obj)  # in place
            r = torch_ops.method(obj, n, list(args), dict(kwargs))
            if r is None:
                return Unknown(f"Tensor.{n}(...) is not shape-modeled", s)
            return r

        return Intrinsic(f"Tensor.{name}", tmethod)
    if isinstance(obj, FunctionValue):
        value = function_model.function_attr(ev, obj, name, span)
        if value is not MISSING:
            return value
    if isinstance(obj, BoundMethod):
        return function_model.bound_method_attr(ev, obj, name, span)
    if isinstance(obj, module_views.ChildModules):
        return module_views.view_attr(ev, obj, name, span)
    if isinstance(obj, enum_model.EnumMember):
        return enum_model.member_attr(ev, obj, name, span)
    if isinstance(obj, dataclass_model.FieldInfo) and name == "name":
        return obj.name
    if isinstance(obj, stdlib_modules.Environ):
        method = stdlib_modules.environ_method(ev, name, span)
        if method is not None:
            return method
    if isinstance(obj, Intrinsic) and obj.name == "itertools.chain" and name == "from_iterable":
        return stdlib_modules.itertools_attr("chain.from_iterable", span)
    if isinstance(obj, (re.Pattern, re.Match)) and not name.startswith("_"):
        attr = getattr(obj, name)
        if not callable(attr):
            return attr
        return Intrinsic(f"re.{type(obj).__name__}.{name}",
                         lambda ev, a, k, s, n=name: stdlib_modules.re_method(ev, obj, n, a, k, s))
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
                # what the method copies or scans: the receiver too, unless it only appends to it or
                # hashes into it (an append per iteration must not cost the list's length each time)
                _charge_sizes(ev, [*args, *kwargs.values()] if _receiver_constant(obj, n, args)
                              else [obj, *args, *kwargs.values()], s)
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


def _property_set(ev, obj, name, value, span) -> bool:
    """``obj.name = value`` where the class defines property ``name``: its setter runs (True)."""
    member = ev.lookup_mro(obj.cls, name)[1]
    if type(member) is not FunctionValue or member.kind != "property":
        return False
    if member.setter is None:
        raise _err("W104", f"property '{name}' of {type_name(obj)} has no setter", span, "AttributeError")
    ev.call_function(member.setter, [value], {}, span, self_obj=obj)
    return True


def set_attribute(ev, obj, name, value, span):
    t = type(obj)
    if t is Unknown:
        return
    ev.note_write(obj)
    if t is ModuleObj:
        tv = type(value)
        if tv in _PLAIN_TYPES and name not in obj.params and name not in obj.modules and name not in obj.buffers:
            if not _property_set(ev, obj, name, value, span):
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
        elif not _property_set(ev, obj, name, value, span):
            if isinstance(value, Unknown) and value.maybe_module:
                ev.warn("W108", f"attribute '{name}' got an unknown value ({value.reason}); if it is a module, it is missing from the tree", span)
            obj.attrs[name] = value
        return
    if t is Instance:
        kind = _kind(ev, obj.cls)
        if kind == "hf_config":
            amap, properties = _config_class_info(ev, obj.cls)
            if name in amap:
                name = amap[name]
            spec = properties.get(name)
            if spec is not None and spec.get("settable"):
                name = spec["attr"]
        if kind != "attrdict" and _property_set(ev, obj, name, value, span):
            return
        if obj.tainted is not None:
            obj.tainted[1].add(name)
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
    if isinstance(obj, FunctionValue):
        function_model.set_function_attr(ev, obj, name, value, span)
        return
    if isinstance(obj, Tensor):
        return  # e.g. p.requires_grad = False or a marker attribute: no effect on structure
    if t is SourceModule:  # ``module.name = value``: the module's global, as Python's module __dict__
        ev.set_global(obj.file, name, value)
        return
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

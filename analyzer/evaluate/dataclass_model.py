"""``dataclasses``: the ``__init__`` that ``@dataclass`` generates (with ``exec``, so it has no
source to read), ``field(default=..., default_factory=..., init=...)``, ``fields``, ``replace``,
``asdict``, ``astuple`` and ``is_dataclass``.

A class is a dataclass when one of its decorators is ``dataclass`` or ``dataclass(...)``
resolving to ``dataclasses.dataclass`` (read from the class's own source lines with ``ast``).
Its fields are its annotated class attributes in source order, after those of its dataclass
bases (reverse MRO; a redefined field keeps its first position), without ``ClassVar``s. The
generated ``__init__`` binds them as Python does (positional, then keyword, then the default or
``default_factory()``), sets each attribute, then calls ``__post_init__`` when the class has one.
"""
from __future__ import annotations

import ast
import textwrap

from analyzer.evaluate.core import _err
from analyzer.evaluate.values import (
    MISSING,
    ClassValue,
    Instance,
    Intrinsic,
    MethodIntrinsic,
    ModuleObj,
    Unknown,
)


class FieldSpec:
    """What ``dataclasses.field(...)`` returned, as a class attribute's value."""

    __slots__ = ("default", "default_factory", "init")

    def __init__(self, default=MISSING, default_factory=MISSING, init=True):
        self.default = default
        self.default_factory = default_factory
        self.init = init


def _field(ev, args, kwargs, span):
    return FieldSpec(kwargs.get("default", MISSING), kwargs.get("default_factory", MISSING), kwargs.get("init", True) is not False)


def _decorator(ev, args, kwargs, span):
    """``@dataclass`` and ``@dataclass(...)``: the class itself (its fields are read from source)."""
    if len(args) == 1 and not kwargs and isinstance(args[0], ClassValue):
        return args[0]
    return Intrinsic("dataclasses.dataclass(...)", lambda ev, a, k, s: a[0] if a else None)


def _class_node(cls: ClassValue):
    lines = cls.file.text().splitlines()[cls.facts.start - 1:cls.facts.end]
    try:
        tree = ast.parse(textwrap.dedent("\n".join(lines)))
    except SyntaxError:
        return None
    return next((n for n in tree.body if isinstance(n, ast.ClassDef)), None)


def _is_classvar(annotation) -> bool:
    node = annotation.value if isinstance(annotation, ast.Subscript) else annotation
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.startswith(("ClassVar", "typing.ClassVar"))
    return (isinstance(node, ast.Name) and node.id == "ClassVar") or (isinstance(node, ast.Attribute) and node.attr == "ClassVar")


def _facts(ev, cls: ClassValue):
    """(is a dataclass, its own field names in order), read once per class."""
    cache = ev.__dict__.setdefault("_dataclass_facts", {})
    key = id(cls)
    if key not in cache:
        node = _class_node(cls)
        is_dc, own = False, []
        if node is not None:
            for dec in node.decorator_list:
                target = dec.func if isinstance(dec, ast.Call) else dec
                dotted = ast.unparse(target)
                if dotted.split(".")[-1] != "dataclass":
                    continue
                value = ev.global_get(cls.file, dotted.split(".")[0], None, missing_ok=True)
                for part in dotted.split(".")[1:]:
                    value = ev.getattr(value, part, None) if value is not MISSING else value
                if isinstance(value, Intrinsic) and value.name == "dataclasses.dataclass":
                    is_dc = True
            own = [st.target.id for st in node.body if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)
                   and not _is_classvar(st.annotation)]
        cache[key] = (is_dc, own, node is not None)
    return cache[key]


def is_dataclass_class(ev, cls) -> bool:
    return isinstance(cls, ClassValue) and _facts(ev, cls)[0]


def fields_of(ev, cls) -> list[str]:
    names: list[str] = []
    for c in reversed(ev.mro(cls)):
        if is_dataclass_class(ev, c):
            names += [n for n in _facts(ev, c)[1] if n not in names]
    return names


def generated_init(ev, cls):
    """The ``__init__`` of a dataclass that defines none itself, or MISSING."""
    if not is_dataclass_class(ev, cls):
        return MISSING
    return MethodIntrinsic(f"{cls.qualname}.__init__", lambda ev, args, kwargs, span: _init(ev, cls, args, kwargs, span))


def _default(ev, cls, name, span):
    _, value = ev.lookup_mro(cls, name)
    if isinstance(value, FieldSpec):
        if value.default_factory is not MISSING:
            return ev.call(value.default_factory, [], {}, span)
        return value.default
    return value


def _init(ev, cls, args, kwargs, span):
    obj, args = args[0], list(args[1:])
    names = [n for n in fields_of(ev, cls) if not _no_init(ev, cls, n)]
    if len(args) > len(names):
        raise _err("W104", f"{cls.name}() takes {len(names)} positional arguments but {len(args)} were given", span, "TypeError")
    unexpected = [k for k in kwargs if k not in names]
    if unexpected:
        raise _err("W104", f"{cls.name}() got an unexpected keyword argument '{unexpected[0]}'", span, "TypeError")
    for i, name in enumerate(names):
        if i < len(args):
            value = args[i]
        elif name in kwargs:
            value = kwargs[name]
        else:
            value = _default(ev, cls, name, span)
            if value is MISSING:
                raise _err("W104", f"{cls.name}() missing required argument '{name}'", span, "TypeError")
        ev.setattr(obj, name, value, span)
    for name in fields_of(ev, cls):
        if _no_init(ev, cls, name):
            value = _default(ev, cls, name, span)
            if value is not MISSING:
                ev.setattr(obj, name, value, span)
    _, post = ev.lookup_mro(cls, "__post_init__")
    if post is not MISSING:
        ev.call(ev.getattr(obj, "__post_init__", span), [], {}, span)
    return None


def _no_init(ev, cls, name) -> bool:
    _, value = ev.lookup_mro(cls, name)
    return isinstance(value, FieldSpec) and not value.init


def _instance_fields(ev, obj, span):
    if not isinstance(obj, (Instance, ModuleObj)) or not is_dataclass_class(ev, obj.cls) and not any(
            is_dataclass_class(ev, c) for c in ev.mro(obj.cls)):
        raise _err("W104", "not a dataclass instance", span, "TypeError")
    return fields_of(ev, obj.cls)


class FieldInfo:
    """A ``dataclasses.Field`` that ``fields()`` returns: its ``name`` is readable."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


def _fields(ev, args, kwargs, span):
    target = args[0]
    cls = target.cls if isinstance(target, (Instance, ModuleObj)) else target
    return tuple(FieldInfo(n) for n in fields_of(ev, cls))


def _replace(ev, args, kwargs, span):
    obj = args[0]
    values = {n: ev.getattr(obj, n, span) for n in _instance_fields(ev, obj, span) if not _no_init(ev, obj.cls, n)}
    values.update(kwargs)
    return ev.instantiate(obj.cls, [], values, span)


def _asdict(ev, args, kwargs, span):
    obj = args[0]
    return {n: ev.getattr(obj, n, span) for n in _instance_fields(ev, obj, span)}


def _astuple(ev, args, kwargs, span):
    obj = args[0]
    return tuple(ev.getattr(obj, n, span) for n in _instance_fields(ev, obj, span))


def _is_dataclass(ev, args, kwargs, span):
    x = args[0]
    cls = x.cls if isinstance(x, (Instance, ModuleObj)) else x
    return isinstance(cls, ClassValue) and any(is_dataclass_class(ev, c) for c in ev.mro(cls))


FUNCTIONS = {"dataclass": _decorator, "field": _field, "fields": _fields, "replace": _replace, "asdict": _asdict,
             "astuple": _astuple, "is_dataclass": _is_dataclass}


def dataclasses_attr(name: str, span):
    fn = FUNCTIONS.get(name)
    if fn is None:
        if name == "MISSING":
            return Unknown("dataclasses.MISSING", span)
        return Unknown(f"'dataclasses.{name}' is not modeled", span, True)
    return Intrinsic(f"dataclasses.{name}", fn)

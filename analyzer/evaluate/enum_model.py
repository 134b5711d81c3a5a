"""``enum``: what ``EnumMeta`` does when a class body ends (C-level metaclass machinery, not read):
its plain class attributes become members (singletons with ``name`` and ``value``; ``auto()``
numbers them from 1, or lower-cases the name in a ``StrEnum``), ``Cls(value)`` and
``Cls["NAME"]`` look members up, iterating the class yields them in definition order, and a
member of an ``int``/``str`` mixin enum compares equal to its value."""
from __future__ import annotations

from analyzer.evaluate.core import _err
from analyzer.evaluate.values import MISSING, BoundMethod, BuiltinClass, ClassValue, FunctionValue, Intrinsic, Unknown

ENUM_BASES = {"Enum": None, "IntEnum": int, "StrEnum": str, "Flag": None, "IntFlag": int, "ReprEnum": None}


class AutoValue:
    """``enum.auto()``, before the class body ends."""

    __slots__ = ()


class EnumMember:
    __slots__ = ("cls", "name", "value", "mixin", "str_is_value")

    def __init__(self, cls, name: str, value, mixin, str_is_value=False):
        self.cls = cls
        self.name = name
        self.value = value
        self.mixin = mixin  # int or str for IntEnum/StrEnum and (str, Enum) classes, else None
        self.str_is_value = str_is_value  # StrEnum / IntEnum: str(m) is str(m.value); else 'Cls.NAME' 

    def __repr__(self) -> str:
        return f"<{self.cls.name}.{self.name}: {self.value!r}>"


def enum_attr(ev, name: str, span):
    if name in ENUM_BASES:
        module_base = BuiltinClass(name, f"enum.{name}", "enum", options={"mixin": ENUM_BASES[name]})
        cache = ev.__dict__.setdefault("_enum_bases", {})
        return cache.setdefault(name, module_base)
    if name == "auto":
        return Intrinsic("enum.auto", lambda ev, a, k, s: AutoValue())
    if name == "unique":
        return Intrinsic("enum.unique", lambda ev, a, k, s: a[0] if a else None)
    return Unknown(f"'enum.{name}' is not modeled", span, True)


def enum_base(ev, cls):
    """The enum base class in the MRO of ``cls`` (None when it is not an enum)."""
    if not isinstance(cls, ClassValue):
        return None
    return next((c for c in ev.mro(cls) if isinstance(c, BuiltinClass) and c.kind == "enum"), None)


def _mixin(ev, cls, base):
    if base.options.get("mixin") is not None:
        return base.options["mixin"]
    for c in ev.mro(cls):
        if isinstance(c, BuiltinClass) and c.qualname in ("builtins.str", "builtins.int"):
            return str if c.qualname == "builtins.str" else int
    return None


def is_member_value(name: str, value) -> bool:
    return not name.startswith("_") and not isinstance(value, (FunctionValue, ClassValue, BuiltinClass, Intrinsic, Unknown))


def member(ev, cls, name: str, value):
    """The member ``cls.name`` for the class attribute value ``value`` (made once per class)."""
    base = enum_base(ev, cls)
    if isinstance(value, AutoValue):
        names = member_names(ev, cls)
        if base.name == "StrEnum" or _mixin(ev, cls, base) is str:
            value = name.lower()
        elif base.name in ("Flag", "IntFlag"):
            value = 1 << names.index(name)
        else:
            value = names.index(name) + 1  # auto after explicit values is not followed: see member_names
    return EnumMember(cls, name, value, _mixin(ev, cls, base), base.name in ("StrEnum", "IntEnum", "IntFlag"))


def member_names(ev, cls) -> list[str]:
    return [n for n, b in cls.facts.members.items() if b.kind != "def" and not n.startswith("_")]


def members(ev, cls) -> list:
    out = []
    for n in member_names(ev, cls):
        m = ev.class_member(cls, n)
        if isinstance(m, EnumMember) and (not out or all(x.value != m.value for x in out)):
            out.append(m)  # an alias (a repeated value) is not listed
    return out


def lookup_value(ev, cls, value, span):
    """``Cls(value)``."""
    if isinstance(value, EnumMember) and value.cls is cls:
        return value
    for m in members(ev, cls):
        if m.value == value and type(m.value) is type(value):
            return m
    raise _err("W106", f"{value!r} is not a valid {cls.name}", span, "ValueError")


def lookup_name(ev, cls, name, span):
    """``Cls["NAME"]``."""
    m = ev.class_member(cls, name) if isinstance(name, str) else None
    if isinstance(m, EnumMember):
        return m
    raise _err("W101", f"{cls.name} has no member {name!r}", span, "KeyError")


def member_attr(ev, m: EnumMember, name: str, span):
    if name in ("name", "_name_"):
        return m.name
    if name in ("value", "_value_"):
        return m.value
    owner, found = ev.lookup_mro(m.cls, name)
    if isinstance(found, FunctionValue):
        if found.kind == "property":
            return ev.call_function(found, [], {}, span, self_obj=m)
        return BoundMethod(m, found)
    if m.mixin is not None and isinstance(getattr(m.value, name, None), (int, str)):
        return getattr(m.value, name)
    if found is not MISSING:
        return found
    raise _err("W102", f"{m.cls.name}.{m.name} has no attribute '{name}'", span, "AttributeError")


def equal(left, right):
    """``a == b`` with an enum member on a side: identity, or the value for a mixin enum."""
    lm, rm = isinstance(left, EnumMember), isinstance(right, EnumMember)
    if lm and rm:
        return left is right
    m, other = (left, right) if lm else (right, left)
    return m.mixin is not None and m.value == other


def to_str(m: EnumMember) -> str:
    """``str(m)`` and f-strings as Python 3.11 gives them."""
    return str(m.value) if m.str_is_value else f"{m.cls.name}.{m.name}"


def mixin_value(v):
    """An int/str mixin member as its value (``IntEnum.X + 1``, ``nn.Linear(Level.HIGH, ...)``)."""
    return v.value if isinstance(v, EnumMember) and v.mixin is not None else v

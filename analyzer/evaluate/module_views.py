"""``module._modules``: torch's ordered dict of a module's children, as a live view of the
``ModuleObj``'s children. Reading works like a dict's (items, keys, values, get, ``in``, ``len``,
iteration); ``view[name] = child`` registers the child as ``add_module`` does (a module or None;
an unknown value is reported missing), ``del view[name]`` removes it.
"""
from __future__ import annotations

from analyzer.evaluate.core import _err
from analyzer.evaluate.values import Intrinsic


class ChildModules:
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj  # the ModuleObj

    def __repr__(self) -> str:
        return f"<_modules of {self.obj!r}>"


_READERS = {"items": lambda d: list(d.items()), "keys": lambda d: list(d), "values": lambda d: list(d.values())}


def view_attr(ev, view: ChildModules, name: str, span):
    store = view.obj.modules
    if name in _READERS:
        return Intrinsic(f"_modules.{name}", lambda ev, a, k, s, f=_READERS[name]: f(store))
    if name == "get":
        return Intrinsic("_modules.get", lambda ev, a, k, s: store.get(a[0], a[1] if len(a) > 1 else None))
    raise _err("W104", f"_modules.{name}(...) is not modeled", span, "AttributeError")


def view_getitem(view: ChildModules, key, span):
    try:
        return view.obj.modules[key]
    except (KeyError, TypeError):
        raise _err("W104", f"KeyError: {key!r} is not a child module", span, "KeyError") from None


def view_setitem(ev, view: ChildModules, key, value, span):
    from analyzer.evaluate.modules import add_module

    add_module(ev, view.obj, key, value, span)

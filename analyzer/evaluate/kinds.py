"""What kind of builtin a class or module object is: an ``nn`` builtin, a container, the
``nn.Module`` base, a transformers model, a fallback, or a plain object.
"""
from __future__ import annotations

from analyzer.evaluate.values import (
    BuiltinClass,
    ModuleObj,
)

MODULE_KINDS = ("nn", "container", "module_base", "hf_model", "fallback_module")


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

"""Plain attributes that a module's ``__init__`` set (``self.window_size = 14``,
``self.num_heads``, ``self.cfg.projector_type``): the families.yaml ``attr()`` expressions read
them. The static analysis keeps them on its evaluated module objects; a live ``nn.Module`` has
them in its ``__dict__``. Only plain values are returned (int, float, str, bool, None and tuples
of those); anything else is MISSING.

``analyze_with_attrs`` runs the static analysis (never from the result cache: a cached tree has
no evaluated objects) and returns the tree with its attributes (``Analysis.root_obj``).
"""
from __future__ import annotations

_PLAIN = (int, float, str, bool, type(None))


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


class AttrSource:
    """``get(module_name, ("cfg", "projector_type"))`` -> plain value or ``MISSING``."""

    MISSING = _Missing()

    def __init__(self, objects: dict, lookup):
        self._objects = objects  # module name -> object
        self._lookup = lookup  # (object, attribute name) -> value or MISSING

    def get(self, module: str, chain: tuple):
        value = self._objects.get(module, self.MISSING)
        for name in chain:
            if value is self.MISSING:
                return value
            value = self._lookup(value, name)
        return _plain(value, self.MISSING)


def _plain(value, missing):
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, (tuple, list)) and all(isinstance(v, _PLAIN) for v in value):
        return tuple(value)
    return missing


def static_attrs(root_obj) -> AttrSource:
    """From the evaluator's ModuleObj tree (module attrs, config / EasyDict instances)."""
    from analyzer.tree.build import named_modules
    from analyzer.evaluate.values import Instance, ModuleObj

    def lookup(obj, name):
        if isinstance(obj, ModuleObj):
            return obj.attrs.get(name, AttrSource.MISSING)
        if isinstance(obj, dict):
            return obj.get(name, AttrSource.MISSING)
        if isinstance(obj, Instance):
            if obj.storage is not None and name in obj.storage:
                return obj.storage[name]
            return obj.attrs.get(name, AttrSource.MISSING)
        return AttrSource.MISSING

    return AttrSource(dict(named_modules(root_obj)), lookup)


def runtime_attrs(model) -> AttrSource:
    """From a live torch module (tests, measurements)."""

    def lookup(obj, name):
        if isinstance(obj, dict):
            return obj.get(name, AttrSource.MISSING)
        return getattr(obj, name, AttrSource.MISSING)

    return AttrSource(dict(model.named_modules()), lookup)

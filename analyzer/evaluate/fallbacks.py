"""YAML fallbacks for module classes of packages whose source is not installed
(rules/externals.yaml, ``kind: module``).

A fallback describes what the class's ``__init__`` registers, in order: ``let`` values, then
``children`` and ``buffers``/``params``, each a Python expression over the constructor arguments.
The expressions are evaluated by the partial evaluator itself (never by ``eval``), in a scope that
holds the bound arguments, the ``let`` values, ``torch``, and the classes named under ``uses``
(resolved like any import: installed source first, then their own fallback).
"""
from __future__ import annotations

from functools import lru_cache

import libcst as cst

from analyzer.evaluate.torch_rules import BindError, _signature, bind
from analyzer.evaluate.values import BuiltinClass, ExternalModule, Tensor, Unknown


class _Sig:
    def __init__(self, name, signature):
        self.name = name
        self.signature = signature


@lru_cache(maxsize=None)
def _expr(text: str):
    return cst.parse_expression(text)


def fallback_class(ev, qual: str, spec: dict) -> BuiltinClass:
    cache = ev.__dict__.setdefault("_fallback_classes", {})
    cls = cache.get(qual)
    if cls is None:
        name = qual.rsplit(".", 1)[-1]
        options = dict(spec)
        options["bases"] = [ev.externals.modeled_class("torch.nn.Module")]
        cls = BuiltinClass(name, qual, "fallback_module", options=options)
        cache[qual] = cls
    return cls


def _spec_of(ev, cls: BuiltinClass) -> dict:
    spec = cls.options
    base = spec.get("same_as")
    return ev.externals.fallback(base) if base else spec


def init_module(ev, cls: BuiltinClass, obj, args, kwargs, span) -> None:
    from analyzer.evaluate.core import EvalRaise, Frame
    from analyzer.evaluate.modules import add_module

    spec = _spec_of(ev, cls)
    try:
        bound = bind(_Sig(cls.name, _signature(spec.get("signature", []))), list(args), dict(kwargs))
    except BindError as exc:
        raise EvalRaise("W104", f"{cls.name} (YAML fallback): {exc}", span, "TypeError") from None
    except Exception as exc:  # a malformed signature in the rules file
        raise EvalRaise("W104", f"{cls.name} (YAML fallback): bad signature: {exc}", span) from None
    frame = Frame(None, None)
    scope = frame.locals
    scope.update(bound)
    scope["torch"] = ExternalModule("torch")
    for alias, target in (spec.get("uses") or {}).items():
        module, _, attr = target.rpartition(".")
        scope[alias] = ev.import_value(_NoFile, module, attr, span)

    def value(text: str):
        try:
            return ev.eval(_expr(str(text)), frame)
        except cst.ParserSyntaxError as exc:
            raise EvalRaise("W104", f"{cls.name} (YAML fallback): bad expression {text!r}: {exc.message}", span) from None

    for name, text in (spec.get("let") or {}).items():
        scope[name] = value(text)
    for name, text in (spec.get("children") or {}).items():
        add_module(ev, obj, name, value(text), span)
    for name, text in (spec.get("params") or {}).items():
        t = value(text)
        obj.params[name] = Tensor(t.shape, t.dtype, True) if isinstance(t, Tensor) else Tensor(None, is_param=True)
    for name, entry in (spec.get("buffers") or {}).items():
        t = value(entry["tensor"])
        if isinstance(t, Unknown) or not isinstance(t, Tensor):
            ev.warn("W104", f"{cls.name} (YAML fallback): buffer '{name}' shape unknown", span)
            t = Tensor(None)
        obj.buffers[name] = Tensor(t.shape, t.dtype)
        if not entry.get("persistent", True):
            obj.non_persistent.add(name)


class _NoFileType:
    """Absolute imports only: the importer of fallback ``uses`` entries has no package."""

    package = ""
    module = ""


_NoFile = _NoFileType()

"""Config objects: transformers' ``PretrainedConfig`` semantics (its ``__init__`` defaults read from
the installed source, kwargs as attributes), attribute-access dicts (EasyDict, addict) and
``dict(...)`` construction from arguments.
"""
from __future__ import annotations

import copy as _copy

import libcst as cst

from analyzer.diagnostics import Diagnostic
from analyzer.evaluate.core import _err
from analyzer.evaluate.values import (
    BuiltinClass,
    Instance,
    Unknown,
)


def dict_from_args(ev, name: str, args, kwargs, span) -> dict:
    """The items of ``dict(mapping_or_pairs, **kwargs)``, for dict, OrderedDict and attribute dicts."""
    out = {}
    if args:
        src = args[0]
        if isinstance(src, Instance) and src.storage is not None:
            src = src.storage
        if isinstance(src, Unknown):
            raise _err("W105", f"{name}() of an unknown mapping: {src.reason}", span)
        if isinstance(src, dict):
            out.update(src)
        else:
            for pair in ev.iterate(src, span):
                if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                    raise _err("W104", f"{name}() needs key-value pairs", span, "ValueError")
                out[pair[0]] = pair[1]
    out.update(kwargs)
    return out


def _to_attrdict(cls, v):
    if isinstance(v, dict):
        inst = Instance(cls, storage={})
        inst.storage.update({k: _to_attrdict(cls, x) for k, x in v.items()})
        return inst
    if isinstance(v, list):
        return [_to_attrdict(cls, x) for x in v]
    return v


def _scan_config_defaults(ev):
    """PretrainedConfig.__init__ defaults, read from the installed transformers source:
    the ``self.X = kwargs.pop("X", DEFAULT)`` statements, in order."""
    cache = ev.__dict__.get("_hf_defaults")
    if cache is not None:
        return cache
    out: list = []
    file = ev.index.find("transformers.configuration_utils")
    facts = file.facts() if file is not None else None
    cls = facts.classes.get("PretrainedConfig") if facts else None
    init = cls.members.get("__init__") if cls else None
    if init is None:
        fb = ev.externals.fallback("transformers.configuration_utils.PretrainedConfig.defaults") or {"entries": {}}
        if "defaults" not in ev.used_fallbacks:
            ev.used_fallbacks.add("defaults")
            ev.report(Diagnostic("I201", "PretrainedConfig defaults come from the YAML fallback in rules/externals.yaml "
                                 "(transformers source is not installed)", span=None), None)
        out = [(k, k, v) for k, v in fb["entries"].items()]
    else:
        from analyzer.evaluate.core import EvalRaise, Frame

        snip = ev.snippet(file, init.start, init.end)
        frame = Frame(file, snip)
        for stmt in snip.node.body.body:
            if not isinstance(stmt, cst.SimpleStatementLine):
                continue
            for small in stmt.body:
                if not (isinstance(small, cst.Assign) and len(small.targets) == 1):
                    continue
                target, value = small.targets[0].target, small.value
                if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name)
                        and target.value.value == "self"):
                    continue
                if (isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute)
                        and value.func.attr.value == "pop" and isinstance(value.func.value, cst.Name)
                        and value.func.value.value == "kwargs" and value.args
                        and isinstance(value.args[0].value, cst.SimpleString)):
                    key = value.args[0].value.evaluated_value
                    try:
                        default = ev.eval(value.args[1].value, frame) if len(value.args) > 1 else None
                    except EvalRaise:
                        default = Unknown(f"default of PretrainedConfig.{key}")
                    out.append((target.attr.value, key, default))
    ev.__dict__["_hf_defaults"] = out
    return out


def hf_config_init(ev, base, obj, kwargs, span):
    kwargs = dict(kwargs)
    for attr, key, default in _scan_config_defaults(ev):
        value = kwargs.pop(key, default)
        ev.setattr(obj, attr, _copy.copy(value) if isinstance(value, (list, dict)) else value, span)
    _labels(ev, obj, kwargs, span)
    for key, value in kwargs.items():
        ev.setattr(obj, key, value, span)


def _labels(ev, obj, kwargs, span):
    """PretrainedConfig.__init__'s labels: an ``id2label`` dict gets int keys and wins over a
    ``num_labels`` kwarg (which is dropped); without one, ``num_labels`` (default 2) is set, through
    the ``num_labels`` property's setter when the source has it (it builds ``id2label``)."""
    id2label = obj.attrs.get("id2label")
    if isinstance(id2label, Unknown):
        kwargs.pop("num_labels", None)
        return
    if id2label is not None:
        if not isinstance(id2label, dict):
            raise _err("W106", "raises ValueError: Argument id2label should be a dictionary.", span, "ValueError")
        kwargs.pop("num_labels", None)
        try:
            ev.setattr(obj, "id2label", {int(k): v for k, v in id2label.items()}, span)
        except (TypeError, ValueError) as exc:
            raise _err("W104", f"id2label keys: {exc}", span, type(exc).__name__) from None
    elif "id2label" in obj.attrs:
        ev.setattr(obj, "num_labels", kwargs.pop("num_labels", 2), span)


def _config_class_info(ev, cls) -> tuple[dict, dict]:
    """(attribute_map, modeled properties by name: the first class in the MRO that has one wins)
    of a config class; cached until a class attribute is assigned."""
    info = ev.class_info.get(("config", cls))
    if info is None:
        amap = ev.lookup_mro(cls, "attribute_map")[1]
        properties: dict = {}
        for c in ev.mro(cls):
            if isinstance(c, BuiltinClass):
                for pname, spec in c.options.get("properties", {}).items():
                    properties.setdefault(pname, spec)
        info = (amap if isinstance(amap, dict) else {}, properties)
        ev.class_info[("config", cls)] = info
    return info

"""Modules the evaluator models instead of reading: attributes of ``torch``, ``torch.nn``, ``math``,
``functools``, ``copy`` and the other packages rules/externals.yaml names; builtin nn classes; YAML
fallback classes of packages that are not installed.
"""
from __future__ import annotations

import math
import operator

from analyzer.evaluate import parametrize, torch_ops
from analyzer.evaluate.core import _ClassMap
from analyzer.evaluate.numpy_plain import numpy_attr
from analyzer.evaluate.stdlib import _cast, _deepcopy, _math_fn, _partial, _reduce
from analyzer.evaluate.torch_functions import (
    DTYPE_NAMES,
    TORCH_SUBMODULES,
    _identity_first,
    _param,
    _torch_fn,
    functional,
)
from analyzer.evaluate import dataclass_model, enum_model, function_model, importlib_model, stdlib_modules, version_model
from analyzer.evaluate.values import (
    BuiltinClass,
    DType,
    ExternalModule,
    Intrinsic,
    Unknown,
)


def external_attr(ev, modname: str, name: str, span):
    qual = f"{modname}.{name}"
    modeled = ev.externals.modeled_class(qual)
    if modeled is not None:
        return modeled
    if qual in TORCH_SUBMODULES:
        return ExternalModule(qual)
    if modname == "torch.nn.utils" or modname in parametrize.SUBMODULES:  # weight_norm, parametrizations...
        value = parametrize.utils_attr(ev, modname, name, span)
        if value is not None:
            return value
    if modname == "torch.nn" or modname.startswith("torch.nn.modules"):
        rule = ev.nn_rules.get(name)
        if rule is not None:
            return nn_class(ev, name, rule)
        cq = ev.nn_rules.containers.get(name)
        if cq is not None:
            return BuiltinClass(name, cq, "container", options={"bases": [ev.externals.modeled_class("torch.nn.Module")]})
        if name == "Module":
            return ev.externals.modeled_class("torch.nn.Module")
        if name == "Parameter":
            return Intrinsic("torch.nn.Parameter", _param)
        why = ev.nn_rules.unmodelled.get(name)
        if why is not None:
            return Unknown(f"torch.nn.{name} is deliberately not modelled: {why}", span, True)
        return Unknown(f"torch.nn.{name} has no rule in rules/torch_nn.yaml", span, True)
    rule = ev.nn_rules.get(name) if modname.startswith("torch.nn.") else None
    if rule is not None and rule.qualname.startswith(modname + "."):  # torch.nn.parallel.DataParallel
        return nn_class(ev, name, rule)
    if modname in ("torch.nn.parameter",) and name == "Parameter":
        return Intrinsic("torch.nn.Parameter", _param)
    if (modname, name) in (("torch.jit", "is_scripting"), ("torch.jit", "is_tracing")):
        # a constructor runs eagerly (as on the meta device): never under TorchScript or a trace
        return Intrinsic(qual, lambda ev, a, k, s: False)
    if modname == "torch.nn.init":
        return _identity_first(qual)
    if modname == "torch.nn.functional":
        return functional(name)
    if modname == "torch":
        if name == "__version__":
            return version_model.torch_version(ev, span)
        if name in DTYPE_NAMES:
            return DType(torch_ops.DTYPES[name])
        if name in ("Tensor",):
            return BuiltinClass("Tensor", "torch.Tensor", "tensor")
        if name in ("FloatTensor", "LongTensor"):
            return _torch_fn(name)
        return _torch_fn(name)
    if modname == "math":
        v = getattr(math, name, None)
        if callable(v):
            return _math_fn(name, v)
        if isinstance(v, (int, float)):
            return v
    if modname == "functools":
        if name == "partial":
            return Intrinsic("functools.partial", _partial)
        if name == "reduce":
            return Intrinsic("functools.reduce", _reduce)
        if name == "update_wrapper":
            return function_model.UPDATE_WRAPPER
        if name in ("wraps", "lru_cache", "cache"):
            return Intrinsic(qual, lambda ev, a, k, s: _identity_first("decorator"))
    if modname == "enum":
        return enum_model.enum_attr(ev, name, span)
    if modname == "dataclasses":
        return dataclass_model.dataclasses_attr(name, span)
    if modname == "itertools":
        return stdlib_modules.itertools_attr(name, span)
    if modname == "os":
        return stdlib_modules.os_attr(ev, name, span)
    if modname == "sys" and name == "modules":
        return stdlib_modules.SysModules()
    if modname == "re":
        return stdlib_modules.re_attr(name, span)
    if modname == "importlib":
        return importlib_model.importlib_attr(name, span)
    if modname == "collections" and name == "deque":
        return Intrinsic(qual, stdlib_modules.make_deque)
    if modname == "collections" and name == "abc":
        return ExternalModule("collections.abc")
    if modname == "collections.abc":
        if name in stdlib_modules.ABC_KINDS:
            return stdlib_modules.AbstractClass(name)
    if modname in ("typing", "typing_extensions"):
        if name in stdlib_modules.ABC_KINDS:  # typing.Sequence in isinstance is collections.abc.Sequence
            return stdlib_modules.AbstractClass(name)
        if name == "cast":
            return Intrinsic(qual, _cast)
    if modname == "numbers" and name in stdlib_modules.NUMBER_KINDS:
        return stdlib_modules.AbstractClass(name, "numbers")
    if modname == "types":
        return stdlib_modules.types_attr(name, span)
    if modname == "copy" and name in ("deepcopy", "copy"):
        return Intrinsic(qual, _deepcopy)
    if modname == "warnings" and name == "warn":
        return Intrinsic(qual, lambda ev, a, k, s: None)
    if modname == "numpy":
        return numpy_attr(name, span)
    if modname.split(".")[0] == "packaging":
        value = version_model.packaging_attr(ev, modname, name, span)
        if value is not None:
            return value
    if modname == "operator":
        v = getattr(operator, name, None)
        if callable(v):
            return _math_fn(name, v)
    return Unknown(f"'{qual}' is not modeled", span, True)


def nn_class(ev, name, rule) -> BuiltinClass:
    cache = ev.__dict__.setdefault("_nn_classes", {})
    cls = cache.get(rule.qualname)
    if cls is None:
        cls = BuiltinClass(rule.name, rule.qualname, "nn", rule, {"bases": [ev.externals.modeled_class("torch.nn.Module")]})
        cache[rule.qualname] = cls
    return cls


def fallback_value(ev, qual, spec, span):
    if spec.get("kind") == "module":
        from analyzer.evaluate.fallbacks import fallback_class

        return fallback_class(ev, qual, spec)
    if spec.get("kind") == "class_map":
        mapping = {}
        for key, target in spec["entries"].items():
            mod, _, attr = target.rpartition(".")
            if mod.startswith("torch"):
                mapping[key] = external_attr(ev, mod, attr, span)
            else:
                mapping[key] = Unknown(f"'{target}' (from the ACT2FN fallback) has no source here", span, True)
        return _ClassMap(mapping)
    return Unknown(f"fallback kind {spec.get('kind')!r} for '{qual}' is not usable here", span)


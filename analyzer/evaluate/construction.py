"""Construction of builtin classes: ``torch.nn`` modules from their shape rules (rules/torch_nn.yaml),
containers, ``nn.Module`` and transformers' model bases, configs, YAML fallbacks, plain builtins.
"""
from __future__ import annotations

from analyzer.evaluate import enum_model
from analyzer.evaluate.configs import _to_attrdict, dict_from_args, hf_config_init
from analyzer.evaluate.core import _err
from analyzer.evaluate.kinds import _kind
from analyzer.evaluate.modeled import external_attr, nn_class
from analyzer.evaluate.modules import add_module, container_init
from analyzer.evaluate.stdlib import clone
from analyzer.evaluate.torch_rules import (
    BindError,
    Clones,
    Known,
    Plan,
    RequireError,
    ShapeError,
    bind,
    instantiate,
    instantiate_attrs,
    instantiate_children,
)
from analyzer.evaluate.values import (
    BoundMethod,
    BuiltinClass,
    ClassValue,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    Tensor,
    Unknown,
    call_key,
)

_OBJECTS = (Instance, ClassValue, BuiltinClass, Intrinsic, FunctionValue, BoundMethod, PartialValue)


def known(v):
    """An argument as a rule sees it: modules, tensors and other known objects wrapped in Known;
    plain data, Plans and Known values as they are; anything else (Unknown) stays opaque."""
    if isinstance(v, ModuleObj):
        return Known("module", v)
    if isinstance(v, enum_model.EnumMember):
        v = enum_model.mixin_value(v)  # nn.Linear(Level.HIGH, ...) with an IntEnum
    if isinstance(v, Tensor):
        return Known("tensor", v, tuple(v.shape) if v.shape is not None else None, v.dtype)
    return Known("object", v) if isinstance(v, _OBJECTS) else v


def construct_plain(ev, base, args, kwargs, span):
    return Unknown(f"construction of {base.qualname}", span)


# ---------------------------------------------------------------------------------- construction
def builtin_init(ev, base, obj, args, kwargs, span):
    ev.note_write(obj)
    kind = base.kind if base is not None else "object"
    if kind == "nn":
        nn_init(ev, base, obj, args, kwargs, span)
    elif kind == "container":
        container_init(ev, base.name, obj, args, kwargs, span)
    elif kind in ("dict", "attrdict"):
        if base.options.get("missing") == "factory":  # defaultdict(default_factory=None, mapping, **kwargs)
            obj.attrs["default_factory"] = args[0] if args else None
            args = args[1:]
        src = dict_from_args(ev, base.name, args, kwargs, span)
        if kind == "attrdict":
            src = {k: _to_attrdict(obj.cls, v) for k, v in src.items()}
        obj.storage.update(src)
    elif kind == "hf_config":
        hf_config_init(ev, base, obj, kwargs, span)
    elif kind == "hf_model":
        hf_model_init(ev, obj, args, kwargs, span)
    elif kind == "fallback_module":
        from analyzer.evaluate.fallbacks import init_module

        init_module(ev, base, obj, args, kwargs, span)


def nn_init(ev, base, obj, args, kwargs, span):
    rule = base.rule
    key = call_key(rule.qualname, args, kwargs)  # 2,342 Linears share a handful of calls
    hit = ev.nn_memo.get(key) if key is not None else None
    if hit is None:
        bound = {}
        try:
            bound = bind(rule, [known(a) for a in args], {k: known(v) for k, v in kwargs.items()})
            params, buffers = instantiate(rule, bound)
            attrs = instantiate_attrs(rule, bound)
        except BindError as exc:
            exc_type = "ValueError" if isinstance(exc, RequireError) else "TypeError"
            raise _err("W104", f"{rule.name}: {exc}", span, exc_type) from None
        except ShapeError as exc:
            why = "; ".join(f"{k}: {v.reason}" for k, v in bound.items() if isinstance(v, Unknown))
            ev.warn("W104", f"{rule.name}: parameter shapes unknown ({why or exc})", span)
            return
        hit = (params, buffers, bound, attrs)
        if key is not None:
            ev.nn_memo[key] = hit
    params, buffers, bound, attrs = hit
    for name, value in attrs.items():  # plain data (a memo hit shares them: never mutated in place)
        obj.attrs[name] = Unknown(str(value), span) if isinstance(value, ShapeError) else (
            value.obj if isinstance(value, Known) else value)
    lazy = [n for n, s in params.items() if s is None] + [n for n, b in buffers.items() if b.shape is None]
    why = f"{rule.name} is a lazy module: its shapes are set at the first forward call"
    for name, shape in params.items():
        obj.params[name] = Tensor(tuple(shape), "float32", True) if shape is not None else Tensor(None, "float32", True, why)
    for name, info in buffers.items():
        obj.buffers[name] = Tensor(tuple(info.shape) if info.shape is not None else None, info.dtype or "float32",
                                   why_unknown=why if info.shape is None else None)
        if not info.persistent:
            obj.non_persistent.add(name)
    if lazy:
        ev.warn("W104", f"{why}; unknown statically: {', '.join(lazy)}", span)
    if rule.children:
        try:
            children = instantiate_children(rule, bound)
        except ShapeError as exc:
            ev.warn("W104", f"{rule.name}: child modules unknown ({exc})", span)
            return
        for name, child in children.items():
            add_module(ev, obj, name, realize(ev, child, span), span)


def realize(ev, child, span):
    """The module a rule's child stands for: a Plan built (its Plan arguments first), a Known
    module itself, Clones as an nn.ModuleList of deep copies."""
    if isinstance(child, Known):
        return child.obj
    if isinstance(child, Clones):
        template = realize(ev, child.module, span)
        copies = [clone(template, {}, ev, span) for _ in range(child.count)]
        return ev.instantiate(external_attr(ev, "torch.nn", "ModuleList", span), [copies], {}, span)
    args = [realize(ev, a, span) if isinstance(a, Plan) else a for a in child.args]
    kwargs = {k: realize(ev, v, span) if isinstance(v, Plan) else v for k, v in child.kwargs.items()}
    return ev.instantiate(nn_class(ev, child.cls, ev.nn_rules.get(child.cls)), args, kwargs, span)


def hf_model_init(ev, obj, args, kwargs, span):
    """PreTrainedModel.__init__ (transformers 4.46): the attention implementation is chosen through
    ``cls._autoset_attn_implementation`` (analyzer/evaluate/hf_methods.py; a class's own override of
    it or of the checks it calls runs) unless the config is marked as already set (also when a
    saved config.json carries ``_attn_implementation_autoset: true``); then ``self.config``.
    ``--attn-implementation`` forces the first model's choice on its config and every sub-config,
    as the runtime dump does (analyzer/tree/runtime.py)."""
    config = args[0] if args else kwargs.get("config")
    if isinstance(config, Instance) and _kind(ev, config.cls) == "hf_config":
        if ev.attn_implementation is not None and not ev.__dict__.get("_attn_forced"):
            ev.__dict__["_attn_forced"] = True
            _force_attn(ev, config, ev.attn_implementation, set())
        autoset = config.attrs.get("_attn_implementation_autoset", False)
        if isinstance(autoset, Unknown):
            ev.warn("W105", f"cannot decide whether the attention implementation is set: {autoset.reason}", span)
        elif autoset is not True and config.tainted is None:  # a tainted config reads as unknown anyway
            config = ev.call(ev.getattr(obj, "_autoset_attn_implementation", span), [config],
                             {"check_device_map": False}, span)
        if ev.chosen_attn is None and isinstance(config, Instance):
            choice = config.attrs.get("_attn_implementation_internal")
            ev.chosen_attn = choice if isinstance(choice, str) else "eager" if choice is None else None
    obj.attrs["config"] = config


def _force_attn(ev, config, value, seen) -> None:
    if id(config) in seen:
        return
    seen.add(id(config))
    ev.note_write(config)
    config.attrs["_attn_implementation_internal"] = value
    config.attrs["_attn_implementation_autoset"] = True
    for sub in list(config.attrs.values()):
        if isinstance(sub, Instance) and _kind(ev, sub.cls) == "hf_config":
            _force_attn(ev, sub, value, seen)

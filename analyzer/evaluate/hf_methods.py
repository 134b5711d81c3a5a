"""Methods of transformers' modeled base classes (rules/externals.yaml: ``hf_model``, ``hf_config``)
that shape the tree, as transformers 4.46.3 defines them:

* ``PretrainedConfig.to_dict()``: a deep copy of the config's attributes (its ``__dict__``) with
  ``model_type`` added, ``_auto_class``, ``_commit_hash`` and ``_attn_implementation_internal``
  removed, nested configs as dicts, a ``torch_dtype`` as its name;
* ``PretrainedConfig.from_dict(config_dict, **kwargs)``: ``attn_implementation`` (popped from the
  kwargs, else None) written into ``config_dict``, ``cls(**config_dict)``, ``pruned_heads`` keys as
  ints, then each kwarg the config has set on it (a dict for a nested config as that config's class);
  ``(config, unused kwargs)`` with ``return_unused_kwargs``;
* ``PreTrainedModel._from_config(config, **kwargs)``: a deep copy of the config, the requested
  ``attn_implementation`` set on it, ``_autoset_attn_implementation`` unless already autoset, then
  ``cls(config, **kwargs)``;
* ``PreTrainedModel._autoset_attn_implementation``: the implementation requested on the config
  (``_attn_implementation_internal``), passed down to every sub-config; then
  ``cls._check_and_enable_flash_attn_2`` or ``cls._check_and_enable_sdpa`` (a class's own override
  of either is what runs, as Python dispatches it), else ``eager``; ``_attn_implementation_autoset``;
* ``_check_and_enable_sdpa``: with ``hard_check_only``, a class without ``_supports_sdpa`` raises;
  otherwise ``sdpa`` when the class supports it (torch's SDPA is taken as available) and does not
  set ``use_bettertransformer``; ``_check_and_enable_flash_attn_2``: raises without
  ``_supports_flash_attn_2``, else ``flash_attention_2`` (flash-attn taken as installed);
* ``PreTrainedModel.dtype``: its first floating-point parameter's dtype, else its last parameter's
  (no parameter yet: unknown);
* ``PreTrainedModel.device``: its first parameter's device (``meta``: every tensor here is); a model
  with no parameter yet has an unknown device.

Everything else of these classes registers no module, parameter or buffer (the YAML's
``neutral_methods``) or is not modeled (an attribute error names it).
"""
from __future__ import annotations

from analyzer.evaluate.core import _MISSING, _err
from analyzer.evaluate.kinds import _kind
from analyzer.evaluate.skipped import tainted_read
from analyzer.evaluate.stdlib import clone
from analyzer.evaluate.values import (
    ClassMethodIntrinsic,
    DType,
    Instance,
    MethodIntrinsic,
    ModuleObj,
    Unknown,
)

_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


def _is_config(ev, v) -> bool:
    return isinstance(v, Instance) and _kind(ev, v.cls) == "hf_config"


def _flag(ev, cls, name) -> object:
    """``getattr(cls, name, False)`` on a model class."""
    v = ev.lookup_mro(cls, name)[1]
    return False if v is _MISSING else v


def _attr(ev, config: Instance, name: str, default):
    """``getattr(config, name, default)`` for a stored attribute (unknown on a tainted config)."""
    if config.tainted is not None:
        stale = tainted_read(ev, config, name)
        if stale is not None:
            return stale
    return config.attrs.get(name, default)


def _truthy(ev, v, what, span) -> bool:
    if isinstance(v, Unknown):
        raise _err("W105", f"cannot decide {what}: {v.reason}", span)
    return ev.truth(v, span)


# ------------------------------------------------------------------------------- PretrainedConfig
def _to_dict(ev, args, kwargs, span):
    config = args[0]
    if not _is_config(ev, config):
        raise _err("W104", "to_dict() needs a config", span, "TypeError")
    if config.tainted is not None:
        return Unknown(f"to_dict(): {config.tainted[0].reason}", config.tainted[0].span)
    out = clone(dict(config.attrs), {}, ev, span)
    model_type = ev.lookup_mro(config.cls, "model_type")[1]
    if model_type is not _MISSING:
        out["model_type"] = model_type
    for key in ("_auto_class", "_commit_hash", "_attn_implementation_internal"):
        out.pop(key, None)
    out["transformers_version"] = Unknown("the installed transformers' __version__", span)
    for key, value in list(out.items()):
        if _is_config(ev, value):
            sub = _to_dict(ev, [value], {}, span)
            if isinstance(sub, dict):
                sub.pop("transformers_version", None)
            out[key] = sub
    if "quantization_config" in out:
        out["quantization_config"] = Unknown("to_dict() of a quantization_config is not modeled", span)
    _dtype_to_str(out)
    return out


def _config_from_dict(ev, args, kwargs, span):
    """``PretrainedConfig.from_dict(config_dict, **kwargs)`` (a classmethod), as 4.46.3 runs it."""
    if len(args) != 2:
        raise _err("W104", "from_dict() takes a config dict", span, "TypeError")
    cls, config_dict = args
    if isinstance(config_dict, Unknown):
        return Unknown(f"from_dict() of an unknown dict: {config_dict.reason}", span, True)
    if not isinstance(config_dict, dict):
        raise _err("W104", f"from_dict() of a {type(config_dict).__name__}", span, "TypeError")
    kwargs = dict(kwargs)
    return_unused = kwargs.pop("return_unused_kwargs", False)
    kwargs.pop("_from_auto", None)
    kwargs.pop("_from_pipeline", None)
    if "_commit_hash" in kwargs and "_commit_hash" in config_dict:
        kwargs["_commit_hash"] = config_dict["_commit_hash"]
    ev.note_write(config_dict)
    config_dict["attn_implementation"] = kwargs.pop("attn_implementation", None)
    config = ev.call(cls, [], dict(config_dict), span)
    pruned = _attr(ev, config, "pruned_heads", None) if _is_config(ev, config) else None
    if isinstance(pruned, dict):
        try:
            ev.setattr(config, "pruned_heads", {int(k): v for k, v in pruned.items()}, span)
        except (TypeError, ValueError) as exc:
            raise _err("W104", f"from_dict(): pruned_heads keys: {exc}", span, type(exc).__name__) from None
    elif pruned is not None:
        ev.setattr(config, "pruned_heads", Unknown("from_dict(): pruned_heads is not a plain dict", span), span)
    if "num_labels" in kwargs and "id2label" in kwargs:
        id2label = kwargs["id2label"] if kwargs["id2label"] is not None else []
        if isinstance(id2label, Unknown) or isinstance(kwargs["num_labels"], Unknown):
            raise _err("W105", "from_dict(): cannot check num_labels against id2label (unknown)", span)
        if len(id2label) != kwargs["num_labels"]:
            raise _err("W106", "raises ValueError: num_labels and id2label disagree", span, "ValueError")
    for key in list(kwargs):
        has = ev.call(ev.builtins["hasattr"], [config, key], {}, span)
        if isinstance(has, Unknown):
            raise _err("W105", f"from_dict(): cannot decide whether the config has '{key}': {has.reason}", span)
        if has:
            value, current = kwargs[key], ev.getattr(config, key, span)
            if _is_config(ev, current) and isinstance(value, dict):
                value = ev.call(current.cls, [], dict(value), span)
            ev.setattr(config, key, value, span)
            if key != "torch_dtype":
                kwargs.pop(key)
    return (config, kwargs) if return_unused else config


def _dtype_to_str(d: dict) -> None:
    if isinstance(d.get("torch_dtype"), DType):
        d["torch_dtype"] = d["torch_dtype"].name
    for value in d.values():
        if isinstance(value, dict):
            _dtype_to_str(value)


# -------------------------------------------------------------------------------- PreTrainedModel
def _bound(ev, cls, name, span):
    return ev.getattr(cls, name, span)


def _from_config(ev, args, kwargs, span):
    cls, config = args[0], (args[1] if len(args) > 1 else kwargs.pop("config", None))
    kwargs = dict(kwargs)
    kwargs.pop("config", None)
    if not _is_config(ev, config):
        raise _err("W104", f"{cls.name}._from_config() needs a config", span, "TypeError")
    dtype = kwargs.pop("torch_dtype", None)
    if dtype is not None and not (isinstance(dtype, DType) and dtype.name == "float32"):
        raise _err("W104", f"_from_config(torch_dtype={dtype!r}): another default dtype is not modeled", span)
    flash = kwargs.pop("use_flash_attention_2", False)
    config = clone(config, {}, ev, span)  # _from_config does not change the caller's config
    requested = _attr(ev, config, "_attn_implementation_internal", None)
    ev.setattr(config, "_attn_implementation", kwargs.pop("attn_implementation", requested), span)
    if not _truthy(ev, _attr(ev, config, "_attn_implementation_autoset", False), "_attn_implementation_autoset", span):
        config = ev.call(_bound(ev, cls, "_autoset_attn_implementation", span), [config],
                         {"use_flash_attention_2": flash, "check_device_map": False}, span)
    return ev.instantiate(cls, [config], kwargs, span)


def _autoset(ev, args, kwargs, span):
    cls, config = args[0], args[1]
    use_flash = kwargs.get("use_flash_attention_2", args[2] if len(args) > 2 else False)
    if not _is_config(ev, config):
        raise _err("W104", "_autoset_attn_implementation() needs a config", span, "TypeError")
    requested = _attr(ev, config, "_attn_implementation_internal", None)
    if isinstance(requested, Unknown):
        raise _err("W105", f"cannot decide the attention implementation: {requested.reason}", span)
    if requested is not None and not isinstance(requested, dict) and requested not in _IMPLEMENTATIONS:
        raise _err("W106", f"raises ValueError: attn_implementation={requested!r} is not supported", span, "ValueError")
    for key, sub in list(config.attrs.items()):
        if _is_config(ev, sub):
            ev.setattr(sub, "_attn_implementation_internal",
                       requested.get(key) if isinstance(requested, dict) else requested, span)
    if _truthy(ev, use_flash, "use_flash_attention_2", span):
        ev.setattr(config, "_attn_implementation", "flash_attention_2", span)
    current = ev.getattr(config, "_attn_implementation", span)
    if current == "flash_attention_2":
        ev.call(_bound(ev, cls, "_check_and_enable_flash_attn_2", span), [config],
                {"hard_check_only": False, "check_device_map": False}, span)
    elif requested in (None, "sdpa"):
        config = ev.call(_bound(ev, cls, "_check_and_enable_sdpa", span), [config],
                         {"hard_check_only": requested is not None}, span)
    elif isinstance(requested, dict):
        ev.setattr(config, "_attn_implementation", None, span)
    else:
        ev.setattr(config, "_attn_implementation", "eager", span)
    if not _is_config(ev, config):
        raise _err("W105", f"the attention check returned a {type(config).__name__}, not the config", span)
    ev.setattr(config, "_attn_implementation_autoset", True, span)
    return config


def _check_sdpa(ev, args, kwargs, span):
    cls, config = args[0], args[1]
    hard = _truthy(ev, kwargs.get("hard_check_only", args[2] if len(args) > 2 else False), "hard_check_only", span)
    supports = _truthy(ev, _flag(ev, cls, "_supports_sdpa"), "_supports_sdpa", span)
    if hard and not supports:
        raise _err("W106", f"raises ValueError: {cls.name} does not support sdpa attention", span, "ValueError")
    if not supports or _truthy(ev, _flag(ev, cls, "use_bettertransformer"), "use_bettertransformer", span):
        return config
    if not hard:
        ev.setattr(config, "_attn_implementation", "sdpa", span)
    return config


def _check_flash(ev, args, kwargs, span):
    cls, config = args[0], args[1]
    hard = _truthy(ev, kwargs.get("hard_check_only", False), "hard_check_only", span)
    if not _truthy(ev, _flag(ev, cls, "_supports_flash_attn_2"), "_supports_flash_attn_2", span):
        raise _err("W106", f"raises ValueError: {cls.name} does not support flash_attention_2", span, "ValueError")
    if not hard:
        ev.setattr(config, "_attn_implementation", "flash_attention_2", span)
    return config


def device(ev, obj: ModuleObj, span):
    """``model.device``: ``meta`` once it has a parameter (its own or a child's)."""
    stack = [obj]
    while stack:
        m = stack.pop()
        if any(p is not None for p in m.params.values()):
            return "meta"
        stack.extend(c for c in m.modules.values() if isinstance(c, ModuleObj))
    return Unknown("the device of a model that has no parameter yet", span)


def dtype(ev, obj: ModuleObj, span):
    """``model.dtype`` (get_parameter_dtype): its first floating-point parameter's dtype (own, then
    the children's, in registration order), else its last parameter's; unknown with none yet."""
    last = None
    stack = [obj]
    while stack:
        m = stack.pop()
        for p in m.params.values():
            if p is not None:
                if p.dtype is None:
                    return Unknown("the dtype of a parameter of unknown dtype", span)
                if p.dtype.startswith(("float", "bfloat")):
                    return DType(p.dtype)
                last = p.dtype
        stack.extend(reversed([c for c in m.modules.values() if isinstance(c, ModuleObj)]))
    if last is not None:
        return DType(last)
    return Unknown("the dtype of a model that has no parameter yet", span)


METHODS = {
    "hf_config": {"to_dict": MethodIntrinsic("PretrainedConfig.to_dict", _to_dict),
                  "from_dict": ClassMethodIntrinsic("PretrainedConfig.from_dict", _config_from_dict)},
    "hf_model": {
        "_from_config": ClassMethodIntrinsic("PreTrainedModel._from_config", _from_config),
        "_autoset_attn_implementation": ClassMethodIntrinsic("PreTrainedModel._autoset_attn_implementation", _autoset),
        "_check_and_enable_sdpa": ClassMethodIntrinsic("PreTrainedModel._check_and_enable_sdpa", _check_sdpa),
        "_check_and_enable_flash_attn_2": ClassMethodIntrinsic("PreTrainedModel._check_and_enable_flash_attn_2",
                                                               _check_flash),
    },
}


def member(cls, name: str):
    """The modeled method ``name`` of the builtin class ``cls``, else _MISSING."""
    methods = METHODS.get(cls.kind)
    return methods.get(name, _MISSING) if methods else _MISSING

"""Weight and spectral normalisation and parametrizations (``torch.nn.utils``): what they do to a
module's parameters, buffers, children and class, as torch 2.13 does it (checked on the meta device
by tests/test_parametrize.py). Reached through modeled.external_attr; imports no evaluator.

* ``torch.nn.utils.weight_norm`` (old): parameter ``name`` becomes ``name_g`` (``norm_except_dim``:
  the size along ``dim``, ones elsewhere; ``()`` for dim None or -1) and ``name_v`` (its shape).
* ``torch.nn.utils.spectral_norm`` (old): ``name_orig``, buffers ``name_u`` (h) and ``name_v`` (w).
* ``torch.nn.utils.parametrizations.weight_norm`` / ``spectral_norm`` and
  ``torch.nn.utils.parametrize.register_parametrization``: the module's class becomes
  ``torch.nn.utils.parametrize.Parametrized<Class>``, its parameter ``name`` moves to
  ``parametrizations.<name>`` (a ParametrizationList, a ModuleList) as ``original`` (or
  ``original0``, ``original1``... when ``right_inverse`` returns a tuple), the parametrization is
  its child ``0``; the ModuleDict ``parametrizations`` is the module's last child.

An argument that cannot be evaluated (a dim, a name) makes the shapes it decides unknown, with a
diagnostic, and marks the module partial: never a guessed shape.
"""
from __future__ import annotations

import math

from analyzer.evaluate.core import _err
from analyzer.evaluate.modules import add_module
from analyzer.evaluate.torch_rules import BindError, _bind, _signature
from analyzer.evaluate.values import (
    MISSING,
    BuiltinClass,
    ExternalModule,
    Intrinsic,
    ModuleObj,
    Tensor,
    Unknown,
    type_name,
)

PARAMETRIZE = "torch.nn.utils.parametrize"
SUBMODULES = {"torch.nn.utils.parametrizations", PARAMETRIZE}
_NORM = ["module", {"name": "weight"}, {"dim": 0}]
_SPECTRAL = ["module", {"name": "weight"}, {"n_power_iterations": 1}, {"eps": 1e-12}, {"dim": None}]
SIGNATURES = {q: _signature(s) for q, s in {
    "torch.nn.utils.weight_norm": _NORM,
    "torch.nn.utils.spectral_norm": _SPECTRAL,
    "torch.nn.utils.parametrizations.weight_norm": _NORM,
    "torch.nn.utils.parametrizations.spectral_norm": _SPECTRAL,
    f"{PARAMETRIZE}.register_parametrization": ["module", "tensor_name", "parametrization", "*", {"unsafe": False}],
    f"{PARAMETRIZE}.is_parametrized": ["module", {"tensor_name": None}],
}.items()}


def utils_attr(ev, modname: str, name: str, span):
    """``modname.name`` for the torch.nn.utils modules modelled here, else None."""
    qual = f"{modname}.{name}"
    if qual in SUBMODULES:
        return ExternalModule(qual)
    if qual not in SIGNATURES:
        return None

    def call(ev, args, kwargs, s):
        try:
            bound = _bind(name, SIGNATURES[qual], list(args), dict(kwargs))
        except BindError as exc:
            raise _err("W104", str(exc), s, "TypeError") from None
        module = bound["module"]
        if isinstance(module, Unknown):
            return Unknown(f"{name}() of an unknown module: {module.reason}", s, True)
        if not isinstance(module, ModuleObj):
            raise _err("W104", f"{name}(): a {type_name(module)} is not a Module", s, "AttributeError")
        return _CALLS[qual](ev, module, bound, s)

    return Intrinsic(qual, call)


# ---------------------------------------------------------------------------------- helpers
def _unknown(ev, module, message, span) -> None:
    ev.warn("W104", message, span)
    module.partial = True


def _tensor_name(ev, fname, module, name, span) -> str | None:
    if isinstance(name, Unknown):
        ev.warn("W105", f"{fname}(): the tensor name is unknown ({name.reason}): the module is left as it was", span)
        module.partial = True
        return None
    if not isinstance(name, str):
        raise _err("W104", f"{fname}(): the tensor name must be a string, got {type_name(name)}", span, "TypeError")
    return name


def _param(ev, fname, module, name, span, buffers_too=False) -> tuple[Tensor | None, str]:
    """The tensor registered as ``name`` (a parameter, or a buffer when allowed) and its store."""
    if isinstance(module.params.get(name), Tensor):
        return module.params[name], "params"
    if buffers_too and isinstance(module.buffers.get(name), Tensor):
        return module.buffers[name], "buffers"
    what = "parameter or buffer" if buffers_too else "parameter"
    raise _err("W104", f"{fname}(): module '{type_name(module)}' has no {what} '{name}'", span,
               "ValueError" if buffers_too else "AttributeError")


def _dim(ev, fname, module, dim, shape, span, whole_ok: bool) -> int | None:
    """``dim`` normalised to 0..ndim-1, -1 for the whole tensor (``whole_ok``: weight norm's dim None
    or -1), None when unknown (reported)."""
    if dim is None and whole_ok:
        return -1
    if isinstance(dim, Unknown) or type(dim) is not int:
        why = dim.reason if isinstance(dim, Unknown) else f"a {type_name(dim)}"
        _unknown(ev, module, f"{fname}(): dim is not a known int ({why}): the shapes it decides are unknown", span)
        return None
    if dim == -1 and whole_ok:
        return -1
    if shape is None:
        _unknown(ev, module, f"{fname}(): the shape of the tensor is unknown: the shapes it decides are unknown", span)
        return None
    n = len(shape)
    if not -n <= dim < n:
        raise _err("W104", f"{fname}(): Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                           f"but got {dim})", span, "IndexError")
    return dim % n


def _g_shape(shape, d) -> tuple | None:
    """torch.norm_except_dim(v, 2, dim).shape"""
    if d is None:
        return None
    return () if d == -1 else tuple(s if i == d else 1 for i, s in enumerate(shape))


def _matrix(shape, d) -> tuple:
    """(h, w) of the weight as spectral norm reshapes it: dim ``d`` first, the rest flattened."""
    if shape is None or d is None:
        return None, None
    h = shape[d]
    return h, (math.prod(shape) // h if h else 0)


def _spectral_dim(ev, module, dim):
    if dim is not None:
        return dim
    transposed = any(getattr(c, "qualname", "").startswith("torch.nn.modules.conv.ConvTranspose") for c in ev.mro(module.cls))
    return 1 if transposed else 0


def _class(ev, name: str, qualname: str, bases: list, kind: str = "object", **options) -> BuiltinClass:
    cache = ev.__dict__.setdefault("_parametrize_classes", {})
    key = (qualname, kind, tuple(id(b) for b in bases))
    if key not in cache:
        cache[key] = BuiltinClass(name, qualname, kind, options={"bases": bases, **options})
    return cache[key]


def _module_base(ev):
    return ev.externals.modeled_class("torch.nn.Module")


def _container(ev, name: str) -> BuiltinClass:
    return _class(ev, name, ev.nn_rules.containers[name], [_module_base(ev)], "container")


def _new(ev, name: str, qualname: str, span) -> ModuleObj:
    return ModuleObj(_class(ev, name, qualname, [_module_base(ev)]), span)


def _t(shape, like: Tensor, param=True, why=None) -> Tensor:
    return Tensor(tuple(shape) if shape is not None else None, like.dtype, param,
                  why or (like.why_unknown if shape is None else None))


# ---------------------------------------------------------------------------------- the old hooks API
def _old_weight_norm(ev, module, b, span):
    name = _tensor_name(ev, "weight_norm", module, b["name"], span)
    if name is None:
        return module
    w, _ = _param(ev, "weight_norm", module, name, span)
    g = _g_shape(w.shape, _dim(ev, "weight_norm", module, b["dim"], w.shape, span, True))
    ev.note_write(module)
    del module.params[name]
    module.params[name + "_g"] = _t(g, w, why="weight_norm: g's shape is unknown")
    module.params[name + "_v"] = _t(w.shape, w)
    module.attrs[name] = _t(w.shape, w, param=False)  # recomputed by a forward pre-hook: a plain attribute
    return module


def _old_spectral_norm(ev, module, b, span):
    name = _tensor_name(ev, "spectral_norm", module, b["name"], span)
    if name is None:
        return module
    w, _ = _param(ev, "spectral_norm", module, name, span)
    dim = _spectral_dim(ev, module, b["dim"])
    if type(dim) is int and dim < 0:  # torch permutes with the negative dim and fails
        raise _err("W104", f"spectral_norm(): dim {dim} is not supported (torch permutes with it and fails)", span,
                   "RuntimeError")
    h, wd = _matrix(w.shape, _dim(ev, "spectral_norm", module, dim, w.shape, span, False))
    ev.note_write(module)
    del module.params[name]
    module.params[name + "_orig"] = _t(w.shape, w)
    module.attrs[name] = _t(w.shape, w, param=False)
    module.buffers[name + "_u"] = _t((h,) if h is not None else None, w, False, "spectral_norm: u's shape is unknown")
    module.buffers[name + "_v"] = _t((wd,) if wd is not None else None, w, False, "spectral_norm: v's shape is unknown")
    return module


# ---------------------------------------------------------------------------------- parametrizations
def _weight_norm(ev, module, b, span):
    name = _tensor_name(ev, "weight_norm", module, b["name"], span)
    if name is None:
        return module
    p = _new(ev, "_WeightNorm", "torch.nn.utils.parametrizations._WeightNorm", span)
    return _register(ev, module, name, p, span, "weight_norm",
                     lambda w: [_t(_g_shape(w.shape, _dim(ev, "weight_norm", module, b["dim"], w.shape, span, True)),
                                   w, why="weight_norm: original0's shape is unknown"), _t(w.shape, w)])


def _spectral_norm(ev, module, b, span):
    name = _tensor_name(ev, "spectral_norm", module, b["name"], span)
    if name is None:
        return module
    w, _ = _param(ev, "spectral_norm", module, name, span, buffers_too=True)
    n_iter = b["n_power_iterations"]
    if type(n_iter) is int and n_iter <= 0:
        raise _err("W104", f"spectral_norm(): Expected n_power_iterations to be positive, but got "
                           f"n_power_iterations={n_iter}", span, "ValueError")
    p = _new(ev, "_SpectralNorm", "torch.nn.utils.parametrizations._SpectralNorm", span)
    d = _dim(ev, "spectral_norm", module, _spectral_dim(ev, module, b["dim"]), w.shape, span, False)
    if w.shape is None or len(w.shape) > 1:  # a 1-d tensor gets no power-iteration vectors
        h, wd = _matrix(w.shape, d)
        p.buffers["_u"] = _t((h,) if h is not None else None, w, False, "spectral_norm: _u's shape is unknown")
        p.buffers["_v"] = _t((wd,) if wd is not None else None, w, False, "spectral_norm: _v's shape is unknown")
    return _register(ev, module, name, p, span, "spectral_norm", lambda w: _t(w.shape, w))


def _register_parametrization(ev, module, b, span):
    fname = "register_parametrization"
    name = _tensor_name(ev, fname, module, b["tensor_name"], span)
    p = b["parametrization"]
    if name is None:
        return module
    if isinstance(p, Unknown):
        _unknown(ev, module, f"{fname}(): the parametrization is unknown ({p.reason}): '{name}' is left as it was", span)
        return module
    if not isinstance(p, ModuleObj):
        raise _err("W104", f"{fname}(): the parametrization must be a Module, got {type_name(p)}", span, "TypeError")

    def originals(w):
        _, inverse = ev.lookup_mro(p.cls, "right_inverse")
        if inverse is MISSING:
            return _t(w.shape, w)
        out = ev.call(ev.getattr(p, "right_inverse", span), [_t(w.shape, w, param=False)], {}, span)
        items = out if isinstance(out, (list, tuple)) else [out]
        if not all(isinstance(t, Tensor) for t in items):
            _unknown(ev, module, f"{fname}(): right_inverse gave {type_name(out)}: the originals are unknown", span)
            return None
        shaped = [_t(t.shape, t, why=f"{fname}(): right_inverse gave a tensor of unknown shape") for t in items]
        return shaped if isinstance(out, (list, tuple)) else shaped[0]

    return _register(ev, module, name, p, span, fname, originals, unsafe=b["unsafe"])


def _register(ev, module, name, p, span, fname, originals, unsafe=False):
    """register_parametrization: ``originals(tensor)`` gives the Tensor stored as ``original``, or a
    list stored as ``original0``..., or None when unknown (reported)."""
    holder = module.modules.get("parametrizations")
    parametrized = getattr(module.cls, "options", {}).get("parametrized") and isinstance(holder, ModuleObj)
    plist = holder.modules.get(name) if parametrized else None
    ev.note_write(module)
    if isinstance(plist, ModuleObj):  # parametrized already: appended; the originals stay as they are
        ev.note_write(plist)
        add_module(ev, plist, str(len(plist.modules)), p, span)
        return module
    w, store = _param(ev, fname, module, name, span, buffers_too=True)
    plist = ModuleObj(_class(ev, "ParametrizationList", f"{PARAMETRIZE}.ParametrizationList",
                             [_container(ev, "ModuleList")]), span)
    add_module(ev, plist, "0", p, span)
    made = originals(w)
    target = plist.params if store == "params" else plist.buffers
    if isinstance(made, Tensor):
        target["original"] = made if store == "params" else _t(made.shape, made, False)
    for i, t in enumerate(made if isinstance(made, list) else []):
        target[f"original{i}"] = t if store == "params" else _t(t.shape, t, False)
    if made is None:
        plist.partial = True
    del getattr(module, store)[name]
    if not parametrized:
        module.cls = _class(ev, f"Parametrized{module.cls.name}", f"{PARAMETRIZE}.Parametrized{module.cls.name}",
                            [module.cls], parametrized=True)
        add_module(ev, module, "parametrizations", ModuleObj(_container(ev, "ModuleDict"), span), span)
    same = unsafe is False or (isinstance(made, Tensor) and made.shape == w.shape)
    module.attrs[name] = _t(w.shape if same else None, w, False, f"{fname}(unsafe=True): the value's shape may change")
    add_module(ev, module.modules["parametrizations"], name, plist, span)
    return module


def _is_parametrized(ev, module, b, span):
    holder = module.modules.get("parametrizations")
    if not (getattr(module.cls, "options", {}).get("parametrized") and isinstance(holder, ModuleObj)):
        return False
    name = b["tensor_name"]
    if isinstance(name, Unknown):
        return Unknown(name.reason, span)
    return name is None or name in holder.modules


_CALLS = {
    "torch.nn.utils.weight_norm": _old_weight_norm,
    "torch.nn.utils.spectral_norm": _old_spectral_norm,
    "torch.nn.utils.parametrizations.weight_norm": _weight_norm,
    "torch.nn.utils.parametrizations.spectral_norm": _spectral_norm,
    f"{PARAMETRIZE}.register_parametrization": _register_parametrization,
    f"{PARAMETRIZE}.is_parametrized": _is_parametrized,
}

"""torch.nn builtin modules as data (rules/torch_nn.yaml): signatures, own parameters, buffers, children.

Never imports torch. Shape and ``when`` expressions run on a small restricted ``ast`` evaluator, never ``eval``.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.evaluate.torch_rule_exprs import (  # Known, Plan, Clones: the API of instantiate_children
    HELPERS,
    MAX_ITEMS,
    Clones,
    Known,
    Plan,
    _compile,
    _ev,
    _parse_many,
    _plain,
)
from analyzer.rules import RULES_DIR, load_yaml

DEFAULT_PATH = RULES_DIR / "torch_nn.yaml"
class BufferSpec(NamedTuple):
    """A buffer a rule registers (plain data; the tree layer turns it into a BufferInfo)."""
    shape: tuple
    dtype: str | None
    persistent: bool


DTYPES = tuple("bool uint8 int8 int16 int32 int64 float16 bfloat16 float32 float64 complex64 complex128".split())


class BindError(Exception):
    """Constructor arguments do not fit the signature (Python would raise TypeError)."""


class ShapeError(Exception):
    """A shape, ``when`` or ``let`` expression failed on the bound arguments."""


class RequireError(BindError):
    """A ``require`` check failed: torch raises ValueError for these arguments."""



@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # "positional" (positional-or-keyword), "keyword" (keyword-only), "*args" or "**kwargs"
    has_default: bool = False
    default: Any = None


@dataclass(frozen=True)
class TensorSpec:  # a parameter or a buffer
    name: str
    shape: str
    when: str | bool = True
    dtype: str | None = None  # buffers only, from here on
    dtype_arg: str | None = None
    persistent: bool = True
    like: str | None = None  # a tensor argument giving shape and dtype (absent when None)
    lazy: bool = False  # an Uninitialized{Parameter,Buffer}: the shape is set at the first forward


@dataclass(frozen=True)
class ChildSpec:
    name: str
    cls: str | None  # a rule name (None: a `value` or `clones` child)
    args: str = "[]"  # an expression giving the positional arguments
    kwargs: tuple[tuple[str, str], ...] = ()  # (name, expression)
    value: str | None = None  # `value`: the module itself; `clones`: the module copied
    count: str | None = None  # `clones` only


@dataclass(frozen=True)
class NNRule:
    name: str
    qualname: str
    signature: tuple[Arg, ...]
    let: tuple[tuple[str, str | ChildSpec], ...] = ()
    params: tuple[TensorSpec, ...] = ()
    buffers: tuple[TensorSpec, ...] = ()
    children: tuple[ChildSpec, ...] = ()
    binds: tuple[Arg, ...] | None = None  # *args/**kwargs bound again to this signature
    require: tuple[tuple[str, str], ...] = ()  # (condition, message): false -> RequireError
    foreach: tuple[tuple[str, str], ...] = ()  # (name, list expression): params/buffers repeated
    attrs: tuple[tuple[str, str], ...] = ()  # (name, expression): plain instance attributes (conv.kernel_size)


@dataclass(frozen=True)
class TorchRules:
    rules: dict[str, NNRule]
    containers: dict[str, str]
    unmodelled: dict[str, str] = None  # class name -> why it has no rule

    def get(self, name: str) -> NNRule | None:
        """Look up 'Linear', 'torch.nn.Linear' or 'torch.nn.modules.linear.Linear'."""
        head, _, tail = name.rpartition(".")
        rule = self.rules.get(tail)
        return rule if rule is not None and (head in ("", "torch.nn") or rule.qualname == name) else None


def _value(rule: NNRule, what: str, expr: str | bool, env: dict, test: bool = False) -> Any:
    """Evaluate one rule expression (``test``: as a condition); any failure is a ShapeError."""
    if isinstance(expr, bool):
        return expr  # `when: true`
    try:
        value = _ev(_compile(expr), env)
        return bool(_plain(value)) if test else value
    except Exception as exc:  # the analysed values may be anything
        raise ShapeError(f"{rule.name}.{what}: cannot evaluate '{expr}': {type(exc).__name__}: {exc}") from None


# ---- binding and instantiation -------------------------------------------------------------
def bind(rule: NNRule, args: list, kwargs: dict) -> dict[str, object]:
    """Bind constructor arguments to ``rule.signature`` like Python does, then (``binds``) the
    collected ``*args``/``**kwargs`` again to ``rule.binds`` (both stay bound too); raises BindError,
    or RequireError when a ``require`` condition is false (ShapeError when it cannot be evaluated)."""
    out = _bind(rule.name, rule.signature, args, kwargs)
    if getattr(rule, "binds", None) is not None:  # (a YAML fallback's signature has no binds)
        star = next(a.name for a in rule.signature if a.kind == "*args")
        dstar = next(a.name for a in rule.signature if a.kind == "**kwargs")
        out = {**out, **_bind(rule.name, rule.binds, list(out[star]), dict(out[dstar]))}
    if getattr(rule, "require", ()):
        _env(rule, out)
    return out


def _bind(name: str, signature: tuple[Arg, ...], args: list, kwargs: dict) -> dict[str, object]:
    positional = [a for a in signature if a.kind == "positional"]
    star = next((a.name for a in signature if a.kind == "*args"), None)
    dstar = next((a.name for a in signature if a.kind == "**kwargs"), None)
    if len(args) > len(positional) and star is None:
        raise BindError(f"{name}() takes {len(positional)} positional arguments but {len(args)} were given")
    out: dict[str, object] = {a.name: v for a, v in zip(positional, args)}
    if star is not None:
        out[star] = tuple(args[len(positional):])
    named = {a.name for a in signature if a.kind in ("positional", "keyword")}
    extra: dict[str, object] = {}
    for key, value in kwargs.items():
        if key in named and key in out:
            raise BindError(f"{name}() got multiple values for argument '{key}'")
        if key not in named and dstar is None:
            raise BindError(f"{name}() got an unexpected keyword argument '{key}'")
        (out if key in named else extra)[key] = value
    for arg in signature:
        if arg.kind in ("positional", "keyword") and arg.name not in out:
            if not arg.has_default:
                raise BindError(f"{name}() missing required argument '{arg.name}'")
            out[arg.name] = arg.default
    if dstar is not None:
        out[dstar] = extra
    return out


def _env(rule: NNRule, bound: dict) -> dict:
    env = dict(bound)
    for name, expr in rule.let:
        env[name] = _plan(rule, expr, env) if isinstance(expr, ChildSpec) else _value(rule, f"let.{name}", expr, env)
    for cond, message in rule.require:
        if not _value(rule, f"require '{cond}'", cond, env, True):
            raise RequireError(f"{rule.name}(): {message}")
    return env


def _plan(rule: NNRule, c: ChildSpec, env: dict) -> Plan:
    return Plan(c.cls, _value(rule, f"{c.name}.args", c.args, env),
                {k: _value(rule, f"{c.name}.kwargs.{k}", v, env) for k, v in c.kwargs})


def _combos(rule: NNRule, env: dict) -> list[dict]:
    """The environments of ``foreach`` (nested loops, the first name outermost); [env] without it."""
    combos = [env]
    for name, expr in rule.foreach:
        combos = [{**c, name: v} for c in combos for v in _value(rule, f"foreach.{name}", expr, c)]
        if len(combos) > MAX_ITEMS:
            raise ShapeError(f"{rule.name}.foreach: more than {MAX_ITEMS} combinations")
    return combos


def _shape(rule: NNRule, spec: TensorSpec, env: dict) -> tuple[int, ...]:
    value = _value(rule, spec.name, spec.shape, env)
    value = (value,) if type(value) is int else value
    if not isinstance(value, (list, tuple)) or not all(type(d) is int and d >= 0 for d in value):
        raise ShapeError(f"{rule.name}.{spec.name}: shape '{spec.shape}' gave {value!r}, not non-negative ints")
    return tuple(value)


def instantiate(rule: NNRule, bound: dict) -> tuple[dict[str, tuple[int, ...]], dict[str, BufferSpec]]:
    """Own parameters (name -> shape) and buffers (name -> BufferSpec), in registration order.

    A bound ``dtype_arg`` (e.g. 'bfloat16', or any value whose str() is 'torch.bfloat16') overrides a buffer's dtype.
    A ``lazy`` tensor's shape is None; a ``like`` buffer copies its tensor argument (absent when it is None)."""
    params, buffers = {}, {}
    for env in _combos(rule, _env(rule, bound)):
        for p in rule.params:
            if _value(rule, f"{p.name}.when", p.when, env, True):
                params[p.name.format_map(env)] = None if p.lazy else _shape(rule, p, env)
        for b in rule.buffers:
            if b.like is not None:
                t = env[b.like]
                if t is not None and not (isinstance(t, Known) and t.kind == "tensor" and t.shape is not None):
                    raise ShapeError(f"{rule.name}.{b.name}: '{b.like}' is not a tensor of known shape or None")
                if t is not None:
                    buffers[b.name.format_map(env)] = BufferSpec(tuple(t.shape), t.dtype, b.persistent)
            elif _value(rule, f"{b.name}.when", b.when, env, True):
                override = env.get(b.dtype_arg) if b.dtype_arg else None
                dtype = b.dtype if override is None else str(override).removeprefix("torch.")
                buffers[b.name.format_map(env)] = BufferSpec(None if b.lazy else _shape(rule, b, env), dtype, b.persistent)
    return params, buffers


def instantiate_attrs(rule: NNRule, bound: dict) -> dict[str, Any]:
    """The plain attributes torch sets on the instance: name -> value, or a ShapeError when its
    expression cannot be evaluated on these arguments (the caller makes it an unknown)."""
    env = _env(rule, bound)
    out: dict[str, Any] = {}
    for name, expr in rule.attrs:
        try:
            out[name] = _value(rule, f"attrs.{name}", expr, env)
        except ShapeError as exc:
            out[name] = exc
    return out


def instantiate_children(rule: NNRule, bound: dict) -> dict[str, Plan | Known | Clones]:
    """Child modules in registration order: name -> a Plan (build it), a Known module (register that
    module) or Clones. A ``value`` that is None, plain or a Known non-module registers no child."""
    env = _env(rule, bound)
    out: dict[str, Plan | Known | Clones] = {}
    for c in rule.children:
        if c.cls is not None:
            out[c.name] = _plan(rule, c, env)
            continue
        v = _value(rule, f"{c.name}.value", c.value, env)
        module = isinstance(v, Plan) or isinstance(v, Known) and v.kind == "module"
        if c.count is not None:
            n = _value(rule, f"{c.name}.count", c.count, env)
            if not module or type(n) is not int:
                raise ShapeError(f"{rule.name}.{c.name}: clones of {type(v).__name__} x {n!r}: not a module and an int")
            out[c.name] = Clones(v, max(n, 0))
        elif module:
            out[c.name] = v
        elif not (isinstance(v, Known) or v is None or isinstance(v, (bool, int, float, str))):
            raise ShapeError(f"{rule.name}.{c.name}: cannot tell whether a {type(v).__name__} is a module")
    return out


# ---- loading and validation ----------------------------------------------------------------
class _Bad(Exception):
    def __init__(self, key: str, message: str):
        super().__init__(f".{key}: {message}" if key else f": {message}")


def _signature(items: Any) -> tuple[Arg, ...]:
    if not isinstance(items, list):
        raise _Bad("signature", "expected a list")
    out: list[Arg] = []
    kind = "positional"
    for item in items:
        if item == "*" and kind == "positional":
            kind = "keyword"
            continue
        if isinstance(item, dict) and len(item) == 1:
            (name, default), = item.items()
            if isinstance(default, dict) and list(default) == ["callable"] and isinstance(default["callable"], str):
                default = Known("object", default["callable"])  # e.g. activation=F.relu
            elif isinstance(default, list) and all(type(d) in (bool, int, float, str) for d in default):
                default = tuple(default)
            elif default is not None and type(default) not in (bool, int, float, str):
                raise _Bad("signature", f"default of '{name}' must be null, bool, int, float, string, "
                                        "a list of those or {callable: dotted.name}")
            arg = Arg(str(name), kind, True, default)
        elif isinstance(item, str) and item.startswith("**"):
            arg = Arg(item[2:], "**kwargs")
        elif isinstance(item, str) and item.startswith("*") and kind == "positional":
            arg, kind = Arg(item[1:], "*args"), "keyword"
        elif isinstance(item, str) and not (kind == "positional" and out and out[-1].has_default):
            arg = Arg(item, kind)
        else:
            raise _Bad("signature", f"bad or misplaced item {item!r}")
        if not arg.name.isidentifier() or any(a.name == arg.name for a in out) or (out and out[-1].kind == "**kwargs"):
            raise _Bad("signature", f"bad, duplicate or misplaced parameter '{arg.name}'")
        out.append(arg)
    return tuple(out)


def _expr(key: str, value: Any, names: set[str]) -> str | bool:
    if isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise _Bad(key, f"expected an expression string, got {value!r}")
    try:
        tree = _compile(value)
    except (SyntaxError, ValueError) as exc:
        raise _Bad(key, f"bad expression '{value}': {exc.msg if isinstance(exc, SyntaxError) else exc}") from None
    unknown = sorted(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id not in names | HELPERS.keys())
    if unknown:
        raise _Bad(key, f"unknown name '{unknown[0]}' in '{value}'")
    return value


_TEMPLATE = re.compile(r"(?:\w|\{\w+\})+")  # a name with {placeholders}, e.g. weight_ih_l{layer}{suffix}


def _entries(key: str, section: Any, allowed: set[str], short: str | None = None, names: set | None = None):
    """(key path, name, spec) of a mapping section; a bare value stands for {short: value}.
    With ``names``, a name may hold {placeholders} among ``names`` (formatted per foreach combination)."""
    def good(k):
        return isinstance(k, str) and (k.isidentifier() or names is not None and _TEMPLATE.fullmatch(k) is not None
                                       and set(re.findall(r"\{(\w+)\}", k)) <= names)
    if not isinstance(section or {}, dict) or not all(good(k) for k in section or {}):
        raise _Bad(key, "expected a mapping of identifiers" + (" (with {placeholders} among the names)" if names else ""))
    for name, spec in (section or {}).items():
        spec = {short: spec} if short and not isinstance(spec, dict) else spec
        if not isinstance(spec, dict) or set(spec) - allowed:
            raise _Bad(f"{key}.{name}", "expected a mapping with keys among " + ", ".join(sorted(allowed)))
        yield f"{key}.{name}", name, spec


def _child(key: str, name: str, spec: dict, names: set[str]) -> ChildSpec:
    """{class, args, kwargs} (a module built from a rule), {value} or {clones, count}."""
    if [k in spec for k in ("class", "value", "clones")].count(True) != 1 or ("count" in spec) != ("clones" in spec) \
            or ("class" not in spec and {"args", "kwargs"} & set(spec)):
        raise _Bad(key, "expected {class, args, kwargs}, {value} or {clones, count}")
    if "class" not in spec:
        return ChildSpec(name, None, value=_expr(f"{key}.value", spec.get("value", spec.get("clones")), names),
                         count=_expr(f"{key}.count", spec["count"], names) if "count" in spec else None)
    if not isinstance(spec.get("class"), str):
        raise _Bad(f"{key}.class", "expected a class name of this file")
    args = _expr(f"{key}.args", spec.get("args", "[]"), names)
    if not isinstance(args, str) or not isinstance(_compile(args).body, (ast.List, ast.Tuple)):
        raise _Bad(f"{key}.args", "expected a list expression '[...]'")
    kwargs = tuple((k, _expr(kkey, kspec["expr"], names))
                   for kkey, k, kspec in _entries(f"{key}.kwargs", spec.get("kwargs"), {"expr"}, "expr"))
    return ChildSpec(name, spec["class"], args, kwargs)


def _rule(name: str, data: Any) -> NNRule:
    keys = {"qualname", "signature", "binds", "let", "require", "foreach", "params", "buffers", "children", "attrs"}
    if not isinstance(data, dict) or set(data) - keys:
        raise _Bad("", "expected a mapping with keys among " + ", ".join(sorted(keys)))
    qualname = data.get("qualname")
    if not isinstance(qualname, str) or not qualname.startswith("torch.") or not qualname.endswith("." + name):
        raise _Bad("qualname", f"expected 'torch.<module>.{name}', got {qualname!r}")
    signature = _signature(data.get("signature"))
    binds = None
    if "binds" in data:
        if {a.kind for a in signature} != {"*args", "**kwargs"}:
            raise _Bad("binds", "needs a signature of only *args and **kwargs")
        binds = _signature(data["binds"])
        if {a.name for a in binds} & {a.name for a in signature}:
            raise _Bad("binds", "must not repeat the names of *args and **kwargs")
    names = {a.name for a in (binds or ()) + signature}
    let = []
    child_keys = {"class", "args", "kwargs", "value", "clones", "count"}
    for key, var, spec in _entries("let", data.get("let"), {"expr", "class", "args", "kwargs"}, "expr"):
        let.append((var, _child(key, var, spec, names) if "class" in spec else _expr(key, spec.get("expr"), names)))
        names.add(var)
    require = data.get("require") or {}
    if not isinstance(require, dict) or not all(isinstance(m, str) for m in require.values()):
        raise _Bad("require", "expected a mapping of condition -> message")
    require = tuple((_expr(f"require '{c}'", c, names), m) for c, m in require.items())
    foreach = []
    for key, var, spec in _entries("foreach", data.get("foreach"), {"expr"}, "expr"):
        foreach.append((var, _expr(key, spec["expr"], names)))
        names.add(var)
    params = []
    for key, p, spec in _entries("params", data.get("params"), {"shape", "when", "lazy"}, "shape", names):
        if type(spec.get("lazy", False)) is not bool or spec.get("lazy", False) == ("shape" in spec):
            raise _Bad(key, "expected a shape, or lazy: true without one")
        params.append(TensorSpec(p, "" if spec.get("lazy") else _expr(f"{key}.shape", spec.get("shape"), names),
                                 _expr(f"{key}.when", spec.get("when", True), names), lazy=bool(spec.get("lazy"))))
    buffers = []
    allowed = {"shape", "when", "dtype", "dtype_arg", "persistent", "like", "lazy"}
    for key, b, spec in _entries("buffers", data.get("buffers"), allowed, None, names):
        dtype, dtype_arg, like = spec.get("dtype"), spec.get("dtype_arg"), spec.get("like")
        if like is not None:
            if like not in names or set(spec) - {"like", "persistent"}:
                raise _Bad(key, f"like: expected an argument name and no shape, when or dtype, got {like!r}")
        elif dtype not in DTYPES or not (dtype_arg is None or isinstance(dtype_arg, str) and dtype_arg in names):
            raise _Bad(key, f"bad dtype {dtype!r} or dtype_arg {dtype_arg!r}")
        if not isinstance(spec.get("persistent", True), bool) or type(spec.get("lazy", False)) is not bool:
            raise _Bad(f"{key}.persistent", "expected true or false (persistent, lazy)")
        lazy = bool(spec.get("lazy"))
        shape = "" if lazy or like else _expr(f"{key}.shape", spec.get("shape"), names)
        buffers.append(TensorSpec(b, shape, _expr(f"{key}.when", spec.get("when", True), names),
                                  dtype, dtype_arg, spec.get("persistent", True), like, lazy))
    children = [_child(key, c, spec, names) for key, c, spec in _entries("children", data.get("children"), child_keys)]
    attrs = tuple((a, _expr(key, spec["expr"], names - {v for v, _ in foreach}))
                  for key, a, spec in _entries("attrs", data.get("attrs"), {"expr"}, "expr"))
    clash = {a for a, _ in attrs} & {t.name for t in (*params, *buffers)} | {a for a, _ in attrs} & {c.name for c in children}
    if clash:
        raise _Bad("attrs", f"'{min(clash)}' is also a parameter, buffer or child")
    return NNRule(name, qualname, signature, tuple(let), tuple(params), tuple(buffers), tuple(children),
                  binds, require, tuple(foreach), attrs)


@lru_cache(maxsize=None)
def _load(path: str) -> TorchRules:
    def bad(message: str) -> AnalyzerError:
        return AnalyzerError(Diagnostic("E005", f"{Path(path).name}: {message}", SourceSpan(path)))

    data = load_yaml(Path(path))
    if not isinstance(data, dict):
        raise bad("expected a mapping of class name -> rule")
    containers = data.get("_containers", {})
    if not isinstance(containers, dict) or not all(isinstance(v, str) for v in containers.values()):
        raise bad("_containers: expected a mapping of class name -> qualname")
    unmodelled = data.get("_unmodelled", {})
    if not isinstance(unmodelled, dict) or not all(isinstance(v, str) and v for v in unmodelled.values()):
        raise bad("_unmodelled: expected a mapping of class name -> reason")
    rules: dict[str, NNRule] = {}
    _parse_many({k: v for k, v in data.items() if k not in ("_containers", "_unmodelled")})
    for name, entry in data.items():
        if name in ("_containers", "_unmodelled"):
            continue
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise bad(f"{name!r}: expected a class name")
        try:
            rules[name] = _rule(name, entry)
        except _Bad as exc:
            raise bad(f"{name}{exc}") from None
    for rule in rules.values():
        for where, child in [("children", c) for c in rule.children] + [("let", c) for _, c in rule.let]:
            if isinstance(child, ChildSpec) and child.cls is not None and child.cls not in rules:
                raise bad(f"{rule.name}.{where}.{child.name}.class: unknown class '{child.cls}'")
    if set(unmodelled) & set(rules):
        raise bad(f"_unmodelled: {min(set(unmodelled) & set(rules))} also has a rule")
    return TorchRules(rules, dict(containers), dict(unmodelled))


def load_torch_rules(path: str | Path | None = None) -> TorchRules:
    """Load and validate rules/torch_nn.yaml (or ``path``); cached per resolved path."""
    return _load(str(Path(path).resolve() if path else DEFAULT_PATH))

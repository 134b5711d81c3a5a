"""torch.nn builtin modules as data (rules/torch_nn.yaml): signatures, own parameters, buffers, children.

Never imports torch. Shape and ``when`` expressions run on a small restricted ``ast`` evaluator, never ``eval``.
"""
from __future__ import annotations

import ast
import operator as op
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
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


@dataclass(frozen=True)
class ChildSpec:
    name: str
    cls: str  # a rule name
    args: str = "[]"  # an expression giving the positional arguments
    kwargs: tuple[tuple[str, str], ...] = ()  # (name, expression)


@dataclass(frozen=True)
class NNRule:
    name: str
    qualname: str
    signature: tuple[Arg, ...]
    let: tuple[tuple[str, str], ...] = ()
    params: tuple[TensorSpec, ...] = ()
    buffers: tuple[TensorSpec, ...] = ()
    children: tuple[ChildSpec, ...] = ()


@dataclass(frozen=True)
class TorchRules:
    rules: dict[str, NNRule]
    containers: dict[str, str]

    def get(self, name: str) -> NNRule | None:
        """Look up 'Linear', 'torch.nn.Linear' or 'torch.nn.modules.linear.Linear'."""
        head, _, tail = name.rpartition(".")
        rule = self.rules.get(tail)
        return rule if rule is not None and (head in ("", "torch.nn") or rule.qualname == name) else None


# ---- the restricted expression evaluator ---------------------------------------------------
def _ntuple(n: int):
    return lambda x: tuple(x) if isinstance(x, (list, tuple)) else (x,) * n


HELPERS = {"single": _ntuple(1), "pair": _ntuple(2), "triple": _ntuple(3),
           "shape_of": lambda x: (x,) if isinstance(x, int) else tuple(x),
           "int": int, "len": len, "tuple": tuple, "min": min, "max": max}


def _plain(value: Any) -> Any:
    """Truth tests and comparisons need plain values: an opaque one (e.g. the evaluator's Unknown) is an error."""
    if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return value
    raise ValueError(f"cannot test or compare a {type(value).__name__}")


_OPS = {ast.Add: op.add, ast.Sub: op.sub, ast.Mult: op.mul, ast.Div: op.truediv, ast.FloorDiv: op.floordiv,
        ast.Mod: op.mod, ast.USub: op.neg, ast.UAdd: op.pos, ast.Not: lambda a: not _plain(a),
        ast.Eq: op.eq, ast.NotEq: op.ne, ast.Lt: op.lt, ast.LtE: op.le, ast.Gt: op.gt, ast.GtE: op.ge,
        ast.Is: op.is_, ast.IsNot: op.is_not, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}


def _items(node: ast.List | ast.Tuple, env: dict) -> list:
    out: list = []
    for elt in node.elts:
        out.extend(_ev(elt.value, env)) if isinstance(elt, ast.Starred) else out.append(_ev(elt, env))
    return out


_EVAL = {
    ast.Expression: lambda n, env: _ev(n.body, env),
    ast.Constant: lambda n, env: n.value,
    ast.Name: lambda n, env: env[n.id] if n.id in env else HELPERS[n.id],
    ast.BinOp: lambda n, env: _OPS[type(n.op)](_ev(n.left, env), _ev(n.right, env)),
    ast.UnaryOp: lambda n, env: _OPS[type(n.op)](_ev(n.operand, env)),
    ast.BoolOp: lambda n, env: (all if isinstance(n.op, ast.And) else any)(bool(_plain(_ev(v, env))) for v in n.values),
    ast.Compare: lambda n, env: all(_OPS[type(o)](_plain(_ev(a, env)), _plain(_ev(b, env)))
                                    for o, a, b in zip(n.ops, [n.left, *n.comparators], n.comparators)),
    ast.IfExp: lambda n, env: _ev(n.body, env) if _plain(_ev(n.test, env)) else _ev(n.orelse, env),
    ast.List: _items,
    ast.Tuple: lambda n, env: tuple(_items(n, env)),
    ast.Subscript: lambda n, env: _ev(n.value, env)[_ev(n.slice, env)],
    ast.Call: lambda n, env: HELPERS[n.func.id](*(_ev(a, env) for a in n.args)),
}
_NODES = (*_EVAL, *_OPS, ast.Load, ast.And, ast.Or, ast.Starred)


def _ev(node: ast.AST, env: dict) -> Any:
    if type(node) not in _EVAL:  # a Starred outside a list
        raise ValueError(f"'{type(node).__name__}' is not allowed here")
    return _EVAL[type(node)](node, env)


_PARSED: dict[str, ast.Expression] = {}


def _parse_many(data: Any) -> None:
    """Parse every string of the rules file in one ``ast.parse`` call (one compile instead of
    hundreds); strings that are not expressions are left to ``_compile``'s own error path."""
    texts: set[str] = set()

    def collect(x):
        if isinstance(x, str):
            texts.add(x.strip())
        elif isinstance(x, dict):
            for v in x.values():
                collect(v)
        elif isinstance(x, list):
            for v in x:
                collect(v)

    collect(data)
    def balanced(t: str) -> bool:
        depth = 0
        for ch in t:
            depth += ch in "([{"
            depth -= ch in ")]}"
            if depth < 0:
                return False
        return depth == 0

    ordered = sorted(t for t in texts if t and "\n" not in t and balanced(t))
    try:
        batch = ast.parse("(\n" + ",\n".join(f"({t})" for t in ordered) + ",\n)", mode="eval")
    except SyntaxError:
        return
    for text, node in zip(ordered, batch.body.elts):
        _PARSED[text] = ast.Expression(body=node)


@lru_cache(maxsize=4096)
def _compile(text: str) -> ast.Expression:
    """Parse, allowing only the constructs above; raises SyntaxError or ValueError."""
    tree = _PARSED.get(text.strip()) or ast.parse(text.strip(), mode="eval")
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise ValueError(f"'{type(node).__name__}' is not allowed")
        if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in HELPERS
                                           or node.keywords):
            raise ValueError("only positional calls to " + ", ".join(HELPERS) + " are allowed")
    return tree


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
    """Bind constructor arguments to ``rule.signature`` like Python does; raises BindError."""
    positional = [a for a in rule.signature if a.kind == "positional"]
    star = next((a.name for a in rule.signature if a.kind == "*args"), None)
    dstar = next((a.name for a in rule.signature if a.kind == "**kwargs"), None)
    if len(args) > len(positional) and star is None:
        raise BindError(f"{rule.name}() takes {len(positional)} positional arguments but {len(args)} were given")
    out: dict[str, object] = {a.name: v for a, v in zip(positional, args)}
    if star is not None:
        out[star] = tuple(args[len(positional):])
    named = {a.name for a in rule.signature if a.kind in ("positional", "keyword")}
    extra: dict[str, object] = {}
    for key, value in kwargs.items():
        if key in named and key in out:
            raise BindError(f"{rule.name}() got multiple values for argument '{key}'")
        if key not in named and dstar is None:
            raise BindError(f"{rule.name}() got an unexpected keyword argument '{key}'")
        (out if key in named else extra)[key] = value
    for arg in rule.signature:
        if arg.kind in ("positional", "keyword") and arg.name not in out:
            if not arg.has_default:
                raise BindError(f"{rule.name}() missing required argument '{arg.name}'")
            out[arg.name] = arg.default
    if dstar is not None:
        out[dstar] = extra
    return out


def _env(rule: NNRule, bound: dict) -> dict:
    env = dict(bound)
    for name, expr in rule.let:
        env[name] = _value(rule, f"let.{name}", expr, env)
    return env


def _shape(rule: NNRule, spec: TensorSpec, env: dict) -> tuple[int, ...]:
    value = _value(rule, spec.name, spec.shape, env)
    value = (value,) if type(value) is int else value
    if not isinstance(value, (list, tuple)) or not all(type(d) is int and d >= 0 for d in value):
        raise ShapeError(f"{rule.name}.{spec.name}: shape '{spec.shape}' gave {value!r}, not non-negative ints")
    return tuple(value)


def instantiate(rule: NNRule, bound: dict) -> tuple[dict[str, tuple[int, ...]], dict[str, BufferSpec]]:
    """Own parameters (name -> shape) and buffers (name -> BufferSpec), in registration order.

    A bound ``dtype_arg`` (e.g. 'bfloat16', or any value whose str() is 'torch.bfloat16') overrides a buffer's dtype."""
    env = _env(rule, bound)
    params = {p.name: _shape(rule, p, env) for p in rule.params if _value(rule, f"{p.name}.when", p.when, env, True)}
    buffers = {}
    for b in rule.buffers:
        if _value(rule, f"{b.name}.when", b.when, env, True):
            override = env.get(b.dtype_arg) if b.dtype_arg else None
            dtype = b.dtype if override is None else str(override).removeprefix("torch.")
            buffers[b.name] = BufferSpec(_shape(rule, b, env), dtype, b.persistent)
    return params, buffers


def instantiate_children(rule: NNRule, bound: dict) -> dict[str, tuple[str, list, dict]]:
    """Child modules in registration order: name -> (rule name, positional args, keyword args)."""
    env = _env(rule, bound)
    return {c.name: (c.cls, _value(rule, f"{c.name}.args", c.args, env),
                     {k: _value(rule, f"{c.name}.kwargs.{k}", v, env) for k, v in c.kwargs})
            for c in rule.children}


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
            if default is not None and type(default) not in (bool, int, float, str):
                raise _Bad("signature", f"default of '{name}' must be null, bool, int, float or string")
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


def _entries(key: str, section: Any, allowed: set[str], short: str | None = None):
    """(key path, name, spec) of a mapping section; a bare value stands for {short: value}."""
    if not isinstance(section or {}, dict) or not all(isinstance(k, str) and k.isidentifier() for k in section or {}):
        raise _Bad(key, "expected a mapping of identifiers")
    for name, spec in (section or {}).items():
        spec = {short: spec} if short and not isinstance(spec, dict) else spec
        if not isinstance(spec, dict) or set(spec) - allowed:
            raise _Bad(f"{key}.{name}", "expected a mapping with keys among " + ", ".join(sorted(allowed)))
        yield f"{key}.{name}", name, spec


def _rule(name: str, data: Any) -> NNRule:
    keys = {"qualname", "signature", "let", "params", "buffers", "children"}
    if not isinstance(data, dict) or set(data) - keys:
        raise _Bad("", "expected a mapping with keys among " + ", ".join(sorted(keys)))
    qualname = data.get("qualname")
    if not isinstance(qualname, str) or not qualname.startswith("torch.") or not qualname.endswith("." + name):
        raise _Bad("qualname", f"expected 'torch.<module>.{name}', got {qualname!r}")
    signature = _signature(data.get("signature"))
    names = {a.name for a in signature}
    let = []
    for key, var, spec in _entries("let", data.get("let"), {"expr"}, "expr"):
        let.append((var, _expr(key, spec["expr"], names)))
        names.add(var)
    params = tuple(TensorSpec(p, _expr(f"{key}.shape", spec.get("shape"), names),
                              _expr(f"{key}.when", spec.get("when", True), names))
                   for key, p, spec in _entries("params", data.get("params"), {"shape", "when"}, "shape"))
    buffers = []
    for key, b, spec in _entries("buffers", data.get("buffers"), {"shape", "when", "dtype", "dtype_arg", "persistent"}):
        dtype, dtype_arg = spec.get("dtype"), spec.get("dtype_arg")
        if dtype not in DTYPES or not (dtype_arg is None or isinstance(dtype_arg, str) and dtype_arg in names):
            raise _Bad(key, f"bad dtype {dtype!r} or dtype_arg {dtype_arg!r}")
        if not isinstance(spec.get("persistent", True), bool):
            raise _Bad(f"{key}.persistent", "expected true or false")
        buffers.append(TensorSpec(b, _expr(f"{key}.shape", spec.get("shape"), names),
                                  _expr(f"{key}.when", spec.get("when", True), names),
                                  dtype, dtype_arg, spec.get("persistent", True)))
    children = []
    for key, c, spec in _entries("children", data.get("children"), {"class", "args", "kwargs"}):
        if not isinstance(spec.get("class"), str):
            raise _Bad(f"{key}.class", "expected a class name of this file")
        args = _expr(f"{key}.args", spec.get("args", "[]"), names)
        if not isinstance(args, str) or not isinstance(_compile(args).body, (ast.List, ast.Tuple)):
            raise _Bad(f"{key}.args", "expected a list expression '[...]'")
        kwargs = tuple((k, _expr(kkey, kspec["expr"], names))
                       for kkey, k, kspec in _entries(f"{key}.kwargs", spec.get("kwargs"), {"expr"}, "expr"))
        children.append(ChildSpec(c, spec["class"], args, kwargs))
    return NNRule(name, qualname, signature, tuple(let), params, tuple(buffers), tuple(children))


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
    rules: dict[str, NNRule] = {}
    _parse_many({k: v for k, v in data.items() if k != "_containers"})
    for name, entry in data.items():
        if name == "_containers":
            continue
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise bad(f"{name!r}: expected a class name")
        try:
            rules[name] = _rule(name, entry)
        except _Bad as exc:
            raise bad(f"{name}{exc}") from None
    for rule in rules.values():
        for child in rule.children:
            if child.cls not in rules:
                raise bad(f"{rule.name}.children.{child.name}.class: unknown class '{child.cls}'")
    return TorchRules(rules, dict(containers))


def load_torch_rules(path: str | Path | None = None) -> TorchRules:
    """Load and validate rules/torch_nn.yaml (or ``path``); cached per resolved path."""
    return _load(str(Path(path).resolve() if path else DEFAULT_PATH))

"""The expression language of rules/torch_nn.yaml: a small restricted ``ast`` evaluator (never
``eval``), and the values a rule passes around besides plain data (Known arguments, Plans of modules
to build). Imports nothing of the analyzer: analyzer/evaluate/torch_rules.py builds on it.
"""
from __future__ import annotations

import ast
import math
import operator as op
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple


@dataclass(frozen=True)
class Known:
    """A non-plain argument of a kind the caller knows: 'module', 'tensor' (``shape``: a tuple, or
    None when unknown; ``dtype``: a name) or 'object' (a function, class or other non-module value;
    a callable default of a signature is Known('object', '<its dotted name>')). A rule may test it
    with ``is None`` / ``is not None``, copy a tensor into a buffer (``like``) and register a module
    as a child (``value``, ``clones``); anything else is a ShapeError, and so is any use of a value
    that is neither plain nor Known (the static evaluator's unknowns)."""
    kind: str
    obj: Any = None
    shape: tuple | None = None
    dtype: str | None = None


class Plan(NamedTuple):
    """A module to build from the rule ``cls`` (``args``/``kwargs`` may hold Plans and Known values)."""
    cls: str
    args: list
    kwargs: dict


class Clones(NamedTuple):
    """An ``nn.ModuleList`` of ``count`` deep copies of ``module`` (a Plan or a Known module)."""
    module: Any
    count: int


MAX_ITEMS = 10_000  # foreach combinations and range() lengths: a limit, not a guess


# ---- the evaluator ------------------------------------------------------------------------
def _ntuple(n: int):
    return lambda x: tuple(x) if isinstance(x, (list, tuple)) else (x,) * n


def _range(*args) -> list:
    r = range(*args)
    if len(r) > MAX_ITEMS:
        raise ValueError(f"range of {len(r)} items exceeds the limit of {MAX_ITEMS}")
    return list(r)


HELPERS = {"single": _ntuple(1), "pair": _ntuple(2), "triple": _ntuple(3),
           "shape_of": lambda x: (x,) if isinstance(x, int) else tuple(x),
           "int": int, "float": float, "len": len, "tuple": tuple, "min": min, "max": max,
           "prod": lambda xs, start=1: math.prod(xs, start=start), "range": _range}


def _plain(value: Any, identity: bool = False) -> Any:
    """Truth tests and comparisons need plain values: an opaque one (e.g. the evaluator's Unknown) is
    an error. ``identity`` (``is``, ``is not``): a Known value or a Plan may be compared too."""
    if value is None or isinstance(value, (bool, int, float, str, list, tuple, dict)):
        return value
    if identity and isinstance(value, (Known, Plan)):
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
    ast.Compare: lambda n, env: all(_OPS[type(o)](_plain(_ev(a, env), type(o) in _IDENTITY),
                                                  _plain(_ev(b, env), type(o) in _IDENTITY))
                                    for o, a, b in zip(n.ops, [n.left, *n.comparators], n.comparators)),
    ast.IfExp: lambda n, env: _ev(n.body, env) if _plain(_ev(n.test, env)) else _ev(n.orelse, env),
    ast.List: _items,
    ast.Tuple: lambda n, env: tuple(_items(n, env)),
    ast.Subscript: lambda n, env: _ev(n.value, env)[_ev(n.slice, env)],
    ast.Call: lambda n, env: HELPERS[n.func.id](*(_ev(a, env) for a in n.args)),
}
_NODES = (*_EVAL, *_OPS, ast.Load, ast.And, ast.Or, ast.Starred)
_IDENTITY = (ast.Is, ast.IsNot)


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

"""rules/families.yaml: class -> family mapping and dimension expressions, loaded into frozen
dataclasses, and the evaluation of those expressions on a module of the static tree.

Expressions are parsed with ``ast`` and checked at load time (a bad one is E005 with the file and
key); they are evaluated by walking the AST, never with ``eval``. Pure Python: no SymPy here.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.rules import RULES_DIR, load_yaml

FUNCTIONS = {"has", "count", "attr", "has_attr"}
_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Attribute,
          ast.Name, ast.Constant, ast.Call, ast.Tuple, ast.Load, ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod,
          ast.USub, ast.Not, ast.And, ast.Or, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)


class Unbound(Exception):
    """A dimension that cannot be evaluated on this module (the reason is the message)."""


@dataclass(frozen=True)
class Expr:
    text: str
    tree: ast.Expression = field(compare=False, hash=False, repr=False)


@dataclass(frozen=True)
class Mapping:
    family: str
    dims: tuple  # ((dim, Expr), ...): family defaults overridden by the class entry
    children: tuple  # ((role, child name), ...)
    when: Expr | None
    where: str  # "families.yaml: classes.X" for messages

    def child(self, role: str) -> str:
        return dict(self.children).get(role, role)


@dataclass(frozen=True)
class FamilyRules:
    defaults: dict  # family -> (dims dict, children dict)
    classes: dict  # key -> tuple[Mapping, ...]
    files: tuple
    structures: tuple = ()  # structures.Structure, tried in order when no class entry applies
    raw_structures: tuple = ()  # ((path, the file's `structures:` list), ...), parsed by structures.py

    def candidates(self, qualname: str, cls: str) -> tuple:
        """Mappings for a class: the longest dotted suffix of its qualname that has an entry, else
        its bare name."""
        parts = qualname.split(".") if qualname else []
        for i in range(len(parts)):
            key = ".".join(parts[i:])
            if key in self.classes:
                return self.classes[key]
        return self.classes.get(cls, ())

    def for_family(self, family: str, where: str) -> Mapping:
        dims, children = self.defaults.get(family, ({}, {}))
        return Mapping(family, tuple(sorted(dims.items())), tuple(sorted(children.items())), None, where)


def _bad(path, key: str, message: str) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E005", f"{key}: {message}", SourceSpan(str(path))))


_NUMERIC = re.compile(r"_\d+")


def _protect(text: str) -> str:
    """Module paths have numeric segments (``experts.0.gate_proj``, ``0.weight``) that Python would
    read as floats: spell them ``_0`` for the parser."""
    text = re.sub(r"(?<![\w.])(\d+)(?=\.[A-Za-z_])", r"_\1", text)
    return re.sub(r"\.(\d+)(?=[.\[])", r"._\1", text)


def compile_expr(text, path, key: str) -> Expr:
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise _bad(path, key, f"expected an expression string, got {text!r}")
    try:
        tree = ast.parse(_protect(text), mode="eval")
    except SyntaxError as exc:
        raise _bad(path, key, f"invalid expression {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _NODES):
            raise _bad(path, key, f"{type(node).__name__} is not allowed in {text!r}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
                                               and len(node.args) == 1 and not node.keywords):
            raise _bad(path, key, f"calls are limited to {sorted(FUNCTIONS)} with one argument, in {text!r}")
    return Expr(text, tree)


def _dims(raw, path, key) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _bad(path, key, "expected a mapping of dimension -> expression")
    return {str(k): compile_expr(v, path, f"{key}.{k}") for k, v in raw.items()}


def _children(raw, path, key) -> dict:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise _bad(path, key, "expected a mapping of role -> child name")
    return {str(k): v for k, v in raw.items()}


def load_family_rules(extra: list | tuple = (), known_families=None) -> FamilyRules:
    """The default rules/families.yaml, then each extra file layered over it (same keys win)."""
    files = [RULES_DIR / "families.yaml", *[Path(p) for p in extra]]
    defaults: dict = {}
    classes: dict = {}
    structures: list = []
    for path in files:
        data = load_yaml(path)
        if not isinstance(data, dict) or not set(data) <= {"families", "classes", "structures"}:
            raise _bad(path, "(top)", "expected a mapping with 'families', 'classes' and/or 'structures'")
        for fam, spec in (data.get("families") or {}).items():
            if not isinstance(spec, dict) or not set(spec) <= {"dims", "children"}:
                raise _bad(path, f"families.{fam}", "expected {dims, children}")
            _check_family(known_families, fam, path, f"families.{fam}")
            old_dims, old_children = defaults.get(fam, ({}, {}))
            defaults[fam] = ({**old_dims, **_dims(spec.get("dims"), path, f"families.{fam}.dims")},
                             {**old_children, **_children(spec.get("children"), path, f"families.{fam}.children")})
        for key, spec in (data.get("classes") or {}).items():
            items = spec if isinstance(spec, list) else [spec]
            classes[str(key)] = tuple(_mapping(item, path, f"classes.{key}", defaults, known_families) for item in items)
        if data.get("structures") is not None:
            structures.append((Path(path), data["structures"]))
    return FamilyRules(defaults, classes, tuple(str(f) for f in files), (), tuple(structures))


def bad_entry(path, key: str, message: str) -> AnalyzerError:
    """E005 for an entry of a families file (structures.py reports through it)."""
    return _bad(path, key, message)


def compile_dims(raw, path, key) -> dict:
    return _dims(raw, path, key)


def _check_family(known, fam, path, key):
    if known is not None and fam not in known:
        raise _bad(path, key, f"unknown family {fam!r} (registered: {', '.join(sorted(known))})")


def _mapping(item, path, key, defaults, known) -> Mapping:
    if isinstance(item, str):
        item = {"family": item}
    if not isinstance(item, dict) or not isinstance(item.get("family"), str) or not set(item) <= {"family", "dims", "children", "when"}:
        raise _bad(path, key, "expected a family name or {family, dims, children, when}")
    fam = item["family"]
    _check_family(known, fam, path, key)
    base_dims, base_children = defaults.get(fam, ({}, {}))
    dims = {**base_dims, **_dims(item.get("dims"), path, f"{key}.dims")}
    children = {**base_children, **_children(item.get("children"), path, f"{key}.children")}
    when = compile_expr(item["when"], path, f"{key}.when") if "when" in item else None
    return Mapping(fam, tuple(sorted(dims.items())), tuple(sorted(children.items())), when, f"{Path(path).name}: {key}")


# ---- evaluation on the tree ----------------------------------------------------------------------
class TreeView:
    """Read access to a ModuleTree for expressions: tensors, children, static attributes."""

    def __init__(self, tree, attrs=None):
        self.nodes = tree.by_name()
        self.kids = tree.children_of()
        self.attrs = attrs  # module_attrs.AttrSource or None

    @staticmethod
    def join(base: str, rel: str) -> str:
        return f"{base}.{rel}" if base and rel else (base or rel)

    def tensor(self, base: str, path: str):
        mod, _, leaf = path.rpartition(".")
        node = self.nodes.get(self.join(base, mod))
        if node is None:
            return None
        if leaf in node.params:
            return node.params[leaf]
        if leaf in node.buffers:
            return node.buffers[leaf].shape
        return None

    def has(self, base: str, path: str) -> bool:
        mod, _, leaf = path.rpartition(".")
        node = self.nodes.get(self.join(base, mod))
        return self.join(base, path) in self.nodes or (node is not None and (leaf in node.params or leaf in node.buffers))

    def attr(self, base: str, path: str, missing_ok=False):
        parts = path.split(".")
        for i in range(len(parts) - 1, -1, -1):  # longest module prefix, the rest is an attribute chain
            mod = self.join(base, ".".join(parts[:i]))
            if mod in self.nodes:
                if self.attrs is None:
                    raise Unbound(f"attr({path}) needs the static attribute hook (analyze the source folder)")
                value = self.attrs.get(mod, tuple(parts[i:]))
                if value is self.attrs.MISSING:
                    if missing_ok:
                        return value
                    raise Unbound(f"module {mod or '(root)'!r} has no static attribute {'.'.join(parts[i:])!r}")
                return value
        raise Unbound(f"no module for attr({path})")


def evaluate(expr: Expr, view: TreeView, base: str):
    return _ev(expr.tree.body, view, base, expr.text)


def _dotted(node) -> str:
    """The dotted path of a Name/Attribute chain, numeric segments restored (see ``_protect``)."""
    return ".".join(seg[1:] if _NUMERIC.fullmatch(seg) else seg for seg in ast.unparse(node).split("."))


def _ev(node, view: TreeView, base: str, text: str):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call):  # attr(normalized_shape)[0]
        value, idx = _ev(node.value, view, base, text), _ev(node.slice, view, base, text)
        if not isinstance(value, tuple) or not isinstance(idx, int) or not -len(value) <= idx < len(value):
            raise Unbound(f"cannot index {value!r} with {idx!r} in {text!r}")
        return value[idx]
    if isinstance(node, ast.Subscript):
        path = _dotted(node.value)
        shape = view.tensor(base, path)
        if shape is None:
            raise Unbound(f"{path!r} is not a parameter or buffer of {base or '(root)'!r}")
        idx = _ev(node.slice, view, base, text)
        if not isinstance(idx, int) or not -len(shape) <= idx < len(shape):
            raise Unbound(f"{path}[{idx}] is out of range for shape {list(shape)}")
        return shape[idx]
    if isinstance(node, ast.Call):
        fn, arg = node.func.id, _dotted(node.args[0])
        if fn == "has":
            return int(view.has(base, arg))
        if fn == "count":
            name = view.join(base, arg)
            if name not in view.nodes:
                raise Unbound(f"count({arg}): no child {arg!r}")
            return len(view.kids.get(name, []))
        if fn == "has_attr":
            return int(view.attrs is not None and view.attr(base, arg, missing_ok=True) is not view.attrs.MISSING)
        return view.attr(base, arg)
    if isinstance(node, ast.Tuple):
        return tuple(_ev(e, view, base, text) for e in node.elts)
    if isinstance(node, ast.IfExp):
        return _ev(node.body if _ev(node.test, view, base, text) else node.orelse, view, base, text)
    if isinstance(node, ast.BoolOp):
        vals = (_ev(v, view, base, text) for v in node.values)
        return all(vals) if isinstance(node.op, ast.And) else any(vals)
    if isinstance(node, ast.UnaryOp):
        v = _ev(node.operand, view, base, text)
        return -v if isinstance(node.op, ast.USub) else (not v)
    if isinstance(node, ast.Compare):
        left = _ev(node.left, view, base, text)
        for op, comp in zip(node.ops, node.comparators):
            right = _ev(comp, view, base, text)
            ok = {ast.Eq: left == right, ast.NotEq: left != right}.get(type(op))
            if ok is None:
                ok = _order(op, left, right)
            if not ok:
                return False
            left = right
        return True
    if isinstance(node, ast.BinOp):
        a, b = _ev(node.left, view, base, text), _ev(node.right, view, base, text)
        if not all(isinstance(x, int) for x in (a, b)):
            raise Unbound(f"arithmetic on non-integers in {text!r}")
        if isinstance(node.op, (ast.FloorDiv, ast.Mod)) and b == 0:
            raise Unbound(f"division by zero in {text!r}")
        return _ARITH[type(node.op)](a, b)
    if isinstance(node, (ast.Name, ast.Attribute)):
        raise Unbound(f"bare name {_dotted(node)!r} in {text!r}: use has(), count(), attr() or a [index]")
    raise Unbound(f"unsupported expression {text!r}")


_ARITH = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
          ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _order(op, a, b) -> bool:
    if isinstance(op, (ast.In, ast.NotIn)):
        return (a in b) == isinstance(op, ast.In)
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        raise Unbound(f"cannot order {a!r} and {b!r}")
    return {ast.Lt: a < b, ast.LtE: a <= b, ast.Gt: a > b, ast.GtE: a >= b}[type(op)]

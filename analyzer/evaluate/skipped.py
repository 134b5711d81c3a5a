"""What a skipped statement may have changed (the evaluator's docstring: a statement that raises is
skipped, its module marked partial). Skipping must not leave what it would have changed looking
known and stale, so that a value read later is not silently the one from before the statement:

* every name it binds (assignment, ``for`` and ``with`` targets, walrus, imports, ``def``) becomes
  an unknown value;
* ``X.attr = ...`` / ``del X.attr`` / ``X.attr += ...`` and ``setattr(X, "attr", ...)`` make
  ``X.attr`` unknown (on an nn.Module object only its plain attributes: its children, parameters
  and buffers are its structure, and the module is the partial one);
* writes whose target is not named statically (``X[k] = ...``, ``setattr(X, name, ...)``,
  ``X.update(...)``, ``X.__setattr__(...)``, any other call of a method of its class but a few
  read-only ones; a callable stored on ``X`` itself is called without ``X``) taint
  a config or other instance ``X`` as a whole: every later read of its state is unknown
  (``tainted_read``), in every alias and copy; a plain list, dict or set ``X`` held by a local name
  or an attribute is replaced by an unknown value there; a tensor loses its values;
* a ``return`` inside it: a skipped ``return`` statement returns an unknown value; a skipped block
  holding one makes the function's result unknown, whichever ``return`` it reaches later.

``X`` is found without evaluating anything (names of the frame and its enclosing frames, then plain
attribute lookups), so nothing of the skipped statement is run again. What a call it made would have
changed inside the callee is the callee's own statements' business (they are skipped and handled
here in turn); a call never made at all (its arguments failed first) is not followed.
"""
from __future__ import annotations

import libcst as cst

from analyzer.evaluate import tensor_values
from analyzer.evaluate.configs import _config_class_info
from analyzer.evaluate.core import _Return
from analyzer.evaluate.kinds import _kind
from analyzer.evaluate.values import (
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    Tensor,
    Unknown,
)

# methods that only read the object they are called on (any other method call may change it)
READ_ONLY = frozenset({
    "get", "keys", "values", "items", "copy", "to_dict", "to_diff_dict", "to_json_string", "get_text_config",
    "__getattribute__", "__getitem__", "__contains__", "__len__", "__iter__", "index", "count", "startswith",
    "endswith", "format", "join", "split", "strip", "lower", "upper", "replace", "size", "dim", "numel",
    "tolist", "item", "clone", "detach", "float", "long", "int", "view", "reshape", "to", "unsqueeze",
})
_PLAIN_CONTAINERS = (list, dict, set)
_SCOPE_NODES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)

_cache: dict = {}  # id(statement) -> (statement, effects): the node is kept so its id stays its own


def effects(stmt) -> tuple:
    """The statement's possible effects, found in its syntax: ("bind", name), ("attr", base, name),
    ("whole", base, method or None), ("return",)."""
    hit = _cache.get(id(stmt))
    if hit is not None and hit[0] is stmt:
        return hit[1]
    out: list = []
    _walk(stmt, out)
    found = tuple(dict.fromkeys(out))  # in order, once each (nodes hash by identity)
    _cache[id(stmt)] = (stmt, found)
    return found


def _target(node, out) -> None:
    t = type(node)
    if t is cst.Name:
        out.append(("bind", node.value))
    elif t is cst.Attribute:
        out.append(("attr", node.value, node.attr.value))
    elif t is cst.Subscript:
        out.append(("whole", node.value, None))
    elif t in (cst.Tuple, cst.List):
        for e in node.elements:
            _target(e.value, out)
    elif t is cst.StarredElement:
        _target(node.value, out)


def _walk(node, out) -> None:
    t = type(node)
    if t is cst.Assign:
        for target in node.targets:
            _target(target.target, out)
    elif t is cst.AugAssign or (t is cst.AnnAssign and node.value is not None):
        _target(node.target, out)
    elif t is cst.For:
        _target(node.target, out)
    elif t is cst.WithItem and node.asname is not None:
        _target(node.asname.name, out)
    elif t is cst.NamedExpr:
        _target(node.target, out)
    elif t is cst.Del:
        _target(node.target, out)
    elif t is cst.ExceptHandler and node.name is not None:
        _target(node.name.name, out)
    elif t in (cst.Import, cst.ImportFrom) and not isinstance(node.names, cst.ImportStar):
        for alias in node.names:
            if alias.asname is not None:
                _target(alias.asname.name, out)
            else:
                name = alias.name
                while isinstance(name, cst.Attribute):
                    name = name.value
                _target(name, out)
    elif t is cst.Return:
        out.append(("return",))
    elif t is cst.Call:
        func = node.func
        if isinstance(func, cst.Attribute):
            out.append(("whole", func.value, func.attr.value))
        elif isinstance(func, cst.Name) and func.value in ("setattr", "delattr") and node.args:
            key = node.args[1].value if len(node.args) > 1 else None
            if isinstance(key, cst.SimpleString):
                out.append(("attr", node.args[0].value, key.evaluated_value))
            else:
                out.append(("whole", node.args[0].value, None))
    if t in _SCOPE_NODES:
        if t is not cst.Lambda:
            out.append(("bind", node.name.value))
        return  # its body runs when it is called, not here
    for child in node.children:
        _walk(child, out)


def _lookup(frame, name):
    f = frame
    while f is not None:
        loc = f.locals
        if dict.__contains__(loc, name):
            return dict.__getitem__(loc, name)
        f = f.parent
    return None


def _peek(node, frame):
    """The object ``node`` (a name or a chain of attributes) stands for, found without evaluating
    anything; None when it is not that simple."""
    if isinstance(node, cst.Name):
        return _lookup(frame, node.value)
    if isinstance(node, cst.Attribute):
        base = _peek(node.value, frame)
        name = node.attr.value
        if isinstance(base, ModuleObj):
            for store in (base.modules, base.params, base.buffers, base.attrs):
                if name in store:
                    return store[name]
        elif isinstance(base, Instance):
            if name in base.attrs:
                return base.attrs[name]
            if base.storage is not None:
                return base.storage.get(name)
    return None


def _forget_attr(ev, obj, name, unknown) -> None:
    if isinstance(obj, ModuleObj):
        if name not in obj.modules and name not in obj.params and name not in obj.buffers:
            obj.attrs[name] = unknown
    elif isinstance(obj, Instance):
        ev.note_write(obj)
        kind = _kind(ev, obj.cls)
        if kind == "attrdict" and obj.storage is not None:
            obj.storage[name] = unknown
        else:
            if kind == "hf_config":
                name = _config_class_info(ev, obj.cls)[0].get(name, name)
            obj.attrs[name] = unknown
        if obj.tainted is not None:
            obj.tainted[1].add(name)


def _forget_whole(ev, node, method, frame, unknown) -> None:
    obj = _peek(node, frame)
    if isinstance(obj, Instance):
        if method in READ_ONLY:
            return
        if method is not None and (method in obj.attrs or (obj.storage is not None and method in obj.storage)):
            return  # a callable stored on the object (a dataclass field...): called without the object
        ev.note_write(obj)
        obj.tainted = (unknown, set())
    elif isinstance(obj, Tensor):
        if method is None or method.endswith("_"):
            tensor_values.changed_in_place(obj, None)
    elif isinstance(obj, _PLAIN_CONTAINERS) and method not in READ_ONLY:
        if isinstance(node, cst.Name):
            frame.locals[node.value] = unknown
        elif isinstance(node, cst.Attribute):
            _forget_attr(ev, _peek(node.value, frame), node.attr.value, unknown)


def forget(ev, stmt, frame, code: str, span) -> None:
    """Make what the skipped ``stmt`` may have changed unknown (module docstring). ``code``: the
    diagnostic that skipped it, ``span`` where."""
    found = effects(stmt)
    if not found:
        return
    where = ev.resolve_now(span)
    where = f" at {where.short()}" if where is not None else ""
    unknown = Unknown(f"it may have been changed by the statement skipped{where} ({code})", span, True)
    message = f"{code}{where}"
    returns = False
    for effect in found:
        kind = effect[0]
        if kind == "bind":
            frame.locals[effect[1]] = unknown
        elif kind == "attr":
            _forget_attr(ev, _peek(effect[1], frame), effect[2], unknown)
        elif kind == "whole":
            _forget_whole(ev, effect[1], effect[2], frame, unknown)
        else:
            returns = True
    if returns and frame.func is not None:
        if isinstance(stmt, cst.SimpleStatementLine):
            raise _Return(Unknown(f"the return statement was skipped ({message})", span, True))
        frame.maybe_returned = unknown


def tainted_read(ev, obj: Instance, name: str):
    """The value of ``obj.name`` when ``obj`` is tainted (module docstring): unknown unless it was
    written since, or is a method of its class; None when it reads normally."""
    unknown, fresh = obj.tainted
    if name in fresh:
        return None
    if name not in obj.attrs and (obj.storage is None or name not in obj.storage):
        member = ev.lookup_mro(obj.cls, name)[1]
        if isinstance(member, (FunctionValue, Intrinsic)) and getattr(member, "kind", "function") != "property":
            return None
    return Unknown(f"{name}: {unknown.reason}", unknown.span, True)

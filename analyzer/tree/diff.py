"""Compare two module trees by name: the logic behind ``diff`` (no printing; see render_diff).

Kinds of difference, each reported per module:

* ``missing_left``  - the module is only in the right tree (detail: its class)
* ``missing_right`` - the module is only in the left tree (detail: its class)
* ``class``   - the class names differ ("Linear -> Conv2d"), unless an ``ignore_class`` pair accepts it
* ``order``   - among modules present on both sides, the fewest modules that are out of place
                (those not on a longest increasing subsequence of right positions, in left order)
* ``params``  - a parameter added/removed or with another shape ("weight [8, 4] -> [8, 5]")
* ``buffers`` - the same for buffers, plus the persistent flag and the dtype
* ``stage``   - the stage differs ("prefill -> decode")

A field is compared only when both inputs carry it (``tree.meta["fields"]`` as set by
``from_json``; a tree built in memory carries every field). Unknown shapes/dtypes (None) are
not compared. Entries of one kind with the same detail are collapsed into name patterns such
as ``model.layers.{1..11}.mlp.experts.{0..63}``.
"""
from __future__ import annotations

import json
import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.tree.model import BufferInfo, ModuleTree, from_json

KINDS = ("missing_left", "missing_right", "class", "order", "params", "buffers", "stage")
ALL_FIELDS = frozenset({"params", "buffers", "stage", "class_qualname"})


# ---- loading -------------------------------------------------------------------------------
def _jtype(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    return {dict: "object", list: "array", str: "string", type(None): "null"}.get(type(v), type(v).__name__)


def _shape_ok(v) -> bool:
    return v is None or (isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in v))


def _module_problem(m) -> str | None:
    if not isinstance(m, dict):
        return f"expected an object, got {_jtype(m)}"
    for key in ("name", "class"):
        if not isinstance(m.get(key), str):
            return f"'{key}' must be a string, got {_jtype(m.get(key))}"
    if "stage" in m and not isinstance(m["stage"], (str, type(None))):
        return f"'stage' must be a string, got {_jtype(m['stage'])}"
    params, buffers = m.get("params"), m.get("buffers")
    if params is not None:
        if not isinstance(params, dict):
            return f"'params' must be an object, got {_jtype(params)}"
        for k, v in params.items():
            if not _shape_ok(v):
                return f"param '{k}': a shape must be a list of integers or null, got {json.dumps(v)}"
    if buffers is not None:
        if not isinstance(buffers, dict):
            return f"'buffers' must be an object, got {_jtype(buffers)}"
        for k, b in buffers.items():
            if not isinstance(b, dict):
                return f"buffer '{k}' must be an object {{shape, dtype, persistent}}, got {_jtype(b)}"
            if not _shape_ok(b.get("shape")):
                return f"buffer '{k}': a shape must be a list of integers or null, got {json.dumps(b.get('shape'))}"
            if not isinstance(b.get("dtype"), (str, type(None))):
                return f"buffer '{k}': 'dtype' must be a string or null"
    return None


def _locate(text: str, name: str, nth: int) -> tuple[int, int]:
    """Line (1-based) and column (0-based) of the nth ``"name": <name>`` in the text, else (0, 0)."""
    for quoted in dict.fromkeys((json.dumps(name), json.dumps(name, ensure_ascii=False))):
        hits = list(re.finditer(r'"name"\s*:\s*' + re.escape(quoted), text))
        if len(hits) > nth:
            pos = hits[nth].start()
            return text.count("\n", 0, pos) + 1, pos - (text.rfind("\n", 0, pos) + 1)
    return 0, 0


def load_tree(path: str) -> ModuleTree:
    """Read a module tree JSON (schema 'modeltree/1', the runtime ground-truth layout or the
    seed list). Every problem raises ``AnalyzerError``: E002 for the file, E006 for its content."""
    p = Path(path)

    def fail(code: str, message: str, line: int = 0, col: int = 0) -> AnalyzerError:
        return AnalyzerError(Diagnostic(code, message, SourceSpan(str(path), line, col)))

    if not p.exists():
        raise fail("E002", "tree file not found")
    if p.is_dir():
        raise fail("E002", "is a directory, expected a JSON tree file")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise fail("E002", f"cannot read tree file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        raise fail("E006", f"not UTF-8 text (invalid byte at offset {exc.start})", line, col) from None
    if not text.strip():
        raise fail("E006", "empty file, expected a JSON module tree", 1, 0)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (the file ends early: truncated?)" if exc.pos >= len(text.rstrip()) else ""
        raise fail("E006", f"invalid JSON: {exc.msg}{hint}", exc.lineno, exc.colno - 1) from None
    except RecursionError:
        raise fail("E006", "invalid JSON: nested too deeply") from None

    if isinstance(data, list):
        modules, where = data, ""
    elif isinstance(data, dict) and isinstance(data.get("modules"), list):
        modules, where = data["modules"], "modules"
    else:
        got = "an object without a 'modules' list" if isinstance(data, dict) else f"a JSON {_jtype(data)}"
        raise fail("E006", f"expected a module tree (a list of modules or an object with a 'modules' list), got {got}", 1, 0)
    seen: dict[str, int] = {}
    for i, m in enumerate(modules):
        name = m.get("name") if isinstance(m, dict) else None
        problem = _module_problem(m)
        if problem is None and name in seen:
            problem = f"duplicate module name {name!r} (first at {where}[{seen[name]}])"
        if problem is not None:
            nth = sum(1 for x in modules[:i] if isinstance(x, dict) and x.get("name") == name)
            line, col = _locate(text, name, nth) if isinstance(name, str) else (0, 0)
            label = f"{where}[{i}]" + (f" ({name!r})" if isinstance(name, str) else "")
            raise fail("E006", f"{label}: {problem}", line, col)
        seen[name] = i
    try:
        return from_json(data)
    except (ValueError, TypeError, AttributeError) as exc:  # anything the checks above missed
        raise fail("E006", f"not a module tree: {exc}") from None


def _root_class(tree: ModuleTree) -> str:
    return next((m.cls for m in tree.modules if m.name == ""), "?")


def unrelated(left: ModuleTree, right: ModuleTree, left_label: str = "left", right_label: str = "right") -> str | None:
    """A message when the two trees cannot be two versions of one model, else None.

    They are unrelated when both have modules below the root and share none of them by name:
    a dump of another model (or another ``--root``) rather than a drifted one. A diff of such
    trees would list every module as missing, which says nothing useful.
    """
    lnames = {m.name for m in left.modules} - {""}
    rnames = {m.name for m in right.modules} - {""}
    if not lnames or not rnames or not lnames.isdisjoint(rnames):
        return None
    return (f"the trees share no modules: is this a dump of another model? "
            f"({left_label}: {len(left.modules)} modules, root class {_root_class(left)}; "
            f"{right_label}: {len(right.modules)} modules, root class {_root_class(right)})")


def require_related(left: ModuleTree, right: ModuleTree, left_label: str = "left", right_label: str = "right") -> None:
    """Raise ``AnalyzerError`` (E006, exit 2) when ``unrelated`` finds the trees unrelated."""
    message = unrelated(left, right, left_label, right_label)
    if message is not None:
        raise AnalyzerError(Diagnostic("E006", message))


# ---- name patterns -------------------------------------------------------------------------
def _is_num(part: str) -> bool:
    return part.isascii() and part.isdigit() and (part == "0" or part[0] != "0")


def _fmt_set(values) -> str:
    v = sorted(values)
    if len(v) == 1:
        return str(v[0])
    if v[-1] - v[0] == len(v) - 1:
        return f"{{{v[0]}..{v[-1]}}}"
    parts, start = [], 0
    for i in range(1, len(v) + 1):
        if i == len(v) or v[i] != v[i - 1] + 1:
            run = v[start:i]
            parts += [f"{run[0]}..{run[-1]}"] if len(run) >= 3 else [str(x) for x in run]
            start = i
    return "{" + ",".join(parts) + "}"


def _boxes(points: list[tuple[tuple[int, ...], int]]) -> list[tuple[tuple[frozenset, ...], list[int]]]:
    """Partition numeric tuples into cartesian products: merge boxes that agree on every other
    dimension, one dimension at a time, until nothing merges. Each box keeps its member indices."""
    boxes = [(tuple(frozenset((v,)) for v in nums), [idx]) for nums, idx in points]
    while True:
        before = len(boxes)
        for d in reversed(range(len(boxes[0][0]))):
            merged: dict[tuple, tuple[list, list, tuple]] = {}
            for sets, idxs in boxes:
                key = sets[:d] + sets[d + 1 :]
                if key in merged:
                    merged[key][0].append(sets[d])
                    merged[key][1].extend(idxs)
                else:
                    merged[key] = ([sets[d]], list(idxs), sets)
            boxes = [(s[:d] + (frozenset().union(*parts),) + s[d + 1 :], idxs) for parts, idxs, s in merged.values()]
        if len(boxes) == before:
            return boxes


def collapse_groups(names: list[str]) -> list[tuple[str, list[str]]]:
    """Like ``collapse`` but each pattern comes with its names (in input order)."""
    names = list(dict.fromkeys(names))
    shapes: dict[tuple, list[tuple[tuple[int, ...], int]]] = {}
    for idx, name in enumerate(names):
        parts = name.split(".") if name else []
        skeleton = tuple(None if _is_num(p) else p for p in parts)
        shapes.setdefault(skeleton, []).append((tuple(int(p) for p in parts if _is_num(p)), idx))
    out: list[tuple[int, str, list[str]]] = []
    for skeleton, points in shapes.items():
        if None not in skeleton:
            out += [(idx, names[idx], [names[idx]]) for _, idx in points]
            continue
        for sets, idxs in _boxes(points):
            it = iter(sets)
            pattern = ".".join(_fmt_set(next(it)) if p is None else p for p in skeleton)
            idxs.sort()
            out.append((idxs[0], pattern, [names[i] for i in idxs]))
    out.sort(key=lambda t: t[0])
    return [(pattern, members) for _, pattern, members in out]


def collapse(names: list[str]) -> list[tuple[str, int]]:
    """Collapse dotted names that share a skeleton and form a full cartesian product over their
    numeric components into one pattern: ``model.layers.{1..11}.mlp.experts.{0..63}`` (704).
    Patterns come in the order of their first name; the rest stay one name per line."""
    return [(pattern, len(members)) for pattern, members in collapse_groups(names)]


# ---- result --------------------------------------------------------------------------------
@dataclass(frozen=True)
class DiffEntry:
    kind: str
    pattern: str
    count: int
    detail: str
    names: tuple[str, ...]

    def to_json(self) -> dict:
        return {"pattern": self.pattern, "count": self.count, "detail": self.detail, "names": list(self.names)}


@dataclass
class DiffResult:
    compared: int  # modules considered (union of names, after only_stages)
    entries: dict[str, list[DiffEntry]]  # every kind in KINDS, in module order
    fields: tuple[str, ...] = ()  # what was compared, e.g. ("name", "class", "order", "params")

    @property
    def counts(self) -> dict[str, int]:
        return {k: sum(e.count for e in self.entries.get(k, ())) for k in KINDS}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def identical(self) -> bool:
        return self.total == 0

    def to_json(self) -> dict:
        return {
            "identical": self.identical,
            "compared": self.compared,
            "counts": self.counts,
            "differences": {k: [e.to_json() for e in self.entries.get(k, ())] for k in KINDS},
        }


# ---- comparison ----------------------------------------------------------------------------
def _fields(tree: ModuleTree) -> frozenset:
    return frozenset(tree.meta["fields"]) if "fields" in tree.meta else ALL_FIELDS


def _shape_str(shape) -> str:
    return "?" if shape is None else str(list(shape))


def _params_detail(left: dict, right: dict) -> str:
    parts = []
    for k in dict.fromkeys([*left, *right]):
        if k not in right:
            parts.append(f"{k} {_shape_str(left[k])} -> absent")
        elif k not in left:
            parts.append(f"{k} absent -> {_shape_str(right[k])}")
        elif left[k] is not None and right[k] is not None and left[k] != right[k]:
            parts.append(f"{k} {_shape_str(left[k])} -> {_shape_str(right[k])}")
    return "; ".join(parts)


def _dtype(d: str | None) -> str | None:
    return d[6:] if d and d.startswith("torch.") else d


def _buf_str(b: BufferInfo) -> str:
    return " ".join(x for x in (_shape_str(b.shape), _dtype(b.dtype), "" if b.persistent else "non-persistent") if x)


def _buffers_detail(left: dict[str, BufferInfo], right: dict[str, BufferInfo]) -> str:
    parts = []
    for k in dict.fromkeys([*left, *right]):
        if k not in right:
            parts.append(f"{k} {_buf_str(left[k])} -> absent")
        elif k not in left:
            parts.append(f"{k} absent -> {_buf_str(right[k])}")
        else:
            a, b, diffs = left[k], right[k], []
            if a.shape is not None and b.shape is not None and a.shape != b.shape:
                diffs.append(f"{_shape_str(a.shape)} -> {_shape_str(b.shape)}")
            if a.dtype and b.dtype and _dtype(a.dtype) != _dtype(b.dtype):
                diffs.append(f"{_dtype(a.dtype)} -> {_dtype(b.dtype)}")
            if a.persistent != b.persistent:
                flag = {True: "persistent", False: "non-persistent"}
                diffs.append(f"{flag[a.persistent]} -> {flag[b.persistent]}")
            if diffs:
                parts.append(f"{k} " + ", ".join(diffs))
    return "; ".join(parts)


def _lis_members(seq: list[int]) -> set[int]:
    """Indices of one longest strictly increasing subsequence of ``seq``."""
    tails: list[int] = []
    tail_vals: list[int] = []
    prev = [-1] * len(seq)
    for i, v in enumerate(seq):
        k = bisect_left(tail_vals, v)
        if k:
            prev[i] = tails[k - 1]
        if k == len(tails):
            tails.append(i)
            tail_vals.append(v)
        else:
            tails[k], tail_vals[k] = i, v
    keep, i = set(), tails[-1] if tails else -1
    while i != -1:
        keep.add(i)
        i = prev[i]
    return keep


def _order_keys(lpos: dict[str, int], rpos: dict[str, int]) -> dict[str, tuple]:
    """Sort key per name: left order, with right-only names placed after their right predecessor."""
    keys = {n: (i, 0, 0) for n, i in lpos.items()}
    anchor = -1
    for n, j in rpos.items():
        if n in lpos:
            anchor = lpos[n]
        else:
            keys[n] = (anchor, 1, j)
    return keys


def diff_trees(
    left: ModuleTree,
    right: ModuleTree,
    *,
    ignore_class: dict[str, str] | None = None,
    only_stages: set[str] | None = None,
) -> DiffResult:
    """Compare two trees by module name (see the module docstring for the kinds)."""
    both = _fields(left) & _fields(right)
    lmap, rmap = {}, {}
    for tree, mp in ((left, lmap), (right, rmap)):
        for m in tree.modules:
            mp.setdefault(m.name, m)
    lpos = {n: i for i, n in enumerate(lmap)}
    rpos = {n: i for i, n in enumerate(rmap)}
    keys = _order_keys(lpos, rpos)
    names = sorted(keys, key=keys.__getitem__)

    if only_stages is not None:
        sides = [mp for mp, t in ((lmap, left), (rmap, right)) if "stage" in _fields(t)]
        if not sides:
            raise AnalyzerError(Diagnostic("E006", "only_stages needs a 'stage' field, but neither tree carries one"))
        present = {m.stage for mp in sides for m in mp.values() if m.stage is not None}
        unknown = sorted(set(only_stages) - present)
        if unknown:  # a misspelt stage would compare nothing and pass a CI gate vacuously
            raise AnalyzerError(Diagnostic(
                "E003", f"--only-stage {', '.join(map(repr, unknown))}: no module has this stage "
                        f"(stages present: {', '.join(sorted(present)) or 'none'})"))

        def stages(n: str) -> set[str]:
            while True:  # a module absent from the stage-carrying side inherits its ancestor's stage
                found = {mp[n].stage for mp in sides if n in mp}
                if found or n == "":
                    return found
                n = n.rsplit(".", 1)[0] if "." in n else ""

        names = [n for n in names if stages(n) & set(only_stages)]

    accepted = set()
    for a, b in (ignore_class or {}).items():
        accepted |= {(a, b), (b, a)}
    items: dict[str, list[tuple[str, str]]] = {k: [] for k in KINDS}
    common = []
    for n in names:
        a, b = lmap.get(n), rmap.get(n)
        if a is None:
            items["missing_left"].append((n, b.cls))
            continue
        if b is None:
            items["missing_right"].append((n, a.cls))
            continue
        common.append(n)
        if a.cls != b.cls and (a.cls, b.cls) not in accepted:
            items["class"].append((n, f"{a.cls} -> {b.cls}"))
        if "params" in both and (d := _params_detail(a.params, b.params)):
            items["params"].append((n, d))
        if "buffers" in both and (d := _buffers_detail(a.buffers, b.buffers)):
            items["buffers"].append((n, d))
        if "stage" in both and a.stage != b.stage:
            items["stage"].append((n, f"{a.stage} -> {b.stage}"))
    keep = _lis_members([rpos[n] for n in common])
    items["order"] = [(n, "") for i, n in enumerate(common) if i not in keep]

    entries: dict[str, list[DiffEntry]] = {}
    for kind, pairs in items.items():
        by_detail: dict[str, list[str]] = {}
        for n, detail in pairs:
            by_detail.setdefault(detail, []).append(n)
        group = [
            DiffEntry(kind, pattern, len(members), detail, tuple(members))
            for detail, ns in by_detail.items()
            for pattern, members in collapse_groups(ns)
        ]
        entries[kind] = sorted(group, key=lambda e: (keys[e.names[0]], e.detail))
    fields = ("name", "class", "order") + tuple(f for f in ("params", "buffers", "stage") if f in both)
    return DiffResult(compared=len(names), entries=entries, fields=fields)

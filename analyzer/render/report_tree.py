"""The module tree of the HTML report (render/report.py): repeated siblings folded into groups and
rendered as nested rows that analyzer/render/assets/report.js makes collapsible and searchable.

Folding: consecutive siblings whose names are indices (``layers.1``, ``layers.2`` ...) and whose
subtrees have the same *signature* (class, stage, leaf and partial marks, own parameter and buffer
shapes, and the same for every descendant under the same relative names) form one group row,
``layers.[1-11]``, whose members expand on demand. Every module keeps its own row (one
``div.n`` per module, in ``named_modules()`` order), so the page holds the whole tree. Pure
functions; deterministic byte for byte; every name is HTML-escaped.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

from analyzer.render.tree import fmt_shape
from analyzer.tree.model import ModuleTree

OPEN_DEPTH = 1  # modules up to this depth start expanded; groups always start folded
DIAGNOSTICS_SHOWN = 3  # under a partial module's row; the Diagnostics section lists them all


@dataclass(frozen=True)
class Folded:
    """The tree's display structure: each module's display children (names, or tuples of names
    for a folded group), inclusive parameter counts, and which totals are lower bounds."""

    children: dict  # name -> list[str | tuple[str, ...]]
    totals: dict  # name -> inclusive parameter count (known shapes only)
    unknown: set  # names whose subtree has a parameter of unknown shape

    @property
    def groups(self) -> list:
        return [item for items in self.children.values() for item in items if isinstance(item, tuple)]


def relative(name: str, parent: str) -> str:
    return name[len(parent) + 1:] if parent else name


def _is_index(label: str) -> bool:
    return label.isdigit() and label.isascii()


def fold(tree: ModuleTree) -> Folded:
    kids = tree.children_of()
    ids: dict = {}
    sig: dict = {}
    totals: dict = {}
    unknown: set = set()
    for m in reversed(tree.modules):  # named_modules() is pre-order: children come first here
        children = kids[m.name]
        key = (m.cls, m.class_qualname, m.stage, m.leaf, m.partial, tuple(m.params.items()),
               tuple((k, b.shape, b.dtype, b.persistent) for k, b in m.buffers.items()),
               tuple((relative(c, m.name), sig[c]) for c in children))
        sig[m.name] = ids.setdefault(key, len(ids))
        own = m.param_count()
        totals[m.name] = (own or 0) + sum(totals[c] for c in children)
        if own is None or any(c in unknown for c in children):
            unknown.add(m.name)
    display = {}
    for m in tree.modules:
        children, out, i = kids[m.name], [], 0
        while i < len(children):
            j = i + 1
            if _is_index(relative(children[i], m.name)):
                while (j < len(children) and _is_index(relative(children[j], m.name))
                       and sig[children[j]] == sig[children[i]]):
                    j += 1
            out.append(tuple(children[i:j]) if j - i >= 2 else children[i])
            i = j
        display[m.name] = out
    return Folded(display, totals, unknown)


def index_ranges(labels) -> str:
    """``['1', '2', '3', '5']`` -> ``[1-3,5]``."""
    nums = [int(x) for x in labels]
    parts, start = [], 0
    for i in range(1, len(nums) + 1):
        if i == len(nums) or nums[i] != nums[i - 1] + 1:
            a, b = nums[start], nums[i - 1]
            parts.append(str(a) if a == b else f"{a}-{b}")
            start = i
    return "[" + ",".join(parts) + "]"


def group_label(parent: str, members: tuple) -> str:
    """The dotted pattern of a group: ``model.layers.[1-11]``."""
    rel = [relative(n, parent) for n in members]
    return f"{parent}.{index_ranges(rel)}" if parent else index_ranges(rel)


def _count(n: int | None, unknown: bool = False) -> str:
    if n is None:
        return '<span class="unk" title="a parameter of unknown shape">?</span>'
    text = f"{n:,}" if n else "&ndash;"
    return f'<span class="unk" title="lower bound: some parameter shapes are unknown">&ge;{text}</span>' if unknown else text


def _shapes(m) -> str:
    bits = [f'<span class="p">{escape(k)}{fmt_shape(s)}</span>' for k, s in m.params.items()]
    bits += [f'<span class="b" title="buffer{"" if b.persistent else ", non-persistent"}{", " + escape(b.dtype) if b.dtype else ""}">'
             f'{escape(k)}{fmt_shape(b.shape)}{"" if b.persistent else "*"}</span>' for k, b in m.buffers.items()]
    return " ".join(bits)


def _source(source: str | None, prefix: str = "") -> str:
    if not source:
        return '<span class="src"></span>'
    return f'<span class="src" title="{escape(prefix + source)}">{escape(source)}</span>'


def _stage(stage: str, stage_class: dict) -> str:
    return f'<span class="st {stage_class.get(stage, "")}">{escape(stage)}</span>'


class TreeRenderer:
    """``render(tree)`` -> the rows of ``#tree-rows``. ``stage_class``: stage -> CSS class;
    ``diagnostics``: module name -> [formatted diagnostic]; ``marks``: module name -> a note shown
    as a badge (e.g. why its cost is missing)."""

    def __init__(self, tree: ModuleTree, stage_class: dict, diagnostics: dict | None = None, marks: dict | None = None):
        self.tree = tree
        self.nodes = tree.by_name()
        self.folded = fold(tree)
        self.stage_class = stage_class
        self.diagnostics = diagnostics or {}
        self.marks = marks or {}

    def _node_open(self, name: str, parent: str | None, depth: int) -> str:
        m = self.nodes[name]
        has_kids = bool(self.folded.children[name])
        label = "(root)" if name == "" else relative(name, parent or "")
        opened = has_kids and m.depth <= OPEN_DEPTH
        cls = "n" + (" o" if opened else "") + (" kids" if has_kids else "")
        badges = ""
        if m.leaf:
            badges += '<span class="lf" title="leaf module">leaf</span>'
        if m.partial:
            badges += '<span class="pa" title="not fully resolved: see its diagnostics">PARTIAL</span>'
        if name in self.marks:
            badges += f'<span class="nc" title="{escape(self.marks[name])}">no cost</span>'
        own = m.param_count()
        tab = ' tabindex="0"' if has_kids else ""
        row = (f'<div class="{cls}" data-n="{escape(name)}" data-c="{escape(m.cls)}" data-s="{escape(m.stage)}" '
               f'data-p="{"" if own is None else own}">'
               f'<div class="r"{tab} style="--d:{depth}">'
               f'<span class="nm" title="{escape(name or "(root)")}"><i></i>{escape(label)}{badges}</span>'
               f'<span class="cl" title="{escape(m.class_qualname or m.cls)}">{escape(m.cls)}</span>'
               f'{_stage(m.stage, self.stage_class)}'
               f'<span class="num">{_count(own)}</span>'
               f'<span class="num">{_count(self.folded.totals[name], name in self.folded.unknown)}</span>'
               f'<span class="sh">{_shapes(m)}</span>{_source(m.source)}</div>')
        diagnostics = self.diagnostics.get(name, ())
        for text in diagnostics[:DIAGNOSTICS_SHOWN]:
            row += f'<div class="dg" style="--d:{depth}">{escape(text)}</div>'
        if len(diagnostics) > DIAGNOSTICS_SHOWN:
            row += (f'<div class="dg" style="--d:{depth}">&hellip; and {len(diagnostics) - DIAGNOSTICS_SHOWN} more: '
                    f'see <a href="#diagnostics">Diagnostics</a></div>')
        return row + ('<div class="k">' if has_kids else "")

    def _group_open(self, parent: str, members: tuple, depth: int) -> str:
        first = self.nodes[members[0]]
        pattern = group_label(parent, members)
        each = self.folded.totals[members[0]]
        unknown = members[0] in self.folded.unknown
        total = each * len(members)
        sources = {self.nodes[n].source for n in members}
        parent_label = relative(parent, parent.rsplit(".", 1)[0]) if "." in parent else parent
        dim = f'<span class="dim">{escape(parent_label)}.</span>' if parent_label else ""
        badges = '<span class="lf" title="leaf modules">leaf</span>' if first.leaf else ""
        if first.partial:
            badges += '<span class="pa">PARTIAL</span>'
        shapes = _shapes(first)
        return (f'<div class="g" data-n="{escape(pattern)}" data-count="{len(members)}">'
                f'<div class="r" tabindex="0" style="--d:{depth}">'
                f'<span class="nm" title="{escape(pattern)}: {len(members)} identical siblings, folded">'
                f'<i></i>{dim}{escape(index_ranges([relative(n, parent) for n in members]))}'
                f'<span class="x">&times;{len(members)}</span>{badges}</span>'
                f'<span class="cl" title="{escape(first.class_qualname or first.cls)}">{escape(first.cls)}</span>'
                f'{_stage(first.stage, self.stage_class)}'
                f'<span class="num"></span>'
                f'<span class="num" title="parameters of all {len(members)} members">{_count(total, unknown)}</span>'
                f'<span class="sh">{len(members)} &times; {_count(each, unknown)} params{" &middot; " + shapes if shapes else ""}</span>'
                f'{_source(first.source if len(sources) == 1 else None, "")}</div><div class="k">')

    def render(self) -> str:
        """Iterative (a deep tree cannot exhaust the interpreter's stack)."""
        out: list = []
        stack: list = [("node", "", None, 0)]
        while stack:
            item = stack.pop()
            if item[0] == "close":
                out.append(item[1])
                continue
            kind, name, parent, depth = item
            if kind == "group":
                out.append(self._group_open(parent, name, depth))
                stack.append(("close", "</div></div>"))
                stack.extend(("node", n, parent, depth + 1) for n in reversed(name))
                continue
            if name not in self.nodes:
                continue
            out.append(self._node_open(name, parent, depth))
            children = self.folded.children[name]
            stack.append(("close", "</div></div>" if children else "</div>"))
            for child in reversed(children):
                stack.append(("group", child, name, depth + 1) if isinstance(child, tuple)
                             else ("node", child, name, depth + 1))
        return "".join(out)

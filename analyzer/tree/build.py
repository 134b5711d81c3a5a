"""From evaluated nn.Module objects to the ``ModuleTree``: ``named_modules()`` order, own
parameters and buffers, creation spans, and diagnostics attributed to module names."""
from __future__ import annotations

from analyzer.diagnostics import Diagnostic
from analyzer.source.parse import resolve_span
from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree
from analyzer.evaluate.values import ModuleObj


def named_modules(root: ModuleObj) -> list[tuple[str, ModuleObj]]:
    """Pre-order walk in registration order, each object once (as torch's memo does)."""
    out: list[tuple[str, ModuleObj]] = []
    seen: set[int] = set()
    stack = [("", root)]
    while stack:
        name, obj = stack.pop()
        if obj.uid in seen:
            continue
        seen.add(obj.uid)
        out.append((name, obj))
        children = [(f"{name}.{k}" if name else k, c) for k, c in obj.modules.items() if c is not None]
        stack.extend(reversed(children))
    return out


def node_for(name: str, obj: ModuleObj) -> ModuleNode:
    cls = obj.cls
    partial = obj.partial
    params = {}
    for k, t in obj.params.items():
        if t is not None:
            params[k] = tuple(t.shape) if t.shape is not None else None
            partial = partial or t.shape is None
    buffers = {}
    for k, t in obj.buffers.items():
        if t is not None:
            buffers[k] = BufferInfo(tuple(t.shape) if t.shape is not None else None, t.dtype, k not in obj.non_persistent)
            partial = partial or t.shape is None
    return ModuleNode(
        name=name,
        cls=cls.name,
        class_qualname=cls.qualname,
        params=params,
        buffers=buffers,
        source=resolve_span(obj.span).short() if obj.span else None,
        partial=partial,
    )


def build_tree(root_obj: ModuleObj, root_label: str, pending: list[tuple[Diagnostic, ModuleObj | None]]):
    walk = named_modules(root_obj)
    names = {obj.uid: name for name, obj in walk}
    tree = ModuleTree(root=root_label, modules=[node_for(n, o) for n, o in walk])
    diagnostics = []
    for diag, obj in pending:
        module = names.get(obj.uid) if obj is not None else None
        if obj is not None and module is None:
            # raised while building an object that did not end up in the tree
            diagnostics.append(diag)
            continue
        diagnostics.append(Diagnostic(diag.code, diag.message, diag.span, module))
    return tree, diagnostics

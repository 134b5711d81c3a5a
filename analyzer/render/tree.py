"""Renderers: pure functions from results to text. Deterministic, byte for byte."""
from __future__ import annotations

import json

from analyzer.tree.model import ModuleTree


def fmt_shape(shape) -> str:
    return "?" if shape is None else "[" + ", ".join(str(d) for d in shape) + "]"


def text_tree(tree: ModuleTree, diagnostics: list, *, max_depth: int | None = None) -> str:
    lines = [f"root {tree.root}  (attn_implementation={tree.meta.get('attn_implementation') or 'n/a'})"]
    for key, what in (("hub", "source"), ("code_repo", "code")):
        if isinstance(tree.meta.get(key), dict):  # read from the Hugging Face cache (analyzer/source/hub.py)
            h = tree.meta[key]
            lines.append(f"{what} {h['id']} @ {h['revision']} = {h['commit']}  ({h['path']})")
    for m in tree.modules:
        if max_depth is not None and m.depth > max_depth:
            continue
        indent = "  " * m.depth
        label = m.name.rsplit(".", 1)[-1] if m.name else "(root)"
        bits = [f"{indent}{label}: {m.cls}", f"[{m.stage}]"]
        if m.leaf:
            bits.append("leaf")
        for k, s in m.params.items():
            bits.append(f"{k}{fmt_shape(s)}")
        for k, b in m.buffers.items():
            bits.append(f"{k}{fmt_shape(b.shape)}{'' if b.persistent else ' (non-persistent)'}")
        if m.partial:
            bits.append("PARTIAL")
        lines.append("  ".join(bits))
    totals = tree.totals()
    lines.append("")
    lines.append(f"{totals['modules']} modules, {totals['params']:,} parameters")
    for stage, n in totals["params_by_stage"].items():
        lines.append(f"  {stage:<10} {n:>16,}")
    if totals["partial_modules"]:
        lines.append(f"PARTIAL: {totals['partial_modules']} module(s) could not be fully resolved; see the diagnostics")
    return "\n".join(lines) + "\n"


def tree_json(tree: ModuleTree, diagnostics: list) -> str:
    return json.dumps(tree.to_json(diagnostics), indent=1) + "\n"


def seed_json(tree: ModuleTree) -> str:
    return json.dumps([{"name": m.name, "class": m.cls, "stage": m.stage} for m in tree.modules], indent=2) + "\n"


def diagnostics_text(diagnostics: list) -> str:
    return "".join(d.format() + "\n" for d in diagnostics)

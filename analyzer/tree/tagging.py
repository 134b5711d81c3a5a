"""Stage and leaf tags, from rules/stages.yaml and rules/leaves.yaml."""
from __future__ import annotations

from analyzer.rules import LeafRules, StageRules
from analyzer.tree.model import ModuleTree


def tag(tree: ModuleTree, stages: StageRules, leaves: LeafRules) -> ModuleTree:
    """Set ``stage`` and ``leaf`` on every node, in place; returns the tree."""
    children = tree.children_of()
    stage_of = _stage_lookup(stages)
    for node in tree.modules:
        node.stage = stage_of(node.name)
        node.leaf = not children[node.name] or node.cls in leaves.leaf_classes
    return tree


def _stage_lookup(stages: StageRules):
    """``stages.stage_of`` for many names: the longest matching prefix of a dotted name is its
    nearest ancestor-or-self listed as a prefix, so each name asks its parent (memoized)."""
    exact: dict[str, str] = {}
    for prefix, stage in stages.prefixes:  # longest first; the first listing of a prefix wins
        exact.setdefault(prefix, stage)
    memo: dict[str, str] = {}

    def stage_of(name: str) -> str:
        stage = memo.get(name)
        if stage is None:
            stage = exact.get(name)
            if stage is None:
                stage = stage_of(name.rsplit(".", 1)[0]) if "." in name else stages.default
            memo[name] = stage
        return stage

    return stage_of

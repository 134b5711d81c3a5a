"""Stage and leaf tags, from rules/stages.yaml and rules/leaves.yaml."""
from __future__ import annotations

from analyzer.rules import LeafRules, StageRules
from analyzer.tree import ModuleTree


def tag(tree: ModuleTree, stages: StageRules, leaves: LeafRules) -> ModuleTree:
    """Set ``stage`` and ``leaf`` on every node, in place; returns the tree."""
    children = tree.children_of()
    for node in tree.modules:
        node.stage = stages.stage_of(node.name)
        node.leaf = not children[node.name] or node.cls in leaves.leaf_classes
    return tree

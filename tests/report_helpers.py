"""Shared helpers of the report tests: a synthetic module tree of any size with known folds, and
the sample model's report made through the CLI."""
from __future__ import annotations

from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree
from conftest import REPO

SAMPLE = REPO / "fixtures" / "sample_vlm"
SAMPLE_ARGS = ["--families", str(REPO / "fixtures" / "sample_vlm.families.yaml"),
               "--workload", str(REPO / "fixtures" / "sample_vlm.workload.yaml")]


def synthetic_tree(layers: int = 4, experts: int = 5, width: int = 8) -> ModuleTree:
    """A decoder: ``layers.0`` dense, ``layers.1..`` identical MoE blocks whose experts are
    identical except the last one (another width). Its folds are known: ``layers.[1-N]`` and, in
    each MoE block, ``experts.[0-(E-2)]``; ``q``/``k`` are identical but not indices, never folded."""
    nodes = []

    def add(name, cls, params=None, stage="body", leaf=False, buffers=None):
        nodes.append(ModuleNode(name, cls, f"synthetic.{cls}", dict(params or {}), dict(buffers or {}),
                                f"synthetic.py:{len(nodes) + 1}", stage, leaf))

    add("", "Net", stage="other")
    add("embed", "Embedding", {"weight": (100, width)}, stage="embed", leaf=True)
    add("layers", "ModuleList")
    for i in range(layers):
        p = f"layers.{i}"
        add(p, "Block")
        add(f"{p}.attn", "Attention", buffers={"mask": BufferInfo((width, width), "bool", False)})
        add(f"{p}.attn.q", "Linear", {"weight": (width, width)}, leaf=True)
        add(f"{p}.attn.k", "Linear", {"weight": (width, width)}, leaf=True)
        if i == 0:
            add(f"{p}.mlp", "MLP")
            add(f"{p}.mlp.up", "Linear", {"weight": (4 * width, width)}, leaf=True)
            add(f"{p}.mlp.down", "Linear", {"weight": (width, 4 * width)}, leaf=True)
            continue
        add(f"{p}.mlp", "MoE")
        add(f"{p}.mlp.experts", "ModuleList")
        for j in range(experts):
            w = 2 * width if j == experts - 1 else width
            add(f"{p}.mlp.experts.{j}", "Expert")
            add(f"{p}.mlp.experts.{j}.up", "Linear", {"weight": (w, width)}, leaf=True)
            add(f"{p}.mlp.experts.{j}.down", "Linear", {"weight": (width, w)}, leaf=True)
    add("head", "Linear", {"weight": (100, width)}, stage="head", leaf=True)
    return ModuleTree(root="synthetic:Net", modules=nodes, meta={"mode": "static", "config": "config.json"})

"""Containers: modules whose cost is the sum over their children, with the workload routed.

* ``pass_through``: every child gets the parent's workload (nn.ModuleList of identical-shape
  blocks, a module that only calls its list);
* ``sequential``: an nn.Sequential of token-wise layers, features followed from Linear to Linear;
* ``workload_root``: the model roots, whose children's workloads come from the workload file.

A container's own loose parameters (nn.Parameter attributes) are counted from the tree.
"""
from __future__ import annotations

from analyzer.costs.formulas.base import Cost, Expansion, Part
from analyzer.costs.formulas.registry import FamilyError, family


@family("pass_through", kind="container", title="Pass-through container (ModuleList, stacks)",
        math=r"\mathrm{cost} = \sum_i \mathrm{cost}(\mathrm{child}_i)",
        notes=("Each child gets the same workload; the container itself computes nothing.",))
def pass_through(d, w, kids):
    return Expansion(Cost(), tuple(Part(name, work=dict(w)) for name in kids))


_TOKENWISE = {"linear", "layernorm", "rmsnorm", "gelu", "silu", "activation", "identity"}


@family("sequential", kind="container", title="Sequential of token-wise layers",
        math=r"Y = f_k \circ \dots \circ f_1 (X)",
        work=("N",),
        notes=("Children are called in order on N tokens; activations get N x (features of the last Linear). "
               "A child that changes the token count (a convolution...) makes the Sequential unsupported: "
               "its family must then come from a parent family (as windowed_vit_encoder does for its neck).",))
def sequential(d, w, kids):
    n = w["N"]
    feats = w.get("F")
    parts = []
    for name, dims_list in kids.items():
        dims = dims_list[0]
        if dims.family not in _TOKENWISE:
            raise FamilyError(f"sequential: child {name!r} ({dims.family}) is not token-wise")
        if dims.family in ("gelu", "silu", "activation"):
            if feats is None:
                raise FamilyError(f"sequential: activation {name!r} before any Linear (unknown width)")
            parts.append(Part(name, work={"E": n * feats}))
        elif dims.family == "identity":
            parts.append(Part(name, work={}))
        else:
            parts.append(Part(name, work={"N": n}))
            feats = dims["d_out"] if dims.family == "linear" else dims["C"]
    return Expansion(Cost(), tuple(parts))


@family("workload_root", kind="container", title="Model root (routed by the workload file)",
        math=r"\mathrm{cost} = \sum_{\text{entries}} \mathrm{cost}(\text{module}, \text{workload})",
        notes=("Which submodule runs on how many tokens is data: rules/workloads/*.yaml. The root's loose "
               "parameters (separator embeddings...) are counted; the concatenations and scatters that "
               "place them cost no FLOPs.",))
def workload_root(d, w, kids):
    return Expansion(Cost(), ())

"""Routed mixture of experts found by structure: a router Linear (d -> E), a list of E expert MLPs,
top-k routing, and optionally dense experts every token goes through (a shared expert and its
sigmoid gate). A container: the experts keep their own families (token_mlp, swiglu_mlp)."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, Expansion, Part
from analyzer.costs.formulas.registry import FamilyError, family

_DENSE = {"token_mlp", "swiglu_mlp", "linear"}


@family("routed_moe", kind="container", title="Routed mixture of experts (top-k of E, optional shared experts)",
        math=r"Y = \sum_{j \in \mathrm{topk}_k(x W_g^{\top})} g_j\, \mathrm{MLP}_j(x)\ \big(+\ \sigma(x w_s)\, "
             r"\mathrm{MLP}_{shared}(x)\big)",
        dims=("E", "k"), work=("N",),
        notes=("N tokens make exactly N k token-expert pairs whatever the routing: the experts' FLOPs are exact "
               "in total, 2 N k (expert FLOPs per token).",
               "Per expert the split assumes uniform routing, N k / E tokens each; the weights read count each "
               "expert with probability min(1, N k / E): exact for one decoded token (k experts read), an "
               "upper bound for a prefill's distinct experts when routing is skewed.",
               "The router Linear and any dense expert beside the list (a shared expert, its 1-wide gate) see "
               "every token.",
               "Activated parameters per token: router + k experts + the dense experts."),
        uncounted_ops=("softmax", "topk", "combine"))
def routed_moe(d, w, kids):
    n, e, k = w["N"], d["E"], d["k"]
    if not 1 <= k <= e:
        raise FamilyError(f"routed_moe: top-k {k} out of {e} experts")
    share = n * k / e
    router = kids["gate"][0]
    width = router["d_in"]
    own = Cost(act_in=n * width * BYTES, act_out=n * width * BYTES, act_bytes=(2 * n * k * width + n * width) * BYTES,
               uncounted=(("softmax", n * e), ("topk", n * e), ("combine", 2 * n * k * width)))
    parts = [Part("gate", work={"N": n}), Part("experts", work={"N": share, "touch": sp.Min(1, share)}, count=e)]
    for role, (cd,) in kids.items():
        if role in ("gate", "experts"):
            continue
        if cd.family in _DENSE or cd.family == "unbound":
            parts.append(Part(role, work={"N": n}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            raise FamilyError(f"routed_moe: child {role!r} binds to family {cd.family!r}, which it does not route")
    return Expansion(own, tuple(parts), assumptions=(
        f"routing: uniform over the {e} experts (top-{k}: N k / E tokens each); total expert FLOPs exact for any "
        "routing, the per-expert split and the weights read assume uniform routing",))

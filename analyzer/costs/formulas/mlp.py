"""Feed-forward blocks of the decoder: SwiGLU, the MoE gate, routed top-k experts + shared experts."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, Dims, Expansion, Part, mm_flops
from analyzer.costs.formulas.registry import family


def swiglu_dims(d, f, bias) -> Dims:
    return Dims.of("swiglu_mlp", {"d": d, "f": f, "bias": bias})


@family("swiglu_mlp", kind="composite", title="SwiGLU MLP",
        math=r"Y = W_{down}\big(\mathrm{silu}(W_{gate} X) \odot W_{up} X\big)",
        dims=("d", "f", "bias?"), roles=("gate_proj", "up_proj", "down_proj", "act_fn"), work=("N",),
        notes=("Three d x f projections: 6 N d f FLOPs.", "`touch`: see linear (routed experts)."),
        uncounted_ops=("silu", "gate mul"))
def swiglu_mlp(d, w):
    n, f = w["N"], d["f"]
    touch = w.get("touch", 1)
    lin = {"N": n, "touch": touch} if "touch" in w else {"N": n}
    up = Dims.of("linear", {"d_in": d["d"], "d_out": f, "bias": d["bias"]})
    down = Dims.of("linear", {"d_in": f, "d_out": d["d"], "bias": d["bias"]})
    own = Cost(act_in=n * d["d"] * BYTES, act_out=n * d["d"] * BYTES, act_bytes=3 * n * f * BYTES,
               uncounted=(("gate mul", n * f),))
    return Expansion(own, (Part("gate_proj", "linear", up, lin), Part("up_proj", "linear", up, lin),
                           Part("act_fn", "silu", Dims.of("silu", {}), {"E": n * f}),
                           Part("down_proj", "linear", down, lin)))


@family("moe_gate", kind="leaf", title="MoE router (softmax top-k gate)",
        math=r"s = \mathrm{softmax}(X W_g^{\top}),\quad (w, i) = \mathrm{topk}_k(s)",
        dims=("E", "d"), work=("N",),
        notes=("F.linear without bias: 2 N d E FLOPs.",),
        uncounted_ops=("softmax", "topk"))
def moe_gate(d, w):
    n, e = w["N"], d["E"]
    return Cost(params=e * d["d"], flops=mm_flops(n, d["d"], e), weight_bytes=e * d["d"] * BYTES,
                act_in=n * d["d"] * BYTES, act_out=n * e * BYTES, act_bytes=n * (d["d"] + e) * BYTES,
                uncounted=(("softmax", n * e), ("topk", n * e)))


@family("moe", kind="composite", title="Mixture of experts (routed top-k + shared experts)",
        math=r"Y = \sum_{j \in \mathrm{topk}(x)} g_j\, \mathrm{SwiGLU}_j(x) + \mathrm{SwiGLU}_{shared}(x)",
        dims=("d", "E", "k", "f_e", "f_s", "shared?", "bias?"), roles=("gate", "experts", "shared_experts?"),
        work=("N",),
        notes=("N tokens make exactly N k token-expert pairs, whatever the routing: the FLOPs are exact.",
               "Per expert the split assumes uniform routing (N k / E tokens each); weights read count at most "
               "min(E, N k) experts (each expert read with probability min(1, N k / E)): exact for one decoded "
               "token, an upper bound for a prefill.",
               "The shared experts (f_s = n_shared x f_e) see every token."),
        uncounted_ops=("combine", "shared add"),
        describe=lambda d: [f"top-{d['k']} of {d['E']} routed experts (width {d['f_e']})"
                            + (f" + shared experts of width {d['f_s']}" if d["shared"] else "")
                            + f": {int(d['k'] * 3 * d['d'] * d['f_e'] + d['shared'] * 3 * d['d'] * d['f_s'] + d['E'] * d['d']):,} "
                              "parameters active per token (gate included)"])
def moe(d, w):
    n, e, k = w["N"], d["E"], d["k"]
    share = n * k / e
    own = Cost(act_in=n * d["d"] * BYTES, act_out=n * d["d"] * BYTES,
               act_bytes=(2 * n * k * d["d"] + n * d["d"]) * BYTES,  # gather tokens, combine
               uncounted=(("combine", 2 * n * k * d["d"]), ("shared add", d["shared"] * n * d["d"])))
    parts = [Part("gate", "moe_gate", Dims.of("moe_gate", {"E": e, "d": d["d"]}), {"N": n}),
             Part("experts", "swiglu_mlp", swiglu_dims(d["d"], d["f_e"], d["bias"]),
                  {"N": share, "touch": sp.Min(1, share)}, count=e)]
    if d["shared"] != 0:
        parts.append(Part("shared_experts", "swiglu_mlp", swiglu_dims(d["d"], d["f_s"], d["bias"]), {"N": n},
                          count=d["shared"]))
    return Expansion(own, tuple(parts))

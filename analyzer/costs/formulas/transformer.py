"""Transformers assembled from structure (families.yaml ``structures:``): self-attention with any
projection layout, the block holding it, a token-wise MLP, the decoder stack and the causal-LM
root. All containers: their cost is the sum over the actual children, each routed by the family
it binds to, plus what the container computes itself (the attention core).

FLOPs of the attention core: Q K^T and P V over S x T (query, key) pairs per head,
2 S T d_qk + 2 S T d_v per head; with heads x d_v = the output projection's input width d_o and
d_qk = d_v, that is 4 B S T d_o whatever the head split (MHA, GQA or MQA: K/V heads are
repeated or broadcast, the score matmuls keep the query heads). Eager attention and SDPA compute
the full S x T matrix (the causal mask is added, not skipped), which is what FlopCounterMode
counts; ALiBi's bias enters through baddbmm, counted as the same batched matmul.
"""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, Expansion, Part
from analyzer.costs.formulas.registry import FamilyError, family

LINEAR = {"linear", "lm_head"}
NORMS = {"layernorm", "rmsnorm", "param_free_norm"}
ELEMENTWISE = {"gelu", "silu", "activation"}
ATTENTION = {"self_attention", "decoder_attention", "attention_wrapper", "self_attention_core"}
MLPS = {"token_mlp", "swiglu_mlp", "moe", "routed_moe"}
PROJECTIONS = ("q", "k", "v", "o", "qkv")
ROTARY = {"rotary_embedding", "rotary_table"}


def _elementwise(role, dims, n_elems) -> Part:
    """An activation module (or a bare parameterless leaf, called as one) over n_elems elements."""
    return Part(role, None if dims.family in ELEMENTWISE else "activation", work={"E": n_elems})


def _unexpected(fam: str, role: str, child: str):
    raise FamilyError(f"{fam}: child {role!r} binds to family {child!r}, which it does not route")


@family("self_attention", kind="container", title="Self-attention (any projection layout)",
        math=r"O = \mathrm{softmax}\!\Big(\tfrac{QK^{\top}}{\sqrt{d_h}} + M\Big) V\, W_o,\quad "
             r"[Q, K, V] = X [W_q, W_k, W_v]\ \text{or}\ X W_{qkv}",
        work=("B", "S", "T"),
        notes=("S new tokens attend over T keys (T = S in a prefill, past + 1 in a decode step).",
               "Core FLOPs 4 B S T d_o, d_o = the output projection's input width (heads x head dim): the full "
               "S x T score matrix, as eager attention and SDPA compute it (and FlopCounterMode counts it).",
               "KV cache after the call: 2 B T d_kv elements, d_kv = the K projection's width (or, fused, "
               "(d_qkv - d_o) / 2).",
               "A rotary module inside runs per layer unless the decoder stack computes the rotary tables once "
               "(then the layer's own is not executed).",
               "Roles come from the structure entry: q, k, v, o or qkv, o; q/k norms, dropouts and a rotary "
               "module may sit beside them."),
        uncounted_ops=("softmax", "mask add", "rotary apply"))
def self_attention(d, w, kids):
    b, s, t = w["B"], w["S"], w["T"]
    if "o" not in kids:
        raise FamilyError("self_attention: no output projection (role o)")
    o = kids["o"][0]
    d_o, d_model = o["d_in"], o["d_out"]
    if "qkv" in kids:
        d_kv = (kids["qkv"][0]["d_out"] - d_o) / 2
    elif "k" in kids:
        d_kv = kids["k"][0]["d_out"]
    else:
        raise FamilyError("self_attention: no K projection (role k or qkv)")
    pairs = s * t
    own = Cost(flops=4 * b * pairs * d_o, kv_bytes=2 * b * t * d_kv * BYTES,
               act_in=b * s * d_model * BYTES, act_out=b * s * d_model * BYTES,
               act_bytes=(2 * b * s * d_o + 2 * b * t * d_kv + 2 * b * s * d_kv) * BYTES,
               uncounted=(("softmax", b * pairs), ("mask add", b * pairs)))
    parts = []
    for role, (cd,) in kids.items():
        if role in PROJECTIONS or cd.family in LINEAR:
            parts.append(Part(role, work={"N": b * s}))
        elif cd.family in ROTARY:
            parts.append(Part(role, work={"B": b, "S": s} if w.get("rope", 1) else None))
        elif cd.family in NORMS:  # q/k norms: over heads x head dim per token
            parts.append(Part(role, work={"N": b * s * sp.Max(1, d_o / cd["C"])}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        elif cd.family in ("unbound", "bare"):
            parts.append(Part(role, work={"N": b * s}))  # reported unsupported by the walk
        else:
            _unexpected("self_attention", role, cd.family)
    return Expansion(own, tuple(parts))


def _mlp_width(kids) -> object:
    """The hidden width an activation sees: the narrowest of the projections' wide sides (f for
    d -> f -> d, f for a fused d -> 2f gate/up followed by f -> d)."""
    wide = [max(cd["d_in"], cd["d_out"]) for (cd,) in kids.values() if cd.family in LINEAR]
    return min(wide) if wide else None


@family("token_mlp", kind="container", title="Token-wise MLP (projections and an activation)",
        math=r"Y = W_{out}\, \phi(W_{in} X)\ \ \text{or}\ \ W_{down}\big(\phi(W_{gate}X) \odot W_{up}X\big)",
        work=("N",),
        notes=("Every projection runs on the N tokens: 2 N d_in d_out FLOPs each, whatever their order "
               "(plain, gated, fused gate/up).",
               "The activation (a module, or a parameterless leaf called as one) is elementwise: not counted."),
        uncounted_ops=("activation", "gate mul"))
def token_mlp(d, w, kids):
    n = w["N"]
    f = _mlp_width(kids)
    parts = []
    lin = {"N": n, "touch": w["touch"]} if "touch" in w else {"N": n}  # touch: a routed expert's weights read
    for role, (cd,) in kids.items():
        if cd.family in LINEAR:
            parts.append(Part(role, work=dict(lin)))
        elif cd.family in ELEMENTWISE or cd.family == "bare":
            parts.append(_elementwise(role, cd, n * f))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        elif cd.family in NORMS or cd.family == "unbound":  # a post-norm output module's LayerNorm
            parts.append(Part(role, work={"N": n}))
        else:
            _unexpected("token_mlp", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("transformer_block", kind="container", title="Transformer block (attention and MLP, sequential or parallel)",
        math=r"h' = h + \mathrm{Attn}(\mathrm{Norm}_1 h),\ y = h' + \mathrm{MLP}(\mathrm{Norm}_2 h')"
             r"\ \ \text{or}\ \ y = h + \mathrm{Attn}(\mathrm{Norm}\,h) + \mathrm{MLP}(\mathrm{Norm}\,h)",
        work=("B", "S", "T"),
        notes=("The attention gets (B, S, T); the norms, the MLP and any projection sitting directly in the "
               "block run on the B S tokens. Sequential or parallel residuals cost the same FLOPs.",),
        uncounted_ops=("residual add",))
def transformer_block(d, w, kids):
    b, s = w["B"], w["S"]
    n = {"N": b * s}
    f = _mlp_width(kids)
    parts = []
    for role, (cd,) in kids.items():
        if cd.family in ATTENTION:
            parts.append(Part(role, work=dict(w)))
        elif cd.family in LINEAR or cd.family in NORMS or cd.family in MLPS or cd.family in ("layer_scale", "unbound"):
            parts.append(Part(role, work=dict(n)))
        elif cd.family in ELEMENTWISE or cd.family == "bare":
            if f is None:
                raise FamilyError(f"transformer_block: activation {role!r} with no projection beside it")
            parts.append(_elementwise(role, cd, b * s * f))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            _unexpected("transformer_block", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("decoder_stack", kind="container", title="Decoder stack (embeddings, blocks, final norm)",
        math=r"X_0 = E[\mathrm{ids}] \,(+\, P[\mathrm{pos}]),\quad X_{i+1} = \mathrm{Block}_i(X_i),\quad "
             r"Y = \mathrm{Norm}(X_L)",
        work=("B", "S", "T"),
        notes=("Embeddings (token and learned positions) gather B S rows: no FLOPs.",
               "A rotary module at this level computes the cos/sin tables once per forward "
               "(2 B (d_h/2) S FLOPs, a batched matmul); the blocks' own rotary modules are then not executed.",
               "Stages: embeddings -> embed, everything else -> decoder."),
        uncounted_ops=())
def decoder_stack(d, w, kids):
    b, s, t = w["B"], w["S"], w["T"]
    n = {"N": b * s}
    shared_rope = any(cd.family in ROTARY for (cd,) in kids.values())
    parts = []
    for role, (cd,) in kids.items():
        if role == "layers":
            parts.append(Part(role, work={"B": b, "S": s, "T": t, "rope": 0 if shared_rope else 1}, stage="decoder"))
        elif cd.family == "embedding":
            parts.append(Part(role, work=dict(n), stage="embed"))
        elif cd.family in ROTARY:
            parts.append(Part(role, work={"B": b, "S": s}, stage="decoder"))
        elif cd.family in NORMS or cd.family in LINEAR or cd.family == "unbound":
            parts.append(Part(role, work=dict(n), stage="embed" if role.startswith("embed") else "decoder"))
        elif cd.family == "identity":
            parts.append(Part(role, work={}, stage="decoder"))
        else:
            _unexpected("decoder_stack", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("causal_lm", kind="container", title="Causal language model (decoder stack + LM head)",
        math=r"\mathrm{logits} = \mathrm{Decoder}(\mathrm{ids})_{[P]}\, W_{vocab}^{\top}",
        dims=("tied?",), work=("B", "S", "T", "P"),
        notes=("The head projects P positions (all S, or the last one: the lm_head_positions convention).",
               "tied = 1: the head's weight is the input embedding's (tie_word_embeddings); its parameters are "
               "counted once, with the embedding (as model.parameters() does), its bytes are read again.",
               "Wrappers with a single child (a model holding only its decoder) pass the workload through."),
        uncounted_ops=())
def causal_lm(d, w, kids):
    b, s, t = w["B"], w["S"], w["T"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "head":
            parts.append(Part(role, "lm_head", work={"N": b * w["P"], "tied": d["tied"]}, stage="head"))
        elif role == "backbone":
            parts.append(Part(role, work={"B": b, "S": s, "T": t}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}, stage="head"))
        else:
            _unexpected("causal_lm", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("wrapper", kind="container", title="Wrapper (a module holding one inner model)",
        math=r"\mathrm{cost} = \mathrm{cost}(\mathrm{inner})",
        notes=("No parameters of its own and a single child, called with the same workload.",))
def wrapper(d, w, kids):
    return Expansion(Cost(), tuple(Part(role, work=dict(w)) for role in kids))

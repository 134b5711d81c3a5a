"""The language decoder: MHA/GQA attention with rotary embeddings and a KV cache, the decoder
layer. (SwiGLU and MoE live in mlp.py.)"""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost, Dims, Expansion, Part, attention_core_flops
from analyzer.costs.formulas.registry import family


def _linear(d_in, d_out, bias) -> Dims:
    return Dims.of("linear", {"d_in": d_in, "d_out": d_out, "bias": bias})


def _describe_attention(d) -> list:
    heads, kv = d["d_q"] // d["d_h"], d["d_kv"] // d["d_h"]
    kind = "MHA" if heads == kv else "MQA" if kv == 1 else f"GQA, {heads // kv} query heads per KV head"
    impl = ("FlashAttention-2: causal tiles only, scores never in memory" if d["causal"] else
            "fused SDPA: full S x T scores, never in memory" if d["fused"] else
            "eager: full S x T scores written and read (no FlashAttention IO)")
    return [f"{kind}: {heads} heads, {kv} KV heads of {d['d_h']}", impl]


@family("decoder_attention", kind="composite", title="Decoder self-attention (MHA/GQA, rotary, KV cache)",
        math=r"O = \mathrm{softmax}\!\Big(\tfrac{R(QW_q) R(KW_k)^{\top}}{\sqrt{d_h}} + M\Big) V W_v\; W_o",
        dims=("d", "d_q", "d_kv", "d_h", "q_bias?", "k_bias?", "v_bias?", "o_bias?", "fused?", "causal?"),
        roles=("q_proj", "k_proj", "v_proj", "o_proj", "rotary_emb"), work=("B", "S", "T"),
        notes=("S new tokens attend over T keys (T = cached + new: T = S in prefill, T = past + 1 in decode).",
               "heads = d_q / d_h, kv_heads = d_kv / d_h (d_h: head dim); GQA when kv_heads < heads: the cache "
               "and the K/V projections shrink, the score matmuls do not (eager repeat_kv expands K and V).",
               "Pairs scored: eager (LlamaAttention) and SDPA compute the full S x T matrix, mask added "
               "after (no causal halving); FlashAttention-2 (causal = 1) computes only the causal tiles, "
               "S T - S (S - 1) / 2 pairs.",
               "FlashAttention IO: with fused = 1 the S x T scores never reach memory; eager writes and "
               "reads them (4 B heads S T elements of traffic).",
               "KV cache after the call: 2 B T d_kv elements per layer.",
               "Its rotary_emb runs per call unless the decoder stack computes the cos/sin tables once "
               "(workload flag rope = 0: then it is not executed)."),
        uncounted_ops=("softmax", "rotary apply", "mask add"), describe=lambda d: _describe_attention(d))
def decoder_attention(d, w):
    b, s, t = w["B"], w["S"], w["T"]
    hd, qd, kvd = d["d_h"], d["d_q"], d["d_kv"]
    heads = qd / hd
    pairs = s * t - d["causal"] * s * (s - 1) / 2
    scores = b * heads * s * t
    io = b * s * d["d"] * BYTES
    traffic = (2 * b * s * qd + 2 * b * t * kvd + 2 * b * s * kvd  # q in, o out, K/V read, new K/V written
               + 2 * b * s * (qd + kvd)  # rotary apply on q and k
               + (1 - d["fused"]) * 4 * scores) * BYTES
    own = Cost(flops=attention_core_flops(b * heads, pairs, hd, hd), kv_bytes=2 * b * t * kvd * BYTES,
               act_in=io, act_out=io, act_bytes=traffic,
               uncounted=(("softmax", b * heads * pairs), ("rotary apply", 3 * b * s * (qd + kvd)),
                          ("mask add", (1 - d["fused"]) * scores)))
    n = {"N": b * s}
    parts = (Part("q_proj", "linear", _linear(d["d"], qd, d["q_bias"]), n),
             Part("k_proj", "linear", _linear(d["d"], kvd, d["k_bias"]), n),
             Part("v_proj", "linear", _linear(d["d"], kvd, d["v_bias"]), n),
             Part("o_proj", "linear", _linear(qd, d["d"], d["o_bias"]), n),
             Part("rotary_emb", "rotary_embedding", Dims.of("rotary_embedding", {"half": hd / 2}),
                  {"B": b, "S": s} if w.get("rope", 1) else None))  # rope = 0: the stack computed the tables
    return Expansion(own, parts)


@family("decoder_layer", kind="composite", title="Decoder layer (pre-norm attention + MLP or MoE)",
        math=r"h' = h + \mathrm{Attn}(\mathrm{Norm}_1(h)),\quad y = h' + \mathrm{MLP}(\mathrm{Norm}_2(h'))",
        groups=("input_layernorm", "self_attn", "post_attention_layernorm", "mlp"), work=("B", "S", "T"),
        notes=("The MLP is the dense SwiGLU or the MoE, whichever the layer holds.",),
        uncounted_ops=("residual add",))
def decoder_layer(d, w):
    b, s = w["B"], w["S"]
    c = d["input_layernorm"]["C"]
    n = {"N": b * s}
    own = Cost(act_in=b * s * c * BYTES, act_out=b * s * c * BYTES, act_bytes=6 * b * s * c * BYTES,
               uncounted=(("residual add", 2 * b * s * c),))
    parts = tuple(Part(role, d[role].family, d[role], work) for role, work in (
        ("input_layernorm", n), ("self_attn", dict(w)), ("post_attention_layernorm", n), ("mlp", n)))
    return Expansion(own, parts)

"""A plain pre-norm ViT over precomputed patch tokens: class-token embeddings, fused-qkv attention,
quick-GELU feed-forward, block, and the ViT itself (a container)."""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost, Dims, Expansion, Part, attention_core_flops
from analyzer.costs.formulas.registry import family


def _linear(d_in, d_out, bias) -> Dims:
    return Dims.of("linear", {"d_in": d_in, "d_out": d_out, "bias": bias})


@family("class_token_embeddings", kind="composite", title="Embeddings (class token + positions)",
        math=r"X = [\,x_{cls};\ P\,] + \mathrm{resize}(E_{pos})",
        dims=("C", "P", "C_in", "k", "patch_bias?"), roles=("patch_embedding", "position_embedding"),
        work=("B", "n"),
        notes=("n patch tokens arrive precomputed (the caller passes them as patch embeddings), so the "
               "k x k patch_embedding convolution is never executed (its parameters still count; "
               "deliberately ignored).",
               "position_embedding gathers all P rows once (position_ids is [1, P]); when n + 1 != P they are "
               "bicubically resized (not counted)."),
        uncounted_ops=("gather", "pos-embed add"))
def class_token_embeddings(d, w):
    b, n, c = w["B"], w["n"], d["C"]
    out = b * (n + 1) * c * BYTES
    own = Cost(params=c, weight_bytes=c * BYTES, act_in=b * n * c * BYTES, act_out=out, act_bytes=2 * out,
               uncounted=(("pos-embed add", b * (n + 1) * c),))
    conv = Dims.of("conv2d", {"C_in": d["C_in"], "C_out": c, "k_h": d["k"], "k_w": d["k"], "groups": 1,
                              "bias": d["patch_bias"]})
    return Expansion(own, (Part("patch_embedding", "conv2d", conv, None),
                           Part("position_embedding", "embedding", Dims.of("embedding", {"V": d["P"], "d": c}),
                                {"N": d["P"]})))


@family("fused_qkv_attention", kind="composite", title="Self-attention (fused qkv, SDPA)",
        math=r"[Q,K,V] = X W_{qkv},\quad O = \mathrm{softmax}\!\big(\tfrac{QK^{\top}}{\sqrt{d_h}}\big) V\, W_o",
        dims=("C", "heads", "qkv_bias?", "out_bias?"), roles=("qkv_proj", "out_proj"), work=("B", "L"),
        notes=("L = n + 1 tokens (class token included), full bidirectional attention through SDPA "
               "(fused: no L x L traffic).",),
        uncounted_ops=("softmax",))
def fused_qkv_attention(d, w):
    b, l, c, heads = w["B"], w["L"], d["C"], d["heads"]
    own = Cost(flops=attention_core_flops(b * heads, l * l, c / heads, c / heads), act_in=b * l * c * BYTES,
               act_out=b * l * c * BYTES, act_bytes=4 * b * l * c * BYTES, uncounted=(("softmax", b * heads * l * l),))
    n = {"N": b * l}
    return Expansion(own, (Part("qkv_proj", "linear", _linear(c, 3 * c, d["qkv_bias"]), n),
                           Part("out_proj", "linear", _linear(c, c, d["out_bias"]), n)))


@family("quick_gelu_mlp", kind="composite", title="Feed-forward (quick GELU)",
        math=r"Y = W_2\, \big(h \odot \sigma(1.702\, h)\big),\quad h = W_1 X",
        dims=("C", "F", "bias?"), roles=("fc1", "fc2"), work=("N",),
        notes=("quick_gelu is a function, not a module: its elementwise work is counted here.",),
        uncounted_ops=("quick_gelu",))
def quick_gelu_mlp(d, w):
    n, c, f = w["N"], d["C"], d["F"]
    own = Cost(act_in=n * c * BYTES, act_out=n * c * BYTES, act_bytes=2 * n * f * BYTES,
               uncounted=(("quick_gelu", n * f),))
    return Expansion(own, (Part("fc1", "linear", _linear(c, f, d["bias"]), {"N": n}),
                           Part("fc2", "linear", _linear(f, c, d["bias"]), {"N": n})))


@family("prenorm_vit_block", kind="composite", title="Transformer block (pre-norm)",
        math=r"h = x + \mathrm{Attn}(\mathrm{LN}_1 x),\quad y = h + \mathrm{FF}(\mathrm{LN}_2 h)",
        groups=("layer_norm1", "self_attn", "layer_norm2", "mlp"), work=("B", "L"),
        uncounted_ops=("residual add",))
def prenorm_vit_block(d, w):
    b, l = w["B"], w["L"]
    c = d["layer_norm1"]["C"]
    own = Cost(act_in=b * l * c * BYTES, act_out=b * l * c * BYTES, act_bytes=6 * b * l * c * BYTES,
               uncounted=(("residual add", 2 * b * l * c),))
    n = {"N": b * l}
    return Expansion(own, tuple(Part(r, d[r].family, d[r], wk) for r, wk in (
        ("layer_norm1", n), ("self_attn", {"B": b, "L": l}), ("layer_norm2", n), ("mlp", n))))


@family("vit_encoder", kind="container", title="ViT (embeddings, pre-norm, transformer)",
        math=r"X_0 = \mathrm{LN}_{pre}(\mathrm{Emb}(P)),\quad X_{i+1} = \mathrm{Block}_i(X_i)",
        roles=("embeddings", "pre_layrnorm", "transformer"), work=("B", "n"),
        notes=("n patch tokens in, n + 1 tokens (class token included) through the blocks.",))
def vit_encoder(d, w, kids):
    b, n = w["B"], w["n"]
    return Expansion(Cost(), (Part("embeddings", work={"B": b, "n": n}),
                              Part("pre_layrnorm", work={"N": b * (n + 1)}),
                              Part("transformer", work={"B": b, "L": n + 1})))

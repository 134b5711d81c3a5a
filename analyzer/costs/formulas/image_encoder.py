"""Encoders assembled from structure: image encoders (ViT-style): patch-convolution embeddings with class
tokens, a q/k/v self-attention core with its output projection beside it, the encoder stack, an
attention-pooling head (a learned probe attending over the tokens) and the encoder root. All
containers (see transformer.py for the block and the MLP they share)."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, Expansion, Part
from analyzer.costs.formulas.registry import FamilyError, family
from analyzer.costs.formulas.transformer import LINEAR, NORMS, _unexpected

TOKENWISE = {"token_mlp", "layer_scale"} | NORMS | LINEAR


def conv_out(size, k, s, pad):
    """Output side of a convolution: floor((size + 2 pad - k) / s) + 1."""
    return sp.floor((size + 2 * pad - k) / s) + 1


def grid(d, h, w) -> tuple:
    return conv_out(h, d["k_h"], d["s_h"], d["pad_h"]), conv_out(w, d["k_w"], d["s_w"], d["pad_w"])


@family("image_embeddings", kind="container", title="Patch embeddings (patch convolution, class tokens, positions)",
        math=r"X = [\,x_{cls};\ \mathrm{conv}_{k,\ s}(I)^{\top}\,] + E_{pos}",
        dims=("k_h", "k_w", "s_h", "s_w", "pad_h", "pad_w", "cls"), work=("B", "H", "W"),
        notes=("An H x W image gives a g_h x g_w token grid, g = floor((H + 2 pad - k) / s) + 1 from the patch "
               "convolution's kernel and stride; L = g_h g_w + cls tokens (class, distillation) go on.",
               "The position table is added (a gather when it is an Embedding, resized when the grid differs "
               "from pretraining: not counted)."),
        uncounted_ops=("pos-embed add", "concat"))
def image_embeddings(d, w, kids):
    b = w["B"]
    g_h, g_w = grid(d, w["H"], w["W"])
    tokens = g_h * g_w + d["cls"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "patch":
            parts.append(Part(role, work={"B": b, "H": w["H"], "W": w["W"], "H_o": g_h, "W_o": g_w}))
        elif cd.family == "embedding":  # position_ids over the whole table
            parts.append(Part(role, work={"N": b * cd["V"]}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            _unexpected("image_embeddings", role, cd.family)
    return Expansion(Cost(uncounted=(("pos-embed add", b * tokens),)), tuple(parts))


@family("self_attention_core", kind="container", title="Self-attention core (q/k/v projections, no output projection)",
        math=r"O = \mathrm{softmax}\!\big(\tfrac{QK^{\top}}{\sqrt{d_h}}\big) V,\quad Q, K, V = X W_{q,k,v}",
        work=("B", "S", "T"),
        notes=("Core FLOPs 4 B S T d_v (d_v = the V projection's width): full, bidirectional S x T scores.",
               "The output projection is a sibling (an attention wrapper's output)."),
        uncounted_ops=("softmax",))
def self_attention_core(d, w, kids):
    b, s, t = w["B"], w["S"], w["T"]
    d_v = kids["v"][0]["d_out"]
    own = Cost(flops=4 * b * s * t * d_v, act_bytes=(4 * b * s * d_v) * BYTES, uncounted=(("softmax", b * s * t),))
    parts = []
    for role, (cd,) in kids.items():
        if cd.family in LINEAR:
            parts.append(Part(role, work={"N": b * s}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            _unexpected("self_attention_core", role, cd.family)
    return Expansion(own, tuple(parts))


@family("attention_wrapper", kind="container", title="Attention wrapper (attention core + output projection)",
        math=r"Y = \mathrm{Core}(X)\, W_o", work=("B", "S", "T"),
        notes=("The core gets (B, S, T); the output projection module runs on the B S tokens.",))
def attention_wrapper(d, w, kids):
    return Expansion(Cost(), (Part("attention", work=dict(w)), Part("output", work={"N": w["B"] * w["S"]})))


@family("layer_scale", kind="leaf", title="Layer scale (a learned per-channel factor)", math=r"y = \lambda \odot x",
        dims=("C",), work=("N",), uncounted_ops=("mul",))
def layer_scale(d, w):
    a = w["N"] * d["C"] * BYTES
    return Cost(params=d["C"], weight_bytes=d["C"] * BYTES, act_in=a, act_out=a, act_bytes=2 * a,
                uncounted=(("mul", w["N"] * d["C"]),))


@family("encoder_stack", kind="container", title="Encoder stack (a list of transformer blocks)",
        math=r"X_{i+1} = \mathrm{Block}_i(X_i)", work=("B", "S"),
        notes=("Full (bidirectional) attention: every block sees T = S keys.",))
def encoder_stack(d, w, kids):
    b, s = w["B"], w["S"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "layers":
            parts.append(Part(role, work={"B": b, "S": s, "T": s, "rope": 1}))
        elif cd.family in NORMS:
            parts.append(Part(role, work={"N": b * s}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            _unexpected("encoder_stack", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("multihead_attention", kind="container", title="nn.MultiheadAttention (packed in-projection)",
        math=r"Q = X_q W_q,\ [K, V] = X_{kv} [W_k, W_v],\quad O = \mathrm{softmax}(QK^{\top}/\sqrt{d_h}) V\, W_o",
        dims=("d",), work=("B", "S", "T"),
        notes=("S queries attend over T keys/values; in_proj_weight (3d x d) projects the queries with its first "
               "third and the keys/values with the rest: 2 B S d^2 + 4 B T d^2, then the core 4 B S T d and "
               "out_proj on the S queries.",),
        uncounted_ops=("softmax",))
def multihead_attention(d, w, kids):
    b, s, t, c = w["B"], w["S"], w["T"], d["d"]
    own = Cost(flops=2 * b * s * c * c + 4 * b * t * c * c + 4 * b * s * t * c,
               act_bytes=(2 * b * s * c + 4 * b * t * c) * BYTES, uncounted=(("softmax", b * s * t),))
    return Expansion(own, tuple(Part(role, work={"N": b * s}) for role in kids))


@family("attention_pool_head", kind="container", title="Attention-pooling head (a learned probe attends over the tokens)",
        math=r"p' = \mathrm{MHA}(p, X, X),\quad y = p' + \mathrm{MLP}(\mathrm{LN}(p'))",
        dims=("q",), work=("B", "L"),
        notes=("q probe tokens (the probe parameter) attend over the L tokens; the norm and the MLP see the B q "
               "pooled tokens.",))
def attention_pool_head(d, w, kids):
    b, l, q = w["B"], w["L"], d["q"]
    parts = []
    for role, (cd,) in kids.items():
        if cd.family == "multihead_attention":
            parts.append(Part(role, work={"B": b, "S": q, "T": l}))
        elif cd.family in TOKENWISE:
            parts.append(Part(role, work={"N": b * q}))
        else:
            _unexpected("attention_pool_head", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("image_encoder", kind="container", title="Image encoder (patch embeddings, encoder stack, head)",
        math=r"Y = \mathrm{Head}(\mathrm{Norm}(\mathrm{Encoder}(\mathrm{Embed}(I))))",
        work=("B", "H", "W"),
        notes=("L = g_h g_w + class tokens go through the encoder (the embeddings' grid).",
               "Norms beside the encoder see the B L tokens; a token-wise MLP beside them (a pooler) sees the "
               "B pooled first tokens; an attention-pooling head its probes. Stages: embeddings, encoder, head."),
        uncounted_ops=())
def image_encoder(d, w, kids):
    b = w["B"]
    if "embeddings" not in kids:
        raise FamilyError("image_encoder: no embeddings")
    emb = kids["embeddings"][0]
    g_h, g_w = grid(emb, w["H"], w["W"])
    tokens = g_h * g_w + emb["cls"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "embeddings":
            parts.append(Part(role, work=dict(w), stage="embeddings"))
        elif role == "encoder":
            parts.append(Part(role, work={"B": b, "S": tokens}, stage="encoder"))
        elif cd.family in NORMS:
            parts.append(Part(role, work={"N": b * tokens}, stage="encoder"))
        elif cd.family == "token_mlp":
            parts.append(Part(role, work={"N": b}, stage="head"))
        elif cd.family == "attention_pool_head":
            parts.append(Part(role, work={"B": b, "L": tokens}, stage="head"))
        elif cd.family == "identity":
            parts.append(Part(role, work={}, stage="encoder"))
        else:
            _unexpected("image_encoder", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("text_embeddings", kind="container", title="Text embeddings (token, position, segment tables and a norm)",
        math=r"X = \mathrm{Norm}(E_{tok}[\mathrm{ids}] + E_{pos}[p] + E_{seg}[s])", work=("B", "S"),
        notes=("Every table gathers B S rows; the sums and the norm are not FLOPs.",), uncounted_ops=("add",))
def text_embeddings(d, w, kids):
    n = w["B"] * w["S"]
    parts = []
    for role, (cd,) in kids.items():
        if cd.family == "embedding" or cd.family in NORMS:
            parts.append(Part(role, work={"N": n}))
        elif cd.family == "identity":
            parts.append(Part(role, work={}))
        else:
            _unexpected("text_embeddings", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("text_encoder", kind="container", title="Text encoder (embeddings, encoder stack, pooler)",
        math=r"Y = \mathrm{Encoder}(\mathrm{Embed}(\mathrm{ids})),\quad y_{pool} = \tanh(W\, Y_{0})",
        work=("B", "S"),
        notes=("S tokens, full (bidirectional) attention; a token-wise MLP beside the encoder (the pooler) sees "
               "the B first tokens. Stages: embed, encoder, head.",))
def text_encoder(d, w, kids):
    b, s = w["B"], w["S"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "embeddings":
            parts.append(Part(role, work={"B": b, "S": s}, stage="embed"))
        elif role == "encoder":
            parts.append(Part(role, work={"B": b, "S": s}, stage="encoder"))
        elif cd.family in NORMS:
            parts.append(Part(role, work={"N": b * s}, stage="encoder"))
        elif cd.family == "token_mlp":
            parts.append(Part(role, work={"N": b}, stage="head"))
        elif cd.family == "identity":
            parts.append(Part(role, work={}, stage="encoder"))
        else:
            _unexpected("text_encoder", role, cd.family)
    return Expansion(Cost(), tuple(parts))


@family("flat_vit", kind="container", title="ViT with its embeddings on the root (class token, positions, blocks)",
        math=r"Y = \mathrm{Head}(\mathrm{Norm}(\mathrm{Blocks}([\,x_{cls};\ \mathrm{conv}_{k,\ s}(I)^{\top}\,] + E_{pos})))",
        dims=("k_h", "k_w", "s_h", "s_w", "pad_h", "pad_w", "cls"), work=("B", "H", "W"),
        notes=("The root holds the class token and the position table; its patch module is a convolution "
               "(and identities); its blocks a list of transformer blocks, each seeing the L = g_h g_w + cls tokens.",
               "The classifier head (a Linear beside the blocks) sees B pooled rows (class token or average pooling, "
               "the mean not counted); norms "
               "the B L tokens. Stages: embeddings, encoder, head."),
        uncounted_ops=("pos-embed add",))
def flat_vit(d, w, kids):
    b = w["B"]
    g_h, g_w = grid(d, w["H"], w["W"])
    tokens = g_h * g_w + d["cls"]
    parts = []
    for role, (cd,) in kids.items():
        if role == "patch":
            parts.append(Part(role, work={"B": b, "H": w["H"], "W": w["W"], "H_o": g_h, "W_o": g_w}, stage="embeddings"))
        elif role == "blocks":
            parts.append(Part(role, "pass_through", work={"B": b, "S": tokens, "T": tokens, "rope": 1}, stage="encoder"))
        elif cd.family in NORMS:
            parts.append(Part(role, work={"N": b * tokens}, stage="encoder"))
        elif cd.family in LINEAR:
            parts.append(Part(role, work={"N": b}, stage="head"))
        elif cd.family == "identity":
            parts.append(Part(role, work={}, stage="encoder"))
        else:
            _unexpected("flat_vit", role, cd.family)
    return Expansion(Cost(uncounted=(("pos-embed add", b * tokens),)), tuple(parts))

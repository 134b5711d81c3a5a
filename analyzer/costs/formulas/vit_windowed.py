"""A windowed ViT image encoder (ViTDet-style): patch embedding, attention with decomposed
relative positions, GELU MLP block, windowed / global ViT block, convolutional neck, and the
encoder itself (a container routing the token grid; the stride-2 downsamplers are in conv.py)."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, Dims, Expansion, Part, attention_core_flops, mm_flops
from analyzer.costs.formulas.conv import downsample_size
from analyzer.costs.formulas.registry import family


def _linear(d_in, d_out, bias) -> Dims:
    return Dims.of("linear", {"d_in": d_in, "d_out": d_out, "bias": bias})


def _conv(c_in, c_out, k, bias) -> Dims:
    return Dims.of("conv2d", {"C_in": c_in, "C_out": c_out, "k_h": k, "k_w": k, "groups": 1, "bias": bias})


@family("patch_embed_conv", kind="composite", title="Patch embedding (p x p conv, stride p)",
        math=r"X_{tok} = \mathrm{conv}_{p\times p,\ s=p}(I)^{\top},\quad g = \lfloor H/p \rfloor",
        dims=("C_in", "C", "p", "bias?"), roles=("proj",), work=("B", "H", "W"),
        notes=("Non-overlapping patches (kernel = stride = p, no padding): an H x W image gives a "
               "floor(H/p) x floor(W/p) token grid (64 x 64 for p = 16 at 1024 px).",))
def patch_embed_conv(d, w):
    b, p = w["B"], d["p"]
    g_h, g_w = sp.floor(w["H"] / p), sp.floor(w["W"] / p)
    out = b * g_h * g_w * d["C"] * BYTES
    own = Cost(act_in=b * d["C_in"] * w["H"] * w["W"] * BYTES, act_out=out, act_bytes=2 * out)  # permute copy
    work = {"B": b, "H": w["H"], "W": w["W"], "H_o": g_h, "W_o": g_w}
    return Expansion(own, (Part("proj", "conv2d", _conv(d["C_in"], d["C"], p, d["bias"]), work),))


@family("relpos_attention", kind="composite", title="Attention with decomposed relative positions",
        math=r"A = \mathrm{softmax}\!\Big(\tfrac{QK^{\top}}{\sqrt{d_h}} + Q R_h^{\top} \oplus Q R_w^{\top}\Big),"
             r"\quad O = A V W_o",
        dims=("C", "d_h", "rel?", "L_h", "L_w", "qkv_bias?", "proj_bias?"), roles=("qkv", "proj"),
        work=("B", "h", "w"),
        notes=("B sequences of an h x w token grid each: windows of the windowed blocks (h = w = window, "
               "padded) or whole images for the global blocks.",
               "Relative positions (rel = 1): two einsums q.R_h and q.R_w, 2 B h w C (h + w) FLOPs; the "
               "rel-pos tables (L = 2 x size - 1 rows) are interpolated when the grid differs from "
               "pretraining (not counted).",
               "The core runs either through SDPA (fused, the rel-pos bias as attn_mask; torch 2.13 on CPU "
               "needs the custom_mapping) or with q k^T materialized. Same FLOPs; the bytes here assume the "
               "fused kernel."),
        uncounted_ops=("softmax", "rel-pos bias add"),
        describe=lambda d: [f"{d['C'] // d['d_h']} heads of {d['d_h']}"
                            + (f"; rel-pos tables of {d['L_h']} x {d['L_w']} rows (trained for a "
                               f"{(d['L_h'] + 1) // 2}-token side)" if d["rel"] else "")])
def relpos_attention(d, w):
    b, h, ww, c, hd = w["B"], w["h"], w["w"], d["C"], d["d_h"]
    n = h * ww
    heads = c / hd
    rel = d["rel"]
    params = rel * (d["L_h"] + d["L_w"]) * hd
    flops = rel * (mm_flops(b * n, c, h) + mm_flops(b * n, c, ww)) + attention_core_flops(b * heads, n * n, hd, hd)
    traffic = (4 * b * n * c + rel * (2 * b * heads * n * (h + ww) + 2 * b * heads * n * n)) * BYTES
    own = Cost(params=params, flops=flops, weight_bytes=params * BYTES, act_in=b * n * c * BYTES,
               act_out=b * n * c * BYTES, act_bytes=traffic,
               uncounted=(("softmax", b * heads * n * n), ("rel-pos bias add", rel * b * heads * n * n)))
    work = {"N": b * n}
    return Expansion(own, (Part("qkv", "linear", _linear(c, 3 * c, d["qkv_bias"]), work),
                           Part("proj", "linear", _linear(c, c, d["proj_bias"]), work)))


@family("gelu_mlp_block", kind="composite", title="MLP block (Linear, GELU, Linear)", math=r"Y = W_2\, \mathrm{GELU}(W_1 X)",
        dims=("C", "F", "bias?"), roles=("lin1", "act", "lin2"), work=("N",))
def gelu_mlp_block(d, w):
    n, c, f = w["N"], d["C"], d["F"]
    own = Cost(act_in=n * c * BYTES, act_out=n * c * BYTES)
    return Expansion(own, (Part("lin1", "linear", _linear(c, f, d["bias"]), {"N": n}),
                           Part("act", "gelu", Dims.of("gelu", {}), {"E": n * f}),
                           Part("lin2", "linear", _linear(f, c, d["bias"]), {"N": n})))


@family("windowed_vit_block", kind="composite", title="ViT block (windowed or global attention)",
        math=r"x' = x + \mathrm{unpart}\big(\mathrm{Attn}(\mathrm{part}_{w}(\mathrm{LN}_1 x))\big),"
             r"\quad y = x' + \mathrm{MLP}(\mathrm{LN}_2 x')",
        dims=("window",), groups=("norm1", "attn", "norm2", "mlp"), work=("B", "H", "W"),
        notes=("window > 0: the H x W grid is zero-padded to multiples of the window (64 -> 70 for window 14) "
               "and cut into ceil(H/w) ceil(W/w) windows; attention runs on the padded tokens, the MLP on the "
               "H W real ones. window = 0: global attention over all H W tokens.",),
        uncounted_ops=("residual add",),
        describe=lambda d: [f"windowed: {d['window']} x {d['window']} windows, grid zero-padded to multiples of "
                            f"{d['window']}" if d["window"] else "global attention over the whole grid"])
def windowed_vit_block(d, w):
    b, h, ww, win = w["B"], w["H"], w["W"], d["window"]
    c = d["norm1"]["C"]
    tokens = b * h * ww
    if win > 0:
        nh, nw = sp.ceiling(h / win), sp.ceiling(ww / win)
        attn = {"B": b * nh * nw, "h": win, "w": win}
        padded = b * nh * nw * win * win
        copies = 4 * padded * c * BYTES  # pad + partition, unpartition + crop
    else:
        attn, copies = {"B": b, "h": h, "w": ww}, 0
    own = Cost(act_in=tokens * c * BYTES, act_out=tokens * c * BYTES, act_bytes=6 * tokens * c * BYTES + copies,
               uncounted=(("residual add", 2 * tokens * c),))
    n = {"N": tokens}
    return Expansion(own, (Part("norm1", d["norm1"].family, d["norm1"], n), Part("attn", d["attn"].family, d["attn"], attn),
                           Part("norm2", d["norm2"].family, d["norm2"], n), Part("mlp", d["mlp"].family, d["mlp"], n)))


@family("conv_neck", kind="composite", title="Convolutional neck (k1 conv, LayerNorm2d, k2 conv, LayerNorm2d)",
        math=r"Y = \mathrm{LN2d}\big(\mathrm{conv}_{k_2}(\mathrm{LN2d}(\mathrm{conv}_{k_1}(X)))\big)",
        dims=("C_in", "C", "k1", "k2", "bias1?", "bias2?"), roles=("conv1", "norm1", "conv2", "norm2"),
        work=("B", "H", "W"),
        notes=("'Same' padding (k // 2), stride 1: the grid keeps its size.",))
def conv_neck(d, w):
    b, h, ww, c = w["B"], w["H"], w["W"], d["C"]
    same = {"B": b, "H": h, "W": ww, "H_o": h, "W_o": ww}
    ln = Dims.of("layernorm2d", {"C": c})
    own = Cost(act_in=b * d["C_in"] * h * ww * BYTES, act_out=b * c * h * ww * BYTES)
    return Expansion(own, (Part("conv1", "conv2d", _conv(d["C_in"], c, d["k1"], d["bias1"]), same),
                           Part("norm1", "layernorm2d", ln, {"B": b, "H": h, "W": ww}),
                           Part("conv2", "conv2d", _conv(c, c, d["k2"], d["bias2"]), same),
                           Part("norm2", "layernorm2d", ln, {"B": b, "H": h, "W": ww})))


@family("windowed_vit_encoder", kind="container", title="Windowed ViT image encoder (routes the token grid)",
        math=r"I \xrightarrow{\text{patch}} x_{g\times g} \xrightarrow{\text{blocks}} "
             r"\xrightarrow{\text{neck}} \xrightarrow{\text{net}_2,\ \text{net}_3} "
             r"z_{\lceil g/4\rceil \times \lceil g/4\rceil}",
        dims=("p", "C", "abs_pos?"), roles=("patch_embed", "blocks", "neck", "net_2?", "net_3?"), work=("B", "H", "W"),
        notes=("g = floor(H / p) tokens per side; every block sees the g x g grid; the neck keeps it; each "
               "downsampling convolution halves it (rounding up).",
               "The absolute position embedding (pretraining size) is added to the grid, bicubically "
               "resized when g differs (not counted by FlopCounterMode)."),
        uncounted_ops=("pos-embed add",))
def windowed_vit_encoder(d, w, kids):
    b, p = w["B"], d["p"]
    g_h, g_w = sp.floor(w["H"] / p), sp.floor(w["W"] / p)
    grid = {"B": b, "H": g_h, "W": g_w}
    parts = [Part("patch_embed", work=dict(w)), Part("blocks", work=grid), Part("neck", "conv_neck", work=grid)]
    h, ww = g_h, g_w
    for role in ("net_2", "net_3"):
        if role in kids:
            parts.append(Part(role, "downsample_conv", work={"B": b, "H": h, "W": ww}))
            k = kids[role][0]["k_h"]
            h, ww = downsample_size(h, k), downsample_size(ww, k)
    own = Cost(uncounted=(("pos-embed add", d["abs_pos"] * b * g_h * g_w * d["C"]),))
    return Expansion(own, tuple(parts))

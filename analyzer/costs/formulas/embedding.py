"""Lookups and position encodings: ``nn.Embedding`` and the rotary embedding module."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, mm_flops
from analyzer.costs.formulas.registry import family


@family("embedding", kind="leaf", title="Embedding (nn.Embedding)", math=r"Y_i = E_{\,\mathrm{id}_i,:}",
        dims=("V", "d"), work=("N",),
        notes=("A gather: no FLOPs. Weight bytes are the rows read, min(N, V) rows of d (not the whole "
               "table); the integer ids in are not counted as activation bytes.",),
        uncounted_ops=("gather",))
def embedding(d, w):
    rows = sp.Min(w["N"], d["V"])
    return Cost(params=d["V"] * d["d"], weight_bytes=rows * d["d"] * BYTES, act_out=w["N"] * d["d"] * BYTES,
                act_bytes=w["N"] * d["d"] * BYTES, uncounted=(("gather", w["N"] * d["d"]),))


@family("rotary_embedding", kind="leaf", title="Rotary position embedding (cos/sin tables)",
        math=r"\theta = \mathrm{inv\_freq}\; p^{\top},\quad (\cos\theta, \sin\theta)",
        dims=("half",), work=("B", "S"),
        notes=("half = inv_freq length = head_dim / 2. LlamaRotaryEmbedding.forward builds the angles with "
               "a batched matmul [B, half, 1] @ [B, 1, S], which FlopCounterMode counts: 2 B half S. B is the "
               "batch of position_ids (1 when the model builds them).",
               "The rotation itself (apply_rotary_pos_emb) runs in the attention module, elementwise.",),
        uncounted_ops=("cos/sin",))
def rotary_embedding(d, w):
    half, b, s = d["half"], w["B"], w["S"]
    out = 2 * b * s * 2 * half * BYTES
    return Cost(flops=mm_flops(b * half, 1, s), act_out=out, act_bytes=out,
                uncounted=(("cos/sin", 2 * b * s * 2 * half),))


@family("rotary_table", kind="leaf", title="Rotary position embedding (precomputed cos/sin tables)",
        math=r"(\cos\theta, \sin\theta)_{[0:S]}",
        dims=("half",), work=("B", "S"),
        notes=("cos/sin tables computed at construction (cos_cached / sin_cached buffers); forward slices the "
               "first S rows: no FLOPs (a longer sequence recomputes them with torch.outer, elementwise).",),
        uncounted_ops=("slice",))
def rotary_table(d, w):
    out = 2 * w["S"] * 2 * d["half"] * BYTES
    return Cost(act_out=out, act_bytes=out, uncounted=(("slice", 2 * w["S"] * 2 * d["half"]),))

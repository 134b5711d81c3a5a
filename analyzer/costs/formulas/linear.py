"""Dense projections: ``nn.Linear`` and the language-model head."""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost, mm_flops
from analyzer.costs.formulas.registry import family

_NOTE_TOUCH = ("`touch` (default 1) is the fraction of the weights read: a routed expert that receives "
               "N < 1 tokens on average is read with probability at most N.")


def linear_cost(d_in, d_out, bias, n, touch=1) -> Cost:
    params = d_in * d_out + bias * d_out
    return Cost(
        params=params,
        flops=mm_flops(n, d_in, d_out),
        weight_bytes=params * BYTES * touch,
        act_in=n * d_in * BYTES,
        act_out=n * d_out * BYTES,
        act_bytes=n * (d_in + d_out) * BYTES,
        uncounted=(("bias add", bias * n * d_out),),
    )


@family("linear", kind="leaf", title="Linear (nn.Linear)", math=r"Y = X W^{\top} + \beta\, b",
        dims=("d_in", "d_out", "bias?"), work=("N",),
        notes=("N rows (tokens x batch) go through the layer; addmm is counted as its matmul only.", _NOTE_TOUCH),
        uncounted_ops=("bias add",))
def linear(d, w):
    return linear_cost(d["d_in"], d["d_out"], d["bias"], w["N"], w.get("touch", 1))


@family("lm_head", kind="leaf", title="Language-model head", math=r"\mathrm{logits} = h\, W_{vocab}^{\top}",
        dims=("d_in", "d_out", "bias?"), work=("N",),
        notes=("N is the number of positions projected to the vocabulary: N = S in a prefill when the "
               "model's forward projects every position, N = 1 when only the last position is kept "
               "(the workload file's lm_head_positions convention).",))
def lm_head(d, w):
    return linear_cost(d["d_in"], d["d_out"], d["bias"], w["N"])

"""A linear vision-to-language projector: one Linear from the vision features to the LLM width."""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost, Dims, Expansion, Part
from analyzer.costs.formulas.registry import family


@family("linear_projector", kind="composite", title="Linear projector (vision features -> LLM width)",
        math=r"Y = [\,x_1;\ \dots;\ x_m\,]\, W_p^{\top} + b",
        dims=("d_in", "d_out", "bias?"), roles=("layers",), work=("N",),
        notes=("The input is the vision features of each token, often several encoders' outputs "
               "concatenated (d_in is their total width).",))
def linear_projector(d, w):
    n = w["N"]
    own = Cost(act_in=n * d["d_in"] * BYTES, act_out=n * d["d_out"] * BYTES)
    return Expansion(own, (Part("layers", "linear", Dims.of("linear", d.as_dict()), {"N": n}),))

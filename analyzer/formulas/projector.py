"""The vision-to-language projector of DeepSeek-OCR (MlpProjector, projector_type 'linear')."""
from __future__ import annotations

from analyzer.formulas.base import BYTES, Cost, Dims, Expansion, Part
from analyzer.formulas.registry import family


@family("linear_projector", kind="composite", title="Linear projector (vision features -> LLM width)",
        math=r"Y = [\,x_{clip};\ x_{sam}\,]\, W_p^{\top} + b",
        dims=("d_in", "d_out", "bias?"), roles=("layers",), work=("N",),
        notes=("DeepSeek-OCR concatenates CLIP's output (class token dropped) with SAM's flattened map: "
               "1024 + 1024 = 2048 features per vision token, projected to 1280.",))
def linear_projector(d, w):
    n = w["N"]
    own = Cost(act_in=n * d["d_in"] * BYTES, act_out=n * d["d_out"] * BYTES)
    return Expansion(own, (Part("layers", "linear", Dims.of("linear", d.as_dict()), {"N": n}),))

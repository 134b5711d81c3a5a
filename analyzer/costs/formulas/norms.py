"""Normalizations: LayerNorm over the last dimension, LayerNorm2d over channels, RMSNorm.
FlopCounterMode counts none of them; their elements are listed as uncounted."""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost
from analyzer.costs.formulas.registry import family


def norm_cost(op: str, params, n, c) -> Cost:
    a = n * c * BYTES
    return Cost(params=params, weight_bytes=params * BYTES, act_in=a, act_out=a, act_bytes=2 * a,
                uncounted=((op, n * c),))


@family("layernorm", kind="leaf", title="LayerNorm (nn.LayerNorm)",
        math=r"y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}} \odot \gamma + \beta\, b",
        dims=("C", "bias?"), work=("N",), uncounted_ops=("layernorm",))
def layernorm(d, w):
    return norm_cost("layernorm", d["C"] + d["bias"] * d["C"], w["N"], d["C"])


@family("layernorm2d", kind="leaf", title="LayerNorm2d (channels of a B x C x H x W map)",
        math=r"y_{:,c,y,x} = \gamma_c \frac{x_{:,c,y,x} - \mu_{y,x}}{\sqrt{\sigma^2_{y,x} + \epsilon}} + b_c",
        dims=("C",), work=("B", "H", "W"), uncounted_ops=("layernorm",))
def layernorm2d(d, w):
    return norm_cost("layernorm", 2 * d["C"], w["B"] * w["H"] * w["W"], d["C"])


@family("rmsnorm", kind="leaf", title="RMSNorm",
        math=r"y = \gamma \odot \frac{x}{\sqrt{\mathrm{mean}(x^2) + \epsilon}}",
        dims=("C",), work=("N",),
        uncounted_ops=("rmsnorm",))
def rmsnorm(d, w):
    return norm_cost("rmsnorm", d["C"], w["N"], d["C"])


@family("param_free_norm", kind="leaf", title="Norm without affine parameters",
        math=r"y = \frac{x - \mathrm{E}[x]}{\sqrt{\mathrm{Var}[x] + \epsilon}}",
        dims=("C",), work=("N",), uncounted_ops=("layernorm",),
        notes=("A LayerNorm with no weight or bias (F.layer_norm(x, shape, None, None)): no parameters.",))
def param_free_norm(d, w):
    return norm_cost("layernorm", 0, w["N"], d["C"])

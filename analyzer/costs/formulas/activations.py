"""Elementwise modules: GELU, SiLU, other activations, and modules that cost nothing."""
from __future__ import annotations

from analyzer.costs.formulas.base import BYTES, Cost
from analyzer.costs.formulas.registry import family


def elementwise_cost(op: str, e) -> Cost:
    return Cost(act_in=e * BYTES, act_out=e * BYTES, act_bytes=2 * e * BYTES, uncounted=((op, e),))


@family("gelu", kind="leaf", title="GELU (nn.GELU)", math=r"y = x\, \Phi(x)", work=("E",),
        notes=("E elements (tokens x features).",), uncounted_ops=("gelu",))
def gelu(d, w):
    return elementwise_cost("gelu", w["E"])


@family("silu", kind="leaf", title="SiLU (nn.SiLU)", math=r"y = x\, \sigma(x)", work=("E",),
        notes=("E elements (tokens x features).",), uncounted_ops=("silu",))
def silu(d, w):
    return elementwise_cost("silu", w["E"])


@family("activation", kind="leaf", title="Other elementwise activation", math=r"y = f(x)", work=("E",),
        uncounted_ops=("activation",))
def activation(d, w):
    return elementwise_cost("activation", w["E"])


@family("identity", kind="leaf", title="Identity / Dropout at inference (deliberately ignored)", math=r"y = x",
        notes=("Costs nothing at inference.",))
def identity(d, w):
    return Cost()

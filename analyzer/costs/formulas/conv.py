"""Convolutions: ``nn.Conv2d`` (output size given by the caller) and the stride-2 downsampler."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES, Cost, conv_flops
from analyzer.costs.formulas.registry import family


def conv2d_cost(c_in_g, c_out, k_h, k_w, groups, bias, b, h, w, h_o, w_o) -> Cost:
    params = c_out * c_in_g * k_h * k_w + bias * c_out
    a_in = b * c_in_g * groups * h * w * BYTES
    a_out = b * c_out * h_o * w_o * BYTES
    return Cost(
        params=params,
        flops=conv_flops(b, c_out, c_in_g, k_h * k_w, h_o * w_o),
        weight_bytes=params * BYTES,
        act_in=a_in,
        act_out=a_out,
        act_bytes=a_in + a_out,
        uncounted=(("bias add", bias * b * c_out * h_o * w_o),),
    )


@family("conv2d", kind="leaf", title="Conv2d (nn.Conv2d)",
        math=r"Y_{o,y,x} = \sum_{c,i,j} W_{o,c,i,j}\, X_{c,\,s y + i - p,\; s x + j - p} + \beta\, b_o",
        dims=("C_in", "C_out", "k_h", "k_w", "groups", "bias?"), work=("B", "H", "W", "H_o", "W_o"),
        notes=("C_in is the input channels per group (weight.shape[1]). Stride and padding are not in the "
               "static tree, so the caller gives the output size H_o x W_o (the parent family knows it); "
               "padding positions are counted as torch counts them (every output element, every tap).",),
        uncounted_ops=("bias add",))
def conv2d(d, w):
    return conv2d_cost(d["C_in"], d["C_out"], d["k_h"], d["k_w"], d["groups"], d["bias"],
                       w["B"], w["H"], w["W"], w["H_o"], w["W_o"])


def downsample_size(size, k):
    """Output side of a stride-2 convolution with padding k // 2: floor((H + 2 floor(k/2) - k) / 2) + 1."""
    return sp.floor((size + 2 * sp.floor(k / 2) - k) / 2) + 1


@family("downsample_conv", kind="leaf", title="Stride-2 downsampling convolution (padding k // 2)",
        math=r"Y = \mathrm{conv}_{k\times k,\ s=2,\ p=\lfloor k/2\rfloor}(X),\quad "
             r"H_o = \left\lfloor \tfrac{H + 2\lfloor k/2\rfloor - k}{2} \right\rfloor + 1",
        dims=("C_in", "C_out", "k", "bias?"), work=("B", "H", "W"),
        notes=("Each one halves the side (rounding up): 4x fewer tokens per convolution; a chain of them "
               "compresses a token grid.",),
        uncounted_ops=("bias add",))
def downsample_conv(d, w):
    k = d["k"]
    h_o, w_o = downsample_size(w["H"], k), downsample_size(w["W"], k)
    return conv2d_cost(d["C_in"], d["C_out"], k, k, 1, d["bias"], w["B"], w["H"], w["W"], h_o, w_o)

"""Family FLOPs against torch.utils.flop_counter.FlopCounterMode on real forwards (CPU).

Leaves at random shapes (fixed seed); composites on the self-written cost_mirror fixture, where
the static tree (analyzed from source) drives the cost model and FlopCounterMode's per-module
totals must match every module's inclusive FLOPs exactly; segment-anything's encoder at two
resolutions; transformers' LlamaAttention. Matmul and convolution FLOPs match exactly.
"""
from __future__ import annotations

import random

import pytest

torch = pytest.importorskip("torch")
sp = pytest.importorskip("sympy")

from costs_helpers import (MIRROR, flop_counter, load_mirror, per_module_flops, runtime_binder,  # noqa: E402
                           segment_anything_importable, static_binder)

from analyzer.costs.aggregate import module_cost  # noqa: E402
from analyzer.costs.formulas.base import BYTES  # noqa: E402

RNG = random.Random(0)
torch.manual_seed(0)


def _value(expr) -> int:
    return int(sp.sympify(expr).subs({BYTES: 2}))


def _check(model, forward, work, binder, *, family=None, skip=()):
    """FLOPs of the whole call and of every module FlopCounterMode saw, vs the walk's inclusive FLOPs."""
    with torch.no_grad(), flop_counter() as counter:
        forward()
    cost, walk = module_cost(binder, "", work, family)
    assert not walk.unsupported, walk.unsupported
    assert _value(cost.flops) == counter.get_total_flops()
    measured = per_module_flops(counter, type(model).__name__)
    ours: dict = {}
    for name, _, incl in walk.calls["call"]:
        ours[name] = ours.get(name, 0) + _value(incl.flops)
    for name, flops in measured.items():
        if name and not any(name.startswith(s) for s in skip):
            assert ours.get(name, 0) == flops, name
    return cost


# ---- leaves at random shapes -------------------------------------------------------------------
def _dims(*ranges):
    return [RNG.randint(lo, hi) for lo, hi in ranges]


@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias):
    for _ in range(3):
        d_in, d_out, n = _dims((1, 70), (1, 70), (1, 40))
        m = torch.nn.Linear(d_in, d_out, bias=bias)
        x = torch.randn(n, d_in)
        _check(m, lambda: m(x), {"N": sp.Integer(n)}, runtime_binder(m))


def test_lm_head_is_a_linear_over_positions():
    m = torch.nn.Linear(24, 100, bias=False)
    x = torch.randn(1, 7, 24)
    _check(m, lambda: m(x), {"N": sp.Integer(7)}, runtime_binder(m), family="lm_head")


def test_conv2d_random():
    for _ in range(4):
        c_in, c_out, k, stride, pad, size, batch = _dims((1, 6), (1, 8), (1, 5), (1, 3), (0, 2), (6, 20), (1, 3))
        groups = RNG.choice([g for g in (1, 2) if c_in % g == 0 and c_out % g == 0])
        m = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=pad, groups=groups)
        x = torch.randn(batch, c_in, size, size + 1)
        h_o, w_o = m(x).shape[2:]
        work = {"B": sp.Integer(batch), "H": sp.Integer(size), "W": sp.Integer(size + 1), "H_o": sp.Integer(h_o),
                "W_o": sp.Integer(w_o)}
        _check(m, lambda: m(x), work, runtime_binder(m))


@pytest.mark.parametrize("size", [7, 8, 13])
def test_downsample_conv(size):
    m = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1, bias=False)
    x = torch.randn(2, 4, size, size)
    cost = _check(m, lambda: m(x), {"B": sp.Integer(2), "H": sp.Integer(size), "W": sp.Integer(size)}, runtime_binder(m),
                  family="downsample_conv")
    assert _value(cost.act_out) == m(x).numel() * 2


@pytest.mark.parametrize("make, shape, work", [
    (lambda: torch.nn.LayerNorm(12), (5, 12), {"N": 5}),
    (lambda: torch.nn.GELU(), (5, 12), {"E": 60}),
    (lambda: torch.nn.SiLU(), (5, 12), {"E": 60}),
    (lambda: load_mirror().RMSNorm(12), (5, 12), {"N": 5}),
    (lambda: load_mirror().LayerNorm2d(6), (2, 6, 3, 4), {"B": 2, "H": 3, "W": 4}),
])
def test_elementwise_leaves_count_nothing(make, shape, work):
    """Norms and activations: FlopCounterMode counts nothing, neither do we (they are 'uncounted')."""
    m = make()
    x = torch.randn(*shape)
    cost = _check(m, lambda: m(x), {k: sp.Integer(v) for k, v in work.items()}, runtime_binder(m))
    assert cost.uncounted and all(_value(n) > 0 for _, n in cost.uncounted)


def test_embedding_and_router():
    emb = torch.nn.Embedding(50, 8)
    ids = torch.randint(0, 50, (3, 5))
    cost = _check(emb, lambda: emb(ids), {"N": sp.Integer(15)}, runtime_binder(emb))
    assert _value(cost.weight_bytes) == 15 * 8 * 2
    gate = load_mirror().Router(16, 8, 2)
    x = torch.randn(9, 16)
    _check(gate, lambda: gate(x), {"N": sp.Integer(9)}, runtime_binder(gate))


def test_rotary_tables_are_a_batched_matmul():
    rot = load_mirror().Rotary(16)
    pos = torch.arange(11)[None]
    _check(rot, lambda: rot(pos), {"B": sp.Integer(1), "S": sp.Integer(11)}, runtime_binder(rot))


def test_transformers_llama_rotary_and_attention():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaAttention

    cfg = LlamaConfig(hidden_size=32, num_attention_heads=4, num_key_value_heads=2, intermediate_size=64)
    cfg._attn_implementation = "eager"
    attn = LlamaAttention(cfg, layer_idx=0).eval()
    x = torch.randn(1, 9, 32)
    pos = torch.arange(9)[None]
    binder = runtime_binder(attn, families=())
    work = {"B": sp.Integer(1), "S": sp.Integer(9), "T": sp.Integer(9)}
    _check(attn, lambda: attn(x, position_ids=pos), work, binder)


# ---- composites on the self-written mirror (static tree from source) --------------------------
def _binder(root):
    return static_binder(str(MIRROR), f"mirror:{root}")


@pytest.mark.parametrize("img", [64, 40])  # grid 16 (windows padded 16 -> 18), grid 10 (global rel-pos resized)
def test_sam_like_encoder(img):
    m = load_mirror().build_sam().eval()
    x = torch.randn(2, 3, img, img)
    work = {"B": sp.Integer(2), "H": sp.Integer(img), "W": sp.Integer(img)}
    _check(m, lambda: m(x), work, _binder("build_sam"))


@pytest.mark.parametrize("grid", [4, 6])  # n + 1 = 17 positions as trained, and resized to 37
def test_clip_like_vit(grid):
    m = load_mirror().build_clip().eval()
    x = torch.randn(2, 64, grid, grid)
    cost = _check(m, lambda: m(x), {"B": sp.Integer(2), "n": sp.Integer(grid * grid)}, _binder("build_clip"))
    assert _value(cost.params) == sum(p.numel() for p in m.parameters())


def test_linear_projector():
    m = load_mirror().build_projector()
    x = torch.randn(1, 10, 128)
    _check(m, lambda: m(x), {"N": sp.Integer(10)}, _binder("build_projector"))


@pytest.mark.parametrize("root", ["build_dense_layer", "build_moe_layer"])
def test_decoder_layer_prefill_and_decode(root):
    m = getattr(load_mirror(), root)().eval()
    skip = ("mlp.experts.",)  # per-expert split depends on the routing; the MoE total does not
    x = torch.randn(1, 12, 48)
    _check(m, lambda: m(x), {"B": sp.Integer(1), "S": sp.Integer(12), "T": sp.Integer(12)}, _binder(root), skip=skip)
    with torch.no_grad():
        _, past = m(torch.randn(1, 20, 48))
    step = torch.randn(1, 1, 48)
    _check(m, lambda: m(step, past), {"B": sp.Integer(1), "S": sp.Integer(1), "T": sp.Integer(21)}, _binder(root),
           skip=skip)


# ---- segment-anything's image encoder ----------------------------------------------------------
@pytest.mark.parametrize("img", [224, 320])  # grid 14 (one window each), grid 20 (padded to 28)
def test_segment_anything_encoder(img):
    with segment_anything_importable():
        from segment_anything.modeling.image_encoder import ImageEncoderViT

        m = ImageEncoderViT(img_size=img, patch_size=16, embed_dim=48, depth=4, num_heads=2, out_chans=32,
                            use_rel_pos=True, window_size=14, global_attn_indexes=(1, 3)).eval()
        x = torch.randn(1, 3, img, img)
        binder = runtime_binder(m, families=())
        cost = _check(m, lambda: m(x), {"B": sp.Integer(1), "H": sp.Integer(img), "W": sp.Integer(img)}, binder)
    assert _value(cost.params) == sum(p.numel() for p in m.parameters())

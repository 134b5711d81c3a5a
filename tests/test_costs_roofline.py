"""The roofline layer (costs --hardware): hand-computed times of single calls on a made-up
accelerator, the ridge point, batching, KV cache arithmetic from attention family dims (GQA
included), the footprint, the shipped hardware files, and the command's JSON and text."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

sp = pytest.importorskip("sympy")

from costs_helpers import DEEPSEEK, FIXTURES, SAMPLE_FAMILIES, SAMPLE_WORKLOAD  # noqa: E402
from test_costs_workload import SAMPLE, run_cli  # noqa: E402

from analyzer.costs import footprint as fp  # noqa: E402
from analyzer.costs import hardware, roofline as rl  # noqa: E402
from analyzer.costs.calls import Call  # noqa: E402
from analyzer.costs.formulas import registry  # noqa: E402
from analyzer.costs.formulas.base import BYTES, Dims  # noqa: E402
from analyzer.diagnostics import AnalyzerError  # noqa: E402

# A made-up accelerator: 100 TFLOPS bf16, 1,000 GB/s, 10 GB. Ridge = 100 FLOP/byte.
TOY = """\
name: toy
title: Toy accelerator
sources: {sheet: {title: "Toy datasheet", url: "https://example.com/toy.pdf"}}
peak_tflops:
  bf16: {value: 100, source: sheet}
  fp32: {value: 12.5, source: sheet, note: "vector"}
memory_bandwidth_gb_per_s: {value: 1000, source: sheet}
memory_capacity_gb: {value: 10, source: sheet}
"""


@pytest.fixture
def toy(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    return hardware.load_hardware(str(path))


def _call(cost, phase="decode", stage="s", module="m", family="f", b_e=2) -> Call:
    v = {BYTES: b_e}
    ex = lambda e: Fraction(str(sp.sympify(e).subs(v)))  # noqa: E731
    return Call(phase, stage, module, family, ex(cost.flops), ex(cost.weight_bytes), ex(cost.params * BYTES),
                ex(cost.act_bytes), ex(cost.kv_bytes))


def _machine(hw, key="bf16"):
    return rl.Machine(hw.peak(key).value, hw.bandwidth.value)


def test_toy_hardware_figures_and_ridge(toy):
    assert toy.peak("bf16").value == 100 * 10 ** 12 and toy.bandwidth.value == 10 ** 12
    assert toy.capacity.value == 10 * 10 ** 9 and toy.peak("fp32").value == 12_500 * 10 ** 9
    assert _machine(toy).ridge == 100  # peak / bandwidth, FLOP per byte
    assert _machine(toy, "fp32").ridge == Fraction(25, 2)
    with pytest.raises(AnalyzerError, match="no fp8 peak"):
        toy.peak("fp8")


def test_single_linear_decode_to_the_byte_and_nanosecond(toy):
    # nn.Linear(4096, 4096, bias=False) on one token, bf16.
    cost = registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 1})
    c = _call(cost)
    assert c.flops == 2 * 4096 * 4096 == 33_554_432
    assert c.weight_bytes == c.all_weight_bytes == 4096 * 4096 * 2 == 33_554_432
    assert c.activation_bytes == (4096 + 4096) * 2 == 16_384
    t, tc, tm, flops, moved = rl.call_time(c, _machine(toy), rl.Options())
    assert moved == 33_570_816
    assert tc == Fraction(33_554_432, 10 ** 14)  # 335.54432 ns
    assert tm == Fraction(33_570_816, 10 ** 12)  # 33,570.816 ns: memory-bound
    assert t == tm and round(t * 10 ** 9) == 33_571
    # the same layer over 4096 tokens: 2 x 4096^3 FLOPs, intensity above the ridge -> compute-bound
    big = _call(registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 4096}))
    t, tc, tm, flops, moved = rl.call_time(big, _machine(toy), rl.Options())
    assert flops == 2 * 4096 ** 3 and moved == 4096 * 4096 * 2 * 3
    assert t == tc == Fraction(2 * 4096 ** 3, 10 ** 14) and flops / moved > _machine(toy).ridge


def test_efficiencies_divide_the_peaks(toy):
    c = _call(registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 1}))
    opt = rl.Options(1, Fraction(1, 2), Fraction(4, 5))
    t, tc, tm, _, _ = rl.call_time(c, _machine(toy), opt)
    assert tc == Fraction(33_554_432, 10 ** 14) * 2 and tm == Fraction(33_570_816, 10 ** 12) * Fraction(5, 4)


def test_batch_scales_activations_not_weights(toy):
    c = _call(registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 1}))
    flops, w, a = rl.batched(c, 8)
    assert (flops, w, a) == (8 * 33_554_432, 33_554_432, 8 * 16_384)
    # an embedding reads only the rows it gathers: B x N rows, at most the table
    emb = _call(registry.leaf_cost("embedding", {"V": 100, "d": 16}, {"N": 3}))
    assert emb.weight_bytes == 3 * 16 * 2 and emb.all_weight_bytes == 100 * 16 * 2
    assert rl.batched(emb, 8)[1] == 24 * 16 * 2 and rl.batched(emb, 50)[1] == 100 * 16 * 2


def test_stage_sums_and_memory_bound_share(toy):
    lin = registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 1})
    big = registry.leaf_cost("linear", {"d_in": 4096, "d_out": 4096, "bias": 0}, {"N": 4096})
    calls = [_call(lin, stage="a"), _call(lin, stage="a"), _call(big, stage="b")]
    doc = rl.phases(calls, _machine(toy), rl.Options(), ("a", "b"))["decode"]
    a, b, tot = doc["stages"]["a"], doc["stages"]["b"], doc["stages"]["total"]
    assert a["time_s"] == float(Fraction(2 * 33_570_816, 10 ** 12)) and a["bound"] == "memory"
    assert b["bound"] == "compute" and b["memory_bound_share"] == 0.0
    assert tot["time_s"] == pytest.approx(a["time_s"] + b["time_s"], rel=1e-15)
    assert doc["dominant_stage"] == "b" and tot["calls"] == 3 and tot["memory_bound_calls"] == 2
    calls[2] = _call(big, stage="b", family="g")
    fams = rl.phases(calls, _machine(toy), rl.Options(), ("a", "b"))["decode"]["families"]
    assert list(fams) == ["g", "f"] and fams["f"]["calls"] == 2 and fams["g"]["bound"] == "compute"
    assert fams["f"]["time_s"] + fams["g"]["time_s"] == pytest.approx(tot["time_s"], rel=1e-15)


def _decoder_attention(d, d_kv, d_h, t):
    dims = Dims.of("decoder_attention", {"d": d, "d_q": d, "d_kv": d_kv, "d_h": d_h, "q_bias": 0, "k_bias": 0,
                                         "v_bias": 0, "o_bias": 0, "fused": 0, "causal": 0})
    return registry.expand("decoder_attention", dims, {"B": 1, "S": 1, "T": t}).own


@pytest.mark.parametrize("kv_heads, expected", [(32, 536_870_912), (8, 134_217_728)])
def test_kv_cache_from_attention_family_dims(toy, kv_heads, expected):
    # Llama-2-7B: 32 layers, 32 KV heads of 128 (MHA); with 8 KV heads it is the GQA layout of
    # Llama-3-8B. At T = 1024, batch 1, bf16: 2 (K, V) x 32 layers x kv_heads x 128 x 1024 x 2 B.
    own = _decoder_attention(4096, kv_heads * 128, 128, 1024)
    calls = [_call(own, module=f"model.layers.{i}.self_attn") for i in range(32)]
    assert fp.kv_cache_per_request(calls) == 2 * 32 * kv_heads * 128 * 1024 * 2 == expected
    out = fp.footprint(calls, weights_bytes=0, batch=1, kv_length=1024, capacity=toy.capacity.value)
    assert out["kv_cache_bytes"] == expected and out["kv_cache_layers"] == 32
    assert out["kv_cache_bytes_per_token"] == expected // 1024
    with_width = fp.footprint(calls, weights_bytes=0, batch=1, kv_length=1024, capacity=toy.capacity.value,
                              bytes_per_element=2)
    assert with_width["kv_elements_per_layer_per_token"] == kv_heads * 128  # KV heads x head dim
    assert fp.footprint(calls, weights_bytes=0, batch=8, kv_length=1024,
                        capacity=toy.capacity.value)["kv_cache_bytes"] == 8 * expected


def test_footprint_largest_batch(toy):
    own = _decoder_attention(4096, 4096, 128, 1024)
    calls = [_call(own) for _ in range(32)]
    weights = 7 * 10 ** 9
    out = fp.footprint(calls, weights_bytes=weights, batch=1, kv_length=1024, capacity=toy.capacity.value)
    per_request = 536_870_912 + out["peak_activation_bytes_per_request"]
    assert out["peak_activation_bytes_per_request"] == calls[0].activation_bytes
    assert out["max_batch"] == (10 ** 10 - weights) // per_request
    assert out["fits"] and out["total_bytes"] == weights + per_request
    tight = fp.footprint(calls, weights_bytes=11 * 10 ** 9, batch=1, kv_length=1024, capacity=toy.capacity.value)
    assert tight["max_batch"] == 0 and not tight["fits"]


def test_shipped_hardware_files_load():
    names = hardware.known_hardware()
    assert {"a100-sxm-80gb", "h100-sxm", "h200", "b200", "l40s", "mi300x"} <= set(names)
    for name in names:
        hw = hardware.load_hardware(name)
        assert hw.name == name and "bf16" in hw.peaks
        for f in (*hw.peaks.values(), hw.bandwidth, hw.capacity):
            assert f.source["url"].startswith("https://") and f.source["title"]
        for key, f in hw.peaks.items():  # a with-sparsity-only datasheet figure is halved, and says so
            assert "sparsity" in f.note or key == "fp32" or "dense" in f.note, (name, key)
    h100 = hardware.load_hardware("h100-sxm")
    assert h100.peak("bf16").value == Fraction("989.5") * 10 ** 12 and h100.bandwidth.value == 3_350 * 10 ** 9


def test_bad_hardware_files(tmp_path):
    with pytest.raises(AnalyzerError, match="unknown accelerator"):
        hardware.load_hardware("no-such-gpu")
    bad = tmp_path / "bad.yaml"
    bad.write_text(TOY.replace("source: sheet}\n  fp32", "source: other}\n  fp32"))
    with pytest.raises(AnalyzerError, match="E005|expected one of the sources"):
        hardware.load_hardware(str(bad))
    bad.write_text(TOY.replace("bf16:", "bf17:"))
    with pytest.raises(AnalyzerError, match="peak_tflops.bf17"):
        hardware.load_hardware(str(bad))


def test_costs_hardware_json_and_text(tmp_path, capsys):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    code, plain, _ = run_cli(SAMPLE + ["--json", "-"], capsys)
    assert code == 0 and "roofline" not in json.loads(plain)
    code, out, err = run_cli(SAMPLE + ["--hardware", str(path), "--batch", "2", "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert {k: v for k, v in doc.items() if k != "roofline"} == json.loads(plain)  # the costs unchanged
    r = doc["roofline"]
    assert r["hardware"]["ridge_flops_per_byte"] == 100 and r["batch"] == 2 and r["compute_efficiency"] == 1.0
    for phase in ("prefill", "decode"):
        stages = r["phases"][phase]["stages"]
        assert sum(e["time_s"] for s, e in stages.items() if s != "total") == pytest.approx(stages["total"]["time_s"])
        assert stages["total"]["flops"] == 2 * doc[phase]["total"]["flops"]  # batch 2
    t = r["throughput"]
    assert t["decode_tokens_per_s"] == pytest.approx(2 / t["decode_step_s"])
    assert r["footprint"]["weights_bytes"] == doc["prefill"]["total"]["params"] * 2
    code, text, _ = run_cli(SAMPLE + ["--hardware", str(path)], capsys)
    assert code == 0 and "roofline on Toy accelerator" in text and "Toy datasheet, https://example.com/toy.pdf" in text
    assert "<- dominant" in text and "time to first token" in text and "roofline assumptions:" in text
    assert text.startswith(run_cli(SAMPLE, capsys)[1])  # the costs text comes first, unchanged


def test_costs_hardware_bad_options(tmp_path, capsys):
    code, _, err = run_cli(SAMPLE + ["--hardware", "h100-sxm", "--compute-efficiency", "1.5"], capsys)
    assert code == 2 and "E003" in err
    code, _, err = run_cli(SAMPLE + ["--hardware", "a100-sxm-80gb", "--dtype", "fp8"], capsys)
    assert code == 2 and "no fp8 peak" in err


@pytest.mark.skipif(not DEEPSEEK, reason="set DEEPSEEK_OCR_SRC to the DeepSeek-OCR folder")
def test_deepseek_ocr_on_h100(capsys):
    code, out, err = run_cli(["costs", DEEPSEEK, "--mode", "base", "--hardware", "h100-sxm", "--json", "-"], capsys)
    assert code == 0, err
    r = json.loads(out)["roofline"]
    dec = r["phases"]["decode"]["stages"]["total"]
    assert dec["bound"] == "memory" and r["throughput"]["decode_tokens_per_s"] > 0
    assert r["footprint"]["kv_cache_layers"] == 12 and r["footprint"]["fits"]


__all__ = ["FIXTURES", "SAMPLE_FAMILIES", "SAMPLE_WORKLOAD"]


LLAMA2_7B = FIXTURES / "llama2_7b_config" / "config.json"  # Llama-2-7B's hyperparameters, no weights


@pytest.mark.skipif(not (FIXTURES.parent / "rules" / "workloads" / "causal_lm.yaml").is_file(),
                    reason="needs the causal-LM workload template (costs for any transformers decoder)")
@pytest.mark.parametrize("batch", [1, 8])
def test_llama2_7b_on_a100_through_the_command(batch, capsys):
    """The whole command on transformers' own Llama source with Llama-2-7B's config: the KV cache
    at T = 1024 in bf16 is 2 x 32 layers x 32 KV heads x 128 x 1024 x 2 B per request."""
    import transformers.models.llama as llama
    from pathlib import Path

    src = str(Path(llama.__file__).parent)
    code, out, err = run_cli(["costs", src, "--root", "modeling_llama:LlamaForCausalLM", "--config", str(LLAMA2_7B),
                              "--text-tokens", "1024", "--kv-length", "1024", "--hardware", "a100-sxm-80gb",
                              "--batch", str(batch), "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    f = doc["roofline"]["footprint"]
    assert f["kv_cache_bytes_per_request"] == 2 * 32 * 32 * 128 * 1024 * 2 == 536_870_912
    assert f["kv_cache_bytes"] == batch * 536_870_912 and f["kv_cache_layers"] == 32
    assert f["weights_bytes"] == 6_738_415_616 * 2
    dec = doc["roofline"]["phases"]["decode"]["stages"]["total"]
    assert dec["bound"] == "memory"
    # decode is memory-bound: one step moves the weights once plus B requests' activations and KV reads
    assert dec["time_s"] == pytest.approx(dec["bytes"] / 2_039e9, rel=1e-9)

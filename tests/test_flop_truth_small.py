"""tests/flop_truth_small.py (the FlopCounterMode truth of issue 11) against hand math on a tiny llama.

Hand math, written out here independently of the counting code: 2*M*N*K per Linear (M rows),
torch's SDPA formula 4*B*H*S*T*D (scores and values; torch counts the full S x T, no causal
halving), the rotary tables' outer product inv_freq (D/2) x positions as a batched matmul.
"""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from flop_truth_small import tiny_truth

HIDDEN, LAYERS, HEADS, KV_HEADS, FFN, VOCAB = 64, 2, 4, 2, 128, 128
D = HIDDEN // HEADS


def linear(rows, d_in, d_out):
    return 2 * rows * d_in * d_out


def llama_flops(n, keys):
    """One forward of n new tokens whose attention sees `keys` keys (B = 1)."""
    layer = (linear(n, HIDDEN, HEADS * D) + 2 * linear(n, HIDDEN, KV_HEADS * D) + linear(n, HEADS * D, HIDDEN)
             + 3 * linear(n, HIDDEN, FFN)
             + 4 * 1 * HEADS * n * keys * D)
    rotary = 2 * (D // 2) * n  # [1, D/2, 1] @ [1, 1, n]
    return LAYERS * layer + linear(n, HIDDEN, VOCAB) + rotary


def llama_params():
    layer = HIDDEN * HEADS * D * 2 + HIDDEN * KV_HEADS * D * 2 + 3 * HIDDEN * FFN + 2 * HIDDEN
    return VOCAB * HIDDEN + LAYERS * layer + HIDDEN + HIDDEN * VOCAB


@pytest.fixture(scope="module")
def rec():
    return tiny_truth("llama", S=8, T=12, hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS,
                      num_key_value_heads=KV_HEADS, intermediate_size=FFN, vocab_size=VOCAB)


def test_tiny_llama_prefill_and_decode_match_hand_math(rec):
    assert rec["prefill"]["flops"] == llama_flops(8, 8)
    assert rec["decode"]["flops"] == llama_flops(1, 12)
    assert rec["decode"]["keys_ok"] and 12 in rec["decode"]["keys_seen"]
    assert rec["prefill"]["logits"] == [1, 8, VOCAB] and rec["decode"]["logits"] == [1, 1, VOCAB]


def test_tiny_llama_params_and_static_inputs(rec):
    assert rec["params"] == rec["params_all"] == llama_params()
    assert rec["root"] == "modeling_llama:LlamaForCausalLM" and rec["src"].endswith("models/llama")
    assert rec["config"]["hidden_size"] == HIDDEN and rec["config"]["num_key_value_heads"] == KV_HEADS


def test_tiny_moe_routes_top_k_per_token():
    r = tiny_truth("mixtral", S=8, T=12)
    for phase, tokens in (("prefill", 8), ("decode", 1)):
        routing = r[phase]["routing"]
        assert (routing["experts"], routing["top_k"]) == (4, 2)
        assert routing["expert_rows_total"] == routing["expected_total"] == 2 * tokens * 2  # layers * tokens * top_k


@pytest.mark.parametrize("model_type", ["llama", "opt", "mixtral"])
def test_fake_tensors_count_what_real_tensors_count(model_type):
    """bench/flop_truth.py counts full-size models under FakeTensorMode: on tiny ones it gives the
    real tensors' FLOPs and params (OPT: its own all-ones mask answered; mixtral: the fixed routing
    moves tokens between experts, not the total)."""
    real, fake = tiny_truth(model_type), tiny_truth(model_type, fake=True)
    for phase in ("prefill", "decode"):
        assert fake[phase]["flops"] == real[phase]["flops"], phase
    assert (fake["params"], fake["params_all"]) == (real["params"], real["params_all"])

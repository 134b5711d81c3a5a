"""Cost models for any model (issue 11): small configs of several transformers decoder
architectures, built for real on the CPU, measured with FlopCounterMode (prefill over S tokens with
every position's logits, one decode step over T keys), against `costs` run on their source (the
static tree, families found by structure, the causal-LM template). FLOPs and parameters exact."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sympy")

from costs_helpers import image_truth, lm_truth, small_config, static_costs  # noqa: E402

DECODERS = {
    "llama": {},
    "qwen2": {},                                          # q/k/v biases
    "gemma": {"head_dim": 32},                            # tied head, heads x head_dim > hidden, per-layer rotary
    "phi3": {"pad_token_id": 0},                          # fused qkv_proj and gate_up_proj
    "gpt2": {"n_inner": 96},                              # Conv1D c_attn / c_proj, learned positions, tied
    "falcon": {"new_decoder_architecture": False},        # fused MQA query_key_value, parallel attention + MLP
    "bloom": {"n_head": 4},                               # ALiBi through baddbmm
    "phi": {"partial_rotary_factor": 0.5},                # partial rotary, parallel block, head bias
    "opt": {"ffn_dim": 96, "word_embed_proj_dim": 64},   # fc1 / fc2 in the layer, learned positions
    "olmo": {},                                           # LayerNorm without parameters
    "gpt_neox": {"rotary_pct": 0.5},                      # fused query_key_value, embed_out head, parallel residual
    "gptj": {"n_inner": 96, "rotary_dim": 8},             # sin/cos buffer (no rotary module), parallel block
    "codegen": {"n_inner": 96, "rotary_dim": 8},          # fused qkv_proj, out_proj
    "mpt": {"d_model": 64, "n_heads": 4, "n_layers": 2},  # Wqkv, ALiBi, LayerNorm without bias
    "persimmon": {},                                      # q/k layernorms, relu^2, partial rotary
    "stablelm": {"qk_layernorm": False},                  # LayerNorm with bias, partial rotary
    "starcoder2": {},                                     # biases everywhere, c_fc / c_proj
    "cohere": {},                                         # parallel block, a weight-only LayerNorm, tied head
    "biogpt": {},                                         # scaled / learned-position Embedding subclasses
    "glm": {"head_dim": 16, "pad_token_id": 0},           # fused gate_up_proj, partial rotary
    "mistral": {},
    "granite": {},                                        # multipliers (no FLOPs), no per-layer rotary
}


@pytest.mark.parametrize("model_type", sorted(DECODERS))
def test_decoder_flops_and_params_match_flop_counter(model_type, tmp_path):
    config = small_config(model_type, **DECODERS[model_type])
    truth = lm_truth(config)
    doc = static_costs(truth["class"], config, tmp_path)
    assert doc["workload"]["model"] == "causal_lm"
    assert not doc["unsupported"], doc["unsupported"]
    assert doc["prefill"]["total"]["flops"] == truth["prefill"]
    assert doc["decode"]["total"]["flops"] == truth["decode"]
    assert doc["model_params"] == truth["params"]
    assert set(doc["prefill"]) == {"embed", "decoder", "head", "total"}


MOE = {
    "mixtral": {"num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen2_moe": {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
                  "shared_expert_intermediate_size": 48},  # a shared expert and its sigmoid gate
    "olmoe": {"num_experts": 4, "num_experts_per_tok": 2},  # q/k norms
}


@pytest.mark.parametrize("model_type", sorted(MOE))
def test_moe_decoder_flops_exact_for_any_routing(model_type, tmp_path):
    """Top-k routing makes N k token-expert pairs whatever the router does: FLOPs exact; the
    per-expert split (uniform) is stated as an assumption."""
    config = small_config(model_type, **MOE[model_type])
    truth = lm_truth(config)
    doc = static_costs(truth["class"], config, tmp_path)
    assert not doc["unsupported"], doc["unsupported"]
    assert doc["prefill"]["total"]["flops"] == truth["prefill"]
    assert doc["decode"]["total"]["flops"] == truth["decode"]
    assert doc["model_params"] == truth["params"]
    assert any("routing: uniform over the 4 experts (top-2" in a for a in doc["assumptions"].values())
    assert any(g["family"] == "routed_moe" for g in doc["inferred"])


VISION = {  # class name in transformers -> (config class, overrides)
    "ViTModel": ("ViTConfig", {}),                      # class token, pooler on the first token
    "DeiTModel": ("DeiTConfig", {}),                    # class + distillation tokens
    "Dinov2Model": ("Dinov2Config", {}),                # layer scale
    "CLIPVisionModel": ("CLIPVisionConfig", {}),        # class embedding, position Embedding, wrapped
    "SiglipVisionModel": ("SiglipVisionConfig", {}),    # no class token, attention-pooling head
}
SMALL_VISION = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
                "image_size": 32, "patch_size": 8}


# The pretraining size for all; DINOv2 interpolates its positions, so also a larger, non-square image.
@pytest.mark.parametrize("name, size", [(n, (32, 32)) for n in sorted(VISION)] + [("Dinov2Model", (48, 40))])
def test_image_encoder_flops_and_params(name, size, tmp_path):
    import transformers

    config_name, extra = VISION[name]
    cls = getattr(transformers, name)
    config = getattr(transformers, config_name)(**{**SMALL_VISION, **extra})
    truth = image_truth(cls, config, size)
    doc = static_costs(cls, config, tmp_path, image_size=f"{size[0]}x{size[1]}")
    assert doc["workload"]["model"] == "image_encoder"
    assert not doc["unsupported"], doc["unsupported"]
    assert doc["prefill"]["total"]["flops"] == truth["flops"]
    assert doc["model_params"] == truth["params"]
    assert set(doc["prefill"]) <= {"embeddings", "encoder", "head", "total"}


@pytest.mark.parametrize("name, config_name", [("BertModel", "BertConfig"), ("RobertaModel", "RobertaConfig")])
def test_text_encoder_flops_and_params(name, config_name, tmp_path):
    import transformers

    cls = getattr(transformers, name)
    config = getattr(transformers, config_name)(hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                                num_attention_heads=4, vocab_size=101, max_position_embeddings=64)
    torch.manual_seed(0)
    model = cls(config).eval()
    from costs_helpers import flop_counter

    with torch.no_grad(), flop_counter() as c:
        model(input_ids=torch.randint(3, 101, (1, 12)))
    doc = static_costs(cls, config, tmp_path, text_tokens=12)
    assert doc["workload"]["model"] == "encoder"
    assert not doc["unsupported"], doc["unsupported"]
    assert doc["prefill"]["total"]["flops"] == c.get_total_flops()
    assert doc["model_params"] == sum(p.numel() for p in model.parameters())


# class token pooling; no class token, average pooling and layer scale (a gamma parameter)
@pytest.mark.parametrize("kw", [{}, {"init_values": 1e-5, "class_token": False, "global_pool": "avg"}])
def test_timm_vit_flat_layout(kw):
    """timm's VisionTransformer keeps its class token and positions on the root (flat_vit). Its
    static tree is partial today (timm.layers.get_norm_layer), so the tree here is the live
    module's; the family, the template and the FLOPs are the costs command's."""
    import importlib.util

    if importlib.util.find_spec("timm") is None:
        pytest.skip("timm is not installed")
    from costs_helpers import flop_counter, runtime_binder, timm_importable

    from analyzer.costs import aggregate, workload
    from analyzer.costs.summary import summary

    with timm_importable():
        from timm.models.vision_transformer import VisionTransformer

        torch.manual_seed(0)
        model = VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, num_classes=10,
                                  **kw).eval()
        with torch.no_grad(), flop_counter() as c:
            model(torch.randn(1, 3, 32, 32))
        binder = runtime_binder(model, families=())
    template = workload.select_template(binder)
    doc = summary(aggregate.run_workload(binder, workload.choose(template, image_size="32")))
    assert template.name == "image_encoder" and not doc["unsupported"], doc["unsupported"]
    assert doc["prefill"]["total"]["flops"] == c.get_total_flops()
    assert doc["model_params"] == sum(p.numel() for p in model.parameters())

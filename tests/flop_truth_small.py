"""FlopCounterMode truths of tiny transformers models, in seconds, for tests (issue 11).

The counting is bench/flop_truth.py's (``decoder_truth`` / ``encoder_truth``: FlopCounterMode with
the CPU flash SDPA counted, prefill with logits on all positions, one decode step over a cache of
T - 1 positions), here on REAL CPU tensors (tiny models: real values, so an MoE's routing is the
router's own) instead of FakeTensorMode.

    rec = tiny_truth("llama", S=8, T=12)       # tiny default sizes (TINY), overridable:
    rec = tiny_truth("mixtral", num_local_experts=4, num_experts_per_tok=2)
    rec["prefill"]["flops"], rec["decode"]["flops"], rec["params"], rec["config"]
    src, root = static_args(rec)               # what `python -m analyzer costs` takes
    write_config(rec, tmp_path)                # tmp_path/config.json = config.to_dict()
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from flop_truth import decoder_truth, encoder_truth

# Small sizes under every name the decoders of the sweep use; only the keys a config has are set
# (attribute_map aliases included).
TINY = {
    "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
    "intermediate_size": 128, "vocab_size": 128, "max_position_embeddings": 64,
    "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 128, "d_model": 64, "n_heads": 4, "n_layers": 2,
    "ffn_dim": 128, "word_embed_proj_dim": 64, "n_positions": 64, "rotary_dim": 8,
    "num_local_experts": 4, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 64, "image_size": 32, "patch_size": 8,
}


def tiny_config(model_type: str, **overrides):
    """``AutoConfig.for_model(model_type)`` with the TINY sizes it has, then ``overrides``."""
    from transformers import AutoConfig

    default = AutoConfig.for_model(model_type)
    known = set(default.to_dict()) | set(getattr(default, "attribute_map", {}))
    kwargs = {k: v for k, v in TINY.items() if k in known}
    vocab = overrides.get("vocab_size", kwargs.get("vocab_size"))
    pad = getattr(default, "pad_token_id", None)
    if vocab is not None and isinstance(pad, int) and pad >= vocab:  # the Embedding's padding_idx must fit
        kwargs["pad_token_id"] = vocab - 1
    kwargs.update(overrides)
    return AutoConfig.for_model(model_type, **kwargs)


def _record(model, config) -> dict:
    cls = type(model)
    module_file = Path(sys.modules[cls.__module__].__file__)
    return {"model_type": config.model_type, "class": cls.__name__, "module_file": str(module_file),
            "src": str(module_file.parent), "root": f"{module_file.stem}:{cls.__name__}",
            "attn_implementation": getattr(model.config, "_attn_implementation", None), "config": config.to_dict()}


def tiny_truth(model_type: str, S: int = 8, T: int = 12, attn_implementation: str | None = None, seed: int = 0,
               fake: bool = False, **overrides) -> dict:
    """Prefill (S tokens) and decode (T keys) FLOPs of the tiny causal LM, with params and config.
    ``fake=True``: built and run under FakeTensorMode, as bench/flop_truth.py does at full size."""
    import contextlib

    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = tiny_config(model_type, **overrides)
    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with FakeTensorMode() if fake else contextlib.nullcontext():
        model = AutoModelForCausalLM.from_config(config, **kwargs)
        return {**_record(model, config), **decoder_truth(model, config.vocab_size, S=S, T=T, fake=fake)}


def tiny_encoder_truth(model_type: str, image: int = 32, seed: int = 0, **overrides) -> dict:
    """One forward of pixel_values [1, 3, image, image] through AutoModel of the tiny config."""
    import torch
    from transformers import AutoModel

    torch.manual_seed(seed)
    config = tiny_config(model_type, **overrides)
    model = AutoModel.from_config(config)
    return {**_record(model, config), **encoder_truth(model, image=image, fake=False)}


def static_args(record: dict) -> tuple[str, str]:
    """(model folder, root) for ``python -m analyzer costs``."""
    return record["src"], record["root"]


def write_config(record: dict, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(record["config"]), encoding="utf-8")
    return path

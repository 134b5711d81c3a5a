"""Shared helpers of the cost-model tests: trees of live modules, binders, the FLOP counter."""
from __future__ import annotations

import importlib.util
import os
import sys
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
MIRROR = FIXTURES / "cost_mirror"
MIRROR_FAMILIES = MIRROR / "families.yaml"
SAMPLE_FAMILIES = FIXTURES / "sample_vlm.families.yaml"
SAMPLE_WORKLOAD = FIXTURES / "sample_vlm.workload.yaml"
DEEPSEEK = os.environ.get("DEEPSEEK_OCR_SRC")


def runtime_tree(model):
    """The ModuleTree of a live module (own parameter and buffer shapes, qualified class names)."""
    from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree

    nodes = []
    for name, mod in model.named_modules():
        cls = type(mod)
        nodes.append(ModuleNode(
            name=name, cls=cls.__name__, class_qualname=f"{cls.__module__}.{cls.__qualname__}",
            params={k: tuple(p.shape) for k, p in mod.named_parameters(recurse=False)},
            buffers={k: BufferInfo(tuple(b.shape), str(b.dtype), True) for k, b in mod.named_buffers(recurse=False)}))
    return ModuleTree(root=type(model).__name__, modules=nodes)


def runtime_binder(model, families=(MIRROR_FAMILIES,)):
    from analyzer.costs.aggregate import build_binder
    from analyzer.costs.module_attrs import runtime_attrs

    return build_binder(runtime_tree(model), runtime_attrs(model), family_files=families)


@lru_cache(maxsize=None)
def static_binder(folder: str, root: str | None = None, families: tuple = (str(MIRROR_FAMILIES),)):
    from analyzer.costs.aggregate import build_binder
    from analyzer.api import analyze_with_attrs

    result, attrs = analyze_with_attrs(folder, root=root)
    assert not result.partial, [d.format() for d in result.diagnostics]
    return build_binder(result.tree, attrs, family_files=families)


def load_mirror():
    if "mirror" not in sys.modules:
        spec = importlib.util.spec_from_file_location("mirror", MIRROR / "mirror.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["mirror"] = module
        before, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # keep the fixture folder clean
        try:
            spec.loader.exec_module(module)
        finally:
            sys.dont_write_bytecode = before
    return sys.modules["mirror"]


def flop_counter():
    """FlopCounterMode that also counts torch 2.13's CPU flash SDPA (with torch's own formula)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

    def cpu_sdpa(q, k, v, *args, out_shape=None, **kwargs):
        return sdpa_flop_count(q, k, v)

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa}
    return FlopCounterMode(display=False, custom_mapping=mapping)


def per_module_flops(counter, root_label: str) -> dict:
    """FlopCounterMode's per-module totals keyed by our dotted names ('' for the root)."""
    out = {}
    for key, ops in counter.get_flop_counts().items():
        if key == root_label or key.startswith(root_label + "."):
            out[key[len(root_label) + 1:]] = sum(ops.values())
    return out


@contextmanager
def segment_anything_importable():
    """segment_anything imports torchvision at package import: a fake one while it is missing, and
    everything imported meanwhile forgotten afterwards (as tests/test_runtime.py does)."""
    import transformers  # noqa: F401  (it probes torchvision with find_spec: import it unfaked)

    from conftest import fake_torchvision

    with mock.patch.dict(sys.modules, fake_torchvision()):
        yield


# ---- small transformers models: the costs command's figures against FlopCounterMode -------------
SMALL = {"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 101, "max_position_embeddings": 64}


def small_config(model_type: str, **overrides):
    from transformers import AutoConfig

    return AutoConfig.for_model(model_type, **{**SMALL, **overrides})


def lm_truth(config, s: int = 12, t: int = 20) -> dict:
    """Real CPU forwards of AutoModelForCausalLM.from_config(config) under FlopCounterMode: a prefill
    over s tokens (every position's logits), then one decode step over t keys (a cache of t - 1)."""
    import torch
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).eval()
    out = {"params": sum(p.numel() for p in model.parameters()), "class": type(model)}
    with torch.no_grad():
        with flop_counter() as c:
            model(input_ids=torch.randint(0, config.vocab_size, (1, s)), use_cache=False)
        out["prefill"] = c.get_total_flops()
        past = model(input_ids=torch.randint(0, config.vocab_size, (1, t - 1)), use_cache=True).past_key_values
        with flop_counter() as c:
            model(input_ids=torch.randint(0, config.vocab_size, (1, 1)), past_key_values=past, use_cache=True)
        out["decode"] = c.get_total_flops()
    return out


def image_truth(cls, config, size) -> dict:
    """cls(config) on the CPU under FlopCounterMode, one image of size = (H, W)."""
    import torch

    torch.manual_seed(0)
    model = cls(config).eval()
    with torch.no_grad(), flop_counter() as c:
        model(pixel_values=torch.randn(1, config.num_channels, *size))
    return {"params": sum(p.numel() for p in model.parameters()), "flops": c.get_total_flops()}


def static_costs(cls, config, tmp_path, s: int = 12, t: int = 20, extra=(), **choice) -> dict:
    """The costs document for the class's source folder and ``config`` (as config.json), through the
    command's own steps (static analysis, template selection, workload)."""
    import inspect

    from analyzer.api import analyze_with_attrs
    from analyzer.costs import aggregate, workload
    from analyzer.costs.summary import summary

    src = Path(inspect.getsourcefile(cls))
    cfg = tmp_path / "config.json"
    cfg.write_text(config.to_json_string())
    result, attrs = analyze_with_attrs(str(src.parent), root=f"{src.stem}:{cls.__name__}", config=str(cfg))
    binder = aggregate.build_binder(result.tree, attrs, family_files=extra)
    model = workload.select_template(binder)
    chosen = workload.choose(model, **(choice or {"text_tokens": s, "kv_length": t}))
    return summary(aggregate.run_workload(binder, chosen))


@contextmanager
def timm_importable():
    """timm imports torchvision (not installed here): bench/zoo_truth.py's permissive stub finder while
    inside; the stubbed torchvision and timm modules forgotten afterwards."""
    import transformers  # noqa: F401  (it probes torchvision with find_spec: import it unstubbed)

    sys.path.insert(0, str(REPO / "bench"))
    try:
        from zoo_truth import _StubFinder
    finally:
        sys.path.remove(str(REPO / "bench"))
    finder = _StubFinder(("torchvision",))
    before = set(sys.modules)
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in set(sys.modules) - before:  # torch's own lazily imported modules stay
            if name.split(".")[0] in ("torchvision", "timm"):
                del sys.modules[name]

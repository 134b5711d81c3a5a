"""The formulations document as plain data: for every registered family its math and generic
cost expressions, and for every stage the module groups that use each family (hierarchy path
with index patterns, instance count, dimensions, per-call expressions in the family's own
workload symbols, evaluated values for the chosen workload). Rendered by render_formulations."""
from __future__ import annotations

import re

import sympy as sp

from analyzer.costs.aggregate import total
from analyzer.costs.formulas import registry
from analyzer.costs.formulas.base import Cost
from analyzer.costs.summary import summary

FIELDS = (("params", "params"), ("flops", "FLOPs"), ("weight_bytes", "weight bytes"), ("act_in", "activations in"),
          ("act_out", "activations out"), ("act_bytes", "activation traffic"), ("kv_bytes", "KV cache bytes"))

CONVENTIONS = (
    "FLOPs count 2 per multiply-add, as `torch.utils.flop_counter` counts them: matrix products, convolutions and "
    "scaled-dot-product attention only. Bias additions, norms, softmax, activations, residual and elementwise ops, "
    "gathers and interpolations are not FLOPs here; each family lists them as *uncounted* with the number of elements "
    "they touch.",
    "On the CPU, torch 2.13's FlopCounterMode has no formula for `aten._scaled_dot_product_flash_attention_for_cpu` and "
    "silently drops every SDPA attention matmul. The figures here count them; measure with "
    "`custom_mapping={aten._scaled_dot_product_flash_attention_for_cpu: sdpa_flop}` or the math SDPA backend.",
    "Attention counts the pairs the implementation computes: eager and SDPA compute the full S x T score matrix "
    "(the causal mask is added, not skipped); FlashAttention-2 computes the causal tiles only.",
    "Bytes use b_e bytes per element of the chosen dtype. Weight bytes are the parameters read by one call; activations "
    "in/out are the module's boundary tensors; activation traffic is what every kernel inside reads and writes when "
    "run unfused; KV cache bytes are held after the call.",
    "Totals by module are inclusive (the module and all it calls). Stage totals sum each module's own (exclusive) "
    "part, attributed to the module's stage, so stages add up to the total.",
    "Routed experts: N tokens make exactly N k token-expert pairs (FLOPs exact); per expert, uniform routing is "
    "assumed for the split and for the weights read (min(1, N k / E) of each expert).",
    "Symbols of the per-call expressions are the family's own: N tokens (rows), B batch or sequences, H x W a pixel "
    "or token grid, h x w a window, S queries, T keys, E elements, L sequence length, n patch tokens.",
)

# Method and PyTorch references behind the family formulations. A model's own sources (its paper,
# the papers of its components) are data: the workload file's `references`, listed first.
REFERENCES = (
    ("Exploring Plain Vision Transformer Backbones for Object Detection (ViTDet; Li et al., 2022): window attention "
     "with a few global blocks", "https://arxiv.org/abs/2203.16527"),
    ("MViTv2 (Li et al., 2022): decomposed relative position embeddings", "https://arxiv.org/abs/2112.01526"),
    ("GLU Variants Improve Transformer (Shazeer, 2020): SwiGLU", "https://arxiv.org/abs/2002.05202"),
    ("RoFormer (Su et al., 2021): rotary position embedding", "https://arxiv.org/abs/2104.09864"),
    ("GQA (Ainslie et al., 2023): grouped-query attention", "https://arxiv.org/abs/2305.13245"),
    ("FlashAttention-2 (Dao, 2023)", "https://arxiv.org/abs/2307.08691"),
    ("torch.utils.flop_counter (FlopCounterMode, the FLOP convention)",
     "https://github.com/pytorch/pytorch/blob/main/torch/utils/flop_counter.py"),
    ("torch.nn.Linear", "https://pytorch.org/docs/stable/generated/torch.nn.Linear.html"),
    ("torch.nn.Conv2d", "https://pytorch.org/docs/stable/generated/torch.nn.Conv2d.html"),
    ("torch.nn.LayerNorm", "https://pytorch.org/docs/stable/generated/torch.nn.LayerNorm.html"),
    ("torch.nn.Embedding", "https://pytorch.org/docs/stable/generated/torch.nn.Embedding.html"),
    ("torch.nn.GELU", "https://pytorch.org/docs/stable/generated/torch.nn.GELU.html"),
    ("torch.nn.SiLU", "https://pytorch.org/docs/stable/generated/torch.nn.SiLU.html"),
    ("torch.nn.functional.scaled_dot_product_attention",
     "https://pytorch.org/docs/stable/generated/torch.nn.functional.scaled_dot_product_attention.html"),
)


def _tidy(e):
    return sp.factor_terms(sp.expand(e))


def expressions(cost: Cost) -> dict:
    out = {f: {"latex": sp.latex(_tidy(getattr(cost, f))), "text": str(_tidy(getattr(cost, f)))} for f, _ in FIELDS}
    out["uncounted"] = {op: {"latex": sp.latex(_tidy(n)), "text": str(_tidy(n))} for op, n in cost.uncounted}
    return out


def family_entry(fam, model_notes=()) -> dict:
    """One family's document entry; ``model_notes``: the workload file's notes on it, after its own."""
    generic = None
    if fam.generic:
        generic = expressions(registry.inclusive(fam.name, registry.symbolic_dims(fam), registry.symbolic_work(fam)))
    return {"kind": fam.kind, "title": fam.title, "math": fam.math, "dims": list(fam.dim_names),
            "roles": list(fam.all_roles), "work": list(fam.work), "notes": list(fam.notes) + list(model_notes),
            "uncounted_ops": list(fam.uncounted_ops), "generic": generic}


def index_pattern(names: list) -> list:
    """Collapse dotted names differing in numeric segments: model.layers.[1-11].mlp.experts.[0-63]."""
    split = [n.split(".") for n in names]
    if len(names) == 1:
        return [names[0]]
    pos = [i for i in range(len(split[0])) if len({s[i] for s in split}) > 1]
    values = [sorted({int(s[i]) for s in split}) for i in pos]
    size = 1
    for v in values:
        size *= len(v)
    if size == len(set(names)):
        out = list(split[0])
        for i, v in zip(pos, values):
            out[i] = "[" + _ranges(v) + "]"
        return [".".join(out)]
    first = pos[0]
    groups: dict = {}
    for n, s in zip(names, split):
        groups.setdefault(s[first], []).append(n)
    return [p for key in sorted(groups, key=int) for p in index_pattern(groups[key])]


def _ranges(values: list) -> str:
    spans = [[values[0], values[0]]]
    for v in values[1:]:
        if v == spans[-1][1] + 1:
            spans[-1][1] = v
        else:
            spans.append([v, v])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def _skeleton(name: str) -> str:
    return re.sub(r"(^|\.)\d+(?=\.|$)", r"\1#", name)


def build(report, meta: dict | None = None) -> dict:
    walk, binder = report.walk, report.walk.binder
    incl: dict = {}
    for phase, calls in walk.calls.items():
        for name, _, cost in calls:
            incl.setdefault((name, phase), []).append(cost)
    groups: dict = {}
    for node in report.tree.modules:
        b = walk.used.get(node.name)
        state = "unsupported" if node.name in walk.unsupported else "ignored" if node.name in walk.ignored else "handled"
        if b is None:
            b = binder.bind(node.name)
        fam = b.family.name if b.family is not None else "(none)"
        key = (report.stage_of.get(node.name, node.stage), fam, b.dims, state, _skeleton(node.name))
        groups.setdefault(key, []).append(node.name)
    stages: dict = {}
    for (stage, fam, dims, state, _), names in groups.items():
        entry = {"family": fam, "state": state, "paths": index_pattern(names), "count": len(names),
                 "classes": sorted({binder.nodes[n].cls for n in names}),
                 "inferred": walk.inferred.get(names[0]) or b.inferred,
                 "dims": {k: (int(v) if v.is_Integer else str(v)) if not hasattr(v, "family") else v.family
                          for k, v in (dims.items if dims is not None else ())},
                 "params_each": binder.static_params(names[0]), "per_call": None, "values": {}}
        if state == "unsupported":
            entry["reason"] = walk.unsupported[names[0]]
        elif state == "ignored":
            entry["reason"] = walk.ignored[names[0]]
        family = registry.REGISTRY.get(fam)
        if family is not None and family.kind != "container" and dims is not None and state == "handled":
            entry["per_call"] = expressions(registry.inclusive(fam, dims, registry.symbolic_work(family)))
        entry["notes"] = [str(n) for n in family.describe(dims)] if (
            family is not None and family.describe and dims is not None and state == "handled") else []
        for phase in report.phases:
            costs = [c for n in names for c in incl.get((n, phase), [])]
            if costs:
                summed = total(costs)
                entry["values"][phase] = {f: report.value(getattr(summed, f)) for f in ("flops", "weight_bytes", "act_bytes")}
        stages.setdefault(stage, []).append(entry)
    covers: dict = {}  # family -> the classes and module paths it covers in this model
    for groups_ in stages.values():
        for g in groups_:
            c = covers.setdefault(g["family"], {"classes": set(), "paths": []})
            c["classes"].update(g["classes"])
            c["paths"] += g["paths"]
    model = report.workload.model
    families = {name: family_entry(fam, model.family_notes.get(name, ())) for name, fam in sorted(registry.REGISTRY.items())}
    for name, c in covers.items():
        if name in families:
            families[name]["covers"] = {"classes": sorted(c["classes"]), "paths": c["paths"]}
    return {
        "schema": "modeltree-formulations/1",
        "root": report.tree.root,
        "title": model.title,
        "conventions": list(CONVENTIONS),
        "notes": list(model.notes),
        "remarks": dict(model.remarks),
        "costs": summary(report, meta),
        "symbols": dict(model.symbols),
        "families": families,
        "unbound": sorted(covers.get("(none)", {}).get("classes", ())),
        "stages": {s: stages[s] for s in report.stages if s in stages},
        "references": [dict(r) for r in model.references] + [{"title": t, "url": u} for t, u in REFERENCES],
    }

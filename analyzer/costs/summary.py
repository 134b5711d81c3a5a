"""The costs document: one plain dict per cost report (the ``costs --json`` shape), with integer
values and SymPy ``*_expr`` strings. Renderers (render/costs.py) only format it."""
from __future__ import annotations

import sympy as sp

from analyzer.costs.formulas.base import BYTES

SCHEMA = "modeltree-costs/1"
def _stage_entry(report, cost, params: int) -> dict:
    flops, wb, ab = (report.value(e) for e in (cost.flops, cost.weight_bytes, cost.act_bytes))
    moved = wb + ab
    return {
        "params": params,
        "flops": flops,
        "weight_bytes": wb,
        "activation_bytes": ab,
        "arithmetic_intensity": round(flops / moved, 3) if moved else None,
        "activated_params": report.value(cost.weight_bytes / BYTES),
        "kv_cache_bytes": report.value(cost.kv_bytes),
        "flops_expr": _expr(cost.flops),
        "weight_bytes_expr": _expr(cost.weight_bytes),
        "activation_bytes_expr": _expr(cost.act_bytes),
        "kv_cache_bytes_expr": _expr(cost.kv_bytes),
        "arithmetic_intensity_expr": _expr(cost.flops / (cost.weight_bytes + cost.act_bytes)) if moved else None,
    }


def _expr(e) -> str:
    return str(sp.sympify(e))


def summary(report, meta: dict | None = None) -> dict:
    """The costs document: tokens, per phase per stage (and total), workload, states.

    Per stage: ``params`` stored in the stage (static tree); ``flops``, ``weight_bytes`` (weights
    read, once per call), ``activation_bytes`` (unfused activation traffic), ``kv_cache_bytes`` and
    ``activated_params`` (= weight_bytes / bytes per element) for the phase; ``*_expr`` siblings
    are the SymPy forms in the workload symbols."""
    w = report.workload
    static = report.params_by_stage
    out = {"schema": SCHEMA,
           "tokens": {k: w.tokens[k] for k in ("vision_tokens", "llm_image_tokens", "sequence_length") if k in w.tokens}}
    for phase, stages in report.phases.items():
        out[phase] = {s: _stage_entry(report, stages[s], static.get(s, 0)) for s in report.stages}
        out[phase]["total"] = _stage_entry(report, stages["total"], report.model_params)
    names = {str(k): int(v) for k, v in w.values.items()}
    out["workload"] = {
        "model": w.model.name, "title": w.model.title, "mode": w.mode, "crop_grid": list(w.crop_grid) if w.crop_grid else None,
        "text_tokens": names.get("N_text"), "kv_length": names.get("T"), "dtype": w.dtype,
        "bytes_per_element": names.get("b_e"), "conventions": dict(w.conventions), "values": names,
        "attn_implementation": report.tree.meta.get("attn_implementation"),
    }
    if "decode" in report.phases:
        out["activated_params_per_token"] = out["decode"]["total"]["activated_params"]
    # the whole model's parameters, tied weights counted once (as sum(p.numel() for p in model.parameters()))
    out["model_params"] = report.model_params
    out["shared_params"] = dict(sorted(report.walk.shared.items()))
    out["inferred"] = inferred_families(report)
    out["assumptions"] = dict(sorted(report.walk.assumptions.items()))
    out["unsupported"] = dict(sorted(report.walk.unsupported.items()))
    out["ignored"] = dict(sorted(report.walk.ignored.items()))
    out["complete"] = not report.walk.unsupported
    if meta:
        out["meta"] = meta
    return out


def inferred_families(report) -> list:
    """Families found by structure (or given by a parent's call), grouped: [{family, why, count,
    example}], in tree order."""
    groups: dict = {}
    for name in report.walk.binder.nodes:
        why = report.walk.inferred.get(name)
        if why is None:
            continue
        b = report.walk.used.get(name)
        fam = b.family.name if b is not None and b.family is not None else "?"
        entry = groups.setdefault((fam, why), {"family": fam, "why": why, "count": 0, "example": name})
        entry["count"] += 1
    return list(groups.values())

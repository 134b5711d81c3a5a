"""Renderers of a cost report: one plain summary dict (the ``costs --json`` shape), and the text
tables made from it. Pure functions of the report; deterministic, byte for byte."""
from __future__ import annotations

import json


from analyzer.costs.summary import SCHEMA  # noqa: F401  (the costs document's schema id)

PHASE_TITLES = {
    "prefill": "prefill: one pass over the image(s) and the S-token prompt",
    "decode": "decode: one step, one new token attending over T keys",
}


def phase_title(doc: dict, phase: str) -> str:
    """The phase's heading; a workload without image tokens (a text model, an image encoder) says so."""
    w, t = doc["workload"], doc["tokens"]
    if phase == "prefill" and "H" in w.get("values", {}):
        return "prefill: one forward pass over the H x W image"
    if phase == "prefill" and "vision_tokens" not in t and "llm_image_tokens" not in t:
        return "prefill: one pass over the S-token prompt"
    return PHASE_TITLES.get(phase, phase)


def costs_json(doc: dict) -> str:
    return json.dumps(doc, indent=1, sort_keys=False) + "\n"


def si(n, unit: str = "") -> str:
    if n is None:
        return "-"
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {prefix}{unit}"
    return f"{n} {unit}".rstrip()


def _table(rows: list, header: list) -> list:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    fmt = lambda r: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]


def _tokens_line(t: dict, note) -> str:
    parts = []
    if "vision_tokens" in t:
        parts.append(f"{t['vision_tokens']} vision tokens out of the encoder{note('vision_tokens')}")
    if "llm_image_tokens" in t:
        parts.append(f"{t['llm_image_tokens']} image tokens into the LLM{note('llm_image_tokens')}")
    if "image_tokens" in t:
        parts.append(f"{t['image_tokens']} tokens through the encoder{note('image_tokens')}")
    if "sequence_length" in t:
        parts.append(f"prefill sequence S = {t['sequence_length']}{note('sequence_length')}")
    return "tokens: " + ", ".join(parts)


def costs_text(doc: dict, *, symbolic: bool = True, remarks: dict | None = None) -> str:
    """``remarks``: the workload file's short texts, shown in parentheses after the figure they name."""
    w, t = doc["workload"], doc["tokens"]
    remarks = remarks or {}
    note = lambda key: f" ({remarks[key]})" if key in remarks else ""  # noqa: E731
    grid = f", crops {w['crop_grid'][0]}x{w['crop_grid'][1]}" if w["crop_grid"] else ""
    shape = (f"image {w['values']['H']} x {w['values']['W']} px" if "H" in w.get("values", {}) else
             f"text tokens {w['text_tokens']}, decode KV length T = {w['kv_length']}")
    lines = [f"{w['title'] or w['model']}: mode {w['mode']}{grid}, {shape}, "
             f"dtype {w['dtype']} ({w['bytes_per_element']} B/element), attention "
             f"{w['attn_implementation'] or 'n/a'}",
             _tokens_line(t, note)]
    if not t:  # a template without token counts (an image encoder: its grid is the family's)
        lines.pop()
    for name, choice in w["conventions"].items():
        lines.append(f"convention: {name} = {choice}")
    header = ["stage", "params", "FLOPs", "weight bytes", "activation bytes", "FLOP/byte"]
    for phase in ("prefill", "decode"):
        if phase not in doc:
            continue
        lines += ["", phase_title(doc, phase)]
        rows = [[s, f"{e['params']:,}", f"{e['flops']:,}", si(e["weight_bytes"], "B"), si(e["activation_bytes"], "B"),
                 "-" if e["arithmetic_intensity"] is None else f"{e['arithmetic_intensity']:.1f}"]
                for s, e in doc[phase].items()]
        lines += _table(rows, header)
    if "activated_params_per_token" in doc:
        remark = remarks.get("activated_params_per_token")
        lines += ["", f"activated parameters per decoded token: {doc['activated_params_per_token']:,} "
                      f"(weights read by one decode step, embedding row included{'; ' + remark if remark else ''})"]
    if symbolic:
        lines += ["", "symbolic FLOPs (symbols: see the workload file; b_e = bytes per element)"]
        for phase in ("prefill", "decode"):
            for s, e in doc.get(phase, {}).items():
                if e["flops_expr"] != "0":
                    lines.append(f"  {phase:<8} {s:<10} {e['flops_expr']}")
    if doc.get("model_params") is not None:
        shared = doc.get("shared_params") or {}
        lines += ["", f"model parameters: {doc['model_params']:,} (tied weights counted once, as model.parameters()"
                      + (f"; shared with the input embedding: {', '.join(shared)}" if shared else "") + ")"]
    if doc.get("assumptions"):
        lines += ["", "assumptions:"] + [f"  {n or '(root)'}: {why}" for n, why in doc["assumptions"].items()]
    if doc.get("inferred"):
        lines += ["", "families inferred from structure (no class entry):"]
        lines += [f"  {g['family']}: {g['count']} module(s), e.g. {g['example'] or '(root)'}: {g['why']}"
                  for g in doc["inferred"]]
    lines.append("")
    if doc["unsupported"]:
        lines.append(f"INCOMPLETE: {len(doc['unsupported'])} module(s) unsupported, their FLOPs and bytes are missing:")
        lines += [f"  {n or '(root)'}: {why}" for n, why in list(doc["unsupported"].items())[:50]]
    else:
        lines.append("every module is handled or deliberately ignored:")
    lines += [f"  ignored {n}: {why}" for n, why in doc["ignored"].items()]
    return "\n".join(lines) + "\n"

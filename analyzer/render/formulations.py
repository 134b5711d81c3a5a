"""module_formulations.md (and its JSON twin) from the formulations data. Pure and deterministic."""
from __future__ import annotations

import json

from analyzer.costs.formulations import FIELDS
from analyzer.render.costs import PHASE_TITLES, si

_SHORT = {"params": "params", "flops": "FLOPs", "weight_bytes": "weights", "act_bytes": "act. traffic"}


def formulations_json(doc: dict) -> str:
    return json.dumps(doc, indent=1) + "\n"


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _math(latex: str) -> str:
    return f"${latex}$"


def _table(header: list, rows: list) -> list:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _workload(doc: dict) -> list:
    c = doc["costs"]
    w, t = c["workload"], c["tokens"]
    lines = ["## Workload and conventions", "", "### Workload", "",
             f"Evaluated values below are for mode `{w['mode']}`"
             + (f", crop grid {w['crop_grid'][0]}x{w['crop_grid'][1]}" if w["crop_grid"] else "")
             + f", {w['text_tokens']} text tokens, dtype `{w['dtype']}`, attention `{w['attn_implementation']}`"
             + f" (model `{w['model']}`, conventions: "
             + ", ".join(f"{k} = {v}" for k, v in w["conventions"].items()) + ").", ""]
    rows = [[f"`{k}`", doc["symbols"].get(k, ""), v] for k, v in w["values"].items()]
    lines += _table(["symbol", "meaning", "value"], rows)
    lines += _table(["tokens", "value"], [[k.replace("_", " "), v] for k, v in t.items()])
    lines += ["### Conventions", ""] + [f"- {c}" for c in doc["conventions"] + doc.get("notes", [])] + [""]
    return lines


def _totals(doc: dict) -> list:
    c = doc["costs"]
    lines = ["## Stage totals", ""]
    for phase in ("prefill", "decode"):
        if phase not in c:
            continue
        lines += [f"### {phase.capitalize()}", "", PHASE_TITLES.get(phase, phase) + ".", ""]
        rows = [[f"`{s}`", f"{e['params']:,}", f"{e['flops']:,}", si(e["weight_bytes"], "B"), si(e["activation_bytes"], "B"),
                 "-" if e["arithmetic_intensity"] is None else f"{e['arithmetic_intensity']:.1f}"]
                for s, e in c[phase].items()]
        lines += _table(["stage", "params", "FLOPs", "weight bytes", "activation bytes", "FLOP/byte"], rows)
    if "activated_params_per_token" in c:
        remark = doc.get("remarks", {}).get("activated_params_per_token")
        lines += [f"Activated parameters per decoded token: {c['activated_params_per_token']:,} "
                  f"(the weights one decode step reads{'; ' + remark if remark else ''}).", ""]
    return lines


def _family(name: str, f: dict) -> list:
    lines = [f"### `{name}`: {f['title']}", "", f"Kind: {f['kind']}."
             + (f" Dimensions: {', '.join(f'`{d}`' for d in f['dims'])}." if f["dims"] else "")
             + (f" Child roles: {', '.join(f'`{r}`' for r in f['roles'])}." if f["roles"] else "")
             + (f" Workload: {', '.join(f'`{w}`' for w in f['work'])}." if f["work"] else ""), "",
             f"$$ {f['math']} $$", ""]
    if f["generic"]:
        rows = [[label, _math(f["generic"][k]["latex"])] for k, label in FIELDS]
        rows += [[f"not counted: {op} (elements)", _math(e["latex"])] for op, e in f["generic"]["uncounted"].items()]
        lines += _table(["quantity", "per call"], rows)
    elif f["kind"] == "container":
        lines += ["Cost: the sum over its children, with the workload routed as above.", ""]
    else:
        lines += ["Cost: its own part plus its children's, each with its own dimensions; the per-call expressions "
                  "are given per module group in the stage sections.", ""]
    if f["uncounted_ops"]:
        lines += [f"Runs but not counted as FLOPs (FlopCounterMode skips them too): {', '.join(f['uncounted_ops'])}.", ""]
    lines += [f"- {n}" for n in f["notes"]] + ([""] if f["notes"] else [])
    if f.get("covers"):
        paths = f["covers"]["paths"]
        lines += [f"Covers in this model: classes {', '.join(f'`{c}`' for c in f['covers']['classes'])}; modules "
                  + ", ".join(f"`{p}`" for p in paths[:12]) + (f" and {len(paths) - 12} more groups" if len(paths) > 12 else "")
                  + ".", ""]
    return lines


def _stage(stage: str, groups: list, phases: list) -> list:
    lines = [f"## Stage `{stage}`", ""]
    by_family: dict = {}
    for g in groups:
        by_family.setdefault(g["family"], []).append(g)
    for fam in sorted(by_family):
        lines += [f"### `{stage}` / `{fam}`", ""]
        header = ["modules", "count", "dims", "params each", "FLOPs per call"] + [f"{p} FLOPs" for p in phases] + ["state, notes"]
        rows = []
        for g in by_family[fam]:
            dims = ", ".join(f"{k}={v}" for k, v in g["dims"].items()) or "-"
            per_call = _math(g["per_call"]["flops"]["latex"]) if g["per_call"] else ("sum of children" if g["state"] == "handled" else "-")
            vals = [f"{g['values'][p]['flops']:,}" if p in g["values"] else "-" for p in phases]
            state = "; ".join([g["state"] + (f": {g['reason']}" if "reason" in g else "")] + g["notes"])
            if g.get("inferred"):
                state += f"; family inferred: {g['inferred']}"
            rows.append(["<br>".join(f"`{p}`" for p in g["paths"]) + f" ({', '.join(g['classes'])})", g["count"], dims,
                         f"{g['params_each']:,}", per_call]
                        + vals + [state])
        lines += _table(header, rows)
        detailed = [g for g in by_family[fam] if g["per_call"]]
        if detailed:
            rows = [[f"`{g['paths'][0]}`" + (" ..." if len(g["paths"]) > 1 else ""), label, _math(g["per_call"][k]["latex"])]
                    for g in detailed for k, label in FIELDS if k not in ("flops", "params") and g["per_call"][k]["text"] != "0"]
            rows += [[f"`{g['paths'][0]}`" + (" ..." if len(g["paths"]) > 1 else ""), f"not counted: {op}", _math(e["latex"])]
                     for g in detailed for op, e in g["per_call"]["uncounted"].items()]
            if rows:
                lines += _table(["modules", "quantity", "per call"], rows)
    return lines


def formulations_markdown(doc: dict) -> str:
    lines = [f"# Module formulations: {doc['title'] or doc['root']}", "",
             f"Root `{doc['root']}`. Generated by `python -m analyzer formulations`: every figure comes from the "
             "static module tree, the family formulations (`analyzer/formulas/`), `rules/families.yaml` and the workload "
             "file; the document is deterministic.", ""]
    lines += _workload(doc) + _totals(doc)
    lines += ["## Families", "", "Every registered family, with its cost in its own symbols (dimensions and workload).", ""]
    for name, f in doc["families"].items():
        lines += _family(name, f)
    phases = list(doc["costs"].get("workload", {}) and [p for p in ("prefill", "decode") if p in doc["costs"]])
    for stage, groups in doc["stages"].items():
        lines += _stage(stage, groups, phases)
    c = doc["costs"]
    lines += ["## Module states", "",
              f"Unsupported modules: {len(c['unsupported'])}." if c["unsupported"] else "Unsupported modules: none.", ""]
    lines += [f"- `{n or '(root)'}`: {why}" for n, why in c["unsupported"].items()]
    lines += ([""] if c["unsupported"] else []) + [f"- ignored `{n}`: {why}" for n, why in c["ignored"].items()] + [""]
    lines += ["## References", ""] + [f"- {r['title']}{'. ' + r['note'] if r.get('note') else ''}: <{r['url']}>"
                                      for r in doc["references"]]
    return "\n".join(lines) + "\n"

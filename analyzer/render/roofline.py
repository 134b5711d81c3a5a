"""Text of the ``roofline`` section of a costs document (``costs --hardware``): the figures used
with their datasheets, per phase a stage table (time, share, bound), throughput, the memory
footprint and the assumptions. Pure function of the document; deterministic."""
from __future__ import annotations

from analyzer.render.costs import _table, phase_title, si


def seconds(t) -> str:
    if t is None:
        return "-"
    for factor, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "us")):
        if t >= factor:
            return f"{t / factor:.3f} {unit}"
    return f"{t / 1e-9:.1f} ns"


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _figure_text(label: str, f: dict, sources: list) -> str:
    if f["source"] not in sources:
        sources.append(f["source"])
    note = f" ({f['note']})" if f.get("note") else ""
    return f"{label} {f['as_printed']}{note} [{sources.index(f['source']) + 1}]"


def roofline_text(doc: dict) -> str:
    r = doc["roofline"]
    hw = r["hardware"]
    w = doc["workload"]
    figs = hw["figures"]
    sources: list = []
    lines = ["", f"roofline on {hw['title']} ({hw['name']}), batch {r['batch']}, dtype {w['dtype']}, "
                 f"peak {hw['peak_dtype']} (dense)",
             "  " + _figure_text(f"peak {hw['peak_dtype']}", figs[f"peak_{hw['peak_dtype']}"], sources),
             "  " + _figure_text("memory bandwidth", figs["memory_bandwidth"], sources) + ", "
             + _figure_text("capacity", figs["memory_capacity"], sources)]
    lines += [f"  [{i}] {src['title']}, {src['url']}" for i, src in enumerate(sources, 1)]
    lines += [f"  note: {n}" for n in hw["notes"]]
    lines += [
             f"  ridge point {hw['ridge_flops_per_byte']:.1f} FLOP/byte (peak / bandwidth); compute efficiency "
             f"{r['compute_efficiency']:.2f}, memory efficiency {r['memory_efficiency']:.2f}: effective ridge "
             f"{r['effective_ridge_flops_per_byte']:.1f} FLOP/byte"]
    header = ["stage", "time", "share", "bound", "memory-bound", "FLOP/byte", "vs ridge", "compute time", "memory time",
              ""]
    for phase, p in r["phases"].items():
        tot = p["stages"]["total"]
        dom = p["dominant_stage"]
        lines += ["", f"{phase_title(doc, phase)}: {seconds(tot['time_s'])}, "
                      f"{_pct(tot['memory_bound_share'])} of it memory-bound"
                      + (f"; dominant stage {dom} ({_pct(p['stages'][dom]['share_of_phase'])})" if dom else "")]
        rows = []
        for s, e in p["stages"].items():
            if not e["calls"] and s != "total":
                continue
            rows.append([s, seconds(e["time_s"]), _pct(e["share_of_phase"]), (e["bound"] or "-").upper(),
                         _pct(e["memory_bound_share"]),
                         "-" if e["arithmetic_intensity"] is None else f"{e['arithmetic_intensity']:.1f}",
                         "-" if e["intensity_vs_ridge"] is None else f"{e['intensity_vs_ridge']:.3g}x",
                         seconds(e["compute_time_s"]), seconds(e["memory_time_s"]), "<- dominant" if s == dom else ""])
        lines += _table(rows, header)
        top = [f"{f} {_pct(e['share_of_phase'])} ({(e['bound'] or '-')})" for f, e in list(p["families"].items())[:5]]
        if top:
            lines.append("by family: " + ", ".join(top))
    t = r["throughput"]
    parts = []
    if "prefill_tokens_per_s" in t:
        parts.append(f"prefill {t['prefill_tokens_per_s']:,.0f} tokens/s (S = {t['prefill_tokens']})")
    if "decode_tokens_per_s" in t:
        parts.append(f"decode {t['decode_tokens_per_s']:,.1f} tokens/s (one step {seconds(t['decode_step_s'])})")
    if parts:
        lines += ["", f"throughput at batch {t['batch']}: " + ", ".join(parts)]
    if "time_to_first_token_s" in t:
        title = phase_title(doc, "prefill")
        what = "the image" if "H x W" in title else "its image(s) and prompt" if "image" in title else "its prompt"
        lines.append(f"time to first token: {seconds(t['time_to_first_token_s'])} (one request's prefill: "
                     f"{what}, batch 1)")
    f = r["footprint"]
    at = f" at T = {f['kv_length']}" if f["kv_length"] else ""
    where = f["peak_activation_call"]
    width = f.get("kv_elements_per_layer_per_token")
    layers = f"{f['kv_cache_layers']} layers" + (f" x K and V of {width:,} elements per token" if width else "")
    kv_note = (f"({layers}, {si(f['kv_cache_bytes_per_request'], 'B')} per request"
               + (f", {si(f['kv_cache_bytes_per_token'], 'B')} per token)" if f["kv_cache_bytes_per_token"] else ")"))
    rows = [["weights", si(f["weights_bytes"], "B"), "(every parameter in the dtype)"],
            [f"KV cache{at}", si(f["kv_cache_bytes"], "B"), kv_note],
            ["peak activations", si(f["peak_activation_bytes"], "B"),
             f"(largest call: {where['module'] or '(root)'}, {where['phase']})" if where else ""],
            ["total", si(f["total_bytes"], "B"), f"of {si(f['capacity_bytes'], 'B')}: "
             + ("fits" if f["fits"] else "DOES NOT FIT")
             + (f"; largest batch{at}: {f['max_batch']:,}" if f["max_batch"] is not None else "")]]
    lines += ["", f"memory footprint ({w['dtype']}, batch {r['batch']}):"]
    width = max(len(r[0]) for r in rows)
    lines += [f"  {label:<{width}}  {size:>10}  {note}" for label, size, note in rows]
    lines += ["", "roofline assumptions:"] + [f"  - {a}" for a in r["assumptions"]]
    return "\n".join(line.rstrip() for line in lines) + "\n"

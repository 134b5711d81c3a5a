"""The visual report: one self-contained HTML page per model (``python -m analyzer report``).

``report_html`` is a pure function of the static tree, its diagnostics and (when a workload
applies) the costs document of costs/summary.py. The page holds its CSS, JavaScript and charts
(inline SVG) and loads nothing: no URL is ever a ``src`` or ``href``. The same inputs give the
same bytes (no timestamps; dicts rendered in a fixed or sorted order).

Time per stage is drawn only when the costs document carries it: per stage entry ``time_s``
(or ``roofline_time_s``, ``time``, ``latency_s``; directly or under ``roofline``/``timing``),
optionally ``compute_time_s``/``memory_time_s`` and ``bound`` ("compute" or "memory"), and a
top-level ``hardware`` (a name, or a dict with ``name`` and numbers). Anything else is ignored.
"""
from __future__ import annotations

import json
import math
from html import escape
from importlib import resources

from analyzer import __version__
from analyzer.render.charts import Bar, bar_chart
from analyzer.render.costs import PHASE_TITLES, si
from analyzer.render.report_tree import TreeRenderer, fold
from analyzer.tree.model import ModuleTree

PALETTE_SIZE = 10  # .s0 ... .s9 in assets/report.css; the default stage is grey (.s-other)
TIME_KEYS = ("time_s", "roofline_time_s", "time", "latency_s")
COMPUTE_KEYS = ("compute_time_s", "compute_s", "t_compute_s")
MEMORY_KEYS = ("memory_time_s", "memory_s", "t_memory_s")
MAX_LISTED = 200  # unsupported modules listed on the page


def _asset(name: str) -> str:
    return resources.files("analyzer.render").joinpath("assets", name).read_text(encoding="utf-8")


def stage_classes(stages) -> dict:
    """Stage -> CSS colour class, by sorted name: the same stages get the same colours in every report."""
    named = sorted(s for s in set(stages) if s != "other")
    out = {s: f"s{i % PALETTE_SIZE}" for i, s in enumerate(named)}
    out["other"] = "s-other"
    return out


def stage_order(tree: ModuleTree, costs: dict | None) -> list:
    """The costs document's order (the workload's) when there is one, else the order of first
    appearance in the tree with ``other`` last."""
    present = list(dict.fromkeys(m.stage for m in tree.modules))
    if costs:
        listed = [s for phase in ("prefill", "decode") for s in costs.get(phase, {}) if s != "total"]
        order = list(dict.fromkeys(s for s in listed if s in present))
        return order + [s for s in present if s not in order]
    return [s for s in present if s != "other"] + [s for s in present if s == "other"]


def _num(v):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
    return v if ok else None


def _first(d: dict, keys) -> float | None:
    return next((_num(d.get(k)) for k in keys if _num(d.get(k)) is not None), None)


def stage_time(entry) -> dict | None:
    """{time, compute, memory, bound} from a stage entry, or None when it carries no time."""
    if not isinstance(entry, dict):
        return None
    for src in [entry] + [entry[k] for k in ("roofline", "timing") if isinstance(entry.get(k), dict)]:
        t = _first(src, TIME_KEYS)
        if t is None:
            continue
        compute, memory = _first(src, COMPUTE_KEYS), _first(src, MEMORY_KEYS)
        bound = src.get("bound") if src.get("bound") in ("compute", "memory") else None
        if bound is None and compute is not None and memory is not None:
            bound = "compute" if compute >= memory else "memory"
        return {"time": t, "compute": compute, "memory": memory, "bound": bound}
    return None


def fmt_time(s: float) -> str:
    if s == 0:
        return "0 s"
    for factor, unit in ((1, "s"), (1e-3, "ms"), (1e-6, "\u00b5s")):
        if s >= factor:
            return f"{s / factor:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _exact(n) -> str:
    return "-" if n is None else f"{n:,}"


def _cell(n, unit: str = "") -> str:
    if n is None:
        return '<td class="num">&ndash;</td>'
    return f'<td class="num" data-v="{n}" title="{_exact(n)}">{escape(si(n, unit))}</td>'


def _dl(items) -> str:
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{v}</dd>" for k, v in items if v not in (None, ""))
    return f'<dl class="kv">{rows}</dl>'


def _hub(hub) -> str | None:
    """A Hub source (tree meta ``hub``/``code_repo``: {id, revision, commit, path}; a plain string is
    shown as it is), or None."""
    if isinstance(hub, str) and hub:
        return escape(hub)
    if not isinstance(hub, dict):
        return None
    text = lambda k: hub[k] if isinstance(hub.get(k), str) and hub[k] else None  # noqa: E731
    ident, revision, commit = text("id") or text("repo_id"), text("revision"), text("commit") or text("sha")
    if not (ident or commit):
        return None
    out = escape(ident or "?")
    if revision and revision != commit:
        out += f' <span class="muted">revision</span> {escape(revision)}'
    return out + (f' <span class="muted">commit</span> <span class="mono">{escape(commit)}</span>' if commit else "")


def _card(label: str, value: str, exact: str, key: str) -> str:
    tip = f' title="{escape(exact)}"' if exact else ""
    return (f'<div class="card" data-card="{escape(key)}"{tip}><div class="cv">{escape(value)}</div>'
            f'<div class="ck">{escape(label)}</div></div>')


class Page:
    def __init__(self, tree, diagnostics, *, source, costs, costs_missing, config, overrides, prose, version):
        self.tree, self.diagnostics, self.source = tree, list(diagnostics), source
        self.costs, self.costs_missing = costs, costs_missing
        self.config, self.overrides, self.prose, self.version = config, list(overrides), prose or {}, version
        self.totals = tree.totals()
        self.stages = stage_order(tree, costs)
        self.css = stage_classes(self.stages)
        self.unsupported = dict((costs or {}).get("unsupported") or {})

    # ---- header ------------------------------------------------------------------------------
    def title(self) -> str:
        root = self.tree.by_name().get("")
        return root.cls if root is not None else (self.tree.root or "model")

    def header(self) -> str:
        meta, t = self.tree.meta, self.totals
        pkgs = meta.get("packages_read") if isinstance(meta.get("packages_read"), dict) else {}
        facts = [("source", f'<span class="mono">{escape(str(self.source))}</span>'), ("Hub", _hub(meta.get("hub"))),
                 ("code from", _hub(meta.get("code_repo"))),
                 ("root", f'<span class="mono">{escape(self.tree.root)}</span>'
                          + (f' <span class="muted">from {escape(str(meta["root_from"]))}</span>' if meta.get("root_from") else "")),
                 ("config", escape(str(meta.get("config") or "none")) + (
                     " + " + ", ".join(f'<span class="mono">--set {escape(o)}</span>' for o in self.overrides)
                     if self.overrides else "")),
                 ("attention", escape(str(meta.get("attn_implementation") or "n/a"))),
                 ("packages read", ", ".join(f"{escape(k)} {escape(str(v))}" for k, v in sorted(pkgs.items())) or "none"),
                 ("fallbacks", ", ".join(escape(str(f)) for f in meta.get("fallbacks") or ()) or None)]
        cards = [("modules", f"{t['modules']:,}", "", "modules"), ("parameters", si(t["params"]), f"{t['params']:,}", "params"),
                 ("stages", str(len(self.stages)), "", "stages"), ("classes", str(t["distinct_classes"]), "", "classes"),
                 ("partial modules", str(t["partial_modules"]), "", "partial"),
                 ("diagnostics", str(len(self.diagnostics)), "", "diagnostics")]
        if self.costs and not self.unsupported:  # incomplete figures stay out of the headline
            for phase in ("prefill", "decode"):
                if "total" in self.costs.get(phase, {}):
                    f = self.costs[phase]["total"]["flops"]
                    cards.append((f"{phase} FLOPs", si(f), f"{f:,}", f"{phase}-flops"))
            if "activated_params_per_token" in self.costs:
                a = self.costs["activated_params_per_token"]
                cards.append(("activated params / token", si(a), f"{a:,}", "activated"))
        card_html = "".join(_card(*c) for c in cards)
        bad = t["partial_modules"] or any(d.severity == "error" for d in self.diagnostics)
        status = ('<span class="pill warn">PARTIAL tree</span>' if bad else '<span class="pill ok">complete tree</span>')
        status += ("" if self.costs and not self.unsupported else '<span class="pill warn">costs missing</span>'
                   if not self.costs else '<span class="pill warn">costs incomplete</span>')
        nav = "".join(f'<a href="#{a}">{escape(b)}</a>' for a, b in (("stages", "Stages"), ("tree", "Module tree"),
                                                                     ("costs", "Costs"), ("diagnostics", "Diagnostics"),
                                                                     ("config", "Config")))
        return (f'<header class="top"><div class="wrap"><div class="brand">modeltree-analyzer {escape(self.version)} '
                f'&middot; static report</div><h1>{escape(self.title())} {status}</h1>{_dl(facts)}'
                f'<div class="cards">{card_html}</div></div></header><nav class="bar"><div class="wrap">{nav}</div></nav>')

    # ---- stages and charts -------------------------------------------------------------------
    def stage_table(self) -> str:
        count = {s: 0 for s in self.stages}
        for m in self.tree.modules:
            count[m.stage] = count.get(m.stage, 0) + 1
        by_stage, total = self.totals["params_by_stage"], self.totals["params"] or 1
        rows = "".join(f'<tr data-stage="{escape(s)}" data-params="{by_stage.get(s, 0)}" data-modules="{count[s]}">'
                       f'<td><span class="st {self.css.get(s, "")}">{escape(s)}</span></td><td class="num">{count[s]:,}</td>'
                       f'<td class="num">{by_stage.get(s, 0):,}</td><td class="num">{100 * by_stage.get(s, 0) / total:.1f}%</td></tr>'
                       for s in self.stages)
        return (f'<table class="grid" id="stage-totals"><thead><tr><th>stage</th><th>modules</th><th>parameters</th>'
                f'<th>share</th></tr></thead><tbody>{rows}</tbody><tfoot><tr><td>total</td><td class="num">'
                f'{self.totals["modules"]:,}</td><td class="num">{self.totals["params"]:,}</td><td></td></tr></tfoot></table>')

    def _stage_bars(self, phase: str, key: str, unit: str) -> list:
        entries = self.costs[phase]
        return [Bar(s, ((self.css.get(s, ""), entries[s][key]),), si(entries[s][key], unit), f"{s}: {entries[s][key]:,} {unit}",
                    {"stage": s, "value": entries[s][key]}) for s in self.stages if s in entries]

    def params_chart(self) -> str:
        by_stage = self.totals["params_by_stage"]
        return bar_chart("params", "Parameters per stage", [
            Bar(s, ((self.css.get(s, ""), by_stage.get(s, 0)),), si(by_stage.get(s, 0)), f"{s}: {by_stage.get(s, 0):,} parameters",
                {"stage": s, "value": by_stage.get(s, 0)}) for s in self.stages], note=f"total {si(self.totals['params'])}")

    def charts(self) -> str:
        out = []
        if self.costs:
            phases = [p for p in ("prefill", "decode") if p in self.costs]
            for p in phases:
                out.append(bar_chart(f"flops-{p}", f"{p.capitalize()} FLOPs per stage", self._stage_bars(p, "flops", "FLOP"),
                                     note=f"total {si(self.costs[p]['total']['flops'], 'FLOP')}"))
            for p in phases:
                e = self.costs[p]
                bars = [Bar(s, (("wb", e[s]["weight_bytes"]), ("ab", e[s]["activation_bytes"])),
                            si(e[s]["weight_bytes"] + e[s]["activation_bytes"], "B"),
                            f"{s}: weights {e[s]['weight_bytes']:,} B, activations {e[s]['activation_bytes']:,} B",
                            {"stage": s, "value": e[s]["weight_bytes"] + e[s]["activation_bytes"]})
                        for s in self.stages if s in e]
                out.append(bar_chart(f"bytes-{p}", f"{p.capitalize()} bytes per stage", bars,
                                     note=f"total {si(e['total']['weight_bytes'] + e['total']['activation_bytes'], 'B')}",
                                     legend=(("wb", "weights read"), ("ab", "activations"))))
            for p in phases:
                out.append(self.time_chart(p))
        return f'<div class="charts">{"".join(out)}</div>' if out else ""

    def time_chart(self, phase: str) -> str:
        e = self.costs[phase]
        times = {s: stage_time(e.get(s)) for s in self.stages}
        if not any(times.values()):
            return ""
        bars, bound_time = [], 0.0
        for s in self.stages:
            t = times[s]
            if t is None:
                continue
            bound_time += t["time"] if t["bound"] == "memory" else 0
            split = "" if t["compute"] is None or t["memory"] is None else \
                f" (compute {fmt_time(t['compute'])}, memory {fmt_time(t['memory'])})"
            bars.append(Bar(s, ((f"tb-{t['bound'] or 'unknown'}", t["time"]),),
                            fmt_time(t["time"]) + (f" \u00b7 {t['bound']}" if t["bound"] else ""),
                            f"{s}: {fmt_time(t['time'])}{split}", {"stage": s, "value": repr(t["time"]),
                                                                     "bound": t["bound"] or ""}))
        total = sum(b["time"] for b in times.values() if b)
        hw = self.costs.get("hardware")
        name = hw if isinstance(hw, str) else hw.get("name") if isinstance(hw, dict) and isinstance(hw.get("name"), str) else None
        note = f"total {fmt_time(total)}" + (f", memory-bound {100 * bound_time / total:.0f}%" if total else "") + \
            (f" on {name}" if name else "")
        return bar_chart(f"time-{phase}", f"{phase.capitalize()} time per stage (roofline)", bars, note=note,
                         legend=(("tb-compute", "compute-bound"), ("tb-memory", "memory-bound")))

    # ---- costs -------------------------------------------------------------------------------
    def missing(self) -> str:
        if self.costs_missing:
            return (f'<div class="notice warn" id="costs-missing"><b>Costs are missing.</b> The workload and cost step '
                    f'failed, so only the tree and its parameters are shown:<pre>{escape(self.costs_missing)}</pre></div>')
        if not self.unsupported:
            return ""
        roots = {n: why for n, why in self.unsupported.items() if not why.startswith("inside unsupported")}
        inside = len(self.unsupported) - len(roots)
        items = "".join(f'<li><span class="mono">{escape(n or "(root)")}</span>: {escape(why)}</li>'
                        for n, why in list(roots.items())[:MAX_LISTED])
        more = f"<li>&hellip; and {len(roots) - MAX_LISTED} more</li>" if len(roots) > MAX_LISTED else ""
        return (f'<div class="notice warn" id="costs-missing"><b>Costs are incomplete: {len(self.unsupported)} module(s) '
                f'unsupported</b>, so their FLOPs and bytes are missing ({len(roots)} listed here, {inside} more inside '
                f'them). Map their classes to families (<span class="mono">--families FILE</span>) or describe the model '
                f'with its own workload (<span class="mono">--workload FILE</span>).<ul>{items}{more}</ul></div>')

    def cost_tables(self) -> str:
        out = []
        timed = any(stage_time(e) for p in ("prefill", "decode") for e in self.costs.get(p, {}).values())
        for phase in ("prefill", "decode"):
            if phase not in self.costs:
                continue
            head = ("<th>stage</th><th>params</th><th>FLOPs</th><th>weight bytes</th><th>activation bytes</th>"
                    "<th>KV cache bytes</th><th>FLOP/byte</th>" + ("<th>time</th><th>bound</th>" if timed else ""))
            rows = []
            for s, e in self.costs[phase].items():
                ai = e.get("arithmetic_intensity")
                t = stage_time(e)
                extra = (f'<td class="num">{fmt_time(t["time"]) if t else "&ndash;"}</td><td>{escape((t or {}).get("bound") or "")}</td>'
                         if timed else "")
                label = "total" if s == "total" else f'<span class="st {self.css.get(s, "")}">{escape(s)}</span>'
                rows.append(f'<tr data-stage="{escape(s)}"{" class=total" if s == "total" else ""}><td>{label}</td>'
                            f'{_cell(e.get("params"))}{_cell(e.get("flops"))}{_cell(e.get("weight_bytes"), "B")}'
                            f'{_cell(e.get("activation_bytes"), "B")}{_cell(e.get("kv_cache_bytes"), "B")}'
                            f'<td class="num">{"&ndash;" if ai is None else f"{ai:.1f}"}</td>{extra}</tr>')
            out.append(f'<h3>{escape(PHASE_TITLES.get(phase, phase))}</h3><table class="grid costs" data-phase="{phase}">'
                       f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
        exprs = "".join(f'<tr><td>{escape(p)}</td><td>{escape(s)}</td><td class="mono">{escape(e.get("flops_expr", ""))}</td></tr>'
                        for p in ("prefill", "decode") for s, e in self.costs.get(p, {}).items()
                        if e.get("flops_expr") not in (None, "0"))
        if exprs:
            out.append('<details><summary>Symbolic FLOPs (in the workload symbols; b_e = bytes per element)</summary>'
                       f'<table class="grid"><thead><tr><th>phase</th><th>stage</th><th>FLOPs</th></tr></thead>'
                       f'<tbody>{exprs}</tbody></table></details>')
        return "".join(out)

    def workload(self) -> str:
        w, t = self.costs.get("workload", {}), self.costs.get("tokens", {})
        remarks = self.prose.get("remarks") or {}
        note = lambda k: f' <span class="muted">({escape(remarks[k])})</span>' if k in remarks else ""  # noqa: E731
        grid = w.get("crop_grid")
        items = [("workload", escape(str(w.get("title") or w.get("model") or ""))), ("mode", escape(str(w.get("mode")))),
                 ("crop grid", f"{grid[0]} &times; {grid[1]}" if grid else "none"),
                 ("text tokens", escape(str(w.get("text_tokens")))), ("decode KV length T", escape(str(w.get("kv_length")))),
                 ("dtype", f"{escape(str(w.get('dtype')))} ({escape(str(w.get('bytes_per_element')))} B/element)"),
                 ("attention", escape(str(w.get("attn_implementation") or "n/a")))]
        items += [(k.replace("_", " "), f"{v:,}{note(k)}" if isinstance(v, int) else escape(str(v))) for k, v in t.items()]
        if "activated_params_per_token" in self.costs:
            items.append(("activated params / decoded token",
                          f"{self.costs['activated_params_per_token']:,}{note('activated_params_per_token')}"))
        items += [(f"convention: {k}", escape(str(v))) for k, v in (w.get("conventions") or {}).items()]
        values = ", ".join(f'<span class="mono">{escape(k)} = {escape(str(v))}</span>' for k, v in (w.get("values") or {}).items())
        items.append(("symbol values", values))
        notes = "".join(f"<li>{escape(n)}</li>" for n in self.prose.get("notes") or ())
        refs = "".join(f'<li>{escape(r.get("title", ""))}{" &mdash; " + escape(r["note"]) if r.get("note") else ""} '
                       f'<span class="mono muted">{escape(r.get("url", ""))}</span></li>' for r in self.prose.get("references") or ())
        ignored = "".join(f'<li><span class="mono">{escape(n)}</span>: {escape(why)}</li>'
                          for n, why in (self.costs.get("ignored") or {}).items())
        return (f'<h3>Workload and conventions</h3>{_dl(items)}'
                '<p class="muted">FLOPs count 2 per multiply-add (as torch.utils.flop_counter); norms, softmax, '
                'activations and elementwise ops are not counted. Weight bytes: weights read once per call; activation '
                'bytes: unfused activation traffic.</p>'
                + (f"<h3>Notes</h3><ul>{notes}</ul>" if notes else "")
                + (f"<h3>Modules deliberately ignored</h3><ul>{ignored}</ul>" if ignored else "")
                + (f"<h3>References</h3><ul>{refs}</ul>" if refs else ""))

    def costs_section(self) -> str:
        body = self.missing()
        if self.costs:
            figures = self.cost_tables() + self.workload()
            body += (f'<details class="incomplete"><summary>Figures of the supported modules only (incomplete)</summary>'
                     f'{self.charts()}{figures}</details>' if self.unsupported else figures)
        return f'<section id="costs"><h2>Costs</h2>{body}</section>'

    # ---- tree, diagnostics, config -----------------------------------------------------------
    def tree_section(self) -> str:
        per_module: dict = {}
        for d in self.diagnostics:
            if d.module is not None:
                per_module.setdefault(d.module, []).append(d.format())
        marks = {n: why for n, why in self.unsupported.items() if not why.startswith("inside unsupported")}
        rows = TreeRenderer(self.tree, self.css, per_module, marks).render()
        groups = len(fold(self.tree).groups)
        return ('<section id="tree"><h2>Module tree</h2><div class="toolbar">'
                '<input id="search" type="search" placeholder="Filter by name or class (a dotted query matches full names)" '
                'autocomplete="off" spellcheck="false">'
                '<button type="button" id="expand-all">Expand all</button><button type="button" id="collapse-all">Collapse</button>'
                f'<span id="status" class="muted">{self.totals["modules"]:,} modules, {groups:,} folded group{"" if groups == 1 else "s"} '
                'of repeated siblings</span>'
                '</div><div class="treebox"><div class="r head"><span>name</span><span>class</span><span>stage</span>'
                '<span class="num">own params</span><span class="num">total params</span><span>parameters and buffers</span>'
                f'<span>created at</span></div><div id="tree-rows" data-groups="{groups}">{rows}</div></div>'
                '<p class="muted">Click a row (or press Enter) to expand it. Buffers marked * are non-persistent. '
                'A folded row stands for identical siblings; its numbers are per member and for all members.</p></section>')

    def diagnostics_section(self) -> str:
        if not self.diagnostics:
            return '<section id="diagnostics"><h2>Diagnostics</h2><p class="muted">None: every construct was followed.</p></section>'
        rows = "".join(f'<tr class="sev-{escape(d.severity)}"><td class="mono">{escape(d.code)}</td><td>{escape(d.severity)}</td>'
                       f'<td class="mono">{escape(str(d.span) if d.span else "")}</td><td class="mono">'
                       f'{escape(d.module if d.module is not None else "")}</td><td>{escape(d.message)}</td></tr>'
                       for d in self.diagnostics)
        return (f'<section id="diagnostics"><h2>Diagnostics</h2><table class="grid diag"><thead><tr><th>code</th>'
                f'<th>severity</th><th>where</th><th>module</th><th>message</th></tr></thead><tbody>{rows}</tbody></table>'
                '<p class="muted">Codes are listed in docs/diagnostics.md of modeltree-analyzer.</p></section>')

    def config_section(self) -> str:
        if self.config is None:
            return '<section id="config"><h2>Config</h2><p class="muted">No config file was read.</p></section>'
        text = json.dumps(self.config, indent=1, sort_keys=True, default=str)
        return (f'<section id="config"><h2>Config</h2><details><summary>{escape(str(self.tree.meta.get("config") or "config"))}'
                f' as used ({len(self.config)} keys, after --set)</summary><pre class="cfg">{escape(text)}</pre></details></section>')

    def html(self) -> str:
        body = (self.header() + '<main class="wrap">'
                + f'<section id="stages"><h2>Stages</h2><div class="charts">{self.stage_table()}{self.params_chart()}</div>'
                + f'{"" if self.unsupported else self.charts()}</section>'
                + self.tree_section() + self.costs_section() + self.diagnostics_section() + self.config_section()
                + f'</main><footer class="wrap muted">Made by modeltree-analyzer {escape(self.version)} from the source, '
                'statically: no code was run. This page is self-contained and loads nothing.</footer>')
        return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                '<meta name="viewport" content="width=device-width, initial-scale=1">'
                f'<title>{escape(self.title())} &middot; modeltree report</title><style>{_asset("report.css")}</style>'
                f'</head><body>{body}<script>{_asset("report.js")}</script></body></html>\n')


def report_html(tree: ModuleTree, diagnostics: list, *, source: str, costs: dict | None = None,
                costs_missing: str | None = None, config: dict | None = None, overrides=(), prose: dict | None = None,
                version: str = __version__) -> str:
    """The page. ``costs``: the costs document (costs/summary.py), or None with ``costs_missing``
    saying why; ``config``: the config dict used (after ``--set``); ``prose``: the workload file's
    ``remarks``, ``notes`` and ``references``."""
    return Page(tree, diagnostics, source=source, costs=costs, costs_missing=costs_missing, config=config,
                overrides=overrides, prose=prose, version=version).html()

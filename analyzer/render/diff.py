"""Text rendering of a ``DiffResult``: a header per kind, one line per collapsed group, a summary."""
from __future__ import annotations

from analyzer.tree.diff import KINDS, DiffResult

_SUMMARY_ORDER = (("class", ("class",)), ("missing", ("missing_left", "missing_right")), ("order", ("order",)),
                  ("params", ("params",)), ("buffers", ("buffers",)), ("stage", ("stage",)))
_MAX_PATTERN_WIDTH = 64


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(result: DiffResult) -> str:
    """E.g. "4083 modules compared, 0 differences" or "... 3 differences: 1 class, 2 missing"."""
    counts = result.counts
    head = f"{_plural(result.compared, 'module')} compared, {_plural(result.total, 'difference')}"
    parts = [f"{n} {label}" for label, kinds in _SUMMARY_ORDER if (n := sum(counts[k] for k in kinds))]
    return head + (": " + ", ".join(parts) if parts else "")


def _header(kind: str, left: str, right: str) -> str:
    return {
        "missing_left": f"only in {right} (missing from {left})",
        "missing_right": f"only in {left} (missing from {right})",
        "class": "class differs",
        "order": "out of order (fewest modules whose move explains the difference)",
        "params": "parameters differ",
        "buffers": "buffers differ",
        "stage": "stage differs",
    }[kind]


def render_text(result: DiffResult, left_label: str, right_label: str) -> str:
    not_compared = [f for f in ("params", "buffers", "stage") if f not in result.fields]
    lines = [f"--- {left_label}", f"+++ {right_label}", "compared: " + ", ".join(result.fields)
             + (f" (not in both inputs: {', '.join(not_compared)})" if not_compared else "")]
    counts = result.counts
    for kind in KINDS:
        entries = result.entries.get(kind, [])
        if not entries:
            continue
        lines += ["", f"{_header(kind, left_label, right_label)}: {_plural(counts[kind], 'module')}"]
        width = min(_MAX_PATTERN_WIDTH, max(len(e.pattern or "<root>") for e in entries))
        cwidth = max(len(str(e.count)) for e in entries) + 2
        for e in entries:
            line = f"  {(e.pattern or '<root>'):<{width}}  {f'({e.count})':>{cwidth}}"
            lines.append((line + f"  {e.detail}" if e.detail else line).rstrip())
    lines += ["", summary_line(result)]
    return "\n".join(lines) + "\n"

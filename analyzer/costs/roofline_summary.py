"""The ``roofline`` section of the costs document (``costs --hardware``): plain dicts only, the
renderers format them. Built from a cost report's per-call records, so it works for any model the
cost walk supports."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from analyzer.costs import footprint as fp
from analyzer.costs import roofline as rl
from analyzer.costs.calls import call_records, check_sums
from analyzer.costs.formulas.base import BYTES
from analyzer.costs.hardware import HARDWARE_DIR
from analyzer.diagnostics import AnalyzerError, Diagnostic

PEAK_FOR_DTYPE = {"bf16": "bf16", "fp16": "fp16", "fp32": "fp32", "fp8": "fp8"}


def _figure(f) -> dict:
    out = {"value": rl._num(f.value), "as_printed": f.printed, "source": dict(f.source)}
    if f.note:
        out["note"] = f.note
    return out


def _shown(path: str) -> str:
    """A shipped file as rules/hardware/NAME.yaml (the same on every machine), a user's as given."""
    p = Path(path)
    return f"rules/hardware/{p.name}" if p.resolve().parent == HARDWARE_DIR.resolve() else path


def options(batch=1, compute_efficiency=1.0, memory_efficiency=1.0) -> rl.Options:
    for name, v in (("--compute-efficiency", compute_efficiency), ("--memory-efficiency", memory_efficiency)):
        if not 0 < v <= 1:
            raise AnalyzerError(Diagnostic("E003", f"{name} must be in (0, 1], got {v}"))
    if batch < 1:
        raise AnalyzerError(Diagnostic("E003", f"--batch must be >= 1, got {batch}"))
    return rl.Options(int(batch), Fraction(str(compute_efficiency)), Fraction(str(memory_efficiency)))


def build(report, hw, opt: rl.Options, peak_key: str | None = None) -> dict:
    """The roofline of ``report`` on ``hw`` (hardware.Hardware) at ``opt``; ``peak_key`` picks the
    datasheet peak (default: the one of the workload's dtype)."""
    key = peak_key or PEAK_FOR_DTYPE[report.workload.dtype]
    peak = hw.peak(key)
    m = rl.Machine(peak.value, hw.bandwidth.value)
    calls = call_records(report)
    check_sums(report, calls)
    values = {str(k): int(v) for k, v in report.workload.values.items()}
    b_e = values.get(str(BYTES))
    params = getattr(report, "model_params", 0) or report.tree.totals()["params"]  # tied weights once, when known
    weights = params * b_e
    figures = {f"peak_{k}": _figure(f) for k, f in hw.peaks.items()}
    figures["memory_bandwidth"] = _figure(hw.bandwidth)
    figures["memory_capacity"] = _figure(hw.capacity)
    return {
        "hardware": {"name": hw.name, "title": hw.title, "file": _shown(hw.path), "peak_dtype": key,
                     "peak_flops_per_s": rl._num(m.peak), "memory_bandwidth_bytes_per_s": rl._num(m.bandwidth),
                     "memory_capacity_bytes": rl._num(hw.capacity.value), "ridge_flops_per_byte": float(m.ridge),
                     "figures": figures, "notes": list(hw.notes)},
        "batch": opt.batch,
        "compute_efficiency": float(opt.compute_efficiency),
        "memory_efficiency": float(opt.memory_efficiency),
        "effective_ridge_flops_per_byte": float(m.ridge * opt.compute_efficiency / opt.memory_efficiency),
        "assumptions": list(rl.ASSUMPTIONS),
        "phases": rl.phases(calls, m, opt, report.stages),
        "throughput": rl.throughput(calls, m, opt, report.workload.tokens.get("sequence_length")),
        "footprint": fp.footprint(calls, weights_bytes=weights, batch=opt.batch, kv_length=values.get("T"),
                                  capacity=hw.capacity.value, bytes_per_element=b_e),
    }

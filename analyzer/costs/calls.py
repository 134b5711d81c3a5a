"""The per-call records of a cost report as plain data: one ``Call`` per module call the workload
makes (the module's *own* cost, as the stage sums use it), evaluated at the workload's numbers.

This is the only place the roofline layer touches SymPy; roofline.py and footprint.py work on
these records alone, so any model the cost walk supports gets times and footprints unchanged.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp

from analyzer.costs.formulas.base import BYTES


@dataclass(frozen=True)
class Call:
    phase: str
    stage: str
    module: str
    family: str
    flops: Fraction  # exact; fractional only for averaged routing (N k / E tokens per expert)
    weight_bytes: Fraction  # weights this call reads (a routed expert or an embedding: only a part)
    all_weight_bytes: Fraction  # the call's own parameters x bytes per element (bounds the above)
    activation_bytes: Fraction  # unfused activation traffic, KV cache reads and writes included
    kv_cache_bytes: Fraction  # KV cache held after the call


def _exact(report, expr) -> Fraction:
    """The value at the workload's numbers, exactly: averaged routing (N k / E tokens per expert)
    gives fractional bytes, kept as fractions so that the calls add up to the stage totals."""
    v = sp.sympify(expr).xreplace(report.workload.values)  # exact substitution; numbers evaluate
    if not v.is_Rational:
        raise ValueError(f"{expr} does not evaluate to a number at the workload's values: {v}")
    return Fraction(int(v.p), int(v.q))


def call_records(report) -> tuple:
    """Every call with a nonzero cost, in walk order, per phase (``report.phases`` order)."""
    nodes = report.walk.binder.nodes
    stage_of = getattr(report, "stage_of", None) or {n: node.stage for n, node in nodes.items()}
    used = report.walk.used
    memo: dict = {}
    out = []
    for phase in report.phases:
        for name, own, _ in report.walk.calls.get(phase, []):
            if own not in memo:
                memo[own] = tuple(_exact(report, e) for e in (
                    own.flops, own.weight_bytes, own.params * BYTES, own.act_bytes, own.kv_bytes))
            flops, wb, allw, ab, kv = memo[own]
            if not (flops or wb or ab or kv):
                continue
            b = used.get(name)
            out.append(Call(phase, stage_of[name], name, b.family.name if b and b.family else "",
                            flops, wb, max(allw, wb), ab, kv))
    return tuple(out)


def check_sums(report, calls) -> None:
    """The records add up to the report's per-stage FLOPs (a guard against a dropped call)."""
    got = Counter()
    for c in calls:
        got[(c.phase, c.stage)] += c.flops
    for phase, stages in report.phases.items():
        for s in report.stages:
            want = _exact(report, stages[s].flops)
            if got[(phase, s)] != want:
                raise AssertionError(f"call records of {phase}/{s}: {got[(phase, s)]} FLOPs, the report {want}")


__all__ = ["Call", "call_records", "check_sums"]

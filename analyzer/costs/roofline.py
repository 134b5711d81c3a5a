"""Roofline times from per-call records (calls.py) and an accelerator (hardware.py): pure, exact
arithmetic on plain data (``Fraction``), no SymPy.

Each call's time is max(FLOPs / (peak x compute efficiency), bytes / (bandwidth x memory
efficiency)), bytes = weights read + activation traffic; stage and phase times are sums over calls
(a max of sums would hide which parts are bound by what). A call is memory-bound when its memory
time exceeds its compute time.

Batch B (B identical requests run together): FLOPs and activation traffic (KV cache reads
included) scale with B; weights are read once per forward whatever B. A call that reads only part
of its weights (a routed expert, an embedding's rows) reads B times that part, at most all of them.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

ASSUMPTIONS = (
    "no kernel fusion: every kernel reads its inputs from and writes its outputs to memory",
    "no overlap: calls and stages run one after another, each at max(compute time, memory time)",
    "weights are re-read from memory on every call, so every decode step reads them again",
    "FlashAttention IO where the attention implementation is flash or fused SDPA: the score matrix "
    "never reaches memory (eager attention writes and reads it)",
    "peaks are dense datasheet figures (no 2:4 sparsity); efficiencies scale them (default 1.0)",
)


@dataclass(frozen=True)
class Options:
    batch: int = 1
    compute_efficiency: Fraction = Fraction(1)
    memory_efficiency: Fraction = Fraction(1)


@dataclass(frozen=True)
class Machine:
    """What the arithmetic needs of an accelerator: FLOP/s and B/s (exact)."""

    peak: Fraction
    bandwidth: Fraction

    @property
    def ridge(self) -> Fraction:
        """FLOP per byte at which compute time equals memory time."""
        return self.peak / self.bandwidth


def batched(call, batch: int) -> tuple:
    """(FLOPs, weight bytes, activation bytes) of ``call`` for ``batch`` requests."""
    w = call.weight_bytes
    if w < call.all_weight_bytes:
        w = min(call.all_weight_bytes, batch * w)
    return call.flops * batch, w, call.activation_bytes * batch


def call_time(call, m: Machine, opt: Options) -> tuple:
    """(time, compute time, memory time, FLOPs, bytes) of one call, in seconds (exact)."""
    flops, w, a = batched(call, opt.batch)
    moved = w + a
    tc = flops / (m.peak * opt.compute_efficiency)
    tm = moved / (m.bandwidth * opt.memory_efficiency)
    return max(tc, tm), tc, tm, flops, moved


@dataclass
class Tally:
    time: Fraction = Fraction(0)
    memory_bound_time: Fraction = Fraction(0)
    compute_time: Fraction = Fraction(0)
    memory_time: Fraction = Fraction(0)
    flops: Fraction = Fraction(0)
    bytes: Fraction = Fraction(0)
    calls: int = 0
    memory_bound_calls: int = 0

    def add(self, t, tc, tm, flops, moved):
        self.time += t
        self.compute_time += tc
        self.memory_time += tm
        self.flops += flops
        self.bytes += moved
        self.calls += 1
        if tm > tc:
            self.memory_bound_time += t
            self.memory_bound_calls += 1

    def merge(self, other: "Tally"):
        for f in ("time", "memory_bound_time", "compute_time", "memory_time", "flops", "bytes", "calls",
                  "memory_bound_calls"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


def tally(calls, m: Machine, opt: Options, stages) -> dict:
    """phase -> {stage: Tally, ..., "total": Tally}, stages in the given order (all present)."""
    out: dict = {}
    for c in calls:
        per = out.setdefault(c.phase, {s: Tally() for s in stages})
        per.setdefault(c.stage, Tally()).add(*call_time(c, m, opt))
    for per in out.values():
        t = Tally()
        for s in list(per):
            t.merge(per[s])
        per["total"] = t
    return out


def _num(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def entry(t: Tally, m: Machine, opt: Options, phase_time: Fraction) -> dict:
    ai = t.flops / t.bytes if t.bytes else None
    ridge = m.ridge * opt.compute_efficiency / opt.memory_efficiency
    share = t.memory_bound_time / t.time if t.time else None
    return {
        "time_s": float(t.time),
        "share_of_phase": float(t.time / phase_time) if phase_time else None,
        "memory_bound_share": None if share is None else float(share),
        "bound": None if share is None else ("memory" if share >= Fraction(1, 2) else "compute"),
        "compute_time_s": float(t.compute_time),
        "memory_time_s": float(t.memory_time),
        "flops": _num(t.flops),
        "bytes": _num(t.bytes),
        "arithmetic_intensity": None if ai is None else float(ai),
        "intensity_vs_ridge": None if ai is None else float(ai / ridge),
        "calls": t.calls,
        "memory_bound_calls": t.memory_bound_calls,
    }


def by_family(calls, m: Machine, opt: Options) -> dict:
    """phase -> {family: Tally}: which kinds of call take the time, and what bounds them."""
    out: dict = {}
    for c in calls:
        out.setdefault(c.phase, {}).setdefault(c.family or "(none)", Tally()).add(*call_time(c, m, opt))
    return out


def phases(calls, m: Machine, opt: Options, stages) -> dict:
    """The roofline document's ``phases``: per phase, per stage and total, the dominant stage, and
    per family (largest time first)."""
    out = {}
    fams = by_family(calls, m, opt)
    for phase, per in tally(calls, m, opt, stages).items():
        total = per["total"].time
        doc = {s: entry(t, m, opt, total) for s, t in per.items()}
        busy = [(t.time, s) for s, t in per.items() if s != "total" and t.time]
        ranked = sorted(fams.get(phase, {}).items(), key=lambda kv: (-kv[1].time, kv[0]))
        out[phase] = {"stages": doc, "dominant_stage": max(busy)[1] if busy else None,
                      "families": {f: entry(t, m, opt, total) for f, t in ranked}}
    return out


def throughput(calls, m: Machine, opt: Options, prefill_tokens: int | None) -> dict:
    """Prefill and decode tokens/s at batch B; time to first token = one request's prefill."""
    def phase_time(phase, o):
        return sum((call_time(c, m, o)[0] for c in calls if c.phase == phase), Fraction(0))

    out = {"batch": opt.batch}
    pre = phase_time("prefill", opt)
    if pre and prefill_tokens:
        out["prefill_tokens"] = prefill_tokens
        out["prefill_tokens_per_s"] = float(opt.batch * prefill_tokens / pre)
        one = Options(1, opt.compute_efficiency, opt.memory_efficiency)
        out["time_to_first_token_s"] = float(phase_time("prefill", one))
    dec = phase_time("decode", opt)
    if dec:
        out["decode_step_s"] = float(dec)
        out["decode_tokens_per_s"] = float(opt.batch / dec)
    return out

"""Memory footprint from per-call records (calls.py): weights, KV cache, a peak-activation
estimate, and the largest batch that fits an accelerator. Pure arithmetic, no SymPy.

* Weights: every stored parameter in the chosen dtype (parameters x bytes per element).
* KV cache: the sum of the decode step's calls' ``kv_cache_bytes`` (the cache held at T keys, per
  layer K and V as the attention family states them: KV heads x head dim, so GQA shrinks it, and a
  family with a compressed cache states its own), times the batch.
* Peak activations: the largest single call's activation traffic (its unfused kernels' inputs,
  outputs and intermediates counted as if all alive at once, an upper-bound estimate of the live
  tensors), times the batch.
* Largest batch at T: weights + B x (KV cache per request + peak activations per request) within
  the memory capacity (every request may be in its prefill: conservative).
"""
from __future__ import annotations

from fractions import Fraction


def _num(x: Fraction):
    return int(x) if x.denominator == 1 else float(x)


def kv_cache_per_request(calls, phase: str = "decode") -> Fraction:
    return sum((c.kv_cache_bytes for c in calls if c.phase == phase), Fraction(0))


def peak_activation(calls) -> tuple:
    """(bytes per request, the call) of the largest activation traffic of any one call."""
    best = max(calls, key=lambda c: c.activation_bytes, default=None)
    return (best.activation_bytes if best else Fraction(0)), best


def kv_width(calls, kv_length: int | None, bytes_per_element: int | None) -> int | None:
    """Elements of K (and of V) per layer per token, when every layer holds the same cache:
    KV heads x head dim for MHA/GQA, the compressed width for a family that caches less."""
    sizes = {c.kv_cache_bytes for c in calls if c.phase == "decode" and c.kv_cache_bytes}
    if len(sizes) != 1 or not kv_length or not bytes_per_element:
        return None
    width = sizes.pop() / (2 * kv_length * bytes_per_element)
    return int(width) if width.denominator == 1 else None


def footprint(calls, *, weights_bytes: int, batch: int, kv_length: int | None, capacity: Fraction,
              bytes_per_element: int | None = None) -> dict:
    kv = kv_cache_per_request(calls)
    act, where = peak_activation(calls)
    per_request = kv + act
    total = weights_bytes + batch * per_request
    free = capacity - weights_bytes
    max_batch = None if not per_request else max(0, int(free // per_request)) if free > 0 else 0
    out = {
        "weights_bytes": weights_bytes,
        "kv_length": kv_length,
        "kv_cache_bytes_per_request": _num(kv),
        "kv_cache_bytes": _num(batch * kv),
        "kv_cache_layers": sum(1 for c in calls if c.phase == "decode" and c.kv_cache_bytes),
        "kv_cache_bytes_per_token": _num(kv / kv_length) if kv_length else None,
        "kv_elements_per_layer_per_token": kv_width(calls, kv_length, bytes_per_element),  # K, and again V
        "peak_activation_bytes_per_request": _num(act),
        "peak_activation_bytes": _num(batch * act),
        "peak_activation_call": None if where is None else {"phase": where.phase, "module": where.module,
                                                             "family": where.family},
        "total_bytes": _num(total),
        "capacity_bytes": _num(capacity),
        "fits": total <= capacity,
        "max_batch": max_batch,
    }
    return out

"""Plain data shared by every family: symbols, the cost record, dimensions, child invocations,
and the two shared cores (matrix product, convolution) that the families reuse.

FLOP convention, stated once, as ``torch.utils.flop_counter`` states it: a matrix product of
(m x k) by (k x n) costs ``2 * m * k * n`` ("2 FLOPs per multiply-add"); a convolution costs
``2 * prod(out spatial) * prod(kernel) * batch * c_out * c_in_per_group``; bias additions are not
counted, and neither is anything that is not a matmul, a convolution or scaled-dot-product
attention (norms, softmax, activations, elementwise ops, gathers, interpolations). Those are
reported separately, by name, in ``Cost.uncounted`` (elements processed), never folded into
``flops``. Attention's causal mask is not counted either way: what is counted is the score
matrix the implementation computes (full for eager and SDPA, causal tiles for FlashAttention-2).

Bytes: ``weight_bytes`` are the parameters read once per call (``b_e`` bytes per element);
``act_in``/``act_out`` are the module's boundary tensors; ``act_bytes`` is the activation traffic
of every kernel inside the module run unfused (each reads its inputs and writes its outputs);
``kv_bytes`` is the KV cache held after the call.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

ZERO = sp.Integer(0)
ONE = sp.Integer(1)


@lru_cache(maxsize=None)
def sym(name: str, flag: bool = False) -> sp.Symbol:
    """A dimension or workload symbol: a positive integer, or a 0/1 flag (bias present...)."""
    if flag:
        return sp.Symbol(name, integer=True, nonnegative=True)
    return sp.Symbol(name, integer=True, positive=True)


BYTES = sym("b_e")  # bytes per element of the chosen dtype (2 for bf16)


def _expr(v) -> sp.Expr:
    return v if isinstance(v, sp.Basic) else sp.sympify(v)


@dataclass(frozen=True)
class Cost:
    """Inclusive cost of one call. ``uncounted``: (op, elements) for ops FlopCounterMode skips."""

    params: sp.Expr = ZERO
    flops: sp.Expr = ZERO
    weight_bytes: sp.Expr = ZERO
    act_in: sp.Expr = ZERO
    act_out: sp.Expr = ZERO
    act_bytes: sp.Expr = ZERO
    kv_bytes: sp.Expr = ZERO
    uncounted: tuple = ()

    ADDITIVE = ("params", "flops", "weight_bytes", "act_bytes", "kv_bytes")
    FIELDS = ("params", "flops", "weight_bytes", "act_in", "act_out", "act_bytes", "kv_bytes")

    def __post_init__(self):
        for f in self.FIELDS:
            object.__setattr__(self, f, _expr(getattr(self, f)))
        object.__setattr__(self, "uncounted", _merge_ops(self.uncounted, ()))

    def plus(self, other: "Cost", times=1) -> "Cost":
        """Additive fields summed (``other`` counted ``times``); boundary fields kept from self."""
        t = _expr(times)
        kw = {f: getattr(self, f) + t * getattr(other, f) for f in self.ADDITIVE}
        ops = tuple((op, t * n) for op, n in other.uncounted)
        return Cost(act_in=self.act_in, act_out=self.act_out, uncounted=_merge_ops(self.uncounted, ops), **kw)

    def scaled(self, times) -> "Cost":
        return Cost().plus(self, times)

    def with_io(self, act_in, act_out) -> "Cost":
        kw = {f: getattr(self, f) for f in self.FIELDS}
        kw.update(act_in=act_in, act_out=act_out)
        return Cost(uncounted=self.uncounted, **kw)

    def subs(self, values: dict) -> "Cost":
        kw = {f: getattr(self, f).subs(values) for f in self.FIELDS}
        return Cost(uncounted=tuple((op, n.subs(values)) for op, n in self.uncounted), **kw)


def _merge_ops(a, b) -> tuple:
    out: dict[str, sp.Expr] = {}
    for op, n in tuple(a) + tuple(b):
        out[op] = out.get(op, ZERO) + _expr(n)
    return tuple(sorted((op, n) for op, n in out.items() if n != 0))


@dataclass(frozen=True)
class Dims:
    """The constructor dimensions of one module under one family (hashable, for memoization).
    Values are ints, sympy symbols (generic forms) or nested ``Dims`` of child modules."""

    family: str
    items: tuple = ()

    @classmethod
    def of(cls, family: str, values: dict) -> "Dims":
        return cls(family, tuple(sorted(values.items())))

    def __getitem__(self, key: str):
        for k, v in self.items:
            if k == key:
                return v
        raise KeyError(f"family {self.family!r} has no dimension {key!r}")

    def get(self, key: str, default=None):
        for k, v in self.items:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict:
        return dict(self.items)

    def scalars(self) -> dict:
        return {k: v for k, v in self.items if not isinstance(v, Dims)}


@dataclass(frozen=True)
class Part:
    """One child invocation of a composite or container.

    ``role``: the family's name for the child (families.yaml maps it to a child name; by default
    the role is the child name). ``family``/``dims``: how the parent sees the child (None for a
    container: the child's own mapping is used). ``work``: the child's workload (None: the child
    is not executed, its parameters still count). ``count``: how many children the role names
    (e.g. E experts), each called with ``work``. ``stage``: the workload template's role-based
    stage of the child's subtree (embed, decoder, head...), used when no stages file applies.
    """

    role: str
    family: str | None = None
    dims: Dims | None = None
    work: dict | None = field(default=None, hash=False, compare=False)
    count: object = 1
    stage: str | None = field(default=None, hash=False, compare=False)  # a role-based stage for the subtree


@dataclass(frozen=True)
class Expansion:
    """What a composite or container does itself (``own``) and the children it calls."""

    own: Cost
    parts: tuple = ()
    assumptions: tuple = ()  # plain sentences the cost rests on (routing...), reported per module


# ---- shared cores (as torch.utils.flop_counter reuses mm_flop / conv_flop_count) ------------
def mm_flops(m, k, n):
    """(m x k) @ (k x n): 2 m k n."""
    return 2 * m * k * n


def conv_flops(batch, c_out, c_in_per_group, kernel_elems, out_elems):
    """2 * out spatial elements * kernel elements * batch * c_out * c_in/groups."""
    return 2 * batch * c_out * c_in_per_group * kernel_elems * out_elems


def attention_core_flops(batch_heads, pairs, d_qk, d_v):
    """Q K^T then P V over ``pairs`` (query, key) pairs per head (torch's sdpa_flop_count with
    pairs = s_q * s_k): 2 b pairs d_qk + 2 b pairs d_v."""
    return 2 * batch_heads * pairs * (d_qk + d_v)

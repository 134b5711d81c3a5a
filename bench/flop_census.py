"""Counting one forward for bench/flop_truth.py: FlopCounterMode plus a census mode. IMPORTS torch
(only inside functions).

The census (a TorchDispatchMode inside FlopCounterMode, above FakeTensorMode) records every aten
op called and the shapes of the attention and batched-matmul ops, and under fake tensors answers
two kinds of data-dependent questions, never by guessing:

* values that are known: tensors made by ``ones``/``zeros``/``full`` (and ``*_like``, ``new_*``)
  keep their constant through view-like ops, casts, comparisons with a scalar and ``all``/``any``;
  ``.item()`` / ``bool()`` of such a tensor gets its value (transformers' ``torch.all(mask == 1)``
  on the all-ones mask it made itself). Any other ``.item()`` still raises.
* inside a sparse MoE block (a module with a ModuleList ``experts`` and an int ``top_k``): the
  ``nonzero`` of expert e's mask gets the rows of the fixed routing "token t's k-th pick is expert
  (t * top_k + k) mod E" (see bench/flop_truth.py).
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ATTENTION_OPS = ("_scaled_dot_product", "_flash_attention", "_efficient_attention")
FACTORIES = {"ones": 1, "zeros": 0, "ones_like": 1, "zeros_like": 0, "new_ones": 1, "new_zeros": 0}
FULL = {"full": 1, "full_like": 1, "new_full": 1, "fill": 1}  # op -> index of the fill value
SAME_VALUE = {"view", "_unsafe_view", "reshape", "expand", "slice", "select", "unsqueeze", "squeeze", "t",
              "transpose", "permute", "clone", "_to_copy", "to", "detach", "alias", "contiguous", "lift_fresh",
              "lift_fresh_copy", "all", "any", "amin", "amax", "min", "max", "repeat", "flatten", "narrow",
              "expand_as", "view_as", "reshape_as", "type_as", "index_select", "gather"}
COMPARE = {"eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
           "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}
ARITH = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b, "sub": lambda a, b: a - b,
         "bitwise_and": lambda a, b: a & b, "bitwise_or": lambda a, b: a | b, "logical_and": lambda a, b: a and b}


def flop_counter():
    """tests/costs_helpers.py's FlopCounterMode (which also counts torch 2.13's CPU flash SDPA)."""
    tests = str(REPO / "tests")
    if tests not in sys.path:
        sys.path.insert(0, tests)
    from costs_helpers import flop_counter as counter

    return counter()


def _cast(value, dtype):
    import torch

    if dtype == torch.bool:
        return bool(value)
    return float(value) if dtype.is_floating_point else int(value)


def make_census(fake: bool):
    from torch.utils._python_dispatch import TorchDispatchMode

    class Census(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.ops: dict[str, int] = {}
            self.attention: list[dict] = []
            self.answered: dict[str, int] = {}
            self.moe = None  # (block record, tokens, top_k, experts) while inside a sparse block
            self.const: dict[int, tuple] = {}  # id(tensor) -> (tensor, python value)

        def value(self, x):
            import torch

            if isinstance(x, torch.Tensor):
                hit = self.const.get(id(x))
                return hit[1] if hit is not None and hit[0] is x else None
            return x if isinstance(x, (bool, int, float)) else None

        def known(self, name, args, kwargs, out):
            """The constant value of ``out`` when every element is the same known value, else None."""
            if name in FACTORIES:
                return FACTORIES[name]
            if name in FULL:
                return self.value(args[FULL[name]]) if len(args) > FULL[name] else None
            if not args:
                return None
            first = self.value(args[0])
            if first is None:
                return None
            if name in SAME_VALUE:
                return first
            if name in ("bitwise_not", "logical_not"):
                return not first
            if name in COMPARE or name in ARITH:
                other = self.value(args[1]) if len(args) > 1 else None
                if other is None:
                    return None
                return (COMPARE.get(name) or ARITH[name])(first, other)
            return None

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            import torch

            kwargs = kwargs or {}
            name = func.overloadpacket.__name__
            self.ops[name] = self.ops.get(name, 0) + 1
            if fake and name in ("_local_scalar_dense", "is_nonzero") and self.value(args[0]) is not None:
                self.answered[name] = self.answered.get(name, 0) + 1
                return _cast(self.value(args[0]), args[0].dtype) if name != "is_nonzero" else bool(self.value(args[0]))
            if self.moe is not None and fake and name == "nonzero":
                block, tokens, top_k, experts = self.moe
                e = len(block["calls"]) % experts
                n = sum(1 for t in range(tokens) for k in range(top_k) if (t * top_k + k) % experts == e)
                block["calls"].append(n)
                self.answered["nonzero"] = self.answered.get("nonzero", 0) + 1
                return torch.empty((n, args[0].dim()), dtype=torch.long, device=args[0].device)
            out = func(*args, **kwargs)
            if fake and isinstance(out, torch.Tensor):
                v = self.known(name, args, kwargs, out)
                if v is not None:
                    self.const[id(out)] = (out, _cast(v, out.dtype))
            if name.startswith(ATTENTION_OPS) or name in ("bmm", "baddbmm"):
                shapes = [list(a.shape) for a in args if isinstance(a, torch.Tensor)]
                self.attention.append({"op": name, "shapes": shapes})
            return out

    return Census()


def _sparse_blocks(model) -> list:
    """Modules holding a ModuleList of experts and a top-k (transformers' sparse MoE blocks)."""
    import torch

    out = []
    for name, mod in model.named_modules():
        experts = getattr(mod, "experts", None)
        top_k = getattr(mod, "top_k", getattr(mod, "num_experts_per_tok", None))
        if isinstance(experts, torch.nn.ModuleList) and isinstance(top_k, int):
            out.append((name, mod, top_k, len(experts)))
    return out


@contextlib.contextmanager
def _routing(model, census, record: list):
    """While a sparse block runs, the census knows it; each expert's input rows are recorded."""
    handles = []
    for name, mod, top_k, experts in _sparse_blocks(model):
        def pre(m, args, kwargs, name=name, top_k=top_k, experts=experts):
            x = args[0] if args else next(iter(kwargs.values()))
            tokens = x.numel() // x.shape[-1]
            block = {"block": name, "tokens": tokens, "top_k": top_k, "experts": experts, "calls": [],
                     "rows": [0] * experts}
            record.append(block)
            census.moe = (block, tokens, top_k, experts)

        def post(m, args, out):
            census.moe = None

        handles.append(mod.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(mod.register_forward_hook(post))
        for e, expert in enumerate(mod.experts):
            def rows(m, args, e=e):
                if record and args:
                    record[-1]["rows"][e] += args[0].numel() // args[0].shape[-1]
            handles.append(expert.register_forward_pre_hook(rows))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def count(model, forward, fake: bool) -> tuple[dict, object]:
    """FLOPs of ``forward()`` (FlopCounterMode, by aten op), the census of its ops, the MoE routing."""
    import torch

    census = make_census(fake)
    routing: list = []
    with torch.no_grad(), _routing(model, census, routing), flop_counter() as counter, census:
        out = forward()
    by_op = {str(op): int(n) for op, n in counter.get_flop_counts().get("Global", {}).items()}
    res = {"flops": int(counter.get_total_flops()), "flops_by_op": by_op, "ops": census.ops,
           "attention_ops": _distinct(census.attention), "answered": census.answered}
    if routing:
        res["routing"] = _routing_summary(routing)
    return res, out


def _distinct(rows: list[dict]) -> list[dict]:
    counts: dict[str, int] = {}
    for r in rows:
        k = json.dumps(r, sort_keys=True)
        counts[k] = counts.get(k, 0) + 1
    return [{**json.loads(k), "count": n} for k, n in counts.items()]


def _routing_summary(blocks: list[dict]) -> dict:
    first = blocks[0]
    return {"blocks": len(blocks), "top_k": first["top_k"], "experts": first["experts"],
            "tokens": first["tokens"], "expert_rows_first_block": first["rows"],
            "expert_rows_total": sum(sum(b["rows"]) for b in blocks),
            "expected_total": sum(b["tokens"] * b["top_k"] for b in blocks)}


def params(model) -> dict:
    return {"params": sum(p.numel() for p in model.parameters()),
            "params_all": sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))}


def keys_seen(attention_ops: list[dict]) -> list[int]:
    """The key lengths the attention ops saw: SDPA's key [.., T, D]; eager's scores bmm [.., S, D] x [.., D, T]."""
    out = set()
    for r in attention_ops:
        shapes = r["shapes"]
        if r["op"].startswith(ATTENTION_OPS) and len(shapes) >= 2:
            out.add(shapes[1][-2])
        elif r["op"] in ("bmm", "baddbmm") and len(shapes) >= 2:
            out.add(shapes[-1][-1])
    return sorted(out)

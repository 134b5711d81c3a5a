"""Standard-library functions the evaluator models: ``math`` (real functions on plain numbers),
``functools.partial``, ``copy.deepcopy`` and the cloning of modeled values.
"""
from __future__ import annotations

import libcst as cst

from analyzer.evaluate import limits
from analyzer.evaluate.core import _budget, _err, range_len
from analyzer.evaluate.sizes import _charge_sizes, _size, _too_big
from analyzer.evaluate.values import (
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    Tensor,
    Unknown,
)

_HUGE_MATH = {"factorial", "comb", "perm", "prod", "lcm", "pow", "mul", "lshift", "ipow", "imul", "ilshift",
              "concat", "iconcat", "repeat", "add", "iadd"}


def _math_fn(name, fn):
    def call(ev, args, kwargs, span):
        for a in args:
            if isinstance(a, Unknown):
                return Unknown(a.reason, a.span)
            if isinstance(a, Tensor):
                return Tensor(a.shape, a.dtype)
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, range) and range_len(a) > limits.MAX_SEQ:
                raise _budget(f"a range of {range_len(a):,} items exceeds the limit of {limits.MAX_SEQ:,}", span)
        if name in _HUGE_MATH:
            ints = [a for a in args if isinstance(a, int)]
            if name in ("factorial", "comb", "perm") and any(abs(a) > 20_000 for a in ints):
                return Unknown(f"math.{name} of so large a number is not evaluated", span)
            if name == "prod" and args and _size(args[0]) > 1_000:
                return Unknown("math.prod of so many numbers is not evaluated", span)
            op = {"mul": cst.Multiply, "imul": cst.Multiply, "pow": cst.Power, "ipow": cst.Power,
                  "lshift": cst.LeftShift, "ilshift": cst.LeftShift, "add": cst.Add, "iadd": cst.Add,
                  "concat": cst.Add, "iconcat": cst.Add, "repeat": cst.Multiply}.get(name)
            if op is not None and len(args) == 2 and _too_big(op, args[0], args[1]):
                return Unknown("arithmetic result too large to evaluate", span)
        _charge_sizes(ev, list(args), span)
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise _err("W104", f"math.{name}: {exc}", span, type(exc).__name__) from None

    return Intrinsic(f"math.{name}", call)


def _partial(ev, args, kwargs, span):
    if not args:
        raise _err("W104", "partial() needs a callable", span, "TypeError")
    func, pre, kw = args[0], list(args[1:]), kwargs
    if isinstance(func, PartialValue):  # a partial of a partial is flattened, as functools does
        func, pre, kw = func.func, [*func.args, *pre], {**func.kwargs, **kwargs}
    return PartialValue(func, pre, kw)


def _reduce(ev, args, kwargs, span):
    """``functools.reduce(function, iterable[, initial])``: the function called on the analyzed
    values, left to right, as functools does."""
    if kwargs or not 2 <= len(args) <= 3:
        raise _err("W104", "reduce() takes 2 or 3 positional arguments", span, "TypeError")
    items = list(ev.iterate(args[1], span))
    ev.charge(len(items), span)
    if len(args) == 3:
        acc = args[2]
    elif items:
        acc = items.pop(0)
    else:
        raise _err("W104", "reduce() of empty iterable with no initial value", span, "TypeError")
    for x in items:
        acc = ev.call(args[0], [acc, x], {}, span)
    return acc


def _cast(ev, args, kwargs, span):
    """``typing.cast(typ, val)``: ``val``, unchanged."""
    bound = dict(zip(("typ", "val"), args))
    bound.update(kwargs)
    if len(args) > 2 or set(bound) != {"typ", "val"}:
        raise _err("W104", "cast() takes the arguments typ and val", span, "TypeError")
    return bound["val"]


def _deepcopy(ev, args, kwargs, span):
    if not args:
        raise _err("W104", "deepcopy() needs an argument", span, "TypeError")
    return clone(args[0], {}, ev, span)


def clone(v, memo, ev=None, span=None):
    """A deep copy of an evaluator value; a step per container copied (shared parts copied once)."""
    if id(v) in memo:
        return memo[id(v)]
    if ev is not None and isinstance(v, (ModuleObj, Instance, list, tuple, dict, set)):
        ev.tick(span)
        _charge_sizes(ev, (v,), span)
    if isinstance(v, ModuleObj):
        c = ModuleObj(v.cls, v.span)
        memo[id(v)] = c
        c.modules = {k: clone(m, memo, ev, span) for k, m in v.modules.items()}
        c.params = {k: clone(p, memo, ev, span) for k, p in v.params.items()}
        c.buffers = {k: clone(b, memo, ev, span) for k, b in v.buffers.items()}
        c.non_persistent = set(v.non_persistent)
        c.attrs = {k: clone(a, memo, ev, span) for k, a in v.attrs.items()}
        c.partial = v.partial
        return c
    if isinstance(v, Tensor):
        c = Tensor(v.shape, v.dtype, v.is_param, v.why_unknown, v.recipe)
        if v.cell is not None:  # a copy aliases its copied family, not the original's
            c.cell = memo.setdefault(("cell", id(v.cell)), [v.cell[0]])
        memo[id(v)] = c
        return c
    if isinstance(v, Instance):
        c = Instance(v.cls, None if v.storage is None else {})
        memo[id(v)] = c
        if v.tainted is not None:
            c.tainted = (v.tainted[0], set(v.tainted[1]))
        c.attrs = {k: clone(a, memo, ev, span) for k, a in v.attrs.items()}
        if v.storage is not None:
            c.storage.update({k: clone(a, memo, ev, span) for k, a in v.storage.items()})
        return c
    if isinstance(v, list):
        c = []
        memo[id(v)] = c
        c.extend(clone(x, memo, ev, span) for x in v)
        return c
    if isinstance(v, tuple):
        c = tuple(clone(x, memo, ev, span) for x in v)
        memo[id(v)] = c
        return c
    if isinstance(v, dict):
        c = {}
        memo[id(v)] = c
        c.update({k: clone(x, memo, ev, span) for k, x in v.items()})
        return c
    return v

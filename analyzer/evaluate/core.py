"""The evaluator's shared types, at the bottom of analyzer/evaluate (every module may import it):
frames, the raised-exception carriers (``EvalRaise``, ``BudgetExceeded``), control-flow signals,
the operator tables and the small helpers that build errors.
"""
from __future__ import annotations

import operator

import libcst as cst

from analyzer.diagnostics import SourceSpan
from analyzer.evaluate.values import (
    MISSING,
)


class EvalRaise(Exception):
    """An exception raised by (our model of) the analyzed code."""

    def __init__(self, code: str, message: str, span: SourceSpan | None, exc_type: str = "Exception"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span
        self.exc_type = exc_type


class BudgetExceeded(EvalRaise):
    """A budget ran out. ``kind``: "steps" (the scope's), "total" (the whole analysis') or "depth"
    (recursion). ``unwind_to``: the object whose statement must absorb it (the outermost instance of
    a class built recursively), or None for the nearest scope. ``located``: the span already names
    the loop that did not finish."""

    def __init__(self, code, message, span, kind="steps", unwind_to=None):
        super().__init__(code, message, span, "RecursionError" if kind == "depth" else "Exception")
        self.kind = kind
        self.unwind_to = unwind_to
        self.located = False


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Frame:
    __slots__ = ("locals", "file", "snippet", "func", "parent", "globals_file", "stmt", "maybe_returned")

    def __init__(self, file, snippet, func=None, parent=None):
        self.locals: dict = {}
        self.file = file
        self.snippet = snippet
        self.func = func
        self.parent = parent  # enclosing function frame (closures) or comprehension parent
        # the statement being executed: spans are resolved relative to it (cheap positions)
        self.stmt = parent.stmt if parent is not None and parent.snippet is snippet else None
        # an Unknown once a skipped statement held a `return`: the call's result is then unknown
        self.maybe_returned = None


_MISSING = MISSING
# Python errors an intrinsic raises when the analyzed code calls it with arguments it does not fit
_INTRINSIC_MISUSE = (TypeError, ValueError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError)

BINOPS = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul, cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod, cst.Power: operator.pow,
    cst.LeftShift: operator.lshift, cst.RightShift: operator.rshift, cst.BitOr: operator.or_,
    cst.BitAnd: operator.and_, cst.BitXor: operator.xor, cst.MatrixMultiply: None,
}
AUGOPS = {
    cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
    cst.DivideAssign: cst.Divide, cst.FloorDivideAssign: cst.FloorDivide, cst.ModuloAssign: cst.Modulo,
    cst.PowerAssign: cst.Power, cst.LeftShiftAssign: cst.LeftShift, cst.RightShiftAssign: cst.RightShift,
    cst.BitOrAssign: cst.BitOr, cst.BitAndAssign: cst.BitAnd, cst.BitXorAssign: cst.BitXor,
}
CMPOPS = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt, cst.LessThanEqual: operator.le,
    cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}
PLAIN = (int, float, str, bool, type(None), tuple, list, dict, set, frozenset, bytes, complex, range)


def is_plain(v) -> bool:
    return isinstance(v, PLAIN)


def _err(code, msg, span, exc="Exception"):
    return EvalRaise(code, msg, span, exc)


def _budget(msg, span):
    return BudgetExceeded("W107", msg, span)


_PLAIN_TYPES = (int, float, str, bool, type(None), tuple, list, dict, set, frozenset, bytes, complex, range)


def _plain(v) -> bool:
    return isinstance(v, _PLAIN_TYPES)  # as is_plain above


_NUMBER = (int, float)
_GROWING = (cst.Multiply, cst.Power, cst.LeftShift)


class _Iter:
    def __init__(self, items):
        self.items = items


def _err_raise(code, msg, span):
    raise _err(code, msg, span, "TypeError")


# ---------------------------------------------------------------------------------- iteration
def range_len(r: range) -> int:
    """len(r), also beyond what len() converts (range(10**30))."""
    try:
        return len(r)
    except OverflowError:
        return max(0, (r.stop - r.start + r.step - (1 if r.step > 0 else -1)) // r.step)


class _ClassMap:
    """ACT2FN-like: indexing instantiates the class registered under the key."""

    def __init__(self, mapping):
        self.mapping = mapping

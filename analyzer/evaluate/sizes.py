"""Size guards: plain values that would grow huge (big integers, long strings and sequences, wide
format fields) are refused with an unknown value instead of being built; building costs steps.
"""
from __future__ import annotations

import re

import libcst as cst

from analyzer.evaluate import limits
from analyzer.evaluate.core import range_len

_FORMAT_FIELD = re.compile(r"\{([^{}:!]*)")
_BIG_NUMBER = re.compile(r"\d{6,}")


def _size(v) -> int:
    """Elements of a plain sequence or mapping (the cost of copying or scanning it natively)."""
    if isinstance(v, (str, bytes, list, tuple, dict, set, frozenset)):
        return len(v)
    return 0


def _charge_sizes(ev, values, span) -> None:
    n = 0
    for v in values:
        if v.__class__ in (str, bytes, list, tuple, dict, set, frozenset):
            n += len(v)
    if n >= limits.ELEMENTS_PER_STEP:
        ev.charge(n // limits.ELEMENTS_PER_STEP, span)


def _huge_int_result(op, left, right) -> bool:
    """Would ``left op right`` on integers build an integer of more than limits.MAX_INT_BITS bits?"""
    if not (isinstance(left, int) and isinstance(right, int)):
        return False
    if op is cst.Multiply:
        return left.bit_length() + right.bit_length() > limits.MAX_INT_BITS
    if op is cst.Power:
        return right > 0 and abs(left) > 1 and left.bit_length() * right > limits.MAX_INT_BITS
    if op is cst.LeftShift:
        return right > 0 and left != 0 and left.bit_length() + right > limits.MAX_INT_BITS
    return False


def _format_refusal(fmt: str) -> str | None:
    """Why ``fmt.format(...)`` is not evaluated: a huge width, or attribute/index access in a field."""
    if _BIG_NUMBER.search(fmt):
        return "a format with a huge width or precision is not evaluated"
    for m in _FORMAT_FIELD.finditer(fmt):
        if "." in m.group(1) or "[" in m.group(1):
            return "a format field with attribute or index access is not evaluated"
    if re.search(r"\{[^{}]*:[^{}]*\{", fmt):
        return "a format with a computed width is not evaluated"
    return None


_SIZE_METHODS = {"ljust", "rjust", "center", "zfill", "expandtabs", "to_bytes"}


def _plain_method_refusal(obj, name: str, args: list, kwargs: dict) -> str | None:
    """Why a method of a plain value is not run natively (it would build a huge value or loop long)."""
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, range) and range_len(a) > limits.MAX_SEQ:
            return f"a range of {range_len(a):,} items exceeds the limit of {limits.MAX_SEQ:,}"
    if name in _SIZE_METHODS:
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, int) and a > limits.MAX_WIDTH:
                return f"{type(obj).__name__}.{name}() of width {a:,} is not evaluated (limit {limits.MAX_WIDTH:,})"
    if name in ("format", "format_map") and isinstance(obj, str):
        return _format_refusal(obj)
    if name == "replace" and isinstance(obj, str) and len(args) >= 2 and isinstance(args[1], str):
        if (len(obj) + 1) * len(args[1]) > limits.MAX_SEQ:
            return "str.replace() result too large to evaluate"
    if name in ("join",) and isinstance(obj, str) and args and isinstance(args[0], (list, tuple)):
        if len(obj) * len(args[0]) > limits.MAX_SEQ:
            return "str.join() result too large to evaluate"
    return None


def _too_big(op, left, right) -> bool:
    if op is cst.Power and isinstance(left, int) and isinstance(right, int) and abs(right) > 4096 and abs(left) > 1:
        return True
    if op is cst.Multiply:
        for seq, n in ((left, right), (right, left)):
            if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int) and len(seq) * n > limits.MAX_SEQ:
                return True
    if op is cst.LeftShift and isinstance(right, int) and right > 4096:
        return True
    if op is cst.Add and isinstance(left, (str, bytes, list, tuple)) and isinstance(right, (str, bytes, list, tuple)):
        return len(left) + len(right) > limits.MAX_SEQ
    if op is cst.Modulo and isinstance(left, str) and re.search(r"%[-+ #0]*\d*(\.\d*)?\*|%[-+ #0]*\d{6,}|\.\d{6,}", left):
        return True  # '%999999999d' % 1, or a width given as '*'
    return _huge_int_result(op, left, right)

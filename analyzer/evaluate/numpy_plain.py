"""``numpy`` (a modeled package, rules/externals.yaml) on plain numbers: the reductions a config or
constructor applies to a list of ints (``hop_length = np.prod(self.upsampling_ratios)``).

``np.prod`` / ``np.sum`` of a list or tuple of Python ints (no ``axis``, ``dtype``... argument) are
computed as numpy computes them in int64, and ``np.max`` / ``np.min`` (``amax`` / ``amin``) of ints
or floats (exact either way): the result is the same number, given as a Python int or float
(numpy gives an ``int64`` / ``float64`` scalar, which compares, hashes and does arithmetic as the
number does). A product or sum that leaves int64 (numpy wraps around), floats in a sum or product
(numpy's pairwise summation rounds differently from a plain loop), bools, nested or unknown items,
and every other numpy function give an unknown value, never a guess.

``np.log2`` / ``log`` / ``log10`` / ``sqrt`` / ``exp`` of one plain int or float: numpy's own ufunc
on it as a float64, the result a Python float (``int(np.log2(stride) - np.log2(common_stride))``).

``np.linspace(start, stop, num, endpoint)`` of plain numbers is a float64 array, held as a float64
tensor of that shape whose values numpy computes (its own ``linspace``) when they are read:
``torch.Tensor(np.linspace(0, rate, n)).split(depths)`` then ``.tolist()``. Elementwise
arithmetic, indexing, ``tolist``/``item`` and the conversions to torch agree between a float64
array and a float64 tensor; an ndarray method torch has no rule for is an unknown value.
"""
from __future__ import annotations

from analyzer.evaluate import limits, tensor_values
from analyzer.evaluate.core import _err
from analyzer.evaluate.values import Intrinsic, Tensor, Unknown

_INT64 = (-(2**63), 2**63 - 1)
_EXTREMA = {"max": max, "amax": max, "min": min, "amin": min}


def _int_fold(items, name, span):
    acc = 1 if name == "prod" else 0
    for x in items:
        acc = acc * x if name == "prod" else acc + x
        if not _INT64[0] <= acc <= _INT64[1]:
            return Unknown(f"numpy.{name}: the result leaves int64 (numpy wraps around)", span)
    return acc


def _reduction(name):
    def call(ev, args, kwargs, span):
        if len(args) != 1 or kwargs:
            return Unknown(f"numpy.{name} with more than one sequence argument is not modeled", span)
        items = args[0]
        if not isinstance(items, (list, tuple)) or len(items) > limits.MAX_SEQ:
            return Unknown(f"numpy.{name} of a {type(items).__name__} is not modeled", span)
        ev.charge(len(items) // limits.ELEMENTS_PER_STEP, span)
        kinds = {type(x) for x in items}
        if name in _EXTREMA:
            if not kinds <= {int, float}:
                return Unknown(f"numpy.{name} of items that are not all ints or floats is not modeled", span)
            if not items:
                raise _err("W104", f"numpy.{name} of an empty sequence", span, "ValueError")
            return _EXTREMA[name](items)
        if not items:
            return 1.0 if name == "prod" else 0.0  # numpy's empty reduction is float64
        if kinds != {int}:
            return Unknown(f"numpy.{name} of items that are not all ints is not modeled", span)
        return _int_fold(items, name, span)

    return Intrinsic(f"numpy.{name}", call)


def _linspace(ev, args, kwargs, span):
    names = ("start", "stop", "num", "endpoint")
    bound = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names or k in bound:
            return Unknown(f"numpy.linspace(..., {k}=...) is not modeled", span)
        bound[k] = v
    start, stop = bound.get("start"), bound.get("stop")
    num, endpoint = bound.get("num", 50), bound.get("endpoint", True)
    if (len(args) > len(names) or not all(type(x) in (int, float) for x in (start, stop)) or type(num) is not int
            or num < 0 or type(endpoint) is not bool):
        return Unknown("numpy.linspace of arguments that are not plain numbers", span)
    t = Tensor((num,), "float64")
    return tensor_values.attach(t, "np_linspace", start, stop, num, endpoint)


_UNARY = ("log2", "log", "log10", "sqrt", "exp")


def _unary(name):
    """numpy's own ufunc on one plain int or float (a float64 result, given as a Python float)."""
    def call(ev, args, kwargs, span):
        if len(args) != 1 or kwargs or type(args[0]) not in (int, float) or abs(args[0]) > 2**53:
            return Unknown(f"numpy.{name} of anything but one plain number is not modeled", span)
        import numpy

        with numpy.errstate(all="ignore"):
            return float(getattr(numpy, name)(numpy.float64(args[0])))

    return Intrinsic(f"numpy.{name}", call)


def numpy_attr(name: str, span):
    if name in ("prod", "sum") or name in _EXTREMA:
        return _reduction(name)
    if name in _UNARY:
        return _unary(name)
    if name == "linspace":
        return Intrinsic("numpy.linspace", _linspace)
    return Unknown(f"'numpy.{name}' is not modeled", span, True)

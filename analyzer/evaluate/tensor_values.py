"""Values of small constant tensors, for the constructors that read one back.

Shapes are tracked everywhere (analyzer/evaluate/torch_ops.py, tensor_shapes.py). Values are
needed only where a constructor reads one back: ``torch.linspace(0, rate, depth)`` followed by
``.item()`` / ``.tolist()`` to decide ``DropPath(p) if p > 0 else nn.Identity()``, a comparison, an
``int(...)``. So a tensor carries a *recipe* (how it was made, as plain immutable data), and a
value is computed from it with numpy, imported here and only here, lazily, when a value is read.
A run that reads no value never imports numpy.

Soundness:
* a recipe exists only when every input of the op had one and the result has at most
  ``limits.MAX_TENSOR_VALUES`` elements; random and uninitialized tensors (``randn``, ``empty``)
  have none;
* recipes are snapshots: an op records its inputs' recipes, not the input objects, so a later
  in-place change of an input does not change what an earlier result was;
* a tensor and the tensors viewed from it (``view``, indexing, methods) share a *cell*; an in-place
  change through any of them (``t[i] = v``, ``t += 1``, ``t.add_(1)``) marks the cell changed,
  and from then on no member of the family has a value (views alias storage; a snapshot recorded
  before the change stays valid);
* numpy runs the op only on plain numbers it was given; a failure, or an op or dtype without a
  numpy equivalent here (bfloat16, complex), gives no value. No value is an unknown that names
  the op, never a guess.
"""
from __future__ import annotations

import math

from analyzer.evaluate import limits
from analyzer.evaluate.values import DType, Tensor

NP_DTYPES = {"float32": "float32", "float64": "float64", "float16": "float16", "int64": "int64", "int32": "int32",
             "int16": "int16", "int8": "int8", "uint8": "uint8", "bool": "bool"}
_SCALARS = (int, float, bool, str, type(None), slice, type(Ellipsis))


class Ref:
    """A tensor input of a recipe: the input's recipe and dtype at the time of the op."""

    __slots__ = ("recipe", "dtype")

    def __init__(self, recipe: tuple, dtype: str):
        self.recipe = recipe
        self.dtype = dtype


class _No:
    """No value, and why (an input without one)."""

    __slots__ = ("why",)

    def __init__(self, why: str):
        self.why = why


def recipe_of(t: Tensor):
    """The tensor's recipe now, or None (none recorded, or its family changed in place)."""
    cell = t.cell
    if cell is not None and cell[0]:
        return None
    r = t.recipe
    return None if r is None or r[0] == "?" else r


def small(shape) -> bool:
    return shape is not None and all(type(d) is int for d in shape) and math.prod(shape) <= limits.MAX_TENSOR_VALUES


def _arg(a):
    if isinstance(a, Tensor):
        r = recipe_of(a)
        return _No(why_no_value(a)) if r is None else Ref(r, a.dtype)
    if isinstance(a, _SCALARS):
        return a
    if isinstance(a, DType):
        return a.name
    if isinstance(a, (list, tuple)):
        out = []
        for x in a:
            x = _arg(x)
            if isinstance(x, _No):
                return x
            out.append(x)
        return tuple(out) if isinstance(a, tuple) else ("__list__", tuple(out))
    if isinstance(a, dict):
        items = tuple((k, _arg(v)) for k, v in a.items())
        bad = next((v for _, v in items if isinstance(v, _No)), None)
        return bad if bad is not None else ("__dict__", items)
    return _No(f"an input is a {type(a).__name__}, not a number or a tensor")


def make(shape, op: str, *args):
    """A recipe for a result of this shape, or ``("?", why)`` when an input has no value or the
    result is large (recipe_of reads that as no recipe)."""
    if not small(shape):
        return ("?", f"its values come from a tensor of more than {limits.MAX_TENSOR_VALUES:,} elements, or of unknown shape")
    out = [op]
    for a in args:
        a = _arg(a)
        if isinstance(a, _No):
            return ("?", a.why)
        out.append(a)
    return tuple(out)


def attach(t: Tensor, op: str, *args) -> Tensor:
    """``t`` with the recipe ``op(*args)`` recorded (when one can be)."""
    t.recipe = make(t.shape, op, *args)
    return t


def share_cell(src: Tensor, view: Tensor) -> Tensor:
    """``view`` aliases ``src``'s storage (a view, an index, a method result)."""
    if src.cell is None:
        src.cell = [False]
    view.cell = src.cell
    return view


def changed_in_place(t: Tensor, op: str | None, *args) -> None:
    """``t`` was changed in place; its values are now ``op(*args)`` (the args name ``t`` itself
    where it is an input: they are read before the change). None: not tracked."""
    if t.cell is not None:
        t.cell[0] = True  # every alias of its storage loses its value
        return
    t.recipe = make(t.shape, op, *args) if op is not None else ("?", "it was changed in place by an op whose values are not modeled")


# ---------------------------------------------------------------------------------------- values
def value(t: Tensor):
    """The tensor's value as a numpy array, or None."""
    r = recipe_of(t)
    if r is None or t.dtype not in NP_DTYPES:
        return None
    try:
        return _cast(_eval(r), t.dtype)
    except Exception:  # noqa: BLE001 - numpy refused these plain numbers: no value, never a guess
        return None


def why_no_value(t: Tensor) -> str:
    if t.cell is not None and t.cell[0]:
        return "the tensor was changed in place through a view of its storage, so its values are not tracked"
    if t.recipe is not None and t.recipe[0] == "?":
        return t.recipe[1]
    if t.recipe is None:
        return "the tensor's values are not known statically (an op whose values are not modeled, or random values)"
    return f"the values of a {t.dtype} tensor are not computed statically"


def to_python(t: Tensor):
    """``t.tolist()``: nested lists of Python numbers, or None."""
    v = value(t)
    return None if v is None else v.tolist()


def item(t: Tensor):
    """``t.item()``: a Python number, or None (no value, or more than one element)."""
    v = value(t)
    if v is None or v.size != 1:
        return None
    return v.reshape(()).item()


def _np():
    import numpy  # lazily: only when a value is read

    return numpy


def _cast(v, dtype):
    np = _np()
    return np.asarray(v).astype(NP_DTYPES[dtype], copy=False)


def _unwrap(a):
    if isinstance(a, Ref):
        return _cast(_eval(a.recipe), a.dtype) if a.dtype in NP_DTYPES else _fail()
    if isinstance(a, tuple):
        if len(a) == 2 and a[0] == "__list__":
            return [_unwrap(x) for x in a[1]]
        if len(a) == 2 and a[0] == "__dict__":
            return {k: _unwrap(v) for k, v in a[1]}
        return tuple(_unwrap(x) for x in a)
    return a


def _fail():
    raise ValueError("no value")


def _eval(r: tuple):
    from analyzer.evaluate import tensor_numpy  # numpy is imported by the first value read

    op, args = r[0], [_unwrap(a) for a in r[1:]]
    return tensor_numpy.run(_np(), op, args)

"""Replay of module constructions: a model builds many identical modules (the 64 experts of a
mixture-of-experts layer are one class called with one config), and evaluating each ``__init__``
again gives the same subtree. A construction is evaluated once, recorded, and later calls with the same
arguments get a copy of the recorded subtree, with the same step charges, when nothing they could
depend on may have changed. Sound by these rules, else the construction is simply evaluated:

* the arguments: plain immutable values (compared by type and value), or classes, functions,
  modules and objects compared by identity;
* nothing of the analyzed program was changed since the recording ended: the evaluator counts
  every write (``Evaluator.note_write``: attributes, items, dict/list/set methods, module
  registration) and a record is valid only while the count is unchanged;
* the recorded construction changed only objects it created itself, reported no diagnostic, did
  not call a closure (whose frame may change), and evaluated no global or class attribute for the
  first time (which would create objects shared with later code);
* every attribute value in the subtree is an immutable value, a class, function or module
  reference, a tensor, or an object (copied if the construction created it, shared if not);
* the replay fits the step budgets and the call depth limit just as the evaluation did, and no
  loop has been found to run out of budget since (evaluation would refuse such a loop at once).

Copies are made from the recorded subtree itself: it cannot have changed while the write count is
unchanged. Spans are shared; the copied root gets the new call's span.
"""
from __future__ import annotations

from analyzer.evaluate.values import (
    BuiltinClass,
    ClassValue,
    DType,
    ExternalModule,
    FunctionValue,
    Instance,
    ModuleObj,
    SourceModule,
    Tensor,
    Unknown,
    _uid,
    exact_key,
)
from analyzer.evaluate.values import call_key as values_call_key

_SCALARS = (int, float, str, bool, type(None))
_SHARED = (ClassValue, BuiltinClass, DType, ExternalModule, SourceModule, Unknown)


class Recording:
    __slots__ = ("first_uid", "pure", "steps", "scope_steps", "depth", "outer_peak", "reports")

    def __init__(self, ev):
        self.first_uid = next(_uid)  # objects with a uid from here on are created by the construction
        self.pure = True
        self.steps = ev.steps
        self.scope_steps = ev.scope_steps
        self.depth = ev.depth
        self.outer_peak = ev.depth_peak
        ev.depth_peak = ev.depth  # the deepest call of this construction, from here
        self.reports = ev.reports


def start(ev) -> Recording:
    rec = Recording(ev)
    ev.recordings.append(rec)
    return rec


class Record:
    """A finished construction: its live result is copied on replay. It is valid while the write
    count is unchanged, so the recorded subtree itself is unchanged too (any change is a write)."""

    __slots__ = ("obj", "first_uid", "steps", "scope_steps", "depth_excursion", "writes", "runaway", "args", "dead")

    def __init__(self, obj, first_uid, steps, scope_steps, depth_excursion, writes, runaway, args):
        self.runaway = runaway  # loops known to run out of budget: one more changes how evaluation ends
        self.obj = obj
        self.first_uid = first_uid
        self.steps = steps
        self.scope_steps = scope_steps
        self.depth_excursion = depth_excursion
        self.writes = writes
        self.args = args  # keeps the objects whose ids are in the key alive
        self.dead = False  # its subtree holds a value that is not copied


_IDENTITY = (ClassValue, BuiltinClass, FunctionValue, Instance, ModuleObj, DType, ExternalModule, SourceModule)


def _arg_key(v):
    """Plain immutable values by type and value; classes, functions, modules and objects by
    identity (a change of an object is a write, which ends every record)."""
    k = exact_key(v, mutable=False)
    if k is not None:
        return k
    if type(v) in _IDENTITY and not (type(v) is FunctionValue and v.closure is not None):
        return ("id", id(v))
    return None


def call_key(cls, args, kwargs):
    """A hashable key of a construction's class and arguments, or None when they do not qualify."""
    return values_call_key(id(cls), args, kwargs, _arg_key)


_MODULE_FIELDS = ("cls", "span", "modules", "params", "buffers", "non_persistent", "attrs", "partial", "uid")


def _copy(v, first_uid: int, memo: dict):
    """Copy what the construction created (uid >= first_uid, tensors), share the rest. Raises
    TypeError for a value this module does not copy."""
    t = type(v)
    if t in _SCALARS or isinstance(v, _SHARED):
        return v
    if t is ModuleObj or t is Instance:
        if v.uid < first_uid:
            return v  # made before the construction: shared, as evaluation would share it
        c = memo.get(id(v))
        if c is None:
            c = _copy_module(v, first_uid, memo) if t is ModuleObj else _copy_instance(v, first_uid, memo)
        return c
    if t is Tensor:
        c = memo.get(id(v))
        if c is None:
            c = memo[id(v)] = Tensor(v.shape, v.dtype, v.is_param, v.why_unknown, v.recipe)
            c.cell = v.cell  # sound both ways: a change in place through either family loses both values
        return c
    if t is tuple:
        return tuple(_copy(x, first_uid, memo) for x in v)
    if t is FunctionValue:
        if v.closure is not None:
            raise TypeError("closure")
        return v
    raise TypeError(t.__name__)


def _copy_values(d: dict, first_uid: int, memo: dict) -> dict:
    out = {}
    for k, a in d.items():
        out[k] = a if type(a) in _SCALARS else _copy(a, first_uid, memo)
    return out


def _copy_instance(v: Instance, first_uid: int, memo: dict) -> Instance:
    c = memo[id(v)] = Instance(v.cls, None if v.storage is None else {})
    if v.tainted is not None:
        c.tainted = (v.tainted[0], set(v.tainted[1]))
    c.attrs = _copy_values(v.attrs, first_uid, memo)
    if v.storage is not None:
        c.storage.update(_copy_values(v.storage, first_uid, memo))
    return c


def _copy_module(v: ModuleObj, first_uid: int, memo: dict) -> ModuleObj:
    c = object.__new__(ModuleObj)  # every field is set below (tests/test_replay.py checks the list)
    memo[id(v)] = c
    c.cls = v.cls
    c.span = v.span
    c.modules = {k: (None if m is None else _copy(m, first_uid, memo)) for k, m in v.modules.items()}
    c.params = {k: (None if p is None else _copy(p, first_uid, memo)) for k, p in v.params.items()}
    c.buffers = {k: (None if b is None else _copy(b, first_uid, memo)) for k, b in v.buffers.items()}
    c.non_persistent = set(v.non_persistent)
    c.attrs = _copy_values(v.attrs, first_uid, memo)
    c.partial = v.partial
    c.uid = next(_uid)
    return c


def end(ev, rec: Recording) -> int:
    """Stop recording (also after an exception); the construction's depth excursion."""
    ev.recordings.pop()
    excursion = ev.depth_peak - rec.depth
    ev.depth_peak = max(rec.outer_peak, ev.depth_peak)
    return excursion


def finish(ev, rec: Recording, excursion: int, obj, args, kwargs) -> Record | None:
    """The record of a construction that ended normally, or None when it cannot be replayed."""
    if not rec.pure or ev.reports != rec.reports:
        return None
    return Record(obj, rec.first_uid, ev.steps - rec.steps, ev.scope_steps - rec.scope_steps,
                  excursion, ev.writes, ev._runaway_changes, (obj.cls, list(args), dict(kwargs)))


def replay(ev, record: Record, span, max_depth: int, scope_budget: int, total_budget: int):
    """A copy of the recorded subtree, the steps charged, or None when the record does not apply."""
    if (record.dead or ev.writes != record.writes or ev._runaway_changes != record.runaway
            or ev.depth + record.depth_excursion > max_depth
            or ev.steps + record.steps > total_budget or ev.scope_steps + record.scope_steps > scope_budget):
        return None
    try:
        obj = _copy(record.obj, record.first_uid, {})  # what the construction made is copied, the rest shared
    except (TypeError, RecursionError):
        record.dead = True
        return None
    ev.steps += record.steps
    ev.scope_steps += record.scope_steps
    ev.depth_peak = max(ev.depth_peak, ev.depth + record.depth_excursion)
    obj.span = span
    return obj

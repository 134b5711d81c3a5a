"""Standard-library modules with no Python source to read (C-implemented), modelled here:
``itertools``, ``os.environ`` / ``os.getenv``, ``re``, ``collections.abc``.

* ``itertools``: the real functions run on plain data only. Where the items are values of the
  analyzed program (modules, classes, configs), the evaluator iterates them itself and the real
  function sees only indices (``product``, ``combinations``, ``permutations``) or nothing at all
  (``chain``, ``repeat``, ``accumulate``, ``islice``...). Results are lists, built within
  ``limits.MAX_SEQ``; infinite iterators (``count``, ``cycle``, ``repeat`` without a count) are
  unknown values.
* ``os.environ``: the environment is empty unless ``--env KEY=VALUE`` sets a key; every key read
  is reported once (I203), set or not, so the output says what it assumed.
* ``re``: the real functions on plain strings (patterns and subjects of at most
  ``MAX_RE_INPUT`` characters); pattern and match objects are plain values.
* ``collections.abc``: ``isinstance`` checks against the abstract classes, decided by the kind
  of the modelled value.
"""
from __future__ import annotations

import itertools
import math
import numbers
import re

import libcst as cst

from analyzer.evaluate import function_model, limits
from analyzer.evaluate.core import _err, _plain
from analyzer.evaluate.sizes import _charge_sizes
from analyzer.evaluate.values import Intrinsic, Unknown

MAX_RE_INPUT = 10_000


def _lists(ev, args, span):
    return [list(ev.iterate(a, span)) for a in args]


def _bounded(n, span):
    if n > limits.MAX_SEQ:
        return Unknown(f"an itertools result of {n:,} items exceeds the limit of {limits.MAX_SEQ:,}", span)
    return None


def _by_index(fn):
    """product/combinations/permutations: the real function over indices, mapped back."""
    def call(ev, args, kwargs, span):
        if any(isinstance(a, Unknown) for a in args):
            return Unknown(next(a for a in args if isinstance(a, Unknown)).reason, span)
        pools = _lists(ev, args if fn is itertools.product else args[:1], span)
        plain_kwargs = {k: v for k, v in kwargs.items() if type(v) is int}
        if len(plain_kwargs) != len(kwargs):
            raise _err("W104", f"itertools.{fn.__name__}: keyword arguments must be ints", span, "TypeError")
        n = _result_size(fn, [len(p) for p in pools], args[1:2], plain_kwargs)
        too_many = _bounded(n, span)
        if too_many is not None:
            return too_many
        ev.charge(n // limits.ELEMENTS_PER_STEP, span)
        indexed = [range(len(p)) for p in pools]
        if fn is itertools.product:
            rep = plain_kwargs.get("repeat", 1)
            pools_r = pools * rep
            return [tuple(pools_r[j][i] for j, i in enumerate(combo)) for combo in fn(*indexed, repeat=rep)]
        (pool,) = pools
        return [tuple(pool[i] for i in combo) for combo in fn(indexed[0], *args[1:2], **plain_kwargs)]
    return call


def _result_size(fn, sizes, rest, kwargs) -> int:
    """How many items the real function yields (checked before it runs)."""
    if fn is itertools.product:
        return math.prod(sizes) ** kwargs.get("repeat", 1)
    n = sizes[0] if sizes else 0
    r = rest[0] if rest and type(rest[0]) is int else kwargs.get("r", n)
    if fn is itertools.combinations:
        return math.comb(n, r)
    if fn is itertools.combinations_with_replacement:
        return math.comb(n + r - 1, r) if n else 0
    return math.perm(n, r)


def _chain(ev, args, kwargs, span):
    out = []
    for part in _lists(ev, args, span):
        out.extend(part)
        if _bounded(len(out), span):
            return _bounded(len(out), span)
    return out


def _from_iterable(ev, args, kwargs, span):
    return _chain(ev, list(ev.iterate(args[0], span)), {}, span)


def _repeat(ev, args, kwargs, span):
    times = args[1] if len(args) > 1 else kwargs.get("times")
    if times is None:
        return Unknown("itertools.repeat without a count is infinite", span)
    if isinstance(times, Unknown):
        return Unknown(times.reason, span)
    if type(times) is not int:
        raise _err("W104", "itertools.repeat: times must be an int", span, "TypeError")
    return _bounded(times, span) or [args[0]] * max(times, 0)


def _accumulate(ev, args, kwargs, span):
    (items,) = _lists(ev, args[:1], span)
    func = args[1] if len(args) > 1 else kwargs.get("func")
    out, acc = [], kwargs.get("initial")
    if acc is not None:
        out.append(acc)
    for x in items:
        if acc is None and not out:
            acc = x
        elif func is None:
            acc = ev.binop(cst.Add, acc, x, span)
        else:
            acc = ev.call(func, [acc, x], {}, span)
        out.append(acc)
    return out


def _islice(ev, args, kwargs, span):
    (items,) = _lists(ev, args[:1], span)
    bounds = args[1:]
    if not all(b is None or type(b) is int for b in bounds):
        return Unknown("itertools.islice bounds are not known ints", span)
    return list(itertools.islice(items, *bounds))


def _zip_longest(ev, args, kwargs, span):
    pools = _lists(ev, args, span)
    fill = kwargs.get("fillvalue")
    n = max((len(p) for p in pools), default=0)
    return [tuple(p[i] if i < len(p) else fill for p in pools) for i in range(n)]


def _pairwise(ev, args, kwargs, span):
    (items,) = _lists(ev, args, span)
    return list(zip(items, items[1:]))


def _starmap(ev, args, kwargs, span):
    (items,) = _lists(ev, args[1:2], span)
    return [ev.call(args[0], list(ev.iterate(x, span)), {}, span) for x in items]


def _infinite(name):
    return lambda ev, args, kwargs, span: Unknown(f"itertools.{name} is infinite", span)


ITERTOOLS = {
    "product": _by_index(itertools.product), "combinations": _by_index(itertools.combinations),
    "permutations": _by_index(itertools.permutations),
    "combinations_with_replacement": _by_index(itertools.combinations_with_replacement),
    "chain": _chain, "repeat": _repeat, "accumulate": _accumulate, "islice": _islice,
    "zip_longest": _zip_longest, "pairwise": _pairwise, "starmap": _starmap,
    "count": _infinite("count"), "cycle": _infinite("cycle"),
}


def itertools_attr(name: str, span):
    if name == "chain.from_iterable":
        return Intrinsic("itertools.chain.from_iterable", _from_iterable)
    fn = ITERTOOLS.get(name)
    if fn is None:
        return Unknown(f"'itertools.{name}' is not modeled", span, True)
    return Intrinsic(f"itertools.{name}", fn)


# ---------------------------------------------------------------------------------- os.environ
class Environ:
    """``os.environ`` as the analysis assumes it: the ``--env`` keys, nothing else."""

    def __init__(self, values: dict):
        self.values = dict(values)


class Deque(list):
    """``collections.deque`` without a maxlen: a list with the deque methods (its items are values of the
    analyzed program, held as a list holds them)."""

    def appendleft(self, x):
        self.insert(0, x)

    def extendleft(self, xs):
        for x in xs:
            self.insert(0, x)

    def popleft(self):
        return self.pop(0)

    def rotate(self, n=1):
        if self:
            n %= len(self)
            self[:] = self[-n:] + self[:-n]


def make_deque(ev, args, kwargs, span):
    if len(args) > 1 or kwargs.get("maxlen") is not None or set(kwargs) - {"iterable", "maxlen"}:
        return Unknown("collections.deque with a maxlen is not modeled", span)
    items = args[0] if args else kwargs.get("iterable", ())
    return Deque(ev.iterate(items, span))


class SysModules:
    """``sys.modules``: the source modules the analysis loaded (an import it did not follow is unknown)."""


def sys_modules_read(ev, key, span):
    """``sys.modules[key]``: a module the evaluator loaded, else an unknown (Python may have imported it)."""
    if isinstance(key, str) and key in ev._loaded_modules:
        return ev.module_value(key, span)
    return Unknown(f"sys.modules[{key!r}]: whether Python imported it is not known statically", span, True)


def environ_read(ev, key, span):
    if not isinstance(key, str):
        return Unknown("os.environ key is not a known string", span)
    env = ev.env
    said = ev.__dict__.setdefault("_env_reported", set())
    if key not in said:
        said.add(key)
        if key in env:
            ev.warn("I203", f"os.environ[{key!r}] read: {env[key]!r} (from --env)", span)
        else:
            ev.warn("I203", f"os.environ[{key!r}] read: treated as unset (the environment is empty unless "
                            f"--env {key}=VALUE sets it)", span)
    return env.get(key)


def environ_method(ev, name: str, span):
    def get(ev, args, kwargs, s):
        value = environ_read(ev, args[0] if args else kwargs.get("key"), s)
        if isinstance(value, Unknown):
            return value
        return value if value is not None else (args[1] if len(args) > 1 else kwargs.get("default"))

    if name in ("get", "getenv"):
        return Intrinsic(f"os.environ.{name}", get)
    if name in ("keys", "items", "values", "copy"):
        return Intrinsic(f"os.environ.{name}", lambda ev, a, k, s: Unknown("the whole environment is not known", s))
    return None


def os_attr(ev, name: str, span):
    if name == "environ":
        return Environ(ev.env)
    if name == "getenv":
        return environ_method(ev, "getenv", span)
    if name == "sep":
        return "/"
    return Unknown(f"'os.{name}' is not modeled", span, True)


# ---------------------------------------------------------------------------------- re
def _re_fn(name, real=None):
    real = real or getattr(re, name)

    def call(ev, args, kwargs, span):
        values = list(args) + list(kwargs.values())
        if any(isinstance(v, Unknown) for v in values):
            return Unknown(next(v for v in values if isinstance(v, Unknown)).reason, span)
        if not all(_plain(v) or isinstance(v, (re.Pattern, re.RegexFlag)) for v in values):
            return Unknown(f"re.{name} of a value that is not a plain string (a function or object of the "
                           "analyzed program is never passed to a real function)", span)
        if any(isinstance(v, str) and len(v) > MAX_RE_INPUT for v in values):
            return Unknown(f"re.{name} on a string longer than {MAX_RE_INPUT:,} characters is not run", span)
        _charge_sizes(ev, values, span)
        try:
            return real(*args, **kwargs)
        except (re.error, TypeError, ValueError) as exc:
            raise _err("W104", f"re.{name}: {exc}", span, type(exc).__name__) from None

    return Intrinsic(f"re.{name}", call)


def re_method(ev, obj, name, args, kwargs, span):
    """A method of a compiled pattern or a match, on plain arguments."""
    return _re_fn(name, getattr(obj, name)).fn(ev, args, kwargs, span)


RE_FUNCTIONS = {"compile", "match", "fullmatch", "search", "sub", "subn", "split", "findall", "escape"}


def re_attr(name: str, span):
    if name in RE_FUNCTIONS:
        return _re_fn(name)
    flag = getattr(re, name, None)
    if isinstance(flag, re.RegexFlag):
        return flag
    return Unknown(f"'re.{name}' is not modeled", span, True)


# ---------------------------------------------------------------------------------- collections.abc
ABC_KINDS = {
    "Iterable": (list, tuple, dict, set, frozenset, str, range), "Sequence": (list, tuple, str, range),
    "MutableSequence": (list,), "Mapping": (dict,), "MutableMapping": (dict,), "Set": (set, frozenset),
    "Sized": (list, tuple, dict, set, frozenset, str, range), "Container": (list, tuple, dict, set, str, range),
    "Collection": (list, tuple, dict, set, frozenset, str, range), "Hashable": (int, float, str, tuple, bool, type(None)),
    "Callable": (),
}


class AbstractClass:
    """``collections.abc.NAME`` (or ``numbers.NAME``) in an ``isinstance`` check."""

    def __init__(self, name: str, module: str = "collections.abc"):
        self.name = name
        self.qualname = f"{module}.{name}"


# numbers' abstract classes: a plain value is checked by Python itself; an analyzed object, a
# tensor or a function is none of them (none registers with numbers)
NUMBER_KINDS = {"Number": numbers.Number, "Complex": numbers.Complex, "Real": numbers.Real,
                "Rational": numbers.Rational, "Integral": numbers.Integral}


# ---------------------------------------------------------------------------------- types
class ValueKind:
    """``types.FunctionType`` (``LambdaType``) or ``types.MethodType`` in an ``isinstance`` check:
    the kind of value the analyzer models a Python function (a bound method) as."""

    def __init__(self, qualname: str):
        self.qualname = qualname
        self.name = qualname.rpartition(".")[2]


def types_attr(name: str, span):
    if name in ("FunctionType", "LambdaType"):
        return function_model.FUNCTION_TYPE  # called: a copy of a function; in isinstance: the kind

    if name == "MethodType":
        return ValueKind("types.MethodType")
    return Unknown(f"'types.{name}' is not modeled", span, True)

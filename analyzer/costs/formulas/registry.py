"""The one registry of module families, filled by the ``@family`` decorator.

A family is a pure function of a module's constructor dimensions (``Dims``) and of workload
symbols (``work``: a dict of SymPy expressions). Three kinds:

* ``leaf``: returns a ``Cost``;
* ``composite``: returns an ``Expansion`` whose parts all name a family and dims, so the
  inclusive cost has a closed form (own + sum of parts);
* ``container``: returns an ``Expansion`` routing its workload to children that keep their own
  mapping (``route(dims, work, kids)``); its cost is the sum over the actual children.

Registration rejects duplicates, malformed names and unknown kinds loudly; ``get`` rejects
unknown names loudly. Nothing else fills the registry (no second dict of formulas).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

from analyzer.costs.formulas.base import Cost, Dims, Expansion, sym

KINDS = ("leaf", "composite", "container")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class FamilyError(Exception):
    """A registry misuse: duplicate or malformed family, unknown family, bad expansion."""


@dataclass(frozen=True)
class Family:
    name: str
    kind: str
    fn: Callable
    title: str
    math: str  # LaTeX of the operation itself
    dims: tuple = ()  # scalar dimensions; a trailing '?' marks a 0/1 flag
    groups: tuple = ()  # roles whose child dims the family reads (a trailing '?': optional)
    roles: tuple = ()  # further roles it routes work to (a trailing '?': optional)
    work: tuple = ()  # workload symbols it takes
    notes: tuple = ()
    uncounted_ops: tuple = ()  # ops it runs that FlopCounterMode does not count
    describe: Callable | None = None  # dims -> notes on one instance (GQA, window...)

    @property
    def dim_names(self) -> tuple:
        return tuple(d.rstrip("?") for d in self.dims)

    @property
    def all_roles(self) -> tuple:
        return tuple(r.rstrip("?") for r in self.groups + self.roles)

    def optional(self, role: str) -> bool:
        return role + "?" in self.groups + self.roles

    @property
    def generic(self) -> bool:
        """True when the closed form can be written with symbols for every dimension."""
        return self.kind != "container" and not self.groups


REGISTRY: dict[str, Family] = {}


def family(name: str, *, kind: str, title: str, math: str, dims=(), groups=(), roles=(), work=(), notes=(),
           uncounted_ops=(), describe=None):
    """Register ``fn`` as the formulation of family ``name`` (see the module docstring)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise FamilyError(f"family name {name!r} must match {_NAME.pattern}")
    if kind not in KINDS:
        raise FamilyError(f"family {name!r}: kind must be one of {KINDS}, got {kind!r}")
    if kind == "leaf" and (groups or roles):
        raise FamilyError(f"family {name!r}: a leaf has no child roles")

    def register(fn: Callable) -> Callable:
        if name in REGISTRY:
            raise FamilyError(f"duplicate registration of family {name!r}")
        REGISTRY[name] = Family(name, kind, fn, title, math, tuple(dims), tuple(groups), tuple(roles), tuple(work),
                                tuple(notes), tuple(uncounted_ops), describe)
        return fn

    return register


def get(name: str) -> Family:
    try:
        return REGISTRY[name]
    except KeyError:
        raise FamilyError(f"unknown family {name!r} (known: {', '.join(sorted(REGISTRY))})") from None


def symbolic_dims(fam: Family) -> Dims:
    return Dims.of(fam.name, {d.rstrip("?"): sym(_dim_symbol(fam, d), d.endswith("?")) for d in fam.dims})


def _dim_symbol(fam: Family, d: str) -> str:
    base = d.rstrip("?")
    return f"beta_{base.removesuffix('_bias')}" if d.endswith("?") else base


def symbolic_work(fam: Family) -> dict:
    return {w: sym(w) for w in fam.work}


def _key(work: dict | None):
    return None if work is None else tuple(sorted(work.items(), key=lambda kv: kv[0]))


def expand(name: str, dims: Dims, work: dict, kids=None):
    """Call the family once. Leaves give a Cost; composites and containers an Expansion."""
    fam = get(name)
    out = fam.fn(dims, work, kids) if fam.kind == "container" else fam.fn(dims, work)
    want = Cost if fam.kind == "leaf" else Expansion
    if not isinstance(out, want):
        raise FamilyError(f"family {name!r} returned {type(out).__name__}, expected {want.__name__}")
    return out


def inclusive(name: str, dims: Dims, work: dict | None) -> Cost:
    """Closed-form inclusive cost (leaf or composite). ``work`` None: not executed, params only."""
    return _inclusive(name, dims, _key(work))


@lru_cache(maxsize=None)
def _inclusive(name: str, dims: Dims, work_key) -> Cost:
    fam = get(name)
    if fam.kind == "container":
        raise FamilyError(f"family {name!r} is a container: its cost is the sum over the actual children")
    if work_key is None:
        return Cost(params=_inclusive(name, dims, _key(symbolic_work(fam))).params)
    work = dict(work_key)
    out = expand(name, dims, work)
    if fam.kind == "leaf":
        return out
    total = out.own
    for part in out.parts:
        if part.family is None or part.dims is None:
            raise FamilyError(f"composite {name!r}: part {part.role!r} names no family/dims")
        total = total.plus(_inclusive(part.family, part.dims, _key(part.work)), part.count)
    return total


def leaf_cost(name: str, dims: dict, work: dict) -> Cost:
    """Convenience for tests and notebooks: a family's cost from plain dicts."""
    return inclusive(name, Dims.of(name, dims), work)


__all__ = ["FamilyError", "Family", "REGISTRY", "family", "get", "expand", "inclusive", "symbolic_dims",
           "symbolic_work", "leaf_cost"]

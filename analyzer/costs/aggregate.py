"""Cost models: bind every module of a static tree to its family (rules/families.yaml), walk the
workload's entries down the tree (rules/workloads/*.yaml), and aggregate per stage and phase.

Totals by module are *inclusive* (the module and everything it calls); per stage and phase they
are sums of each module's *own* (exclusive) cost, attributed to the module's stage tag, so the
stages add up to the total and the children of a module add up to it minus its own part.

Every module ends in one of three states (as fvcore sorts ops): handled (a family ran), ignored
(a family says it is not executed, e.g. a patch convolution its parent never calls), or unsupported (no
family, an unbindable dimension, a structure that differs from the family's, or never reached
by the workload): unsupported modules are listed with the reason, never counted as zero.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import sympy as sp

from analyzer.costs import formulas  # noqa: F401  (registers every family)
from analyzer.costs.families import FamilyRules, TreeView, Unbound, evaluate, load_family_rules
from analyzer.costs.formulas import registry
from analyzer.costs.formulas.base import BYTES, Cost, Dims, Part
from analyzer.costs.formulas.registry import FamilyError


@dataclass(frozen=True)
class Binding:
    name: str
    family: registry.Family | None = None
    dims: Dims | None = None
    children: tuple = ()  # ((role, child name), ...)
    problem: str | None = None
    inferred: str | None = None  # a structural match: "families.yaml: structures[i]: why"


class Binder:
    """Module name (+ an optional family forced by a parent) -> Binding, memoized."""

    def __init__(self, tree, rules: FamilyRules, attrs=None):
        self.tree = tree
        self.rules = rules
        self.view = TreeView(tree, attrs)
        self.nodes = self.view.nodes
        self._cache: dict = {}
        from analyzer.costs.structures import StructureMatcher

        self.matcher = StructureMatcher(rules.structures, self.view, self._family_of)

    def _family_of(self, name: str):
        b = self.bind(name)
        return b.family.name if b.family is not None else None

    def bind(self, name: str, family: str | None = None) -> Binding:
        key = (name, family)
        if key not in self._cache:
            self._cache[key] = self._bind(name, family)
        return self._cache[key]

    def _mapping(self, name: str, family: str | None):
        node = self.nodes[name]
        found = None
        for m in self.rules.candidates(node.class_qualname, node.cls):
            try:
                if m.when is None or evaluate(m.when, self.view, name):
                    found = m
                    break
            except Unbound as exc:
                raise Unbound(f"{m.where}: when: {exc}") from None
        if found is None:
            hit = self.matcher.match(name)
            if hit is not None and (family is None or hit[0].family == family):
                return self._structural(*hit)
        if family is None:
            if found is None:
                raise Unbound(f"no family for class {node.cls} ({node.class_qualname or 'no qualname'}) in "
                              f"{', '.join(f.rsplit('/', 1)[-1] for f in self.rules.files)}")
            return found
        if found is not None and found.family == family:
            return found
        return self.rules.for_family(family, f"families.{family}")

    def _structural(self, s, found: dict):
        from analyzer.costs.families import Mapping

        dims, children = self.rules.defaults.get(s.family, ({}, {}))
        dims = {**dims, **dict(s.dims)}
        children = {**children, **dict(s.children), **{r: c.rsplit(".", 1)[-1] for r, c in found.items()}}
        why = f"{s.where}: {s.why}" if s.why else s.where
        return Mapping(s.family, tuple(sorted(dims.items())), tuple(sorted(children.items())), None, why)

    def _bind(self, name: str, family: str | None) -> Binding:
        if name not in self.nodes:
            return Binding(name, problem=f"no module {name!r} in the tree")
        try:
            m = self._mapping(name, family)
            fam = registry.get(m.family)
            exprs = dict(m.dims)
            values = {}
            for dim in fam.dim_names:
                if dim not in exprs:
                    raise Unbound(f"{m.where}: no expression for dimension {dim!r} of family {fam.name!r}")
                v = evaluate(exprs[dim], self.view, name)
                if isinstance(v, bool):
                    v = int(v)
                if not isinstance(v, int):
                    raise Unbound(f"{m.where}: dimension {dim} = {v!r} is not an integer")
                values[dim] = sp.Integer(v)
            children = []
            roles = fam.all_roles or tuple(r for r, _ in m.children)  # a container: the structure's roles
            for role in roles:
                child = self.view.join(name, m.child(role))
                if child not in self.nodes:
                    if fam.optional(role) or not fam.all_roles:
                        continue
                    raise Unbound(f"family {fam.name!r} needs child {m.child(role)!r} (role {role})")
                children.append((role, child))
            for role in (g.rstrip("?") for g in fam.groups):
                child = dict(children).get(role)
                if child is None:
                    continue
                sub = self.bind(child)
                if sub.problem:
                    raise Unbound(f"child {child!r}: {sub.problem}")
                values[role] = sub.dims
            inferred = m.where if "structures[" in m.where else None
            return Binding(name, fam, Dims.of(fam.name, values), tuple(children), inferred=inferred)
        except (Unbound, FamilyError) as exc:
            return Binding(name, problem=str(exc))

    def subtree(self, name: str) -> list:
        out, stack = [], [name]
        while stack:
            n = stack.pop()
            out.append(n)
            stack.extend(self.view.kids.get(n, []))
        return out

    def static_params(self, name: str) -> int:
        return sum(self.nodes[n].param_count() or 0 for n in self.subtree(name))


def _wkey(work):
    return None if work is None else tuple(sorted(work.items(), key=lambda kv: kv[0]))


@lru_cache(maxsize=None)
def _expand(family: str, dims: Dims, wkey, kids_key):
    work = dict(wkey)
    if kids_key is None:
        return registry.expand(family, dims, work)
    return registry.expand(family, dims, work, {role: list(ds) for role, ds in kids_key})


def total(costs) -> Cost:
    """Sum of many costs, identical ones grouped (cheap with SymPy)."""
    out = Cost()
    for cost, n in Counter(costs).items():
        out = out.plus(cost, n)
    return out


@dataclass
class Walk:
    """The modules one workload reaches: own and inclusive cost per call, states."""

    binder: Binder
    calls: dict = field(default_factory=dict)  # phase -> list[(name, own Cost, inclusive Cost)]
    unsupported: dict = field(default_factory=dict)  # name -> reason
    ignored: dict = field(default_factory=dict)  # name -> reason
    used: dict = field(default_factory=dict)  # name -> Binding it ran with (first one)
    stage_of: dict = field(default_factory=dict)  # name -> role-based stage a parent family gave its subtree
    inferred: dict = field(default_factory=dict)  # name -> how its family was found (structure, parent's call)
    shared: dict = field(default_factory=dict)  # name -> parameters it shares with another module (tied)
    assumptions: dict = field(default_factory=dict)  # name -> an assumption its cost rests on (routing, tying)
    phase: str = ""

    def run(self, name: str, family: str | None, work: dict | None) -> Cost:
        b = self.binder.bind(name, family)
        if b.problem:
            self._unsupported(name, b.problem)
            return Cost()
        if work is None:
            for n in self.binder.subtree(name):
                self.ignored.setdefault(n, "not executed (its parent's family calls it with no workload)")
            return Cost(params=self.binder.static_params(name))  # stored, not run
        fam = b.family
        self.used.setdefault(name, b)
        if b.inferred:
            self.inferred.setdefault(name, b.inferred)
        elif family is not None and self.binder.bind(name).problem:
            self.inferred.setdefault(name, f"no class entry; its parent's family calls it as {family}")
        if fam.name == "lm_head" and work.get("tied") is not None:
            self._tied(name, b, work["tied"])
        try:
            if fam.kind == "leaf":
                cost = registry.inclusive(fam.name, b.dims, work)
                self._record(name, cost, cost)
                return cost
            kids = None
            if fam.kind == "container":
                kids = self._kids(b)
            exp = _expand(fam.name, b.dims, _wkey(work), kids)
        except (FamilyError, TypeError, ValueError) as exc:
            self._unsupported(name, f"family {fam.name!r}: {exc}")
            return Cost()
        for sentence in exp.assumptions:
            self.assumptions.setdefault(name, sentence)
        own = exp.own
        if fam.kind == "container":  # its own work (an attention core...) plus its loose parameters
            own_params = self.binder.nodes[name].param_count() or 0
            own = Cost(params=own_params, weight_bytes=own_params * BYTES).plus(own)
        inner = []
        covered = set()
        for part in exp.parts:
            holder, targets = self._targets(b, part)
            covered.add(holder)
            if part.stage is not None:
                for t in ([holder] if holder else []) + targets:
                    for n in self.binder.subtree(t):
                        self.stage_of.setdefault(n, part.stage)
            results = [self.run(child, part.family, part.work) for child in targets
                       if fam.kind != "composite" or self._matches(child, part)]
            inner += results
            if holder is not None and targets != [holder]:  # the list holding the members: a pass-through
                self._record(holder, Cost(), total(results))
        if fam.kind == "composite":
            for child in self.binder.view.kids.get(name, []):
                if child not in covered:
                    self._unsupported(child, f"child of {name!r} not covered by family {fam.name!r}")
        incl = own.plus(total(inner))
        self._record(name, own, incl.with_io(exp.own.act_in, exp.own.act_out))
        return incl

    def _tied(self, name: str, b: Binding, tied):
        """The head's weight shared with the input embedding (tie_word_embeddings): counted once. When
        the root's config is not statically known, the nearest module under the head's siblings whose
        config is (the backbone and its layers hold the same config object) says it; failing that, the
        head is counted, and said so."""
        if tied == -1:
            attrs = self.binder.view.attrs
            parent = name.rpartition(".")[0]
            near = [n for sib in self.binder.view.kids.get(parent, []) for n in self.binder.subtree(sib)]
            near.sort(key=lambda n: n.count("."))  # the nearest modules first
            for sib in near if attrs is not None else ():
                value = attrs.get(sib, ("config", "tie_word_embeddings"))
                if value is not attrs.MISSING:
                    tied = int(bool(value))
                    self.assumptions.setdefault(name, f"tie_word_embeddings = {bool(value)}, read from the config of "
                                                      f"{sib!r} (the root's is not statically known)")
                    break
        if tied == 1:
            self.shared.setdefault(name, int(b.dims["d_in"] * b.dims["d_out"]))
        elif tied == -1:
            self.assumptions.setdefault(name, "whether it shares the input embedding's weight is unknown (no "
                                              "static config attribute): its parameters are counted")

    def _kids(self, b: Binding):
        if b.family.all_roles:
            names = dict(b.children)
        else:  # every child, by its name, or by the role a structural match gave it
            names = {c.rsplit(".", 1)[-1]: c for c in self.binder.view.kids.get(b.name, [])}
            for role, child in b.children:
                names.pop(child.rsplit(".", 1)[-1], None)
                names[role] = child
        out = []
        for role, child in names.items():
            sub = self.binder.bind(child)
            if sub.dims is not None:
                out.append((role, (sub.dims,)))
            else:
                node = self.binder.nodes[child]
                bare = not node.params and not node.buffers and not self.binder.view.kids.get(child)
                out.append((role, (Dims("bare" if bare else "unbound"),)))
        return tuple(out)

    def _targets(self, b: Binding, part: Part) -> tuple:
        """(the child the role names, the modules called): the child itself, or its members
        when the part is called ``count`` > 1 times (a list of experts)."""
        roles = dict(b.children)
        child = roles.get(part.role)
        if child is None:
            child = self.binder.view.join(b.name, part.role) if not b.family.all_roles else None
        if child is None or child not in self.binder.nodes:
            if part.count == 0:
                return None, []
            self._unsupported(b.name, f"family {b.family.name!r}: no child for role {part.role!r}")
            return None, []
        if part.count == 1:
            return child, [child]
        members = self.binder.view.kids.get(child, [])
        if sp.Integer(len(members)) != part.count:
            self._unsupported(child, f"family {b.family.name!r} expects {part.count} children, found {len(members)}")
            return child, []
        return child, members

    def _matches(self, child: str, part: Part) -> bool:
        mine = self.binder.bind(child, part.family)
        if mine.problem:
            self._unsupported(child, mine.problem)
            return False
        if mine.dims != part.dims:
            self._unsupported(child, f"structure differs from its parent's family: expected {part.family}"
                                     f"{_show(part.dims)}, the tree has {_show(mine.dims)}")
            return False
        return True

    def _record(self, name, own, incl):
        self.calls.setdefault(self.phase, []).append((name, own, incl))

    def _unsupported(self, name, reason):
        self.unsupported.setdefault(name, reason)


def _show(d: Dims) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in d.scalars().items()) + ")"


# ---- one workload over one model --------------------------------------------------------------
@dataclass
class Report:
    workload: object  # workload.Workload
    tree: object
    walk: Walk
    stages: tuple  # stage names in order
    phases: dict  # phase -> {stage: Cost (sum of own costs)}; "total" included
    reached: set
    stage_of: dict = field(default_factory=dict)  # module name -> stage
    params_by_stage: dict = field(default_factory=dict)  # stage -> parameters stored (tied counted once)
    model_params: int = 0  # the whole model's parameters, tied weights once (as model.parameters())

    def value(self, expr) -> int | float:
        v = sp.sympify(expr).subs(self.workload.values)
        return int(v) if v.is_integer else float(v)


def build_binder(tree, attrs=None, family_files=()) -> Binder:
    """``attrs``: module_attrs.AttrSource (for attr() expressions); ``family_files`` layered over
    rules/families.yaml."""
    from analyzer.costs.structures import with_structures

    known = set(registry.REGISTRY)
    rules = with_structures(load_family_rules(family_files, known_families=known), known)
    return Binder(tree, rules, attrs)


def run_workload(binder: Binder, workload, stage_order=None, role_stages: bool = True) -> Report:
    """Walk every phase's entries. Stages are listed in ``stage_order`` if given, else in the order
    the workload first runs them (the order of its entries), then the others, sorted. With
    ``role_stages`` and a template that names its stages, a module's stage is the one its parent's
    family gave it (embed, decoder, head...); otherwise the tree's stage tag (rules/stages.yaml,
    --stages)."""
    walk = Walk(binder)
    roots = [n for n, node in binder.nodes.items() if _is_root(binder, n)]
    for phase, entries in workload.phases.items():
        walk.phase = phase
        done = [(e.module, walk.run(e.module, e.family, e.work)) for e in entries]
        for n in roots:  # a root's inclusive cost: the entries under it
            walk._record(n, Cost(), total([c for m, c in done if n == "" or m.startswith(n + ".")]))
    reached = {name for calls in walk.calls.values() for name, _, _ in calls}
    listed = {e.module for es in workload.model.phases.values() for e in es}  # in any mode
    for n in binder.nodes:
        if n not in reached and n not in walk.ignored and n not in walk.unsupported:
            inside = next((u for u in walk.unsupported if n.startswith(u + ".") or u == ""), None)
            if inside is not None:
                walk.unsupported[n] = f"inside unsupported {inside!r}"
            elif any(n == m or n.startswith(m + ".") for m in listed):
                walk.ignored[n] = f"not executed in mode {workload.mode!r}"
            else:
                walk.unsupported[n] = "not reached by any entry of the workload file"
    model = workload.model
    if role_stages and model.stages:
        stage_of = {n: walk.stage_of.get(n, model.default_stage) for n in binder.nodes}
        stage_order = stage_order or model.stages
    else:
        stage_of = {m.name: m.stage for m in binder.tree.modules}
    present = set(stage_of.values())
    if stage_order is None:
        entries = [e.module for es in workload.phases.values() for e in es]
        stage_order = tuple(dict.fromkeys(stage_of[m] for m in entries if m in binder.nodes))
    stages = tuple(s for s in stage_order if s in present) + tuple(sorted(present - set(stage_order)))
    params_by_stage = {s: 0 for s in stages}
    for m in binder.tree.modules:
        params_by_stage[stage_of[m.name]] += (m.param_count() or 0) - walk.shared.get(m.name, 0)
    phases = {}
    for phase in workload.phases:
        per_stage = {s: [] for s in stages}
        for name, own, _ in walk.calls.get(phase, []):
            per_stage[stage_of[name]].append(own)
        out = {s: total(costs) for s, costs in per_stage.items()}
        out["total"] = total(list(out.values()))
        phases[phase] = out
    return Report(workload, binder.tree, walk, stages, phases, reached, stage_of, params_by_stage,
                  sum(params_by_stage.values()))


def _is_root(binder: Binder, name: str) -> bool:
    b = binder.bind(name)
    return b.family is not None and b.family.name == "workload_root"


def module_cost(binder: Binder, name: str, work: dict, family: str | None = None) -> tuple:
    """One module's inclusive cost for ``work`` through the tree walk: (Cost, Walk)."""
    walk = Walk(binder)
    walk.phase = "call"
    return walk.run(name, family, work), walk

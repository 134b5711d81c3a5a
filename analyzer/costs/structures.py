"""Structural family entries (rules/families.yaml ``structures:``): a module whose class has no
``classes:`` entry gets its family from its structure, the children's names and families, its own
parameters and its static attributes. Entries are tried in file order; the first that matches
wins; class entries always win over them. Pure Python: no SymPy here.

An entry::

    - family: self_attention
      why: separate q/k/v projections and an output projection      # shown as "inferred from"
      children: {q: q_proj, k: k_proj, v: v_proj, o: o_proj}        # role -> child name (default: the role)
      match:
        leaf: true                 # no children
        params: [weight, bias?]    # own parameters, exactly these ('?': optional); [] for none
        buffers: [inv_freq]        # own buffers that must exist
        attrs: [in_features]       # static attributes __init__ set
        roles: {q: linear, o: [linear]}      # named children and the family (or families) each binds to
        any: {layers: "[transformer_block]"}  # a child of any name: a family, or "[F]" for a list of F
        others: [identity, bare]   # families allowed for the remaining children ('bare': a leaf with no
                                   # parameters or buffers, '*': anything); absent: no restriction
        when: "weight[0] > 1"      # a families.yaml expression
      dims: {...}                  # as a class entry's
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from analyzer.costs.families import Expr, FamilyRules, Unbound, bad_entry, compile_dims, compile_expr, evaluate

_MATCH_KEYS = {"leaf", "params", "buffers", "attrs", "roles", "any", "others", "when"}


@dataclass(frozen=True)
class Structure:
    family: str
    why: str
    children: tuple  # ((role, child name), ...)
    leaf: bool | None
    params: tuple | None  # ((name, optional), ...) or None: any
    buffers: tuple
    attrs: tuple
    roles: tuple  # ((role, (families...), is_list), ...) named children
    any: tuple  # ((role, (families...), is_list), ...) children of any name
    others: tuple | None
    when: Expr | None
    dims: tuple  # ((dim, Expr), ...) overriding the family defaults
    where: str


def _spec(raw, bad, key) -> tuple:
    text = raw if isinstance(raw, str) else None
    if isinstance(raw, list) and all(isinstance(x, str) for x in raw):
        return tuple(raw), False
    if text is None:
        raise bad(key, "expected a family, a list of families or '[family]'")
    if text.startswith("[") and text.endswith("]"):
        return tuple(t.strip() for t in text[1:-1].split(",")), True
    return (text,), False


def parse_structures(raw, path, bad, known, compile_dims) -> list:
    """``bad(key, message)`` raises E005; ``compile_dims(raw, key)`` -> {dim: Expr}."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise bad("structures", "expected a list of {family, why, children?, match, dims?}")
    out = []
    for i, item in enumerate(raw):
        key = f"structures[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("family"), str) or not isinstance(item.get("match"), dict) \
                or not set(item) <= {"family", "why", "children", "match", "dims"}:
            raise bad(key, "expected {family, why, children?, match, dims?}")
        if known is not None and item["family"] not in known:
            raise bad(key, f"unknown family {item['family']!r}")
        m = item["match"]
        if not set(m) <= _MATCH_KEYS:
            raise bad(f"{key}.match", f"unknown keys {sorted(set(m) - _MATCH_KEYS)} (allowed: {sorted(_MATCH_KEYS)})")
        children = item.get("children") or {}
        if not isinstance(children, dict) or not all(isinstance(v, str) for v in children.values()):
            raise bad(f"{key}.children", "expected a mapping of role -> child name")
        params = None
        if "params" in m:
            if not isinstance(m["params"], list):
                raise bad(f"{key}.match.params", "expected a list of parameter names")
            params = tuple((str(p).rstrip("?"), str(p).endswith("?")) for p in m["params"])
        roles = tuple((str(r), *_spec(s, bad, f"{key}.match.roles.{r}")) for r, s in (m.get("roles") or {}).items())
        anys = tuple((str(r), *_spec(s, bad, f"{key}.match.any.{r}")) for r, s in (m.get("any") or {}).items())
        others = tuple(m["others"]) if "others" in m else None
        when = compile_expr(m["when"], path, f"{key}.match.when") if "when" in m else None
        out.append(Structure(item["family"], str(item.get("why", "")), tuple(sorted(children.items())),
                             m.get("leaf"), params, tuple(m.get("buffers") or ()), tuple(m.get("attrs") or ()),
                             roles, anys, others, when,
                             tuple(sorted(compile_dims(item.get("dims"), f"{key}.dims").items())), f"{path.name}: {key}"))
    return out


def with_structures(rules: FamilyRules, known=None) -> FamilyRules:
    """The rules with their files' ``structures:`` parsed (E005 on a bad entry); a later file's
    entries are tried first (a model's own file refines the defaults)."""
    out: list = []
    for path, raw in rules.raw_structures:
        out[:0] = parse_structures(raw, path, lambda k, m, p=path: bad_entry(p, k, m), known,
                                   lambda r, k, p=path: compile_dims(r, p, k))
    return replace(rules, structures=tuple(out))


class StructureMatcher:
    """``match(name)`` -> (Structure, {role: child name}) or None. ``family_of(child)`` is the
    binder's: the family a child binds to (None when it binds to none)."""

    def __init__(self, structures, view, family_of):
        self.structures = structures
        self.view = view
        self.family_of = family_of

    def match(self, name: str):
        for s in self.structures:
            found = self._try(s, name)
            if found is not None:
                return s, found
        return None

    def _fits(self, child: str, families: tuple, is_list: bool) -> bool:
        if is_list:
            members = self.view.kids.get(child, [])
            return bool(members) and all(self.family_of(m) in families for m in members)
        fam = self.family_of(child)
        if fam in families:
            return True
        return "bare" in families and self._bare(child)

    def _bare(self, child: str) -> bool:
        node = self.view.nodes[child]
        return not node.params and not node.buffers and not self.view.kids.get(child)

    def _try(self, s: Structure, name: str):
        node = self.view.nodes[name]
        kids = self.view.kids.get(name, [])
        if s.leaf is not None and bool(s.leaf) == bool(kids):
            return None
        if s.params is not None:
            required = {p for p, opt in s.params if not opt}
            allowed = {p for p, _ in s.params}
            if not required <= set(node.params) <= allowed:
                return None
        if not set(s.buffers) <= set(node.buffers):
            return None
        if s.attrs:
            if self.view.attrs is None:
                return None
            if any(self.view.attrs.get(name, (a,)) is self.view.attrs.MISSING for a in s.attrs):
                return None
        names = dict(s.children)
        found: dict = {}
        for role, families, is_list in s.roles:
            child = self.view.join(name, names.get(role, role))
            if child not in self.view.nodes or not self._fits(child, families, is_list):
                return None
            found[role] = child
        for role, families, is_list in s.any:
            hit = next((c for c in kids if c not in found.values() and self._fits(c, families, is_list)), None)
            if hit is None:
                return None
            found[role] = hit
        if s.others is not None and "*" not in s.others:
            for c in kids:
                if c not in found.values() and not self._fits(c, s.others, False):
                    return None
        if s.when is not None:
            try:
                if not evaluate(s.when, self.view, name):
                    return None
            except Unbound:
                return None
        return found

"""``from module import *`` at module level, as Python runs it: the statement binds every name the
module exports (its ``__all__`` when it has one, else each of its top-level names that does not
start with an underscore, the names it itself star-imports included), and the binding that comes
last in the importing file wins, as with any other statement. Found lazily: a name is looked up
in a star-imported module only when it is read, and only in the star imports after the importing
file's own last unconditional binding of it (those before are overwritten).
"""
from __future__ import annotations

from analyzer.evaluate.values import ExternalModule, SourceModule, Unknown
from analyzer.source.index import resolve_relative


def exports(ev, file, star, name: str, seen: frozenset = frozenset()):
    """Whether the star import ``star`` (a Binding of kind "star" in ``file``) binds ``name``:
    True, False, or an ``Unknown`` saying why it cannot be told."""
    target = resolve_relative(file, star.module)
    mod = ev.module_value(target, None) if target else Unknown(f"module '{star.module}' not found")
    if isinstance(mod, ExternalModule):
        return Unknown(f"'{name}' may be bound by 'from {star.module} import *' (a modeled package: its names are not listed)")
    if not isinstance(mod, SourceModule):
        return Unknown(f"'{name}' may be bound by 'from {star.module} import *' (module '{target}' not found)")
    return module_exports(ev, mod.file, name, seen)


def module_exports(ev, mfile, name: str, seen: frozenset = frozenset()):
    """Whether ``from <mfile's module> import *`` binds ``name`` (True, False or an ``Unknown``)."""
    if mfile.module in seen:  # star imports in a cycle: what the others bind is found through them
        return False
    facts = mfile.facts()
    if facts.bindings.get("__all__"):
        listed = ev.global_get(mfile, "__all__", None)
        if isinstance(listed, (list, tuple)) and all(isinstance(n, str) for n in listed):
            return name in listed
        return Unknown(f"'{name}' may be bound by 'from {mfile.module} import *' (its __all__ is not known: "
                       f"{listed.reason if isinstance(listed, Unknown) else type(listed).__name__})")
    if name.startswith("_"):
        return False
    if facts.bindings.get(name):
        return True
    verdict = False
    for star in facts.stars:
        found = exports(ev, mfile, star, name, seen | {mfile.module})
        if found is True:
            return True
        if isinstance(found, Unknown):
            verdict = found
    return verdict


def candidates(ev, file, name: str, bindings: list):
    """The bindings of ``name`` in ``file`` in source order, the star imports that bind it among
    them; and an ``Unknown`` when a star import may bind it but that cannot be told (else None)."""
    stars = file.facts().stars
    if not stars:
        return bindings, None
    last = max((b.start for b in bindings if not b.conditional), default=0)
    found, doubt = [], None
    for star in stars:
        if star.start <= last:
            continue
        verdict = exports(ev, file, star, name, frozenset({file.module}))
        if verdict is True:
            found.append(star)
        elif isinstance(verdict, Unknown) and doubt is None:
            doubt = verdict
    if not found:
        return bindings, doubt
    return sorted([*bindings, *found], key=lambda b: b.start), doubt

"""Import-time effects (``ImportEffectsMixin``): what a module body does at import besides binding
names. Module globals are evaluated lazily, one name at a time (analyzer/evaluate/scopes.py), but
Python runs a module's whole body when it imports it: a decorator such as ``@register(fn)``, a call
statement such as ``REGISTRY.append(cls)`` or ``x = add_entry(...)`` may fill a mutable container of
another module (a registry) that a function reads later.

Every source module the evaluator loads queues the effects its index found (unconditional top-level
decorated definitions, call statements, assignments of a call; ``ModuleFacts.effects``), in source
order. Before a module-level container (dict, list, set, or a dict-like instance) is read, the queued
effects run, in module-load order, effects queued meanwhile included (``flush_import_effects``; a
reentrancy guard, their own budget scopes). Only effects that can change module state are run: a
callee written as a source function whose body, or a module-level function of its file it calls,
writes a module global (a subscript or attribute store, a mutating method call, ``global``), or a
mutating method of a module-level container; a documentation decorator or a dataclass is not
evaluated. (A callee that writes another file's globals only through a function of that file is
not followed: the registry it fills stays as the loaded effects left it.)

A container whose size changed while effects ran is a registry filled at import time. Python's
registry also holds what the modules the analysis never loaded registered (a package ``__init__``
importing every submodule), so a key missing from it reads as an unknown value, naming the key and
the registry, never as Python's "missing" answer (``registry_miss``; ``in``, ``.get``, ``[]``).
Diagnostics of the effects themselves are not reported (nothing built depends on them); the first
failure is named in the unknown a missing key gives.
"""
from __future__ import annotations

import ast

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.evaluate.core import _MISSING, BudgetExceeded, EvalRaise, Frame
from analyzer.evaluate.values import BoundMethod, FunctionValue, Instance, Unknown
from analyzer.source.index import resolve_relative

# methods of list / dict / set (and dict-like instances) that change the container
MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault", "pop", "popitem", "remove",
                      "discard", "clear", "appendleft", "extendleft", "__setitem__"})


def container_size(value) -> int | None:
    """The number of items of a mutable container value, else None."""
    t = type(value)
    if t is dict or t is list or t is set or isinstance(value, list):
        return len(value)
    if t is Instance and value.storage is not None:
        return len(value.storage)
    return None


def _locals_of(fn: ast.AST) -> set[str]:
    names = {a.arg for a in ast.walk(fn.args) if isinstance(a, ast.arg)} if hasattr(fn, "args") else set()
    for n in ast.walk(fn):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
    return names


def _root_name(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def writes_globals(fn: ast.AST, module_names, helper_writes=None) -> bool:
    """Whether a definition's body (nested definitions included) changes a global of its module;
    ``helper_writes(name)``: whether the module-level function ``name`` it calls does."""
    local = _locals_of(fn)

    def global_root(target) -> bool:
        name = _root_name(target)
        return name is not None and name not in local and name in module_names

    for n in ast.walk(fn):
        if isinstance(n, ast.Global):
            return True
        if isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, (ast.Store, ast.Del)) and global_root(n.value):
            return True
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Attribute) and f.attr in MUTATORS and global_root(f.value):
                return True
            if isinstance(f, ast.Name) and f.id in ("setattr", "delattr") and n.args and global_root(n.args[0]):
                return True
            if helper_writes is not None and isinstance(f, ast.Name) and f.id not in local and helper_writes(f.id):
                return True
    return False


class ImportEffectsMixin:

    def note_module_loaded(self, file) -> None:
        """``file`` is imported (its first global read, or its module value): queue its effects."""
        if file.module in self._loaded_modules:
            return
        self._loaded_modules.add(file.module)
        effects = file.facts().effects
        if effects:
            self._pending_effects.extend((file, e) for e in effects)

    def note_global_container(self, value) -> None:
        size = container_size(value)
        if size is not None and id(value) not in self._container_sizes:
            self._container_sizes[id(value)] = (value, size)

    def flush_import_effects(self) -> None:
        if self._flushing_effects or not self._pending_effects:
            return
        if self.recordings:
            self.not_replayable()
        self._flushing_effects = True
        for key, (value, _) in list(self._container_sizes.items()):
            self._container_sizes[key] = (value, container_size(value))
        saved = (self.building, self._owners, self.scope_steps, self.try_depth, self._warned, self._report, self.depth)
        self.building, self._owners, self.try_depth, self._warned, self.depth = [], [], 0, set(), 0
        first_problem: list = []

        def collect(diagnostic, obj):
            if not first_problem and diagnostic.code[:1] in "EW":
                first_problem.append(diagnostic)

        self._report = collect
        try:
            while True:
                # a module whose binding is being evaluated has not finished its body: its effects wait
                busy = {module for module, _ in self._globals_busy}
                i = next((i for i, (f, _) in enumerate(self._pending_effects) if f.module not in busy), None)
                if i is None:
                    break
                file, effect = self._pending_effects.pop(i)
                self.scope_steps = 0
                span = SourceSpan(file.display, effect.start, 0)
                try:
                    self._run_effect(file, effect, span)
                except BudgetExceeded as e:
                    if e.kind == "total":
                        self._pending_effects.clear()
                        raise
                    collect(Diagnostic(e.code, e.message, span), None)
                except EvalRaise as e:
                    collect(Diagnostic(e.code, e.message, self.resolve_now(e.span) or span), None)
                except AnalyzerError as e:  # a file an effect reaches cannot be read: only the effect fails
                    collect(e.diagnostic, None)
        finally:
            self.building, self._owners, self.scope_steps, self.try_depth, self._warned, self._report, self.depth = saved
            self._flushing_effects = False
            for key, (value, size) in list(self._container_sizes.items()):
                now = container_size(value)
                if now != size:
                    self._import_filled.add(key)
                self._container_sizes[key] = (value, now)
            if first_problem and self._effects_problem is None:
                d = first_problem[0]
                where = f" at {d.span}" if getattr(d, "span", None) else ""
                self._effects_problem = f"{d.message}{where}"

    def registry_miss(self, container, key, span):
        """The value of reading a key missing from ``container``: an unknown when ``container`` is a
        registry filled at import time, else None (Python's answer holds)."""
        if id(container) not in self._import_filled or self._flushing_effects:
            return None  # import-time code itself sees Python's answer (a duplicate check, say)
        why = (f"{key!r} is not in a registry filled at import time: it may be registered by a module Python "
               "imports (a package __init__ importing its submodules) that the analysis did not load")
        if self._effects_problem:
            why += f"; an import-time statement also failed ({self._effects_problem})"
        return Unknown(why, span, True)

    # ------------------------------------------------------------------ one effect
    def _resolve_dotted(self, file, dotted: str, span):
        head, *rest = dotted.split(".")
        if self._imports_other_package(file, head):
            return _MISSING
        value = self.global_get(file, head, span, missing_ok=True)
        if value is _MISSING:
            value = self.builtins.get(head, _MISSING)
            if value is _MISSING:
                return _MISSING
        for part in rest:
            if isinstance(value, Unknown):
                return value
            value = self.getattr(value, part, span)
        return value

    def _imports_other_package(self, file, name: str) -> bool:
        """Whether ``name`` is imported in ``file`` from a module of another top-level package that
        the analysis has not loaded (threading, say): its callees are not followed, and the module
        is not read just to find out."""
        bindings = file.facts().bindings.get(name)
        if not bindings:
            return False
        unconditional = [b for b in bindings if not b.conditional]
        binding = unconditional[-1] if unconditional else bindings[0]
        if binding.kind not in ("import", "from"):
            return False
        target = resolve_relative(file, binding.module)
        if target.split(".")[0] == file.module.split(".")[0]:
            return False
        return target not in self._loaded_modules

    def _changes_state(self, file, dotted: str | None, span) -> bool:
        if dotted is None:
            return False
        if "." in dotted and dotted.rsplit(".", 1)[1] in MUTATORS:
            owner = self._resolve_dotted(file, dotted.rsplit(".", 1)[0], span)
            if container_size(owner) is not None:
                return True
        callee = self._resolve_dotted(file, dotted, span)
        if isinstance(callee, BoundMethod):
            callee = callee.func
        return isinstance(callee, FunctionValue) and self._function_writes_globals(callee)

    def _function_writes_globals(self, fn: FunctionValue) -> bool:
        return self._def_writes_globals(fn.file, fn.name, fn.owner.name if fn.owner is not None else None)

    def _def_writes_globals(self, file, name: str, owner: str | None = None) -> bool:
        """Whether the top-level (or ``owner`` class) function ``name`` of ``file`` changes a global
        of its module, itself or through the module-level functions of its file it calls."""
        key = (file.module, owner, name)
        hit = self._writes_globals.get(key)
        if hit is None:
            self._writes_globals[key] = False  # a recursive call: decided by the rest of the body
            facts = file.facts()
            if owner is None:
                bindings = [b for b in facts.bindings.get(name, ()) if b.kind == "def"]
                binding = bindings[-1] if bindings else None
            else:
                cf = facts.classes.get(owner)
                binding = cf.members.get(name) if cf is not None else None
            hit = False
            if binding is not None and binding.kind == "def":
                text = "".join(file.lines()[binding.start - 1: binding.end])
                try:
                    tree = ast.parse(text if text[:1] not in " \t" else "if 1:\n" + text)
                except (SyntaxError, ValueError, RecursionError, MemoryError):
                    tree = None
                defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] if tree else []
                hit = bool(defs) and writes_globals(defs[0], facts.bindings,
                                                    lambda helper: self._def_writes_globals(file, helper))
            self._writes_globals[key] = hit
        return hit

    def _run_effect(self, file, effect, span) -> None:
        if not any(self._changes_state(file, dotted, span) for dotted, _ in effect.callees):
            return
        if effect.kind == "assign":
            self.global_get(file, effect.name, span)
            return
        if effect.kind == "decorated" and not any(factory for _, factory in effect.callees):
            value = self.global_get(file, effect.name, span)
            for dotted, _ in effect.callees:
                value = self.call(self._resolve_dotted(file, dotted, span), [value], {}, span)
            return
        from analyzer.evaluate.scopes import _ModuleScope

        snip = self.snippet(file, effect.start, effect.end)
        frame = Frame(file, snip)
        frame.locals = _ModuleScope(self, file)
        if effect.kind == "call":
            self.exec_stmt(snip.node, frame)
            return
        value = self.global_get(file, effect.name, span)
        for dec in reversed(snip.node.decorators):
            value = self.call(self.eval(dec.decorator, frame), [value], {}, span)

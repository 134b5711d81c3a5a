"""Global names and imports (``ScopesMixin``): a source module's bindings evaluated on first use,
imports resolved through the source index, modeled packages and YAML fallbacks; the dict-like
scopes that module and class bodies run in.
"""
from __future__ import annotations


from analyzer.diagnostics import Diagnostic, SourceSpan
from analyzer.evaluate.core import _MISSING, BudgetExceeded, EvalRaise, Frame
from analyzer.evaluate.modeled import external_attr, fallback_value
from analyzer.evaluate.star_imports import candidates as star_candidates
from analyzer.evaluate.values import (
    ClassValue,
    ExternalModule,
    SourceModule,
    Unknown,
)
from analyzer.source.index import resolve_relative


def _chosen(bindings):
    """The binding a name has after its module ran: the last unconditional one, else the first one
    off an ``except`` handler's path (the path with no exception), else the first."""
    unconditional = [b for b in bindings if not b.conditional]
    if unconditional:
        return unconditional[-1]
    return next((b for b in bindings if not b.fallback), bindings[0])


class _ModuleScope(dict):
    """Locals of a module-level statement: reads fall back to the module's globals."""

    def __init__(self, ev, file):
        super().__init__()
        self.ev = ev
        self.file = file
        self.own: dict = {}

    def __contains__(self, name):  # names bound by a star import are found by global_get
        return dict.__contains__(self, name) or bool(self.file.facts().bindings.get(name))

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return self.ev.global_get(self.file, name, None)

    def __setitem__(self, name, value):
        dict.__setitem__(self, name, value)
        self.own[name] = value


class _ClassScope(dict):
    """Locals of a class-body statement: reads see earlier class members, then module globals."""

    def __init__(self, ev, cls: ClassValue):
        super().__init__()
        self.ev = ev
        self.cls = cls
        self.own: dict = {}

    def __contains__(self, name):
        return dict.__contains__(self, name) or name in self.cls.facts.members

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        v = self.ev.class_member(self.cls, name)
        if v is _MISSING:
            raise KeyError(name)
        return v

    def __setitem__(self, name, value):
        dict.__setitem__(self, name, value)
        self.own[name] = value


class ScopesMixin:

    # ------------------------------------------------------------------ modules and globals
    def module_value(self, name: str, span=None):
        if name in self._module_values:
            return self._module_values[name]
        if self.externals.is_modeled_module(name):
            value = ExternalModule(name)
        else:
            try:
                file = self.index.find(name)
            except OSError:
                file = None
            value = SourceModule(file) if file is not None else Unknown(f"module '{name}' not found", span, True)
        self._module_values[name] = value
        if isinstance(value, SourceModule):
            self.note_module_loaded(value.file)
        return value

    def module_attr(self, mod, name: str, span):
        """Attribute ``name`` of a module value (a submodule when not bound in the module)."""
        if isinstance(mod, ExternalModule):
            return external_attr(self, mod.qualname, name, span)
        if isinstance(mod, SourceModule):
            qual = f"{mod.file.module}.{name}" if mod.file.module else name
            modeled = self.externals.modeled_class(qual)
            if modeled is not None:
                return modeled
            value = self.global_get(mod.file, name, span, missing_ok=True)
            if value is not _MISSING:
                return value
            sub = self.module_value(qual, span)
            if not isinstance(sub, Unknown):
                return sub
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            raise EvalRaise("W102", f"module '{mod.file.module}' has no attribute '{name}'", span, "AttributeError")
        return self.getattr(mod, name, span)

    def use_fallback(self, qual: str, fallback, span):
        if qual not in self.used_fallbacks:
            self.used_fallbacks.add(qual)
            self.report(Diagnostic("I201", f"'{qual}' comes from the YAML fallback in rules/externals.yaml (its source is not installed)", span), None)
        return fallback_value(self, qual, fallback, span)

    def import_value(self, file, target: str, attr: str | None, span):
        """The value bound by ``import target`` / ``from target import attr`` in ``file``."""
        absname = resolve_relative(file, target)
        if attr is None:
            return self.module_value(absname, span)
        qual = f"{absname}.{attr}"
        modeled = self.externals.modeled_class(qual)
        if modeled is not None:
            return modeled
        mod = self.module_value(absname, span)
        if isinstance(mod, Unknown):
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            return Unknown(f"cannot resolve 'from {target} import {attr}': module '{absname}' not found", span, True)
        try:
            return self.module_attr(mod, attr, span)
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            return Unknown(e.message, span, True)

    def global_get(self, file, name: str, span, missing_ok: bool = False):
        key = (file.module, name)
        if key in self._globals:
            value = self._globals[key]
            if self._pending_effects and not self._flushing_effects and id(value) in self._container_sizes:
                self.flush_import_effects()
            return value
        if file.module not in self._loaded_modules:
            self.note_module_loaded(file)
        if name == "__name__":
            return file.module
        facts = file.facts()
        bindings = facts.bindings.get(name) or []
        doubt = None
        if facts.stars:
            bindings, doubt = star_candidates(self, file, name, bindings)
        if not bindings:
            if doubt is not None:
                value = self._globals[key] = Unknown(doubt.reason, span, True)
                return value
            if missing_ok:
                return _MISSING
            raise EvalRaise("W102", f"name '{name}' is not defined", span, "NameError")
        busy = self._globals_busy.get(key)
        if busy is not None:
            # ``X = f(X)``: while a binding is evaluated, its name is the one bound before it
            bindings = [b for b in bindings if b.start < busy.start]
            if not bindings:
                return Unknown(f"'{name}' is defined in terms of itself", span)
        binding = _chosen(bindings)
        bkey = key if busy is None else (*key, binding.start)
        if bkey in self._globals:
            return self._globals[bkey]
        if bkey in self._globals_busy:
            return Unknown(f"'{name}' is defined in terms of itself", span)
        self._globals_busy[bkey] = binding
        if busy is not None:
            self._globals_busy[key] = binding
        if self.recordings:
            self.not_replayable()
        try:
            value = self._eval_binding(file, name, binding, span)
        finally:
            del self._globals_busy[bkey]
            if busy is not None:
                self._globals_busy[key] = busy
        self._globals[bkey] = value
        self.note_global_container(value)
        if self._pending_effects and not self._flushing_effects and id(value) in self._container_sizes:
            self.flush_import_effects()
        return value

    def set_global(self, file, name: str, value) -> None:
        """A module global set from outside its module body (``setattr(module, name, value)``)."""
        if file.module not in self._loaded_modules:
            self.note_module_loaded(file)
        if self.recordings:
            self.not_replayable()
        self._globals[(file.module, name)] = value
        self.note_global_container(value)

    def _eval_binding(self, file, name, binding, span):
        bspan = SourceSpan(file.display, binding.start, 0)
        if binding.kind == "class":
            return self.class_value(file, name)
        if binding.kind in ("import", "from"):
            return self.import_value(file, binding.module, binding.attr, bspan)
        if binding.kind == "star":  # ``from module import *`` that binds the name (star_imports.py)
            return self.import_value(file, binding.module, name, bspan)
        try:
            if binding.kind == "def":
                return self.function_value(file, name, binding, None)
            snip = self.binding_snippet(file, name, binding)
        except BudgetExceeded:
            raise
        except EvalRaise as e:  # refused (too deep or too large) or not found: reported once, unknown
            self.warn(e.code, e.message, e.span or bspan)
            return Unknown(e.message, e.span or bspan, True)
        node = snip.node
        frame = Frame(file, snip)
        # a top-level assignment: evaluate its statement in a module-scope frame, its own budget scope
        frame.locals = _ModuleScope(self, file)
        saved = self.scope_steps
        self.scope_steps = 0
        try:
            self.exec_stmt(node, frame)
        except BudgetExceeded as e:
            if e.unwind_to is not None:
                raise
            self.budget_report(e, bspan)
            return Unknown(e.message, e.span or bspan, True)
        except EvalRaise as e:
            return Unknown(e.message, e.span, True)
        finally:
            self.scope_steps = saved
        return frame.locals.own.get(name, Unknown(f"'{name}' is not bound by its statement", bspan))

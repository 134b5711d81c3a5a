"""Classes (``ClassesMixin``): class values from the index, bases, the C3 MRO, member lookup along
it (``super()`` starts after a given class), ``issubclass`` and the builtin kind a class derives from.
"""
from __future__ import annotations

import libcst as cst

from analyzer.diagnostics import Diagnostic, SourceSpan
from analyzer.evaluate import limits
from analyzer.evaluate import dataclass_model, enum_model, hf_methods
from analyzer.evaluate.core import _MISSING, BudgetExceeded, EvalRaise, Frame
from analyzer.evaluate.scopes import _ClassScope
from analyzer.evaluate.values import (
    BuiltinClass,
    ClassValue,
    Intrinsic,
    Unknown,
    type_name,
)


_PY_BASES = ("object", "str", "int", "float", "dict", "list", "tuple", "set", "frozenset", "bytes", "Exception",
             "ValueError", "TypeError", "KeyError", "RuntimeError")


class ClassesMixin:

    def class_value(self, file, name: str) -> ClassValue:
        key = (file.module, name)
        cls = self._classes.get(key)
        if cls is None:
            cls = ClassValue(name, file, file.facts().classes[name])
            self._classes[key] = cls
        return cls

    # ------------------------------------------------------------------ classes
    def bases_of(self, cls) -> list:
        if isinstance(cls, BuiltinClass):
            return list(cls.options.get("bases", []))
        if cls.bases is None:
            cls.bases = []
            snip_frame = Frame(cls.file, None)
            for src in cls.facts.bases_src:
                saved = self.scope_steps
                self.scope_steps = 0
                try:
                    expr = self.parse_expression_guarded(src)
                    if expr is None:
                        value = Unknown(f"nested deeper than {limits.MAX_NESTING} levels")
                    else:
                        value = self.eval(expr, snip_frame)
                except BudgetExceeded as e:
                    if e.unwind_to is not None:
                        raise
                    value = Unknown(e.message)
                except (EvalRaise, cst.ParserSyntaxError) as e:
                    value = Unknown(getattr(e, "message", str(e)))
                except RecursionError:
                    value = Unknown("nesting too deep to evaluate")
                finally:
                    self.scope_steps = saved
                if isinstance(value, Intrinsic) and value.name in _PY_BASES:
                    value = self._python_type(value.name)  # class X(str, Enum), class C(dict): a builtin type
                if isinstance(value, (ClassValue, BuiltinClass)):
                    cls.bases.append(value)
                elif not isinstance(value, Unknown):
                    self.report(
                        Diagnostic("W103", f"base class '{src}' of {cls.name} is a {type_name(value)}, not a class "
                                           "the analyzer models", SourceSpan(cls.file.display, cls.facts.start, 0)),
                        None,
                    )
                elif isinstance(value, Unknown):
                    self.report(
                        Diagnostic("W103", f"base class '{src}' of {cls.name} is unknown ({value.reason})",
                                   SourceSpan(cls.file.display, cls.facts.start, 0)),
                        None,
                    )
        return cls.bases

    def _python_type(self, name: str) -> BuiltinClass:
        """A builtin type as a base class: the modelled one (``dict`` -> rules/externals.yaml's
        builtins.dict), else a plain object class that says which type it is."""
        modeled = self.externals.modeled_class(f"builtins.{name}")
        if modeled is not None:
            return modeled
        cache = self.__dict__.setdefault("_python_types", {})
        if name not in cache:
            cache[name] = BuiltinClass(name, f"builtins.{name}", "object", options={"bases": []})
        return cache[name]

    def mro(self, cls) -> list:
        if not isinstance(cls, (ClassValue, BuiltinClass)):
            return []
        if isinstance(cls, BuiltinClass):
            chain = self._builtin_mro.get(cls)
            if chain is None:
                chain = self._builtin_mro[cls] = [cls] + [c for b in self.bases_of(cls) for c in self.mro(b)]
            return chain
        if cls.mro is None:
            cls.mro = [cls]  # guards against cycles while computing
            self._mro_busy += 1
            try:
                seqs = [self.mro(b) for b in self.bases_of(cls)] + [list(self.bases_of(cls))]
            finally:
                self._mro_busy -= 1
            result = [cls]
            seqs = [list(s) for s in seqs if s]
            while seqs:
                for seq in seqs:
                    head = seq[0]
                    if not any(head in s[1:] for s in seqs):
                        break
                else:
                    head = seqs[0][0]  # inconsistent MRO: fall back to depth-first order
                result.append(head)
                seqs = [[c for c in s if c is not head] for s in seqs]
                seqs = [s for s in seqs if s]
            cls.mro = result
        return cls.mro

    def builtin_kind(self, cls) -> BuiltinClass | None:
        """The first modeled builtin class in the MRO of ``cls`` (None for plain classes)."""
        cacheable = isinstance(cls, (ClassValue, BuiltinClass))
        if cacheable and cls in self._builtin_kind:
            return self._builtin_kind[cls]
        found = None
        for c in self.mro(cls):
            if isinstance(c, BuiltinClass) and c.kind != "object":
                found = c
                break
        if cacheable and not self._mro_busy:  # an MRO is final once no MRO is being computed
            self._builtin_kind[cls] = found
        return found

    def class_member(self, cls, name: str):
        """Own member of a class (not inherited); _MISSING when absent."""
        if isinstance(cls, BuiltinClass):
            attrs = cls.options.get("class_attrs", {})
            if name in attrs:
                return attrs[name]
            member = hf_methods.member(cls, name)
            if member is _MISSING and name in cls.options.get("source_members", ()):
                member = self._source_member(cls, name)
            return member
        if name in cls.ns:
            return cls.ns[name]
        binding = cls.facts.members.get(name)
        if binding is None:
            if name == "__init__":  # a dataclass's generated __init__ (analyzer/evaluate/dataclass_model.py)
                generated = dataclass_model.generated_init(self, cls)
                if generated is not _MISSING:
                    cls.ns[name] = generated
                return generated
            return _MISSING
        if name in cls._evaluating:
            return Unknown(f"class attribute {cls.name}.{name} refers to itself")
        cls._evaluating.add(name)
        if self.recordings:
            self.not_replayable()
        try:
            try:
                if binding.kind == "def" and name in cls.facts.properties:
                    value = self._property(cls, name, cls.facts.properties[name])
                elif binding.kind == "def":
                    value = self.function_value(cls.file, name, binding, cls)
                else:
                    snip = self.binding_snippet(cls.file, name, binding)
            except BudgetExceeded:
                raise
            except EvalRaise as e:  # refused or not found: reported once, an unknown member
                self.warn(e.code, e.message, e.span)
                cls.ns[name] = Unknown(e.message, e.span, True)
                return cls.ns[name]
            if binding.kind != "def":
                frame = Frame(cls.file, snip)
                frame.locals = _ClassScope(self, cls)
                saved = self.scope_steps
                self.scope_steps = 0
                try:
                    self.exec_stmt(snip.node, frame)
                    value = frame.locals.own.get(name, _MISSING)
                except BudgetExceeded as e:
                    if e.unwind_to is not None:
                        raise
                    self.budget_report(e, SourceSpan(cls.file.display, binding.start, 0))
                    value = Unknown(e.message, e.span)
                except EvalRaise as e:
                    value = Unknown(e.message, e.span)
                finally:
                    self.scope_steps = saved
        finally:
            cls._evaluating.discard(name)
        if binding.kind != "def" and enum_model.is_member_value(name, value) and enum_model.enum_base(self, cls):
            value = enum_model.member(self, cls, name, value)  # what EnumMeta makes of a class attribute
        cls.ns[name] = value
        return value

    def _source_member(self, cls: BuiltinClass, name: str):
        """Method or property ``name`` of a modeled class, read from the class's installed source
        (rules/externals.yaml ``source`` + ``source_members``); _MISSING when it is not installed."""
        cache = self.__dict__.setdefault("_source_members", {})
        source = cls.options.get("source", cls.qualname)
        key = (source, name)
        if key not in cache:
            modname, _, cname = source.rpartition(".")
            try:
                file = self.index.find(modname)
            except OSError:
                file = None
            facts = file.facts().classes.get(cname) if file is not None else None
            binding = facts.members.get(name) if facts is not None else None
            if binding is None or binding.kind != "def":
                cache[key] = _MISSING
            else:
                owner = self.class_value(file, cname)
                cache[key] = (self._property(owner, name, facts.properties[name]) if name in facts.properties
                              else self.function_value(file, name, binding, owner))
        return cache[key]

    def _property(self, cls, name: str, chain):
        """A property built by ``@property`` then ``@name.setter`` (``.deleter``): its getter, with
        the setter attached (a deleter changes nothing the tree shows)."""
        fns = [self.function_value(cls.file, name, b, cls) for b in chain]
        getter = fns[0]
        if getter.kind != "property" or any(f.kind not in ("property_setter", "property_deleter") for f in fns[1:]):
            return Unknown(f"property {cls.name}.{name}: this chain of accessor decorators is not modeled", None, True)
        for f in fns[1:]:
            if f.kind == "property_setter":
                getter.setter = f
        return getter

    def lookup_mro(self, cls, name: str, after=None):
        """(defining class, member) searching the MRO of ``cls``, optionally after class ``after``."""
        key = (cls, name, after)  # classes hash by identity
        try:
            hit = self._lookup_cache.get(key)
        except TypeError:  # not a class at all: nothing to cache
            return self._lookup_mro(cls, name, after)
        if hit is None:
            hit = self._lookup_mro(cls, name, after)
            self._lookup_cache[key] = hit
        return hit

    def _lookup_mro(self, cls, name: str, after=None):
        chain = self.mro(cls)
        if after is not None:
            if after in chain:
                chain = chain[chain.index(after) + 1 :]
            else:
                chain = []
        for c in chain:
            v = self.class_member(c, name)
            if v is not _MISSING:
                return c, v
        return None, _MISSING

    def issubclass(self, cls, parent) -> bool:
        if cls is parent:
            return True
        if isinstance(cls, (ClassValue, BuiltinClass)):
            for c in self.mro(cls):
                if c is parent or (isinstance(c, BuiltinClass) and isinstance(parent, BuiltinClass)
                                   and c.qualname == parent.qualname):
                    return True
        return False

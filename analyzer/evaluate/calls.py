"""Calls and argument binding (``CallsMixin``): functions and methods of the analyzed source, bound
to their parameters as Python binds them; class instantiation, ``__init__`` runs, and replay of
identical module constructions (analyzer/evaluate/replay.py).
"""
from __future__ import annotations

import ast

import libcst as cst

from analyzer.evaluate import enum_model, limits, replay, torch_ops
from analyzer.evaluate.attributes import get_attribute, set_attribute
from analyzer.evaluate.construction import builtin_init, construct_plain
from analyzer.evaluate.core import (
    _INTRINSIC_MISUSE,
    _MISSING,
    BudgetExceeded,
    EvalRaise,
    Frame,
    _Return,
    is_plain,
)
from analyzer.evaluate.values import (
    MethodIntrinsic,
    BoundMethod,
    BuiltinClass,
    ClassValue,
    ExceptionValue,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    Unknown,
    type_name,
)


class CallsMixin:

    # ------------------------------------------------------------------ functions
    def function_value(self, file, name: str, binding, owner):
        """The function an indexed ``def`` binds. The parse guard runs now (its refusals are reported
        where the name is used, as before); LibCST parses the body when the function is first called."""
        self.guard(file, binding.start, binding.end)
        found = [st for st in file.facts().statements.get((binding.start, binding.end), ())
                 if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == name]
        if not found:  # the index and this statement disagree: parse now, and let the check report it
            snip = self.binding_snippet(file, name, binding)
            return self.make_function(snip.node, Frame(file, snip), owner)
        kind = self._decorator_kind([(d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute)
                                      else None, isinstance(d, ast.Attribute)) for d in found[0].decorator_list])
        qual = f"{file.module}.{owner.name + '.' if owner else ''}{name}"
        return FunctionValue(name, qual, None, None, file, None, owner, kind,
                             load=lambda: self.binding_snippet(file, name, binding))

    @staticmethod
    def _decorator_kind(decorators) -> str:
        """``decorators``: (simple name or attribute name or None, is an attribute) of each, in order."""
        kind = "function"
        for dname, is_attribute in decorators:
            if dname in ("staticmethod", "classmethod", "property"):
                kind = dname
            elif is_attribute and dname in ("setter", "deleter"):
                kind = "property_" + dname
        return kind

    def make_function(self, node, frame: Frame, owner=None):
        kind = self._decorator_kind([(d.value if isinstance(d, cst.Name) else d.attr.value
                                      if isinstance(d, cst.Attribute) else None, isinstance(d, cst.Attribute))
                                     for d in (dec.decorator for dec in getattr(node, "decorators", ()))])
        qual = f"{frame.file.module}.{owner.name + '.' if owner else ''}{node.name.value}"
        closure = frame if frame.func is not None else None
        return FunctionValue(node.name.value, qual, node, frame.snippet, frame.file, closure, owner, kind)

    def call_function(self, fn: FunctionValue, args: list, kwargs: dict, span, self_obj=_MISSING, scoped=False):
        """Call an analyzed function. ``scoped``: an ``__init__`` run by an instantiation, whose
        statements are budget scopes (so are those of a function called outside any such scope)."""
        self.depth += 1
        if self.depth > self.depth_peak:
            self.depth_peak = self.depth
        if self.recordings and fn.closure is not None:
            self.not_replayable()
        try:
            if self.depth > limits.MAX_DEPTH:
                target = self._recursion_target()
                if target is not None:
                    msg = (f"call depth limit ({limits.MAX_DEPTH}) reached: {type_name(target)} is built again inside "
                           "itself without end; this statement is skipped")
                else:
                    msg = f"call depth limit ({limits.MAX_DEPTH}) reached in {fn.qualname} (unbounded recursion?)"
                raise BudgetExceeded("W107", msg, span, "depth", target)
            frame = Frame(fn.file, fn.snippet, fn, fn.closure)
            if self_obj is not _MISSING:
                args = [self_obj, *args]
            self.bind_params(fn, args, kwargs, frame, span)
            node = fn.node
            if isinstance(node, cst.Lambda):
                return self.eval(node.body, frame)
            try:
                if scoped or not self._owners:
                    self.exec_body_scoped(node.body, frame, self_obj if scoped else None)
                else:
                    self.exec_block(node.body, frame)
            except _Return as r:
                return r.value if frame.maybe_returned is None else frame.maybe_returned
            return frame.maybe_returned  # None, or unknown: a skipped block may have returned
        finally:
            self.depth -= 1

    def default_value(self, param, frame: Frame):
        """A parameter's default; one that cannot be evaluated is reported and stays unknown."""
        try:
            return self.eval(param.default, frame)
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            if self.try_depth:
                raise
            self.warn(e.code, e.message, e.span or self.span(param, frame))
            return Unknown(e.message, e.span, True)

    def bind_params(self, fn: FunctionValue, args: list, kwargs: dict, frame: Frame, span):
        params = fn.node.params
        sig = self._signatures.get(id(params))
        if sig is None:
            star = params.star_arg
            sig = self._signatures[id(params)] = (
                [(p.name.value, p) for p in (*params.posonly_params, *params.params)],
                star.name.value if isinstance(star, cst.Param) else None,
                [(p.name.value, p) for p in params.kwonly_params],
                params.star_kwarg.name.value if params.star_kwarg is not None else None,
                params,  # keeps the node alive while its id is a key
            )
        positional, star_name, kwonly, star_kwarg, _ = sig
        loc = frame.locals
        kwargs = dict(kwargs) if kwargs else {}
        defaults_frame = []  # made once, when a default is first needed

        def keyword_or_default(pname, p, what):
            if pname in kwargs:
                return kwargs.pop(pname)
            if p.default is None:
                raise EvalRaise("W104", f"{fn.name}() missing {what} '{pname}'", span, "TypeError")
            if not defaults_frame:
                defaults_frame.append(Frame(fn.file, fn.snippet, None, fn.closure))
            return self.default_value(p, defaults_frame[0])

        n_args = len(args)
        for i, (pname, p) in enumerate(positional):
            if i < n_args:
                loc[pname] = args[i]
                if pname in kwargs:
                    raise EvalRaise("W104", f"{fn.name}() got multiple values for argument '{pname}'", span, "TypeError")
            else:
                loc[pname] = keyword_or_default(pname, p, "required argument")
        if star_name is not None:
            loc[star_name] = tuple(args[len(positional):])
        elif n_args > len(positional):
            raise EvalRaise("W104", f"{fn.name}() takes {len(positional)} positional arguments but {len(args)} were given", span, "TypeError")
        for pname, p in kwonly:
            loc[pname] = keyword_or_default(pname, p, "keyword-only argument")
        if star_kwarg is not None:
            loc[star_kwarg] = kwargs
        elif kwargs:
            raise EvalRaise("W104", f"{fn.name}() got an unexpected keyword argument '{next(iter(kwargs))}'", span, "TypeError")

    # ------------------------------------------------------------------ calls
    def call(self, fn, args: list, kwargs: dict, span):
        self.tick(span)
        t = type(fn)
        if t is ClassValue or t is BuiltinClass:
            return self.instantiate(fn, args, kwargs, span)
        if t is FunctionValue:
            if self.externals.is_environment_probe(fn.qualname):
                return Unknown(f"{fn.qualname}() probes the installed environment", span)
            if fn.kind == "classmethod" and fn.owner is not None:
                return self.call_function(fn, args, kwargs, span, self_obj=fn.owner)
            return self.call_function(fn, args, kwargs, span)
        if isinstance(fn, BoundMethod):
            f = fn.func
            if isinstance(f, FunctionValue):
                return self.call_function(f, args, kwargs, span, self_obj=fn.obj)
            return self.call(f, [fn.obj, *args], kwargs, span)
        if isinstance(fn, Intrinsic):
            try:
                return fn.fn(self, args, kwargs, span)
            except _INTRINSIC_MISUSE as exc:
                # e.g. isinstance(x) or len(a, b): the analyzed call does not fit the builtin
                raise EvalRaise("W104", f"{fn.name}(): arguments not understood ({type(exc).__name__}: {exc})",
                                span, type(exc).__name__) from None
        if isinstance(fn, (ClassValue, BuiltinClass)):
            return self.instantiate(fn, args, kwargs, span)
        if isinstance(fn, PartialValue):
            return self.call(fn.func, fn.args + list(args), {**fn.kwargs, **kwargs}, span)
        if isinstance(fn, Unknown):
            return Unknown(fn.reason, fn.span or span, True)
        if isinstance(fn, (Instance, ModuleObj)):
            _, m = self.lookup_mro(fn.cls, "__call__")
            if m is not _MISSING and isinstance(m, FunctionValue):
                return self.call_function(m, args, kwargs, span, self_obj=fn)
            return Unknown(f"calling a {type_name(fn)} object (its forward) is not evaluated", span)
        raise EvalRaise("W104", f"'{type_name(fn)}' object is not callable", span, "TypeError")

    def instantiate(self, cls, args: list, kwargs: dict, span):
        base = self.builtin_kind(cls)
        kind = base.kind if base is not None else "object"
        if kind == "enum" and type(cls) is ClassValue and len(args) == 1 and not kwargs:
            return enum_model.lookup_value(self, cls, args[0], span)  # Cls(value) looks a member up
        if kind == "tensor":  # torch.Tensor(data) / torch.Tensor(*sizes): float32
            return torch_ops.legacy("Tensor", list(args), dict(kwargs))
        if kind == "exception":
            return ExceptionValue(cls.name, str(args[0]) if args and is_plain(args[0]) else "")
        if kind in ("nn", "container", "module_base", "hf_model", "fallback_module"):
            if limits.REPLAY_CONSTRUCTIONS and type(cls) is ClassValue:
                return self._construct_replayable(cls, args, kwargs, span)
            return self._new_module(cls, args, kwargs, span)
        if kind in ("dict", "attrdict"):
            obj = Instance(cls, storage={})
        elif kind in ("plain",):
            return construct_plain(self, base, args, kwargs, span)
        else:
            obj = Instance(cls)
        self._run_init(cls, base, obj, args, kwargs, span)
        return obj

    def _construct_replayable(self, cls, args: list, kwargs: dict, span):
        """A module class of the analyzed source: replayed when an identical construction was
        recorded and still applies, else evaluated (and recorded). See analyzer/evaluate/replay.py."""
        key = replay.call_key(cls, args, kwargs)
        if key is None:
            return self._new_module(cls, args, kwargs, span)
        record = self.constructions.get(key)
        if record is not None:
            obj = replay.replay(self, record, span, limits.MAX_DEPTH, limits.SCOPE_STEP_BUDGET, limits.TOTAL_STEP_BUDGET)
            if obj is not None:
                return obj
        rec = replay.start(self)
        try:
            obj = self._new_module(cls, args, kwargs, span)
        finally:
            excursion = replay.end(self, rec)
        record = replay.finish(self, rec, excursion, obj, args, kwargs)
        if record is not None:
            self.constructions[key] = record
        return obj

    def _new_module(self, cls, args, kwargs, span) -> ModuleObj:
        """A module object of ``cls``, its ``__init__`` run (errors reported, the module partial)."""
        self.charge(limits.MODULE_STEPS, span)
        obj = ModuleObj(cls, span)
        self.building.append(obj)
        try:
            self._run_init(cls, self.builtin_kind(cls), obj, args, kwargs, span)
        finally:
            self.building.pop()
        return obj

    def _run_init(self, cls, base, obj, args, kwargs, span) -> None:
        """Run the ``__init__`` of ``cls`` on ``obj``: analyzed source, else the modeled builtin's."""
        owner, init = self.lookup_mro(cls, "__init__")
        if isinstance(init, Unknown) and isinstance(obj, ModuleObj):
            obj.partial = True  # its __init__ was refused or not found (reported once, where it is)
        if isinstance(init, (FunctionValue, MethodIntrinsic)):
            try:
                if isinstance(init, MethodIntrinsic):
                    self.call(init, [obj, *args], kwargs, span)
                else:
                    self.call_function(init, args, kwargs, span, self_obj=obj, scoped=True)
            except BudgetExceeded:
                raise
            except EvalRaise as e:
                if self.try_depth:
                    raise
                self.warn(e.code, e.message, e.span or span)
        else:
            builtin_init(self, base, obj, args, kwargs, span)

    # ------------------------------------------------------------------ attributes
    def getattr(self, obj, name: str, span):
        return get_attribute(self, obj, name, span)

    def setattr(self, obj, name: str, value, span):
        set_attribute(self, obj, name, value, span)

"""The value model of the partial evaluator.

Plain Python data (int, float, str, bool, None, tuple, list, dict) stands for itself. Everything
else is one of the classes below: known objects of the analyzed program (classes, functions,
instances, nn.Module objects, tensors as shapes) or ``Unknown`` with a reason and a span. Unknowns
travel on; they never turn into a silent zero.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from analyzer.diagnostics import SourceSpan

_uid = itertools.count()

MISSING = object()  # "no such member / name": distinct from every value, None included

_EXACT_SCALARS = (int, float, str, bool, type(None))


def exact_key(v, mutable: bool = True):
    """A hashable key equal only for plain values of the same types and contents (1, 1.0 and True
    differ), or None when ``v`` is not plain data. ``mutable``: lists and the empty dict qualify."""
    t = type(v)
    if t in _EXACT_SCALARS:
        return (t, v)
    if t is tuple or (mutable and t is list):
        items = tuple(exact_key(x, mutable) for x in v)
        return None if None in items else (t, items)
    if mutable and t is dict and not v:
        return (dict,)
    return None


def call_key(head, args, kwargs, arg_key=exact_key):
    """A hashable key of a call: ``head`` and ``arg_key`` of each argument (keywords sorted), or
    None when an argument has no key."""
    parts = [head]
    for v in args:
        k = arg_key(v)
        if k is None:
            return None
        parts.append(k)
    for name in sorted(kwargs):
        k = arg_key(kwargs[name])
        if k is None:
            return None
        parts.append((name, k))
    return tuple(parts)


class Unknown:
    """A value the evaluator could not determine. ``maybe_module`` marks results of calls and
    lookups that could have been a module (so assigning it to ``self.x`` may lose a child)."""

    __slots__ = ("reason", "span", "maybe_module")

    def __init__(self, reason: str, span: SourceSpan | None = None, maybe_module: bool = False):
        self.reason = reason
        self.span = span
        self.maybe_module = maybe_module

    def __repr__(self) -> str:
        return f"Unknown({self.reason!r})"


class ExternalModule:
    """A Python module that is modeled, not read (torch, math, functools...)."""

    __slots__ = ("qualname",)

    def __init__(self, qualname: str):
        self.qualname = qualname

    def __repr__(self) -> str:
        return f"<module {self.qualname}>"


class SourceModule:
    """A Python module whose source file the evaluator reads."""

    __slots__ = ("file",)

    def __init__(self, file):
        self.file = file

    def __repr__(self) -> str:
        return f"<source module {self.file.module}>"


class BuiltinClass:
    """A class the evaluator models in code or by rule: torch.nn builtins, containers, bases
    such as torch.nn.Module, dict-like config holders, transformers' base classes."""

    __slots__ = ("name", "qualname", "kind", "rule", "options")

    def __init__(self, name: str, qualname: str, kind: str, rule=None, options: dict | None = None):
        self.name = name
        self.qualname = qualname
        self.kind = kind  # "nn" | "container" | "module_base" | "object" | "dict" | "attrdict" | "hf_config" | "hf_model" | "exception"
        self.rule = rule
        self.options = options or {}

    def __repr__(self) -> str:
        return f"<builtin class {self.qualname}>"


class ClassValue:
    """A class defined in read source."""

    __slots__ = ("name", "qualname", "file", "facts", "bases", "mro", "ns", "_evaluating")

    def __init__(self, name: str, file, facts):
        self.name = name
        self.qualname = f"{file.module}.{name}" if file.module else name
        self.file = file
        self.facts = facts
        self.bases: list | None = None
        self.mro: list | None = None
        self.ns: dict = {}  # evaluated class-body members
        self._evaluating: set = set()

    def __repr__(self) -> str:
        return f"<class {self.qualname}>"


class FunctionValue:
    """A function defined in read source. A top-level or class-level definition may be made with
    ``load`` instead of its node: LibCST then parses it when it is first called (a registry of
    functions that are never called is never parsed)."""

    __slots__ = ("name", "qualname", "_node", "_snippet", "file", "closure", "owner", "kind", "_load", "attrs", "setter")

    def __init__(self, name, qualname, node, snippet, file, closure=None, owner=None, kind="function", load=None):
        self.name = name
        self.qualname = qualname
        self._node = node  # libcst FunctionDef or Lambda
        self._snippet = snippet
        self.file = file
        self.closure = closure  # the enclosing Frame for nested functions
        self.owner = owner  # the ClassValue defining it (for zero-argument super())
        self.kind = kind  # "function" | "staticmethod" | "classmethod" | "property"
        self._load = load  # () -> Snippet of the definition, when node is not parsed yet
        self.attrs: dict | None = None  # attributes assigned to the function object (__doc__, __wrapped__...)
        self.setter: FunctionValue | None = None  # a property's (kind "property") setter

    def copy(self, kind: str) -> "FunctionValue":
        """The same code as another function object (``types.FunctionType(f.__code__, ...)``,
        ``classmethod(f)``): its own ``kind``, no attributes of its own yet. Both share one parsed
        node, the identity of their code."""
        return FunctionValue(self.name, self.qualname, self.node, self.snippet, self.file, self.closure,
                             self.owner, kind)

    @property
    def node(self):
        if self._node is None:
            self._parse()
        return self._node

    @property
    def snippet(self):
        if self._node is None:
            self._parse()
        return self._snippet

    def _parse(self) -> None:
        snip = self._load()
        self._node, self._snippet, self._load = snip.node, snip, None

    def __repr__(self) -> str:
        return f"<function {self.qualname}>"


class Intrinsic:
    """A function the evaluator implements itself: fn(evaluator, args, kwargs, span) -> value."""

    __slots__ = ("name", "fn")

    def __init__(self, name: str, fn):
        self.name = name
        self.fn = fn

    def __repr__(self) -> str:
        return f"<intrinsic {self.name}>"


class MethodIntrinsic(Intrinsic):
    """A method the evaluator generates (a dataclass's ``__init__``): bound like a function, so
    it is called with the instance first."""

    __slots__ = ()


class ClassMethodIntrinsic(Intrinsic):
    """A classmethod the evaluator implements (``PreTrainedModel._from_config``): bound to the class
    it is looked up on (or the class of the instance), which it is called with first."""

    __slots__ = ()


class BoundMethod:
    __slots__ = ("obj", "func")

    def __init__(self, obj, func):
        self.obj = obj
        self.func = func


class PartialValue:
    __slots__ = ("func", "args", "kwargs")

    def __init__(self, func, args, kwargs):
        self.func = func
        self.args = list(args)
        self.kwargs = dict(kwargs)


class SuperValue:
    __slots__ = ("after", "obj")

    def __init__(self, after, obj):
        self.after = after  # the class after which the MRO search starts
        self.obj = obj


class Instance:
    """An object of a read (non-module) class, or of a dict-like builtin (storage holds its items)."""

    __slots__ = ("cls", "attrs", "storage", "uid", "tainted")

    def __init__(self, cls, storage: dict | None = None):
        self.cls = cls
        self.attrs: dict = {}
        self.storage = storage
        self.uid = next(_uid)
        # (Unknown, names written since) once a skipped statement may have changed it in ways not
        # named statically: its state reads as unknown (analyzer/evaluate/skipped.py)
        self.tainted: tuple | None = None

    def __repr__(self) -> str:
        return f"<{getattr(self.cls, 'name', '?')} instance>"


@dataclass(eq=False)
class Tensor:
    shape: tuple | None  # None: unknown shape
    dtype: str = "float32"
    is_param: bool = False
    why_unknown: str | None = None
    recipe: tuple | None = None  # how its values are made, when they can be (analyzer/evaluate/tensor_values.py)
    cell: list | None = None  # shared by the tensors that alias one storage; [True] once changed in place

    def __repr__(self) -> str:
        return f"Tensor({self.shape}, {self.dtype}{', param' if self.is_param else ''})"


class DType:
    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


@dataclass(eq=False)
class ModuleObj:
    """An nn.Module instance: registered children, parameters and buffers in order."""

    cls: object  # ClassValue | BuiltinClass
    span: SourceSpan | None = None
    modules: dict = field(default_factory=dict)  # name -> ModuleObj | None
    params: dict = field(default_factory=dict)  # name -> Tensor | None
    buffers: dict = field(default_factory=dict)  # name -> Tensor | None
    non_persistent: set = field(default_factory=set)
    attrs: dict = field(default_factory=dict)
    partial: bool = False
    uid: int = field(default_factory=lambda: next(_uid))

    def __repr__(self) -> str:
        return f"<module {getattr(self.cls, 'name', '?')}>"


class ExceptionValue:
    __slots__ = ("type_name", "message")

    def __init__(self, type_name: str, message: str):
        self.type_name = type_name
        self.message = message


def type_name(v) -> str:
    if isinstance(v, (ModuleObj, Instance)):
        return getattr(v.cls, "name", "object")
    if isinstance(v, (ClassValue, BuiltinClass)):
        return "type"
    if isinstance(v, Tensor):
        return "Parameter" if v.is_param else "Tensor"
    return type(v).__name__

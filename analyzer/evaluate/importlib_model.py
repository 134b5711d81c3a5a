"""``importlib.import_module``, modelled: a module named by a known string (absolute, or relative to
a known ``package``) is loaded from the source index exactly as an ``import`` statement loads it,
and the evaluator's module value is returned (attribute access on it reads that module). A name
or package that is not a known string, or a module the index cannot find, is an unknown value
with its reason; a name is never guessed.
"""
from __future__ import annotations

import importlib.util

from analyzer.evaluate.core import _err
from analyzer.evaluate.values import Intrinsic, Unknown


def _import_module(ev, args, kwargs, span):
    if len(args) > 2 or set(kwargs) - {"name", "package"}:
        raise _err("W104", "importlib.import_module(name, package=None) takes at most two arguments", span, "TypeError")
    name = args[0] if args else kwargs.get("name")
    package = args[1] if len(args) > 1 else kwargs.get("package")
    for what, v in (("name", name), ("package", package)):
        if isinstance(v, Unknown):
            return Unknown(f"importlib.import_module: the module {what} is unknown ({v.reason})", span, True)
    if type(name) is not str or not (package is None or type(package) is str):
        return Unknown("importlib.import_module: the module name (or package) is not a plain string", span, True)
    if name.startswith("."):
        if not package:
            raise _err("W106", f"importlib.import_module({name!r}) is relative and needs a package", span, "TypeError")
        try:
            absname = importlib.util.resolve_name(name, package)  # pure string arithmetic on plain strs
        except (ImportError, ValueError) as e:
            raise _err("W106", f"importlib.import_module({name!r}, {package!r}): {e}", span, "ImportError")
    else:
        absname = name
    mod = ev.module_value(absname, span)
    if isinstance(mod, Unknown):
        return Unknown(f"importlib.import_module({absname!r}): {mod.reason}", span, True)
    return mod


def importlib_attr(name: str, span):
    if name == "import_module":
        return Intrinsic("importlib.import_module", _import_module)
    return Unknown(f"'importlib.{name}' is not modeled", span, True)

"""The import sandbox of the live dump: the analyzed folder imported under its real package
name or as an anonymous package, stub modules for imports only inference needs, and failures
turned into E007 diagnostics naming the innermost analyzed frame.

Import model
------------
* ``src`` is a package, or lies inside one (``__init__.py`` files are walked upwards): its modules
  are imported under their real dotted names (``mypackage.modeling.encoder``), with the folder
  above the package root put first on ``sys.path``. ``class_qualname`` keeps the full dotted path.
* otherwise ``src`` becomes an anonymous package: a synthetic package whose ``__path__`` is the
  folder, so relative imports between its files work exactly as they do for transformers'
  ``trust_remote_code`` modules. ``class_qualname`` is shown relative to the folder
  (``encoder.Attention``). Nothing is copied or written (no ``HF_MODULES_CACHE``, no .pyc).

Everything added to ``sys.modules`` for the analyzed folder (and for stubs) is removed afterwards,
and same-named packages that were already imported are put back, so several folders can be dumped
in one process.
"""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import io
import logging
import os
import sys
import traceback
import types
import warnings
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.source.hub import blobs_dir


_SYNTHETIC_PREFIX = "_modeltree_src_"
_DYNAMIC_PREFIX = "transformers_modules."


def _e007(message: str, span: SourceSpan | None = None) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E007", message, span))


# ---- config objects --------------------------------------------------------------------------
class _StubMeta(type):
    """Metaclass of stub classes: any attribute is another stub; usable as a base class."""

    def __getattr__(cls, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _stub_class(f"{cls.__qualname__}.{attr}", cls.__module__)

    def __call__(cls, *args, **kwargs):
        # A stub used as a decorator (``@stub.jit``) must leave the function or class in place.
        if len(args) == 1 and not kwargs and (inspect.isfunction(args[0]) or inspect.isclass(args[0])):
            if not isinstance(args[0], _StubMeta):
                return args[0]
        return super().__call__(*args, **kwargs)


class _Stub(metaclass=_StubMeta):
    """Instances stand for any object of a stubbed package: callable, attribute access, iteration."""

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        if len(args) == 1 and not kwargs and (inspect.isfunction(args[0]) or inspect.isclass(args[0])):
            return args[0]
        return type(self)()

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _stub_class(f"{type(self).__qualname__}.{attr}", type(self).__module__)()

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __bool__(self):
        return False

    def __repr__(self):
        return f"<stub {type(self).__module__}.{type(self).__qualname__}>"


def _stub_class(qualname: str, module: str) -> type:
    name = qualname.rsplit(".", 1)[-1]
    return _StubMeta(name, (_Stub,), {"__module__": module, "__qualname__": qualname})


class _StubModule(types.ModuleType):
    """A stand-in for a package that is not installed; any attribute is a stub class."""

    def __init__(self, name: str):
        super().__init__(name, f"stub inserted by the modeltree runtime dump for {name!r}")
        self.__version__ = "0.0.0"

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        value = _stub_class(attr, self.__name__)
        setattr(self, attr, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``name`` and every ``name.sub.module`` for the stubbed names."""

    def __init__(self, names: tuple[str, ...]):
        self.names = names

    def covers(self, fullname: str) -> bool:
        return any(fullname == n or fullname.startswith(n + ".") for n in self.names)

    def find_spec(self, fullname, path=None, target=None):
        if self.covers(fullname):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        return None


def _is_stub_value(value) -> bool:
    return isinstance(value, (_StubModule, _Stub, _StubMeta))


# ---- the import sandbox ----------------------------------------------------------------------
def _package_layout(src: Path) -> tuple[Path | None, str | None]:
    """(folder above the package root, dotted name of ``src``) when ``src`` is or lies in a package."""
    if not (src / "__init__.py").is_file() or blobs_dir(src) is not None:  # a Hub snapshot: anonymous
        return None, None
    top = src
    while (top.parent / "__init__.py").is_file() and top.parent != top:
        top = top.parent
    base = top.parent
    parts = src.relative_to(base).parts
    if not all(p.isidentifier() for p in parts):
        return None, None
    return base, ".".join(parts)


def _module_file(mod) -> Path | None:
    f = getattr(mod, "__file__", None)
    if not f:
        return None
    try:
        p = Path(f)
        return p.parent.resolve() / p.name  # not through a file's own symlink (a Hub snapshot's files are links)
    except (OSError, ValueError):
        return None


def _inside(path: Path | None, folder: Path) -> bool:
    if path is None:
        return False
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


class _Sandbox:
    """Makes ``src`` importable, installs stubs, and undoes every change to ``sys.modules``,
    ``sys.path``, ``sys.meta_path``, logging, warnings and the environment on exit."""

    def __init__(self, src: Path, stubs: tuple[str, ...]):
        self.src = src
        self.stubs = stubs
        self.base, self.package = _package_layout(src)
        self.synthetic: str | None = None
        self.reuse_package = False  # the package is imported (or importable) from this very location
        self.saved_modules: dict[str, types.ModuleType] = {}
        self._exit = contextlib.ExitStack()

    # The dotted prefix under which the files of ``src`` are imported.
    @property
    def prefix(self) -> str:
        return self.package if self.package else self.synthetic  # type: ignore[return-value]

    def display_module(self, module: str) -> str:
        """``type(m).__module__`` as shown in class_qualname."""
        if self.synthetic and (module == self.synthetic or module.startswith(self.synthetic + ".")):
            return module[len(self.synthetic) + 1:]
        if module.startswith(_DYNAMIC_PREFIX):
            return module.rsplit(".", 1)[-1]
        return module

    def __enter__(self) -> "_Sandbox":
        self.before = set(sys.modules)
        self.path_before = list(sys.path)
        self.meta_path_before = list(sys.meta_path)
        self.dont_write_bytecode = sys.dont_write_bytecode
        self.logging_disable = logging.root.manager.disable
        self.env_before = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        sys.dont_write_bytecode = True  # never write __pycache__ into the analyzed folder
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        logging.disable(logging.CRITICAL)  # transformers' warnings go straight to stderr otherwise
        self._exit.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        self._exit.enter_context(contextlib.redirect_stdout(io.StringIO()))
        self._exit.enter_context(contextlib.redirect_stderr(io.StringIO()))

        if self.stubs:
            for name in list(sys.modules):
                if any(name == s or name.startswith(s + ".") for s in self.stubs):
                    self.saved_modules[name] = sys.modules.pop(name)
            sys.meta_path.insert(0, _StubFinder(self.stubs))

        if self.package:
            top = self.package.split(".")[0]
            here = (self.base / top).resolve()
            existing = sys.modules.get(top)
            if existing is not None:
                paths = [Path(p).resolve() for p in getattr(existing, "__path__", [])]
                if here in paths:
                    self.reuse_package = True
                else:  # a same-named package from elsewhere: set it aside for the duration
                    for name in list(sys.modules):
                        if name == top or name.startswith(top + "."):
                            self.saved_modules[name] = sys.modules.pop(name)
            else:
                # Submodules left without their package (its __init__ failed in an earlier import)
                # would be picked up instead of this folder's files: set them aside too.
                for name in list(sys.modules):
                    if name.startswith(top + "."):
                        self.saved_modules[name] = sys.modules.pop(name)
                # An installed package (found on sys.path as it is) is imported as usual and stays
                # imported, like any other library; a checkout elsewhere is imported temporarily.
                try:
                    found = importlib.util.find_spec(top)
                except (ImportError, ValueError):
                    found = None
                locations = getattr(found, "submodule_search_locations", None) or []
                self.reuse_package = here in [Path(p).resolve() for p in locations]
            if not self.reuse_package:
                sys.path.insert(0, str(self.base))
        else:
            digest = hashlib.sha1(str(self.src).encode("utf-8")).hexdigest()[:12]
            self.synthetic = _SYNTHETIC_PREFIX + digest
            pkg = types.ModuleType(self.synthetic, f"anonymous package for {self.src}")
            spec = importlib.machinery.ModuleSpec(self.synthetic, None, is_package=True)
            spec.submodule_search_locations = [str(self.src)]
            pkg.__spec__ = spec
            pkg.__path__ = [str(self.src)]
            pkg.__package__ = self.synthetic
            sys.modules[self.synthetic] = pkg
            # Research code sometimes imports its sibling files absolutely (``from encoder import x``).
            sys.path.append(str(self.src))
        importlib.invalidate_caches()
        return self

    def _added_modules_to_drop(self) -> set[str]:
        added = set(sys.modules) - self.before
        top = self.package.split(".")[0] if self.package else None

        def group(name: str) -> set[str]:
            head = name.split(".")[0]
            return {n for n in added if n == head or n.startswith(head + ".")}

        drop: set[str] = set()
        for name in added:
            mod = sys.modules.get(name)
            if self.synthetic and (name == self.synthetic or name.startswith(self.synthetic + ".")):
                drop.add(name)
            elif any(name == s or name.startswith(s + ".") for s in self.stubs):
                drop.add(name)
            elif top and not self.reuse_package and (name == top or name.startswith(top + ".")):
                drop.add(name)
            elif top and name.startswith(top + ".") and top not in sys.modules:
                drop.add(name)  # the package's __init__ failed: never leave its submodules behind
            elif not self.reuse_package and _inside(_module_file(mod), self.src):
                drop.add(name)
            elif self.stubs and mod is not None and any(_is_stub_value(v) for v in list(vars(mod).values())):
                # Imported with a stub bound in it: that module and the rest of its newly imported
                # package must not outlive the dump.
                drop |= group(name)
        return drop

    def __exit__(self, *exc) -> None:
        try:
            for name in self._added_modules_to_drop():
                sys.modules.pop(name, None)
            for name in list(sys.modules):
                if self.stubs and any(name == s or name.startswith(s + ".") for s in self.stubs):
                    if isinstance(sys.modules[name], _StubModule):
                        sys.modules.pop(name, None)
            sys.modules.update(self.saved_modules)
            sys.path[:] = self.path_before
            sys.meta_path[:] = self.meta_path_before
            importlib.invalidate_caches()
        finally:
            sys.dont_write_bytecode = self.dont_write_bytecode
            logging.disable(self.logging_disable)
            for key, value in self.env_before.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._exit.close()


# ---- errors ----------------------------------------------------------------------------------
def _innermost_span(exc: BaseException, src: Path, shown_src: Path) -> SourceSpan | None:
    """The innermost traceback frame that lies in the analyzed folder, as a span."""
    if isinstance(exc, SyntaxError) and exc.filename:
        p = Path(exc.filename)
        if _inside(p.resolve(), src):
            return SourceSpan(str(shown_src / p.resolve().relative_to(src)), exc.lineno or 0, max((exc.offset or 1) - 1, 0))
    best = None
    for frame in traceback.extract_tb(exc.__traceback__):
        try:
            p = Path(frame.filename)
            p = p.parent.resolve() / p.name  # a Hub snapshot's files are symlinks into its blobs/
        except (OSError, ValueError):
            continue
        if _inside(p, src):
            best = SourceSpan(str(shown_src / p.relative_to(src)), frame.lineno or 0)
    return best


def _import_failure(exc: ModuleNotFoundError, box: _Sandbox, span: SourceSpan | None) -> AnalyzerError:
    missing = exc.name or str(exc)
    if box.prefix and (missing == box.prefix or missing.startswith(box.prefix + ".")):
        rel = missing[len(box.prefix) + 1:] if missing != box.prefix else missing
        shown = rel.replace(".", "/") + ".py"
        return _e007(f"import of '{rel}' failed: the source folder has no file {shown!r}", span)
    return _e007(
        f"import of '{missing}' failed (ModuleNotFoundError: {exc}); the runtime dump executes the model code, "
        f"so every package it imports must be installed; retry with --stub-module {missing}",
        span,
    )


def _failure(exc: BaseException, what: str, box: _Sandbox, src: Path, shown_src: Path) -> AnalyzerError:
    span = _innermost_span(exc, src, shown_src)
    if isinstance(exc, ModuleNotFoundError):
        return _import_failure(exc, box, span)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    message = f"{what} failed: {type(exc).__name__}" + (f": {text}" if text else "")
    return _e007(message, span)


# ---- building the model ----------------------------------------------------------------------

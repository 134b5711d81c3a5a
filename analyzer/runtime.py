"""The opt-in live dump: execute the model code on ``torch.device("meta")`` and record the tree.

This is the ground truth the static analysis is checked against. It *imports and runs* the analyzed
code (no weights are allocated: every tensor lives on the meta device), so the CLI shows a warning
before calling it. ``dump_runtime`` prints nothing and never lets a traceback escape: every failure
becomes an ``AnalyzerError`` (E007, or E002/E003/E004 for input problems).

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
from analyzer.inputs import RootSpec, config_auto_class, load_config, parse_root, root_from_config, source_dir
from analyzer.tree import BufferInfo, ModuleNode, ModuleTree

_SYNTHETIC_PREFIX = "_modeltree_src_"
_DYNAMIC_PREFIX = "transformers_modules."


def _e007(message: str, span: SourceSpan | None = None) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E007", message, span))


# ---- config objects --------------------------------------------------------------------------
class AttrDict(dict):
    """The config handed to a plain ``nn.Module(config)``: a dict with attribute access.

    Nested dicts become ``AttrDict`` too; a missing attribute raises ``AttributeError`` (so
    ``getattr(cfg, "x", default)`` works), ``cfg.get("x", default)`` and ``cfg["x"]`` work as usual.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for key, value in list(self.items()):
            self[key] = _attrdictify(value)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def _attrdictify(value):
    if isinstance(value, dict) and not isinstance(value, AttrDict):
        return AttrDict(value)
    if isinstance(value, list):
        return [_attrdictify(v) for v in value]
    return value


# ---- stub modules ----------------------------------------------------------------------------
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
    if not (src / "__init__.py").is_file():
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
        return Path(f).resolve()
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
            p = Path(frame.filename).resolve()
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
def _required_positional(fn) -> int | None:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    n = 0
    for p in sig.parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty:
            n += 1
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            return None  # needs a keyword we cannot guess
    return n


def _is_pretrained_config(cls) -> bool:
    tf = sys.modules.get("transformers")
    base = getattr(tf, "PretrainedConfig", None) if tf else None
    return base is not None and inspect.isclass(cls) and issubclass(cls, base)


def _config_class(cls, config_dict: dict, box: _Sandbox):
    """The config class of a transformers model: ``cls.config_class``, else auto_map.AutoConfig."""
    from transformers import PretrainedConfig

    own = getattr(cls, "config_class", None)
    if _is_pretrained_config(own) and own is not PretrainedConfig:
        return own
    ref = config_auto_class(config_dict)
    if ref is not None:
        try:
            mod = importlib.import_module(f"{box.prefix}.{ref.module}")
            found = getattr(mod, ref.name, None)
        except ModuleNotFoundError:
            found = None
        if _is_pretrained_config(found):
            return found
    return own if _is_pretrained_config(own) else PretrainedConfig


def _set_attn_implementation(config, value: str) -> None:
    """Force one attention implementation, on the config and on every sub-config.

    No kernel runs on the meta device, so transformers' availability checks (flash_attn installed,
    ``_supports_sdpa``...) are skipped: the tree is the one the model would build with ``value``.
    """
    from transformers import PretrainedConfig

    seen = set()

    def visit(cfg):
        if id(cfg) in seen:
            return
        seen.add(id(cfg))
        cfg._attn_implementation = value
        cfg._attn_implementation_autoset = True
        for key in list(vars(cfg)):
            sub = getattr(cfg, key, None)
            if isinstance(sub, PretrainedConfig):
                visit(sub)

    visit(config)


def _build(obj, spec: RootSpec, config_dict: dict, attn_implementation: str | None, box: _Sandbox):
    """Instantiate the root under the meta device. Returns (model, effective attn implementation)."""
    import torch

    if inspect.isclass(obj):
        config_cls_attr = getattr(obj, "config_class", None)
        is_hf = "transformers" in sys.modules and (
            _is_pretrained_config(config_cls_attr)
            or issubclass(obj, getattr(sys.modules["transformers"], "PreTrainedModel", ()))
        )
        if is_hf:
            config_cls = _config_class(obj, config_dict, box)
            config = config_cls.from_dict(dict(config_dict))
            if attn_implementation is not None:
                _set_attn_implementation(config, attn_implementation)
            with torch.device("meta"):
                model = obj(config)
            cfg = getattr(model, "config", config)
            return model, getattr(cfg, "_attn_implementation", attn_implementation)
        required = _required_positional(obj.__init__)
        if required is not None:
            required -= 1  # self
        if required == 0:
            with torch.device("meta"):
                return obj(), attn_implementation
        if required == 1:
            with torch.device("meta"):
                return obj(AttrDict(config_dict)), attn_implementation
        raise _e007(f"cannot instantiate root {spec}: its __init__ needs more than one config argument")
    if callable(obj):
        required = _required_positional(obj)
        if required not in (0, None):
            raise _e007(f"root {spec} is a function that needs {required} argument(s); a factory root takes none")
        with torch.device("meta"):
            return obj(), attn_implementation
    raise _e007(f"root {spec} is neither a class nor a function")


def _root_module_exists(src: Path, module: str) -> bool:
    rel = Path(*module.split("."))
    return (src / rel.with_suffix(".py")).is_file() or (src / rel / "__init__.py").is_file()


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _tree_of(model, root: RootSpec, box: _Sandbox) -> list[ModuleNode]:
    nodes = []
    for name, mod in model.named_modules():
        cls = type(mod)
        non_persistent = getattr(mod, "_non_persistent_buffers_set", set())
        params = {
            pname: tuple(int(d) for d in p.shape) for pname, p in mod.named_parameters(recurse=False)
        }
        buffers = {
            bname: BufferInfo(tuple(int(d) for d in b.shape), _dtype_name(b.dtype), bname not in non_persistent)
            for bname, b in mod.named_buffers(recurse=False)
        }
        nodes.append(
            ModuleNode(
                name=name,
                cls=cls.__name__,
                class_qualname=f"{box.display_module(cls.__module__)}.{cls.__qualname__}",
                params=params,
                buffers=buffers,
                source=None,
            )
        )
    return nodes


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def dump_runtime(
    src,
    *,
    root: str | None = None,
    config: str | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    attn_implementation: str | None = None,
    stub_modules: tuple[str, ...] | list[str] = (),
    stages: str | None = None,
) -> ModuleTree:
    """Import the model in folder ``src``, build it on the meta device and return its module tree.

    ``root`` is ``FILE_STEM:NAME`` (a class or a zero-argument factory); by default the root comes
    from config.json's auto_map. ``config`` defaults to ``src/config.json`` (``overrides`` are
    ``key=value`` strings as for ``--set``). ``attn_implementation`` None keeps what transformers
    picks by itself; a value is forced on the config (and its sub-configs). ``stub_modules`` are
    package names replaced by permissive stubs for the duration of the dump.

    Executes the analyzed code. Raises ``AnalyzerError`` (E007 when importing or building fails).
    """
    from analyzer.rules import default_leaves, default_stages, load_stages
    from analyzer.tagging import tag

    try:
        import torch
    except ImportError:
        raise _e007("the runtime dump needs torch: pip install 'modeltree-analyzer[runtime]'") from None

    shown_src = Path(src)
    src_dir = source_dir(src)
    if config is not None:
        config_path = Path(config)
    elif (src_dir / "config.json").is_file():
        config_path = shown_src / "config.json"
    else:
        config_path = None
    config_dict, config_shown = load_config(config_path, tuple(overrides))
    if not root and config_path is None:  # say which folder, and not "config.json has no auto_map"
        raise AnalyzerError(Diagnostic(
            "E004", "no root given: the folder has no config.json to take auto_map.AutoModel from; pass --root FILE_STEM:NAME",
            SourceSpan(str(shown_src))))
    spec = parse_root(root) if root else root_from_config(config_dict, config_shown)
    if not _root_module_exists(src_dir, spec.module):
        raise AnalyzerError(
            Diagnostic("E004", f"root module {spec.module!r} ({spec.origin}) is not a file in the source folder",
                       SourceSpan(str(shown_src)))
        )
    stage_rules = load_stages(Path(stages)) if stages else default_stages()
    leaf_rules = default_leaves()
    stubs = tuple(dict.fromkeys(str(s).strip() for s in stub_modules if str(s).strip()))

    with _Sandbox(src_dir, stubs) as box:
        module_name = f"{box.prefix}.{spec.module}"
        try:
            module = importlib.import_module(module_name)
        except AnalyzerError:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - every failure of the analyzed code is a diagnostic
            raise _failure(exc, f"importing {spec.module!r}", box, src_dir, shown_src) from None
        obj = getattr(module, spec.name, None)
        if obj is None:
            raise AnalyzerError(
                Diagnostic("E004", f"root {spec} ({spec.origin}): {spec.module!r} defines no {spec.name!r}",
                           SourceSpan(str(shown_src / Path(*spec.module.split(".")).with_suffix(".py"))))
            )
        try:
            model, attn_used = _build(obj, spec, config_dict, attn_implementation, box)
        except AnalyzerError:
            raise
        except (Exception, SystemExit) as exc:  # noqa: BLE001
            raise _failure(exc, f"building {spec}", box, src_dir, shown_src) from None
        if not isinstance(model, torch.nn.Module):
            raise _e007(f"root {spec} returned {type(model).__name__}, not a torch.nn.Module")
        nodes = _tree_of(model, spec, box)

    tree = ModuleTree(
        root=str(spec),
        modules=nodes,
        meta={
            "mode": "runtime",
            "torch": torch.__version__,
            "transformers": _version("transformers"),
            "attn_implementation": attn_used,
            "stubs": list(stubs),
        },
    )
    return tag(tree, stage_rules, leaf_rules)

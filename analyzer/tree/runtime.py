"""The opt-in live dump: execute the model code on ``torch.device("meta")`` and record the tree.

This is the ground truth the static analysis is checked against. It *imports and runs* the analyzed
code (no weights are allocated: every tensor lives on the meta device), so the CLI shows a warning
before calling it. ``dump_runtime`` prints nothing and never lets a traceback escape: every failure
becomes an ``AnalyzerError`` (E007, or E002/E003/E004 for input problems).

The import model is analyzer/tree/sandbox.py's.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import inspect
import sys
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.source.inputs import (RootSpec, code_snapshot, config_auto_class, load_config, parse_root, resolve_source,
                                    root_from_config, source_dir)
from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree

from analyzer.tree.sandbox import _Sandbox, _e007, _failure


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
    revision: str | None = None,
    download: bool = False,
    notes: list | None = None,
) -> ModuleTree:
    """Import the model in folder ``src``, build it on the meta device and return its module tree.

    ``root`` is ``FILE_STEM:NAME`` (a class or a zero-argument factory); by default the root comes
    from config.json's auto_map. ``config`` defaults to ``src/config.json`` (``overrides`` are
    ``key=value`` strings as for ``--set``). ``attn_implementation`` None keeps what transformers
    picks by itself; a value is forced on the config (and its sub-configs). ``stub_modules`` are
    package names replaced by permissive stubs for the duration of the dump. ``src`` may be a Hub
    id ``ORG/NAME`` (``revision``, ``download``: as for ``analyze``); ``notes``, a list, receives
    the lines that say where the source came from.

    Executes the analyzed code. Raises ``AnalyzerError`` (E007 when importing or building fails).
    """
    from analyzer.rules import default_leaves, default_stages, load_stages
    from analyzer.tree.tagging import tag

    try:
        import torch
    except ImportError:
        raise _e007("the runtime dump needs torch: pip install 'modeltree-analyzer[runtime]'") from None

    source = resolve_source(src, revision, download)
    src_dir = source.path
    shown_src = Path(src) if source.hub is None else src_dir
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
    code = code_snapshot(spec, download)  # auto_map into another Hub repo: the code is imported from there
    hub_meta = {"hub": source.hub.meta()} if source.hub else {}
    if notes is not None:
        notes.extend([*source.notes] + ([f"{spec.origin} points to {code.repo_id}: {code.note()}"] if code else []))
    if code:
        hub_meta["code_repo"] = code.meta()
        src_dir = shown_src = source_dir(code.path)
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
            **hub_meta,
        },
    )
    return tag(tree, stage_rules, leaf_rules)

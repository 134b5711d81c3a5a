"""User inputs shared by the static analysis and the runtime dump: the source (a folder, or a Hub
id ``ORG/NAME`` resolved by analyzer/source/hub.py), the config.json file with --set overrides,
and the root (``--root FILE_STEM:NAME`` or auto_map, which may name another Hub repo).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.source import hub

AUTO_MAP_KEYS = ("AutoModel", "AutoModelForCausalLM", "AutoModelForSeq2SeqLM", "AutoModelForVision2Seq")


def _fail(code: str, message: str, path: str | Path | None = None) -> AnalyzerError:
    return AnalyzerError(Diagnostic(code, message, SourceSpan(str(path)) if path else None))


@dataclass(frozen=True)
class RootSpec:
    """``module`` is a file stem (or dotted module path) relative to the source folder."""

    module: str
    name: str
    origin: str  # "--root" or "auto_map.AutoModel" ...
    repo: str | None = None  # "ORG/OTHER" of an auto_map entry "ORG/OTHER--module.Class": the code lives there

    def __str__(self) -> str:
        return f"{self.module}:{self.name}"


def parse_root(text: str) -> RootSpec:
    module, sep, name = text.partition(":")
    if not sep or not module or not name or not name.isidentifier():
        raise _fail("E004", f"--root must look like FILE_STEM:NAME (e.g. encoder:build_encoder), got {text!r}")
    if module.endswith(".py"):
        module = module[:-3]
    if ".." in module or module.startswith((".", "/")) or "/" in module:
        raise _fail("E004", f"--root module {module!r} must name a file inside the source folder")
    return RootSpec(module, name, "--root")


@dataclass(frozen=True)
class Source:
    """A resolved source argument: the folder to read, the Hub snapshot it came from (if any), and
    the notes that say which one was used."""

    path: Path
    hub: hub.HubSnapshot | None = None
    notes: tuple[str, ...] = ()


def resolve_source(arg, revision: str | None = None, download: bool = False) -> Source:
    """The rule: an existing path is a folder (it wins over a cached Hub repo of the same name);
    otherwise ``ORG/NAME`` is a Hub id, read from the Hugging Face cache (``--download``: fetched
    first). Anything else is a missing folder (E002)."""
    if isinstance(arg, Source):
        return arg
    text = str(arg)
    if os.path.lexists(text) or not hub.is_hub_id(text):
        notes = []
        if hub.in_cache(text):
            notes.append(f"{text} is a local folder: it is used, not the Hugging Face cache's {text}")
        if revision or download:
            notes.append(f"--revision/--download apply to Hub ids only; {text} is a local folder")
        return Source(source_dir(arg), None, tuple(notes))
    snapshot = hub.resolve(text, revision, download=download)
    return Source(source_dir(snapshot.path), snapshot, (snapshot.note(),))


def names_model(arg: str) -> bool:
    """Whether a ``diff`` side is a model (a folder, or a Hub id) rather than a JSON tree file."""
    return Path(arg).is_dir() or (not os.path.lexists(arg) and hub.is_hub_id(arg) and not arg.endswith(".json"))


def code_snapshot(spec: RootSpec, download: bool = False) -> hub.HubSnapshot | None:
    """The snapshot of the repo an auto_map entry points into (``ORG/OTHER--module.Class``), at
    its main revision as transformers fetches it; None when the root is in the source folder."""
    if spec.repo is None:
        return None
    return hub.resolve(spec.repo, None, download=download)


def source_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise _fail("E002", "source folder does not exist", p)
    if not p.is_dir():
        raise _fail("E002", "expected a folder of model source (with config.json)", p)
    return p.resolve()


def parse_override(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise _fail("E003", f"--set expects key=value, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw  # a bare string
    return key, value


def load_config(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> tuple[dict, str | None]:
    """Return (config dict, path string or None). A missing default config.json gives {}."""
    data: dict = {}
    shown = None
    if path is not None:
        shown = str(path)
        if os.path.lexists(path) and Path(path).exists() and not Path(path).is_file():
            raise _fail("E002", "config is not a regular file (a folder, FIFO or device?)", path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise _fail("E002", "config file not found", path) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail("E002", f"cannot read config file: {exc}", path) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnalyzerError(
                Diagnostic("E003", f"invalid JSON: {exc.msg}", SourceSpan(str(path), exc.lineno, exc.colno - 1))
            ) from None
        if not isinstance(data, dict):
            raise _fail("E003", "config.json must hold a JSON object", path)
    for item in overrides:
        key, value = parse_override(item)
        data[key] = value
    return data, shown


def root_from_config(config: dict, config_path: str | None, src: str | Path | None = None) -> RootSpec:
    auto_map = config.get("auto_map")
    if isinstance(auto_map, dict):
        for key in AUTO_MAP_KEYS:
            ref = auto_map.get(key)
            if isinstance(ref, list):  # transformers allows [slow, fast] pairs for tokenizers
                ref = ref[0] if ref else None
            if isinstance(ref, str) and "." in ref:
                module, _, name = ref.rpartition(".")
                repo = None
                if "--" in module:  # "ORG/OTHER--module.Class": the code lives in another Hub repo
                    repo, _, module = module.partition("--")
                    if not hub.is_hub_id(repo):
                        raise _fail("E004", f"auto_map.{key} {ref!r} points to another repository, but {repo!r} "
                                    "is not a Hub id ORG/NAME", config_path)
                return RootSpec(module, name, f"auto_map.{key}", repo)
    if config_path is None and src is not None:
        raise _fail("E004", "no root given: the folder has no config.json to take auto_map.AutoModel from; "
                    "pass --root FILE_STEM:NAME", src)
    raise _fail(
        "E004",
        "no root given: config.json has no auto_map.AutoModel entry; pass --root FILE_STEM:NAME",
        config_path,
    )


def config_auto_class(config: dict) -> RootSpec | None:
    ref = config.get("auto_map", {}).get("AutoConfig") if isinstance(config.get("auto_map"), dict) else None
    if isinstance(ref, str) and "." in ref:
        module, _, name = ref.rpartition(".")
        repo, sep, rest = module.partition("--")  # in another Hub repo: the code folder's file
        return RootSpec(rest if sep else module, name, "auto_map.AutoConfig", repo if sep else None)
    return None

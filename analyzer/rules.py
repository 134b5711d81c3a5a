"""Rules are data: YAML files under rules/ loaded into validated, frozen dataclasses.

A bad rule file raises ``AnalyzerError`` (E005) naming the file and the key.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan



def _rules_dir() -> Path:
    """The folder of the shipped rules files: the package data of ``analyzer.rulefiles`` (the
    repository's top-level rules/, mapped into the package by pyproject.toml), as a wheel, an
    editable install or a plain checkout has it. From a zip archive, the files are copied out once
    into a temporary folder (they are read by path)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "rules" / "families.yaml").is_file():
        return checkout / "rules"  # this analyzer's own checkout (a worktree on PYTHONPATH), not another's install
    try:
        import analyzer.rulefiles as pkg
    except ImportError:  # a checkout on sys.path, not installed
        return Path(__file__).resolve().parent.parent / "rules"
    for entry in getattr(pkg, "__path__", ()):
        if Path(entry).is_dir():
            return Path(entry).resolve()
    return _extracted(pkg.__name__)


def _extracted(package: str) -> Path:
    import importlib.resources
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="modeltree-rules-"))

    def copy(node, dest: Path) -> None:
        for item in node.iterdir():
            if item.is_dir():
                (dest / item.name).mkdir()
                copy(item, dest / item.name)
            elif item.name.endswith(".yaml"):
                (dest / item.name).write_bytes(item.read_bytes())

    copy(importlib.resources.files(package), out)
    return out


RULES_DIR = _rules_dir()


def _bad(path: Path, message: str) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E005", message, SourceSpan(str(path))))


def load_yaml(path: Path):
    """The parsed YAML file. When the parsed-file cache is on (analyzer/cache.py), a file read
    before is taken from there, by the sha256 of its bytes, without importing PyYAML."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise _bad(Path(path), f"cannot read rules file: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(Path(path), f"rules file is not valid UTF-8 (byte {exc.start})") from None
    from analyzer import cache

    sha = hashlib.sha256(raw).hexdigest() if cache.parsed_files_enabled() else None
    if sha is not None:
        hit = cache.load_parsed(sha)
        if hit is not None:
            return hit[0]
    import yaml  # only here: a warm run needs no YAML parser

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        span = SourceSpan(str(path), mark.line + 1, mark.column) if mark else SourceSpan(str(path))
        raise AnalyzerError(Diagnostic("E005", f"invalid YAML: {getattr(exc, 'problem', exc)}", span)) from None
    if sha is not None:
        cache.store_parsed(sha, data)
    return data


@dataclass(frozen=True)
class StageRules:
    default: str
    prefixes: tuple[tuple[str, str], ...]  # (prefix, stage), longest prefix first

    def stage_of(self, name: str) -> str:
        for prefix, stage in self.prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return stage
        return self.default

    @property
    def names(self) -> tuple[str, ...]:
        seen = []
        for _, s in self.prefixes:
            if s not in seen:
                seen.append(s)
        if self.default not in seen:
            seen.append(self.default)
        return tuple(seen)


def load_stages(path: Path | None = None) -> StageRules:
    path = Path(path) if path else RULES_DIR / "stages.yaml"
    data = load_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        raise _bad(path, "expected a mapping with a 'stages' mapping of stage -> [prefixes]")
    default = data.get("default", "other")
    if not isinstance(default, str):
        raise _bad(path, "'default' must be a string")
    pairs = []
    for stage, prefixes in data["stages"].items():
        if not isinstance(stage, str) or not isinstance(prefixes, list) or not all(isinstance(p, str) for p in prefixes):
            raise _bad(path, f"stages.{stage}: expected a list of module-name prefixes")
        pairs.extend((p, stage) for p in prefixes)
    pairs.sort(key=lambda ps: (-len(ps[0]), ps[0]))
    return StageRules(default, tuple(pairs))


@dataclass(frozen=True)
class LeafRules:
    leaf_classes: frozenset[str]


def load_leaves(path: Path | None = None) -> LeafRules:
    path = Path(path) if path else RULES_DIR / "leaves.yaml"
    data = load_yaml(path)
    classes = data.get("leaf_classes") if isinstance(data, dict) else None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise _bad(path, "'leaf_classes' must be a list of class names")
    return LeafRules(frozenset(classes))


@lru_cache(maxsize=None)
def default_stages() -> StageRules:
    return load_stages()


@lru_cache(maxsize=None)
def default_leaves() -> LeafRules:
    return load_leaves()

"""The cache, two levels: whole results, and the facts of single source files.

Results: an analysis is stored under a key made of everything it depends on, and is trusted again
only after every source file it read still hashes the same.

* key: sha256 of the analyzer version, every rules file's bytes, the resolved config dict, the
  options (root, attention implementation, stages file bytes, search paths), the source folder's
  listing of .py files, and the interpreter's path list (where imported packages are found).
* entry: a header line {"key", "files": [[path, sha256], ...], "checksum"}, then the result's JSON.
  The checksum covers the header's key and files and the result's bytes. A missing, truncated,
  corrupted (checksum), mismatched or stale (a file changed) entry is ignored and rebuilt; the cache
  never raises.
* per-file facts (below): the index of one source file, under the sha256 of its bytes; a result
  miss (another config, another model using the same installed packages) still skips them.
* location: $MODELTREE_CACHE_DIR, else $XDG_CACHE_HOME/modeltree-analyzer, else
  ~/.cache/modeltree-analyzer. ``--no-cache`` bypasses it; ``python -m analyzer cache clear`` empties it.

This module must stay light: a warm run imports neither LibCST nor the evaluator.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from analyzer import __version__

FORMAT = 2  # 2: modules as rows (ModuleTree.to_rows)


def cache_dir() -> Path:
    env = os.environ.get("MODELTREE_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modeltree-analyzer"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_sha(path: str) -> str | None:
    try:
        return _sha(Path(path).read_bytes())
    except OSError:
        return None


def make_key(*, src_dir: Path, config: dict, options: dict, rules_files: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(f"modeltree/{__version__}/{FORMAT}\n".encode())
    for path in sorted(rules_files):
        h.update(str(path.name).encode() + b"\0" + (_file_sha(str(path)) or "missing").encode() + b"\n")
    h.update(json.dumps(config, sort_keys=True, default=str).encode() + b"\n")
    h.update(json.dumps(options, sort_keys=True, default=str).encode() + b"\n")
    try:
        listing = sorted(p.name for p in src_dir.iterdir() if p.suffix == ".py" or p.name == "__init__.py")
    except OSError:
        listing = []
    h.update(("\0".join(listing)).encode() + b"\n")
    h.update(("\0".join(p for p in sys.path if p)).encode())
    return h.hexdigest()


def _entry_path(key: str) -> Path:
    return cache_dir() / f"{key}.json"


def load(key: str) -> dict | None:
    """The cached result for ``key``, or None when absent, corrupted or stale."""
    path = _entry_path(key)
    try:
        raw = path.read_bytes()
        head, sep, body = raw.partition(b"\n")
        header = json.loads(head)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not sep or not isinstance(header, dict) or header.get("key") != key or not isinstance(header.get("files"), list):
        return None
    if header.get("checksum") != _sha(head.rsplit(b'"checksum"', 1)[0] + body):
        return None
    for item in header["files"]:
        if not (isinstance(item, list) and len(item) == 2 and _file_sha(item[0]) == item[1]):
            return None
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def store(key: str, files: list[tuple[str, str]], result: dict) -> None:
    """Write ``{key, files, checksum}`` on the first line and the result's JSON after it; the
    checksum covers the header's key and files and the result's bytes."""
    body = json.dumps(result).encode()
    head = json.dumps({"key": key, "files": [list(f) for f in files]})[:-1].encode() + b", "
    entry = head + b'"checksum": "' + _sha(head + body).encode() + b'"}\n' + body
    _write(_entry_path(key), entry)


# ---------------------------------------------------------------------------------- per-file facts
# What the index learned from one source file (its bindings and classes, see
# analyzer.source.index.ModuleFacts), and a rules file's parsed YAML, each stored under the sha256 of the
# file's bytes: a file read again unchanged, by any analysis of any model (transformers' files are
# shared by many), is not indexed or parsed again. Same layout as a result entry: a header line
# {"sha", "checksum"}, then the JSON.
CONTENT_FORMAT = 5  # 2: star imports; 3: property accessor chains (ClassFacts.properties); 4: import-time effects; 5: Binding.fallback (bound in an except handler)


def _content_path(kind: str, sha: str) -> Path:
    return cache_dir() / kind / f"{CONTENT_FORMAT}-{sha}.json"


def _load_content(kind: str, sha: str) -> tuple | None:
    """(data,) stored under ``kind`` for file content ``sha``, or None when absent or corrupted."""
    try:
        raw = _content_path(kind, sha).read_bytes()
        head, sep, body = raw.partition(b"\n")
        header = json.loads(head)
        if not sep or not isinstance(header, dict) or header.get("sha") != sha or header.get("checksum") != _sha(body):
            return None
        return (json.loads(body),)
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _store_content(kind: str, sha: str, body: bytes) -> None:
    _write(_content_path(kind, sha), json.dumps({"sha": sha, "checksum": _sha(body)}).encode() + b"\n" + body)


def load_facts(sha: str) -> dict | None:
    """The index stored for source file content ``sha``, or None when absent or corrupted."""
    hit = _load_content("facts", sha)
    return hit[0] if hit is not None and isinstance(hit[0], dict) else None


def store_facts(sha: str, data: dict) -> None:
    _store_content("facts", sha, json.dumps(data, separators=(",", ":")).encode())


# Parsed rules files are cached for analyses that use the cache (``analyze(use_cache=True)``), and
# only when JSON gives back exactly the data PyYAML made.
_parsed_files = False


def use_parsed_files(enabled: bool) -> None:
    global _parsed_files
    _parsed_files = bool(enabled)


def parsed_files_enabled() -> bool:
    return _parsed_files


def load_parsed(sha: str) -> tuple | None:
    """(data,) stored for rules file content ``sha``, or None when absent or corrupted."""
    return _load_content("parsed", sha)


def store_parsed(sha: str, data) -> None:
    try:
        body = json.dumps(data, separators=(",", ":")).encode()
        if json.loads(body) != data:
            return  # JSON would change it (integer keys, say): not cached
    except (TypeError, ValueError):
        return
    _store_content("parsed", sha, body)


def _write(path: Path, data: bytes) -> None:
    """Atomically (a temporary file renamed); a read-only or full cache directory only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def clear() -> int:
    """Delete every entry, results and per-file facts; returns how many were removed."""
    n = 0
    directory = cache_dir()
    for pattern in ("*.json", "facts/*.json", "parsed/*.json"):
        for p in directory.glob(pattern) if directory.is_dir() else ():
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n

"""The result cache: an analysis is stored under a key made of everything it depends on, and is
trusted again only after every source file it read still hashes the same.

* key: sha256 of the analyzer version, every rules file's bytes, the resolved config dict, the
  options (root, attention implementation, stages file bytes, search paths), the source folder's
  listing of .py files, and the interpreter's path list (where imported packages are found).
* entry: JSON {"key", "files": [[path, sha256], ...], "result": {...}, "checksum"}. A missing,
  truncated, corrupted (checksum), mismatched or stale (a file changed) entry is ignored and
  rebuilt; the cache never raises.
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

FORMAT = 1


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("files"), list):
        return None
    payload = json.dumps([data["files"], data.get("result")], sort_keys=True).encode()
    if data.get("checksum") != _sha(payload):
        return None
    for item in data["files"]:
        if not (isinstance(item, list) and len(item) == 2 and _file_sha(item[0]) == item[1]):
            return None
    return data.get("result")


def store(key: str, files: list[tuple[str, str]], result: dict) -> None:
    files_list = [list(f) for f in files]
    payload = json.dumps([files_list, result], sort_keys=True).encode()
    entry = {"key": key, "files": files_list, "result": result, "checksum": _sha(payload)}
    directory = cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(entry, fh)
        os.replace(tmp, _entry_path(key))
    except OSError:
        pass  # a read-only or full cache directory only costs speed


def clear() -> int:
    """Delete every entry; returns how many were removed."""
    n = 0
    directory = cache_dir()
    if directory.is_dir():
        for p in directory.glob("*.json"):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n

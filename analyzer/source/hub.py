"""Hub model ids (``ORG/NAME``) as source folders, read from the local Hugging Face cache exactly
as ``huggingface_hub`` resolves them offline; with ``download=True`` (opt-in, ``--download``) the
code files are fetched into that cache first, never the weights.

The cache layout (huggingface_hub's, small and documented):

* the cache is ``$HF_HUB_CACHE``, else ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
  ``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``;
* ``models--ORG--NAME/refs/REV`` holds the commit hash a branch or tag points to (a 40-hex
  revision is a commit itself);
* ``models--ORG--NAME/snapshots/<commit>/`` holds the files, as relative symlinks into
  ``../../blobs/<sha>``.

Reading it needs no huggingface_hub; only ``download=True`` imports it. Nothing here touches the
network otherwise. Every failure is an ``AnalyzerError`` E008, one line.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic

DEFAULT_REVISION = "main"
# What --download fetches (code, configs, small text files), and what it never fetches.
CODE_PATTERNS = ("*.py", "*.json", "*.txt")
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.gguf", "*.ckpt", "*.h5", "*.msgpack",
                   "*.onnx", "*.pkl", "*.npz", "*.tflite", "*.ot")
PIP_HINT = "pip install 'modeltree-analyzer[hub]'"

_COMMIT = re.compile(r"[0-9a-f]{40}")
_NAME = r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?"  # huggingface_hub's repo-id characters
_REPO_ID = re.compile(f"{_NAME}/{_NAME}", re.ASCII)


def is_hub_id(text: str) -> bool:
    """``ORG/NAME`` with huggingface_hub's repo-id characters (no ``--`` or ``..``, at most 96)."""
    return (bool(_REPO_ID.fullmatch(text)) and "--" not in text and ".." not in text and len(text) <= 96
            and not text.endswith(".git"))


def cache_dir() -> Path:
    env = os.environ
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if env.get(var):
            return Path(os.path.expandvars(os.path.expanduser(env[var])))
    home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(os.path.expandvars(os.path.expanduser(home))) / "hub"


def repo_folder(repo_id: str) -> Path:
    return cache_dir() / ("models--" + repo_id.replace("/", "--"))


def in_cache(repo_id: str) -> bool:
    return is_hub_id(repo_id) and repo_folder(repo_id).is_dir()


def blobs_dir(snapshot: Path) -> Path | None:
    """``models--X--Y/blobs`` when ``snapshot`` is a cache snapshot folder: its files' link targets."""
    if snapshot.parent.name == "snapshots" and snapshot.parent.parent.name.startswith("models--"):
        return snapshot.parent.parent / "blobs"
    return None


@dataclass(frozen=True)
class HubSnapshot:
    repo_id: str
    revision: str
    commit: str
    path: Path

    def meta(self) -> dict:
        return {"id": self.repo_id, "revision": self.revision, "commit": self.commit, "path": str(self.path)}

    def note(self) -> str:
        return (f"{self.repo_id} resolved from the Hugging Face cache: {self.path} "
                f"(revision {self.revision} = {self.commit})")


def _fail(message: str) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E008", re.sub(r"[\r\n]+", " ", message)))


def resolve(repo_id: str, revision: str | None = None, *, download: bool = False) -> HubSnapshot:
    """The snapshot of ``repo_id`` at ``revision`` (default main) in the local cache; with
    ``download``, its code files are fetched into the cache first."""
    revision = revision or DEFAULT_REVISION
    parts = revision.split("/")
    if any(p in ("", ".", "..") for p in parts) or any(c.isspace() or c in "\\\0" for c in revision):
        raise _fail(f"--revision {revision!r} is not a branch, tag or commit name")
    if download:
        _download(repo_id, revision)
    hint = "" if download else "; run again with --download to fetch its code (*.py, *.json, *.txt, never weights)"
    folder = repo_folder(repo_id)
    if not folder.is_dir():
        raise _fail(f"{repo_id} is neither a local folder nor in the Hugging Face cache ({cache_dir()}){hint}")
    commit = revision
    if not _COMMIT.fullmatch(revision):
        ref = folder / "refs" / revision
        if not ref.is_file():
            known = sorted(str(p.relative_to(folder / "refs")) for p in (folder / "refs").rglob("*") if p.is_file())
            have = f" (cached: {', '.join(known[:8])})" if known else ""
            raise _fail(f"{repo_id}: revision {revision!r} is not in the Hugging Face cache{have}{hint}")
        try:
            with open(ref, "rb") as fh:
                commit = fh.read(256).decode("ascii").strip()
        except (OSError, UnicodeDecodeError):
            commit = "<unreadable>"
        if not _COMMIT.fullmatch(commit):
            raise _fail(f"{repo_id}: broken ref {ref}: expected a 40-hex commit hash, found {commit[:48]!r}")
    snapshot = folder / "snapshots" / commit
    if not snapshot.is_dir():
        raise _fail(f"{repo_id}: revision {revision} = {commit}, but its snapshot folder {snapshot} is missing{hint}")
    return HubSnapshot(repo_id, revision, commit, snapshot)


def _offline() -> str | None:
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        if os.environ.get(var, "").upper() in ("1", "ON", "YES", "TRUE"):
            return f"{var}={os.environ[var]}"
    return None


def _download(repo_id: str, revision: str) -> None:
    offline = _offline()
    if offline:
        raise _fail(f"--download needs the network, but {offline} is set: unset it, "
                    f"or drop --download to read {repo_id} from the cache only")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise _fail(f"--download needs huggingface_hub: {PIP_HINT}") from None
    try:
        snapshot_download(repo_id, revision=revision, cache_dir=str(cache_dir()), allow_patterns=list(CODE_PATTERNS),
                          ignore_patterns=list(WEIGHT_PATTERNS), token=os.environ.get("HF_TOKEN") or None)
    except Exception as exc:  # noqa: BLE001 - every failure of the download is one diagnostic line
        text = str(exc).strip().splitlines()
        raise _fail(f"--download of {repo_id} (revision {revision}) failed: {type(exc).__name__}"
                    + (f": {text[0][:400]}" if text else "")) from None

"""Fake Hugging Face caches for the Hub id tests, laid out as huggingface_hub lays them out:
``models--ORG--NAME/blobs/<sha256>``, ``snapshots/<commit>/<file> -> ../../blobs/<sha256>``
(relative symlinks; an unchanged file shares its blob between snapshots) and ``refs/<name>``
holding a commit hash without a newline."""
from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

C_OLD = "1" * 8 + hashlib.sha1(b"old").hexdigest()[8:]  # starts with a digit: no identifier
C_NEW = "c" * 8 + hashlib.sha1(b"new").hexdigest()[8:]  # starts with a letter

LAYERS = """
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, 2 * d)
"""

MODELING = """
import torch.nn as nn

from .layers import Block


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Linear(cfg.d, cfg.d)
        self.block = Block(cfg.d)
"""


def model_files(d: int, auto_model: str = "modeling_net.Net") -> dict[str, str | bytes]:
    return {"modeling_net.py": MODELING, "layers.py": LAYERS,
            "config.json": json.dumps({"d": d, "auto_map": {"AutoModel": auto_model}})}


def add_snapshot(cache: Path, repo_id: str, commit: str, files: dict, refs: tuple[str, ...] = ()) -> Path:
    """Write one snapshot of ``repo_id`` into ``cache`` (and point ``refs`` at it); its folder."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True, exist_ok=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for name, text in files.items():
        data = text if isinstance(text, bytes) else textwrap.dedent(text).lstrip("\n").encode()
        sha = hashlib.sha256(data).hexdigest()
        blob = repo / "blobs" / sha
        if not blob.exists():
            blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


def tiny_cache(cache: Path, repo_id: str = "org/tiny") -> Path:
    """``repo_id`` with two snapshots: C_OLD (tag v1.0, d=4) and C_NEW (branch main, d=8)."""
    add_snapshot(cache, repo_id, C_OLD, model_files(4), refs=("v1.0",))
    add_snapshot(cache, repo_id, C_NEW, model_files(8), refs=("main",))
    return cache


def folder_files(src: Path, cache: Path, repo_id: str, commit: str) -> Path:
    """A real model folder turned into one snapshot (branch main) of ``repo_id``."""
    files = {p.name: p.read_bytes() for p in sorted(src.iterdir()) if p.is_file()}
    return add_snapshot(cache, repo_id, commit, files, refs=("main",))

"""Index source files on the second core while this process imports LibCST.

A cold ``tree`` spends its first ~0.15 s importing LibCST, single-threaded. ``start`` forks a child
that, meanwhile, indexes the analyzed folder's files and the files they import directly (with the
standard library's ``ast``, see analyzer/source/index.py) and writes each index to the per-file facts
cache (analyzer/cache.py). The parent then finds those entries instead of indexing the files
itself. It is only an optimisation: an entry the child has not written yet is indexed by the
parent as usual, entries are written atomically and checksummed, and the child never reports,
prints or raises anything. The child, like the parent, only reads files: it never imports or runs
the analyzed code.

POSIX only (``os.fork``); the CLI uses it, library calls of ``analyze`` do not.
"""
from __future__ import annotations

import os
from pathlib import Path


MAX_PREFETCH_BYTES = 200_000


def start(src_dir: Path, search_paths, site_packages: bool) -> int | None:
    """Fork the indexing child; its pid, or None when forking is not possible here."""
    if not hasattr(os, "fork"):
        return None
    try:
        pid = os.fork()
    except OSError:
        return None
    if pid:
        return pid
    try:
        _index_folder(src_dir, search_paths, site_packages)
    except BaseException:  # noqa: BLE001 - the parent indexes whatever is missing
        pass
    finally:
        os._exit(0)  # no cleanup handlers, no flushing of the parent's buffered output


def finish(pid: int | None) -> None:
    """Reap the child (it has long finished when the analysis does)."""
    if pid:
        try:
            os.waitpid(pid, 0)
        except (ChildProcessError, OSError):
            pass


def _index_folder(src_dir: Path, search_paths, site_packages: bool) -> None:
    from analyzer.evaluate.externals import load_externals
    from analyzer.source.index import SourceIndex, resolve_relative
    from analyzer.rules import default_leaves, default_stages
    from analyzer.evaluate.torch_rules import load_torch_rules

    # the rules files first (the parent needs them soonest): parsed into the cache as JSON
    load_torch_rules()
    default_stages()
    default_leaves()

    index = SourceIndex(src_dir, [Path(p) for p in search_paths], site_packages, facts_cache=True)
    externals = load_externals()
    local = [index.find(index.local_module_name(p.stem)) for p in sorted(src_dir.glob("*.py"))]
    local = [f for f in local if f is not None]
    for f in local:
        f.facts()
    for f in local:
        for bindings in f.facts().bindings.values():
            for b in bindings:
                if b.kind not in ("import", "from") or not b.module:
                    continue
                target = resolve_relative(f, b.module)
                if target and not externals.is_modeled_module(target):
                    imported = index.find(target)
                    # a package's __init__ is often a large hub of re-exports, rarely what is evaluated
                    if imported is not None and not imported.local and not imported.is_package \
                            and imported.path.stat().st_size <= MAX_PREFETCH_BYTES:
                        imported.facts()

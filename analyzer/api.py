"""The one entry point of the static analysis: source folder in, tagged module tree out.

``analyze`` validates the inputs, answers from the result cache when it safely can (see
analyzer/cache.py), and otherwise runs ``analyzer.pipeline``. Never imports the analyzed code,
nor torch; a cache hit does not even import LibCST.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from analyzer import cache as result_cache
from analyzer.source import inputs
from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.rules import RULES_DIR, default_stages, load_stages
from analyzer.tree.model import ModuleTree, from_rows

ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")


@dataclass
class Analysis:
    tree: ModuleTree
    diagnostics: list[Diagnostic] = field(default_factory=list)
    cached: bool = False
    root_obj: object = None  # the evaluator's root module object (None when answered from the cache)
    notes: list[str] = field(default_factory=list)  # where the source came from (a Hub snapshot...)

    @property
    def partial(self) -> bool:
        return any(m.partial for m in self.tree.modules) or any(d.severity != "info" for d in self.diagnostics)

    def to_cache(self) -> dict:
        return {
            "root": self.tree.root,
            "meta": self.tree.meta,
            "modules": self.tree.to_rows(),
            "diagnostics": [
                {"code": d.code, "message": d.message, "module": d.module,
                 "span": [d.span.path, d.span.line, d.span.column] if d.span else None}
                for d in self.diagnostics
            ],
        }

    @classmethod
    def from_cache(cls, data: dict) -> "Analysis":
        tree = from_rows(data["modules"], data["root"], data["meta"])
        diags = [
            Diagnostic(d["code"], d["message"], SourceSpan(*d["span"]) if d["span"] else None, d["module"])
            for d in data["diagnostics"]
        ]
        return cls(tree, diags, cached=True)


def analyze(
    src,
    *,
    root: str | None = None,
    config: str | None = None,
    overrides: tuple[str, ...] | list[str] = (),
    search_paths: tuple[str, ...] | list[str] = (),
    attn_implementation: str | None = None,
    stages: str | None = None,
    use_cache: bool = False,
    site_packages: bool = True,
    prefetch: bool = False,
    revision: str | None = None,
    download: bool = False,
    env: dict | None = None,
) -> Analysis:
    """Statically rebuild the module tree of the model in folder ``src``, or of the Hub id
    ``ORG/NAME`` at ``revision`` (default main) read from the Hugging Face cache (``download``:
    its code files fetched first; analyzer/source/hub.py). An existing folder wins.

    ``root`` is ``FILE_STEM:NAME`` (a class or a zero-argument factory); by default the root comes
    from config.json's auto_map. ``config`` defaults to ``src/config.json``. Imported packages are
    read from ``search_paths``, then (unless ``site_packages`` is false) this interpreter's path.
    ``prefetch`` (with ``use_cache``): index the folder's files in a forked child while LibCST is
    imported (analyzer/prefetch.py; the CLI's choice). Never imports the analyzed code. Raises ``AnalyzerError`` for fatal input problems (exit 2 in the CLI).
    """
    source = inputs.resolve_source(src, revision, download)
    src_dir = source.path
    if attn_implementation is not None and attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise AnalyzerError(Diagnostic("E003", f"--attn-implementation must be one of {', '.join(ATTN_IMPLEMENTATIONS)}"))
    config_path = Path(config) if config else (src_dir / "config.json")
    if config is None and not config_path.is_file() and not config_path.is_symlink() and not config_path.exists():
        config_path = None  # no config.json at all (a symlink or special file is checked by load_config)
    config_dict, config_shown = inputs.load_config(config_path, overrides)
    spec = inputs.parse_root(root) if root else inputs.root_from_config(config_dict, config_shown, src)
    code = inputs.code_snapshot(spec, download)  # auto_map into another Hub repo: its code is read there
    notes = [*source.notes] + ([f"{spec.origin} points to {code.repo_id}: {code.note()}"] if code else [])
    hub_meta = {"hub": source.hub.meta()} if source.hub else {}
    if code:
        hub_meta["code_repo"] = code.meta()
        src_dir = inputs.source_dir(code.path)
    result_cache.use_parsed_files(use_cache)

    key = None
    if use_cache:
        rules_files = sorted(RULES_DIR.glob("*.yaml")) + ([Path(stages)] if stages else [])
        options = {"env": dict(sorted((env or {}).items())), "root": str(spec), "attn": attn_implementation, "search": [str(p) for p in search_paths],
                   "src": str(src_dir), "site": site_packages, "config": Path(config_shown).name if config_shown else None,
                   **hub_meta}
        key = result_cache.make_key(src_dir=src_dir, config=config_dict, options=options, rules_files=rules_files)
        hit = result_cache.load(key)
        if hit is not None:
            try:
                cached = Analysis.from_cache(hit)
                cached.notes = notes
                return cached
            except (KeyError, TypeError, ValueError, IndexError):
                pass  # an entry of the wrong shape is rebuilt

    child = None
    if use_cache and prefetch:
        from analyzer import prefetch as prefetching

        child = prefetching.start(src_dir, search_paths, site_packages)  # indexes while LibCST is imported
    try:
        from analyzer.pipeline import run

        stage_rules = load_stages(stages) if stages else default_stages()
        tree, diagnostics, files, root_obj = run(src_dir, config_dict, config_shown, spec, stage_rules, search_paths,
                                                 attn_implementation, site_packages, facts_cache=use_cache, env=env)
    finally:
        if child is not None:
            prefetching.finish(child)
    tree.meta.update(hub_meta)
    analysis = Analysis(tree, diagnostics, root_obj=root_obj, notes=notes)
    if key is not None:
        result_cache.store(key, files, analysis.to_cache())
    return analysis


def analyze_with_attrs(src, **kwargs):
    """``analyze(src, **kwargs)`` plus the AttrSource of its modules: (Analysis, AttrSource).
    Never answered from the result cache: a cached tree carries no evaluated objects."""
    from analyzer.costs.module_attrs import static_attrs

    result = analyze(src, **{**kwargs, "use_cache": False})
    return result, (static_attrs(result.root_obj) if result.root_obj is not None else None)

"""The static pipeline: sources (index, lazy LibCST) -> evaluator (build the root object) ->
build (named_modules walk) -> tagging (stages, leaves). Never imports the analyzed code, nor torch.
Inputs are validated, and results cached, by ``analyzer.api``.
"""
from __future__ import annotations

import gc
import sys
from pathlib import Path

from analyzer.source import inputs
from analyzer.tree.build import build_tree
from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.evaluate.core import EvalRaise
from analyzer.evaluate.evaluator import Evaluator
from analyzer.evaluate.externals import load_externals
from analyzer.rules import default_leaves
from analyzer.source.index import SourceIndex
from analyzer.source.parse import resolve_span
from analyzer.evaluate.stack import run_deep
from analyzer.tree.tagging import tag
from analyzer.evaluate.torch_rules import load_torch_rules
from analyzer.evaluate.values import BuiltinClass, ClassValue, FunctionValue, Instance, ModuleObj, Unknown

def run(src_dir: Path, config_dict: dict, config_shown, spec, stage_rules, search_paths, attn_implementation,
        site_packages: bool = True, facts_cache: bool = False, env: dict | None = None):
    """Evaluate the root of ``src_dir``: (tree, diagnostics, files read, evaluated root object).
    ``facts_cache``: use the per-file facts cache (analyzer/cache.py)."""
    index = SourceIndex(src_dir, [Path(p) for p in search_paths], site_packages, facts_cache)
    pending: list[tuple[Diagnostic, object]] = []
    ev = Evaluator(index, load_torch_rules(), load_externals(),
                   lambda d, obj: pending.append((Diagnostic(d.code, d.message, resolve_span(d.span)), obj)),
                   attn_implementation, env)

    root_file = index.find(index.local_module_name(spec.module))
    if root_file is None or not root_file.local:
        raise AnalyzerError(Diagnostic("E004", f"root module '{spec.module}' ({spec.origin}) is not a file in {src_dir}"))
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 20000))
    gc_was_enabled = gc.isenabled()
    gc.disable()  # the evaluation allocates many long-lived objects and no cycles worth collecting
    try:
        root_obj = run_deep(_build_root, ev, root_file, spec, config_dict, config_shown)
        tree, diagnostics = run_deep(build_tree, root_obj, str(spec), pending)  # spans may recurse in LibCST
    finally:
        sys.setrecursionlimit(old_limit)
        if gc_was_enabled:
            gc.enable()
    tag(tree, stage_rules, default_leaves())
    tree.meta = {
        "mode": "static",
        "root": str(spec),
        "root_from": spec.origin,
        "config": Path(config_shown).name if config_shown else None,
        "attn_implementation": ev.chosen_attn,
        "packages_read": index.packages_read(),
        "fallbacks": sorted(ev.used_fallbacks),
        "partial": any(m.partial for m in tree.modules),
    }
    return tree, diagnostics, index.files_read(), root_obj


def _root_value(ev: Evaluator, file, spec):
    facts = file.facts()
    if spec.name not in facts.bindings:
        raise AnalyzerError(Diagnostic("E004", f"'{spec.name}' is not defined in {file.display} ({spec.origin})",
                                       SourceSpan(file.display)))
    try:
        value = ev.global_get(file, spec.name, None)
    except EvalRaise as e:
        raise AnalyzerError(Diagnostic("E004", f"cannot resolve root '{spec}': {e.message}", resolve_span(e.span))) from None
    if not isinstance(value, (ClassValue, FunctionValue)):
        raise AnalyzerError(Diagnostic("E004", f"root '{spec}' is not a class or function defined in source",
                                       SourceSpan(file.display)))
    return value


def _build_root(ev: Evaluator, file, spec, config_dict: dict, config_shown) -> ModuleObj:
    value = _root_value(ev, file, spec)
    binding = file.facts().bindings[spec.name][-1]
    span = SourceSpan(file.display, binding.start, 0)
    if isinstance(value, FunctionValue):
        params = _guarded(ev, lambda: value.node.params, span)  # parses the factory's definition
        required = [p for p in params.params if p.default is None]
        if required:
            raise AnalyzerError(Diagnostic("E004", f"factory '{spec}' needs arguments ({', '.join(p.name.value for p in required)}); "
                                           "only zero-argument factories can be roots", span))
        result = _guarded(ev, lambda: ev.call(value, [], {}, span), span)
    else:
        args = _guarded(ev, lambda: _constructor_args(ev, value, file, config_dict, config_shown, span), span)
        result = _guarded(ev, lambda: ev.instantiate(value, args, {}, span), span)
    if not isinstance(result, ModuleObj):
        reason = result.reason if isinstance(result, Unknown) else type(result).__name__
        raise AnalyzerError(Diagnostic("E004", f"root '{spec}' did not produce an nn.Module ({reason})", span))
    return result


def _guarded(ev, thunk, span):
    try:
        return thunk()
    except EvalRaise as e:
        raise AnalyzerError(Diagnostic("E004", f"building the root failed: {e.code} {e.message}", resolve_span(e.span) or span)) from None


def _constructor_args(ev: Evaluator, cls: ClassValue, file, config_dict: dict, config_shown, span) -> list:
    """The root class gets its config object: through ``config_class`` for a transformers model,
    an attribute-access dict for a plain module taking a cfg, or nothing."""
    _, config_cls = ev.lookup_mro(cls, "config_class")
    if not isinstance(config_cls, (ClassValue, BuiltinClass)):
        auto = inputs.config_auto_class(config_dict)
        if auto is not None:
            cfile = ev.index.find(ev.index.local_module_name(auto.module))
            if cfile is not None:
                config_cls = ev.global_get(cfile, auto.name, None, missing_ok=True)
    if isinstance(config_cls, (ClassValue, BuiltinClass)):
        cfg = _guarded(ev, lambda: ev.instantiate(config_cls, [], dict(config_dict), span), span)
        return [cfg]
    _, init = ev.lookup_mro(cls, "__init__")
    if isinstance(init, FunctionValue):
        params = list(init.node.params.posonly_params) + list(init.node.params.params)
        required = [p for p in params[1:] if p.default is None]
        if not required:
            return []
        if len(required) > 1:
            raise AnalyzerError(Diagnostic("E004", f"root class {cls.name} needs {len(required)} arguments; "
                                           "use a zero-argument factory as --root", span))
    attrdict = ev.externals.modeled_class("easydict.EasyDict")
    cfg = Instance(attrdict, storage={})
    from analyzer.evaluate.configs import _to_attrdict

    cfg.storage.update({k: _to_attrdict(attrdict, v) for k, v in config_dict.items()})
    return [cfg]

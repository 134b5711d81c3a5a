"""rules/externals.yaml: which packages are modeled rather than read, the classes modeled in
code (torch.nn.Module, PreTrainedModel, PretrainedConfig, EasyDict...), and YAML fallbacks for
packages whose source is not installed."""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.evaluate.values import BuiltinClass
from analyzer.rules import RULES_DIR, load_yaml

KINDS = {"fallback_module", "tensor", "module_base", "object", "dict", "attrdict", "hf_model", "hf_config", "exception", "plain"}


@dataclass
class Externals:
    modeled_packages: tuple[str, ...]
    classes: dict[str, BuiltinClass] = field(default_factory=dict)
    fallbacks: dict[str, dict] = field(default_factory=dict)
    environment_probes: tuple[str, ...] = ()
    module_dirs: dict[str, tuple[str, ...]] = field(default_factory=dict)  # what dir() of a modeled module gives
    torch_version: str = "2.13.0"  # what torch.__version__ reads as (rules/externals.yaml torch_version)
    _probe_cache: dict = field(default_factory=dict)

    def is_environment_probe(self, qualname: str) -> bool:
        hit = self._probe_cache.get(qualname)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(qualname, p) for p in self.environment_probes)
            self._probe_cache[qualname] = hit
        return hit

    def is_modeled_module(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.modeled_packages)

    def modeled_class(self, qualname: str) -> BuiltinClass | None:
        return self.classes.get(qualname)

    def fallback(self, qualname: str) -> dict | None:
        return self.fallbacks.get(qualname)


def load_externals(path: Path | None = None) -> Externals:
    path = Path(path) if path else RULES_DIR / "externals.yaml"
    data = load_yaml(path)

    def bad(msg):
        return AnalyzerError(Diagnostic("E005", msg, SourceSpan(str(path))))

    if not isinstance(data, dict):
        raise bad("expected a mapping")
    pkgs = data.get("modeled_packages", [])
    if not isinstance(pkgs, list) or not all(isinstance(p, str) for p in pkgs):
        raise bad("'modeled_packages' must be a list of package names")
    probes = data.get("environment_probes", [])
    if not isinstance(probes, list) or not all(isinstance(p, str) for p in probes):
        raise bad("'environment_probes' must be a list of qualified-name patterns")
    tv = data.get("torch_version", "2.13.0")
    if not isinstance(tv, str):
        raise bad("'torch_version' must be a string")
    ext = Externals(tuple(pkgs), environment_probes=tuple(probes), torch_version=tv)
    for qual, names in (data.get("module_dirs") or {}).items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise bad(f"module_dirs.{qual}: expected a list of names")
        ext.module_dirs[qual] = tuple(names)
    for qual, spec in (data.get("classes") or {}).items():
        if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
            raise bad(f"classes.{qual}: 'kind' must be one of {sorted(KINDS)}")
        name = qual.rsplit(".", 1)[-1]
        ext.classes[qual] = BuiltinClass(name, qual, spec["kind"], options=dict(spec))
    for qual, spec in (data.get("fallbacks") or {}).items():
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if kind in ("class_map", "config_defaults"):
            if not isinstance(spec.get("entries"), dict):
                raise bad(f"fallbacks.{qual}: a {kind} needs an 'entries' mapping")
        elif kind == "module":
            if "same_as" in spec:
                if spec["same_as"] not in (data.get("fallbacks") or {}):
                    raise bad(f"fallbacks.{qual}.same_as: unknown entry {spec['same_as']!r}")
            else:
                if not isinstance(spec.get("signature", []), list):
                    raise bad(f"fallbacks.{qual}.signature: expected a list")
                for section in ("uses", "let", "children", "params", "buffers"):
                    if not isinstance(spec.get(section) or {}, dict):
                        raise bad(f"fallbacks.{qual}.{section}: expected a mapping")
                for name, entry in (spec.get("buffers") or {}).items():
                    if not isinstance(entry, dict) or "tensor" not in entry:
                        raise bad(f"fallbacks.{qual}.buffers.{name}: expected {{tensor: EXPR, persistent: BOOL}}")
        else:
            raise bad(f"fallbacks.{qual}.kind: expected class_map, config_defaults or module")
        ext.fallbacks[qual] = spec
    return ext

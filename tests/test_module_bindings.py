"""Module-level name binding as Python does it (fixtures/constructs_modules): ``from m import *``
with and without ``__all__``, through a chain of star imports, overriding an earlier assignment;
the static tree is compared with the package built by real torch on the meta device."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from analyzer.api import analyze  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PKG = "constructs_modules"


def _truth(module: str, cls: str):
    sys.path.insert(0, str(FIXTURES))
    try:
        mod = importlib.import_module(f"{PKG}.{module}")
        with torch.device("meta"):
            net = getattr(mod, cls)()
    finally:
        sys.path.remove(str(FIXTURES))
        for name in [n for n in sys.modules if n == PKG or n.startswith(PKG + ".")]:
            sys.modules.pop(name)
    return [(n, type(x).__name__, {k: tuple(p.shape) for k, p in x.named_parameters(recurse=False)})
            for n, x in net.named_modules()]


def _static(module: str, cls: str):
    folder = FIXTURES / PKG
    result = analyze(folder, root=f"{module}:{cls}", config=str(folder / "config.json"), use_cache=False)
    return result, [(x.name, x.cls, dict(x.params)) for x in result.tree.modules]


def test_star_imports_bind_what_python_binds():
    result, static = _static("net", "StarNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("net", "StarNet")


def test_a_name_a_star_import_does_not_bind_is_a_name_error():
    with pytest.raises(NameError, match="NotListed"):
        _truth("unlisted", "UnlistedNet")
    result, _ = _static("unlisted", "UnlistedNet")
    assert any(d.code == "W102" and "NotListed" in d.message for d in result.diagnostics), result.diagnostics
    assert result.tree.modules[0].partial


def test_isinstance_against_type_function_partial_and_numbers():
    result, static = _static("kinds", "KindsNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("kinds", "KindsNet")


def test_a_partial_of_a_partial_is_flattened():
    result, static = _static("kinds", "PartialNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("kinds", "PartialNet")


def test_typing_sequence_isinstance_annotations_and_cast():
    result, static = _static("annotated", "TypingNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("annotated", "TypingNet")


def test_collections_abc_checks_of_classes_and_functions():
    result, static = _static("kinds", "AbcNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("kinds", "AbcNet")


def test_functools_reduce():
    result, static = _static("annotated", "ReduceNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("annotated", "ReduceNet")


def test_torch_unique_of_known_values():
    result, static = _static("values", "UniqueNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("values", "UniqueNet")


def test_construction_is_neither_scripted_nor_traced():
    result, static = _static("values", "EagerNet")
    assert not [d for d in result.diagnostics if d.code.startswith(("W", "E"))], result.diagnostics
    assert static == _truth("values", "EagerNet")


def test_an_except_handlers_binding_is_the_fallback_path():
    # `except: from .dummy import *` comes first in the file; the else branch's import wins
    result, static = _static("fallback", "FallbackNet")
    assert static == _truth("fallback", "FallbackNet")
    assert [n for n, _, _ in static] == ["", "block", "block.proj"]

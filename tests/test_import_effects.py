"""Import-time effects (analyzer/evaluate/import_effects.py): registries that decorators and top-level
calls fill when Python imports a module, read back by factories. Truth: the fixture run by Python on
the meta device (fixtures/import_registry)."""
from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.source.index import facts_from_json, facts_to_json, index_module

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "import_registry"


def test_index_records_unconditional_effects_in_source_order():
    facts = index_module(
        "import r\n"
        "@r.register\n@staticmethod\ndef f(): pass\n"
        "r.add(1)\n"
        "x = r.make({})\n"
        "if r.flag:\n    r.add(2)\n"
        "@r.tagged('t')\nclass C: pass\n"
        "y = 1\n", "m.py")
    got = [(e.kind, e.name, e.callees) for e in facts.effects]
    assert got == [("decorated", "f", [("staticmethod", False), ("r.register", False)]),
                   ("call", None, [("r.add", False)]),
                   ("assign", "x", [("r.make", False)]),
                   ("decorated", "C", [("r.tagged", True)])]
    again = facts_from_json(facts_to_json(facts))
    assert [(e.kind, e.start, e.end, e.name, e.callees) for e in again.effects] == \
           [(e.kind, e.start, e.end, e.name, e.callees) for e in facts.effects]


def test_cached_facts_without_effects_are_rejected():
    data = facts_to_json(index_module("x = 1\n", "m.py"))
    del data["effects"]
    with pytest.raises(KeyError):
        facts_from_json(data)


@pytest.mark.parametrize("root", ["tiny", "wide", "tagged", "rebound"])
def test_registry_filled_at_import_equals_python(root):
    pytest.importorskip("torch")
    from analyzer.api import analyze
    from analyzer.tree.runtime import dump_runtime
    from test_static_vs_runtime import tree_differences

    runtime = dump_runtime(FIXTURE, root=f"models:{root}")
    analysis = analyze(FIXTURE, root=f"models:{root}")
    assert tree_differences(analysis.tree, runtime) == []
    assert not [d for d in analysis.diagnostics if d.code.startswith("W")], analysis.diagnostics


def test_unloaded_registry_read_is_diagnosed_not_defaulted():
    """Python builds ``orphan`` with Net's defaults because no imported module registered it; a
    registry also holds what modules the analysis never loaded registered, so the analysis must not
    answer "not registered" silently."""
    from analyzer.api import analyze

    analysis = analyze(FIXTURE, root="models:orphan")
    msgs = [d for d in analysis.diagnostics if "'orphan' is not in a registry filled at import time" in d.message]
    assert msgs and msgs[0].code.startswith("W") and msgs[0].span.path.endswith("registry.py"), analysis.diagnostics
    assert analysis.partial

"""The family registry and rules/families.yaml: loud rejections, closed forms, the class coverage,
and SymPy kept off the `tree` path."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

sp = pytest.importorskip("sympy")

from conftest import REPO, SHARED  # noqa: E402

from analyzer.diagnostics import AnalyzerError  # noqa: E402
from analyzer.costs.families import load_family_rules  # noqa: E402
from analyzer.costs.formulas import REGISTRY, FamilyError, family, get, inclusive, registry  # noqa: E402
from analyzer.costs.formulas.base import Cost, Dims  # noqa: E402


def test_duplicates_and_bad_names_are_rejected():
    with pytest.raises(FamilyError, match="duplicate"):
        family("linear", kind="leaf", title="again", math="y")(lambda d, w: Cost())
    with pytest.raises(FamilyError, match="must match"):
        family("Bad-Name", kind="leaf", title="t", math="y")
    with pytest.raises(FamilyError, match="kind"):
        family("new_family", kind="gadget", title="t", math="y")
    with pytest.raises(FamilyError, match="no child roles"):
        family("new_family", kind="leaf", title="t", math="y", roles=("x",))
    with pytest.raises(FamilyError, match="unknown family 'nope'"):
        get("nope")
    assert "new_family" not in REGISTRY


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_family_is_documented_and_generic_forms_evaluate(name):
    fam = REGISTRY[name]
    assert fam.title and fam.math and fam.kind in registry.KINDS
    if fam.generic:
        cost = inclusive(name, registry.symbolic_dims(fam), registry.symbolic_work(fam))
        two = {s: 2 for f in Cost.FIELDS for s in getattr(cost, f).free_symbols}
        for f in Cost.FIELDS:
            assert getattr(cost, f).subs(two) >= 0, (name, f)


@pytest.mark.parametrize("name, dims, work, flops, params", [
    ("linear", {"d_in": 4, "d_out": 3, "bias": 1}, {"N": 5}, 2 * 5 * 4 * 3, 15),
    ("conv2d", {"C_in": 2, "C_out": 3, "k_h": 3, "k_w": 1, "groups": 1, "bias": 0},
     {"B": 2, "H": 5, "W": 5, "H_o": 4, "W_o": 3}, 2 * 2 * 3 * 2 * 3 * 12, 18),
    ("swiglu_mlp", {"d": 8, "f": 16, "bias": 0}, {"N": 3}, 6 * 3 * 8 * 16, 3 * 8 * 16),
    ("moe", {"d": 8, "E": 4, "k": 2, "f_e": 4, "f_s": 8, "shared": 1, "bias": 0}, {"N": 10},
     2 * 10 * 8 * 4 + 6 * 10 * 2 * 8 * 4 + 6 * 10 * 8 * 8, 4 * 8 + 4 * 3 * 8 * 4 + 3 * 8 * 8),
    ("decoder_attention", {"d": 16, "d_q": 16, "d_kv": 8, "d_h": 4, "q_bias": 0, "k_bias": 0, "v_bias": 0,
                           "o_bias": 0, "fused": 0, "causal": 1}, {"B": 1, "S": 3, "T": 5},
     2 * 3 * 16 * (16 + 8 + 8 + 16) + 4 * (3 * 5 - 3) * 16 + 2 * 2 * 3, 16 * 16 * 2 + 2 * 16 * 8),
])
def test_closed_forms(name, dims, work, flops, params):
    cost = inclusive(name, Dims.of(name, {k: sp.Integer(v) for k, v in dims.items()}),
                     {k: sp.Integer(v) for k, v in work.items()})
    assert (cost.flops, cost.params) == (flops, params)


def test_families_yaml_names_registered_families_only(tmp_path):
    rules = load_family_rules(known_families=set(REGISTRY))
    assert all(m.family in REGISTRY for ms in rules.classes.values() for m in ms)
    bad = tmp_path / "bad.yaml"
    for text, key in [("classes: {Foo: no_such_family}", "classes.Foo"),
                      ("families: {linear: {dims: {d_in: 'weight[1] +'}}}", "families.linear.dims.d_in"),
                      ("families: {linear: {dims: {d_in: 'open(weight)'}}}", "families.linear.dims.d_in"),
                      ("classes: {Foo: {family: linear, colour: red}}", "classes.Foo")]:
        bad.write_text(text)
        with pytest.raises(AnalyzerError) as info:
            load_family_rules([bad], known_families=set(REGISTRY))
        assert info.value.diagnostic.code == "E005" and info.value.diagnostic.message.startswith(key)


def test_every_deepseek_ocr_class_has_a_family():
    truth = SHARED / "deepseek-ocr.runtime-tree.json"
    if not truth.is_file():
        pytest.skip("no ground-truth tree in ../shared/data")
    data = json.loads(truth.read_text())
    rules = load_family_rules(known_families=set(REGISTRY))
    classes = {(m["class"], m["class_qualname"]) for m in data["modules"]}
    assert len({c for c, _ in classes}) == 30
    missing = [c for c in classes if not rules.candidates(c[1], c[0])]
    assert not missing


def test_tree_does_not_import_sympy():
    code = ("import sys; from analyzer.cli import main as cli; import io, contextlib\n"
            "with contextlib.redirect_stdout(io.StringIO()): cli.main(['tree', 'fixtures/sample_vlm'])\n"
            "from analyzer.cli import costs as cli_costs\n"
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

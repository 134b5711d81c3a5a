"""packaging.version on plain strings, and torch.__version__: compared with the real packaging
and with the fixture built by real torch on the meta device."""
from pathlib import Path

import pytest
from packaging import version as real

from analyzer.api import analyze
from analyzer.evaluate import version_model
from analyzer.evaluate.values import Unknown
from analyzer.tree.runtime import dump_runtime
from conftest import differences

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "torch_version"
STRINGS = ["2.13.0", "1.12", "1.12.0", "1.12.1", "2.0", "2", "2.0.0+cpu", "2.0.0+cu121", "2.0.0",
           "2.1.0a1", "2.1.0b2", "2.1.0rc1", "2.1.0.dev20240101", "2.1.0rc1.dev3", "2.1.0", "0.9.10",
           "10.0", "1.12.0+cpu.1", "1.12.0+5"]
OPS = ["<", "<=", "==", "!=", ">", ">="]


@pytest.mark.parametrize("a", STRINGS)
def test_compare_and_attributes_match_packaging(a):
    va, ra = version_model.parse(a), real.parse(a)
    for b in STRINGS:
        vb, rb = version_model.parse(b), real.parse(b)
        for op in OPS:
            expect = eval(f"ra {op} rb")
            assert version_model.compare(op, va, vb) == expect, (a, op, b)
    for name in ("base_version", "major", "minor", "micro", "release", "public", "local",
                 "is_prerelease", "is_devrelease"):
        assert version_model.attribute(va, name, None) == getattr(ra, name), (a, name)
    assert str(va) == str(ra)


@pytest.mark.parametrize("text", ["1!2.0", "2.0.post1", "v-weird", "2.0-1", "1.0.0.dev1a"])
def test_outside_the_subset_is_unknown(text):
    assert isinstance(version_model.parse(text), Unknown)


def test_torch_version_branch_equals_meta_build():
    static = analyze(str(FIX), root="model:Gate", site_packages=False)
    runtime = dump_runtime(str(FIX), root="model:Gate")
    assert differences(static.tree, runtime) == []
    codes = [d.code for d in static.diagnostics]
    assert codes.count("I204") == 1 and "W105" not in codes and not static.partial


def test_unparseable_version_stays_partial():
    static = analyze(str(FIX), root="model:Odd", site_packages=False)
    assert static.partial
    assert any(d.code in ("W105", "W104") and "PEP 440" in d.message for d in static.diagnostics)


def test_torch_version_compares_as_a_version():
    static = analyze(str(FIX), root="model:Direct", site_packages=False)
    runtime = dump_runtime(str(FIX), root="model:Direct")
    assert differences(static.tree, runtime) == [] and not static.partial

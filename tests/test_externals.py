"""Classes from other packages: read from installed source (and said so), or from YAML fallbacks."""
from pathlib import Path

import transformers

from analyzer.api import analyze

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "sample_vlm"


def test_installed_transformers_source_is_read_and_named():
    result = analyze(SAMPLE)
    assert result.tree.meta["packages_read"] == {"transformers": transformers.__version__}
    assert result.tree.meta["fallbacks"] == []
    classes = {m.class_qualname for m in result.tree.modules}
    assert "transformers.models.llama.modeling_llama.LlamaAttention" in classes


def test_without_site_packages_fallbacks_are_used_and_reported():
    result = analyze(SAMPLE, site_packages=False)
    assert result.tree.meta["packages_read"] == {}
    assert "transformers.activations.ACT2FN" in result.tree.meta["fallbacks"]
    infos = [d for d in result.diagnostics if d.code == "I201"]
    assert any("ACT2FN" in d.message for d in infos)
    assert any("PretrainedConfig defaults" in d.message for d in infos)
    # ACT2FN["silu"] still gives the SiLU child from the fallback mapping
    assert any(m.cls == "SiLU" and m.name.endswith("act_fn") for m in result.tree.modules)


def test_module_fallbacks_rebuild_the_same_tree_without_transformers_source():
    from conftest import rows

    installed = analyze(SAMPLE)
    fallback = analyze(SAMPLE, site_packages=False)
    assert not [d for d in fallback.diagnostics if d.severity != "info"]
    assert rows(fallback.tree) == rows(installed.tree)
    assert {"transformers.models.llama.modeling_llama.LlamaAttention",
            "transformers.models.llama.modeling_llama.LlamaRotaryEmbedding"} <= set(fallback.tree.meta["fallbacks"])
    flash = analyze(SAMPLE, site_packages=False, attn_implementation="flash_attention_2")
    assert "LlamaFlashAttention2" in {m.cls for m in flash.tree.modules}


def test_bad_fallback_rule_is_reported(tmp_path):
    import pytest

    from analyzer.diagnostics import AnalyzerError
    from analyzer.evaluate.externals import load_externals

    bad = tmp_path / "externals.yaml"
    bad.write_text("modeled_packages: []\nfallbacks:\n  a.B: {kind: module, buffers: {x: {persistent: false}}}\n")
    with pytest.raises(AnalyzerError) as err:
        load_externals(bad)
    assert err.value.diagnostic.code == "E005" and "fallbacks.a.B.buffers.x" in err.value.diagnostic.message


def test_module_dirs_are_what_dir_gives_for_the_installed_torch():
    import pytest

    torch = pytest.importorskip("torch")
    import importlib

    from analyzer.evaluate.externals import load_externals

    listed = load_externals().module_dirs
    assert listed, "rules/externals.yaml lists no module_dirs"
    if torch.__version__.split("+")[0] != "2.13.0":
        pytest.skip("module_dirs mirror torch 2.13.0")
    for qual, names in listed.items():
        assert list(names) == dir(importlib.import_module(qual)), qual

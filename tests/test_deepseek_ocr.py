"""Acceptance on the real DeepSeek-OCR source. Its files are third-party and never committed:
set DEEPSEEK_OCR_SRC to a folder holding them (modeling_deepseekocr.py, deepencoder.py,
modeling_deepseekv2.py, configuration_deepseek_v2.py, conversation.py, config.json). The truth is
../shared/data/deepseek-ocr.runtime-tree.json, made with transformers 4.46.3 on the meta device."""
import json
import os
from pathlib import Path

import pytest

from analyzer.api import analyze
from conftest import SHARED, rows
from analyzer.tree.model import from_json

SRC = os.environ.get("DEEPSEEK_OCR_SRC")
pytestmark = pytest.mark.skipif(
    not SRC or not (SHARED / "deepseek-ocr.runtime-tree.json").is_file(),
    reason="set DEEPSEEK_OCR_SRC to the upstream DeepSeek-OCR files (never committed) to run",
)


@pytest.fixture(scope="module")
def truth():
    return from_json(json.loads((SHARED / "deepseek-ocr.runtime-tree.json").read_text()))


@pytest.fixture(scope="module")
def eager():
    return analyze(Path(SRC))


def test_tree_equals_runtime_truth(eager, truth):
    assert not eager.partial, [d.format() for d in eager.diagnostics]
    assert rows(eager.tree) == rows(truth)
    assert eager.tree.meta["attn_implementation"] == "eager"


def test_totals_from_the_facts_document(eager):
    totals = eager.tree.totals()
    assert totals["modules"] == 4083 and totals["param_tensors"] == 2710 and totals["distinct_classes"] == 30
    assert totals["params"] == 3_336_106_240
    assert totals["params_by_stage"] == {
        "sam": 95_569_152, "clip": 303_177_728, "projector": 2_622_720,
        "prefill": 165_478_400 + 2_603_776_000 + 1_280, "decode": 165_478_400, "other": 2 * 1_280,
    }


def test_seed_stages_match(eager):
    seed = json.loads((SHARED / "deepseek-ocr.module-tree.seed-format.json").read_text())
    assert [(m.name, m.cls, m.stage) for m in eager.tree.modules] == [(s["name"], s["class"], s["stage"]) for s in seed]


def test_flash_attention_changes_only_the_twelve_self_attn_classes(eager):
    flash = analyze(Path(SRC), attn_implementation="flash_attention_2")
    assert not flash.partial
    changed = [(a.name, b.cls) for a, b in zip(eager.tree.modules, flash.tree.modules) if rows_one(a) != rows_one(b)]
    assert changed == [(f"model.layers.{i}.self_attn", "LlamaFlashAttention2") for i in range(12)]


def rows_one(m):
    return (m.name, m.cls, m.class_qualname, dict(m.params), {k: (b.shape, b.dtype, b.persistent) for k, b in m.buffers.items()})


def test_runtime_dump_reproduces_the_truth_and_check_passes(truth, tmp_path, capsys):
    from analyzer.cli.main import main
    from analyzer.tree.runtime import dump_runtime

    dumped = dump_runtime(Path(SRC), stub_modules=["torchvision"])
    assert rows(dumped) == rows(truth)
    out = tmp_path / "runtime.json"
    assert main(["dump-runtime", SRC, "--stub-module", "torchvision", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["check", SRC, "--against", str(out)]) == 0
    assert capsys.readouterr().out.strip() == "4083 modules compared, 0 differences"
    assert main(["diff", SRC, str(SHARED / "deepseek-ocr.module-tree.seed-format.json")]) == 0


def test_yaml_fallbacks_give_the_same_tree_without_installed_transformers(truth):
    result = analyze(Path(SRC), site_packages=False)
    assert not [d for d in result.diagnostics if d.severity != "info"]
    assert rows(result.tree) == rows(truth)

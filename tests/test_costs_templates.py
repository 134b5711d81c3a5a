"""Workload templates (issue 11): the costs command picks the most specific template that fits the
tree, exits 2 naming what it looked for when none does (and prints no other model's prose), keeps
--stages as an override, and formulations names every class of the tree."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("sympy")

from costs_helpers import small_config  # noqa: E402
from test_costs_workload import run_cli  # noqa: E402

NO_FIT = '''
import torch.nn as nn


class Odd(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Linear(8, 2)
'''


def _llama(tmp_path):
    import inspect
    from pathlib import Path

    from transformers.models.llama import modeling_llama

    cfg = tmp_path / "config.json"
    cfg.write_text(small_config("llama").to_json_string())
    return [str(Path(inspect.getsourcefile(modeling_llama)).parent), "--root", "modeling_llama:LlamaForCausalLM",
            "--config", str(cfg)]


def test_no_template_fits_exit_2_and_no_foreign_prose(tmp_path, capsys):
    (tmp_path / "odd.py").write_text(NO_FIT)
    (tmp_path / "config.json").write_text("{}")
    code, out, err = run_cli(["costs", str(tmp_path), "--root", "odd:Odd"], capsys)
    assert code == 2
    assert "no workload template fits" in err and "causal_lm.yaml: root family causal_lm" in err
    assert "docs/workloads.md" in err and "--workload" in err
    assert "DeepSeek" not in out + err and "570M" not in out + err and "vision tokens" not in out


def test_llama_picks_the_causal_lm_template(tmp_path, capsys):
    code, out, err = run_cli(["costs", *_llama(tmp_path), "--text-tokens", "7", "--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["workload"]["model"] == "causal_lm" and doc["tokens"] == {"sequence_length": 7}
    assert list(doc["prefill"]) == ["embed", "decoder", "head", "total"]
    assert {g["family"] for g in doc["inferred"]} >= {"causal_lm", "decoder_stack", "transformer_block", "token_mlp"}
    code, text, _ = run_cli(["costs", *_llama(tmp_path), "--text-tokens", "7"], capsys)
    assert "Causal language model (text only)" in text and "DeepSeek" not in text
    assert "families inferred from structure" in text and "model parameters:" in text


def test_stages_file_overrides_role_stages(tmp_path, capsys):
    stages = tmp_path / "stages.yaml"
    stages.write_text("default: rest\nstages:\n  blocks: [model.layers]\n")
    code, out, err = run_cli(["costs", *_llama(tmp_path), "--stages", str(stages), "--json", "-"], capsys)
    assert code == 0, err
    assert set(json.loads(out)["prefill"]) == {"blocks", "rest", "total"}


def test_formulations_names_every_class(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    code, md, err = run_cli(["formulations", *_llama(tmp_path)], capsys)
    assert code == 0, err
    model = AutoModelForCausalLM.from_config(small_config("llama"))
    classes = {type(m).__name__ for m in model.modules()}
    assert classes and all(f"`{c}`" in md or f"({c}" in md for c in classes), classes
    assert "model.layers.[0-1].self_attn" in md


@pytest.mark.skipif(not __import__("costs_helpers").DEEPSEEK, reason="set DEEPSEEK_OCR_SRC to the upstream DeepSeek-OCR folder")
def test_deepseek_ocr_keeps_its_own_template_and_every_class_is_named(capsys):
    from costs_helpers import DEEPSEEK, static_binder

    code, out, err = run_cli(["costs", DEEPSEEK, "--mode", "base", "--json", "-"], capsys)
    assert code == 0, err
    assert json.loads(out)["workload"]["model"] == "deepseek_ocr"
    code, md, err = run_cli(["formulations", DEEPSEEK, "--mode", "base"], capsys)
    assert code == 0, err
    classes = {n.cls for n in static_binder(DEEPSEEK, None, ()).nodes.values()}
    assert len(classes) == 30 and all(f"`{c}`" in md for c in classes)

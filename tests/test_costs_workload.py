"""The workload model (rules/workloads/deepseek_ocr.yaml): token counts per mode against the paper
and against DeepseekOCRModel.forward's concatenations; the costs command (text, JSON, exit codes)."""
from __future__ import annotations

import json

import pytest

sp = pytest.importorskip("sympy")

from costs_helpers import FIXTURES, SAMPLE_FAMILIES, SAMPLE_WORKLOAD  # noqa: E402

from analyzer.cli import main as cli  # noqa: E402
from analyzer.costs import workload
from analyzer.diagnostics import AnalyzerError  # noqa: E402
from analyzer.costs.formulas import REGISTRY  # noqa: E402

MODEL = workload.load_workload_model()
SAMPLE = ["costs", str(FIXTURES / "sample_vlm"), "--families", str(SAMPLE_FAMILIES), "--workload", str(SAMPLE_WORKLOAD)]


def run_cli(argv, capsys):
    """cli.main with the costs commands registered (whether or not cli.py registers them itself)."""
    from analyzer.cli import costs as cli_costs

    original = cli._parser

    def parser():
        p = original()
        sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
        if "costs" not in sub.choices:
            cli_costs.add_parsers(sub)
        return p

    cli._parser = parser
    try:
        code = cli.main(argv)
    finally:
        cli._parser = original
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("mode, kw, vision", [
    ("tiny", {}, 64), ("small", {}, 100), ("base", {}, 256), ("large", {}, 400),
    *[("gundam", {"crops": n}, n * 100 + 256) for n in range(2, 10)],
])
def test_vision_tokens_match_the_paper(mode, kw, vision):
    assert workload.choose(MODEL, mode=mode, **kw).tokens["vision_tokens"] == vision


def forward_layout(q: int, q_c: int, w_c: int, h_c: int) -> int:
    """Replays DeepseekOCRModel.forward's tensor ops (views, image_newline, view_seperator)."""
    torch = pytest.importorskip("torch")
    d = 3
    newline, sep = torch.zeros(d), torch.zeros(d)
    glob = torch.zeros(1, q * q, d).view(q, q, d)
    glob = torch.cat([glob, newline[None, None, :].expand(q, 1, d)], dim=1).view(-1, d)
    if not w_c:
        return torch.cat([glob, sep[None, :]], dim=0).shape[0]
    local = torch.zeros(w_c * h_c, q_c * q_c, d)
    local = local.view(h_c, w_c, q_c, q_c, d).permute(0, 2, 1, 3, 4).reshape(h_c * q_c, w_c * q_c, d)
    local = torch.cat([local, newline[None, None, :].expand(h_c * q_c, 1, d)], dim=1).view(-1, d)
    return torch.cat([local, glob, sep[None, :]], dim=0).shape[0]


@pytest.mark.parametrize("mode, kw", [("tiny", {}), ("small", {}), ("base", {}), ("large", {}),
                                      ("gundam", {"crops": 4}), ("gundam", {"crop_grid": "3x2"}),
                                      ("gundam", {"crop_grid": "1x7"}), ("gundam", {"crops": 9})])
def test_llm_image_tokens_follow_forward(mode, kw):
    w = workload.choose(MODEL, mode=mode, text_tokens=10, **kw)
    w_c, h_c = w.crop_grid or (0, 0)
    assert w.tokens["llm_image_tokens"] == forward_layout(w.tokens["q"], w.tokens["q_c"], w_c, h_c)
    assert w.tokens["sequence_length"] == w.tokens["llm_image_tokens"] + 10
    assert w.values[sp.Symbol("T", integer=True, positive=True)] == w.tokens["sequence_length"] + 1


def test_crop_grids():
    assert [workload.crop_grid_for(n) for n in (2, 4, 5, 6, 9)] == [(1, 2), (2, 2), (1, 5), (2, 3), (3, 3)]
    assert workload.choose(MODEL, mode="gundam", crop_grid="3x2").crop_grid == (3, 2)
    assert workload.choose(MODEL, mode="text", text_tokens=7).tokens["sequence_length"] == 7


@pytest.mark.parametrize("kw, message", [
    ({"mode": "huge"}, "--mode must be one of"),
    ({"mode": "base", "crops": 4}, "takes no crops"),
    ({"mode": "gundam"}, "needs --crops"),
    ({"mode": "gundam", "crops": 12}, "takes 2..9 crops"),
    ({"mode": "gundam", "crop_grid": "2by2"}, "--crop-grid expects WxH"),
    ({"mode": "gundam", "crops": 2, "crop_grid": "1x2"}, "not both"),
    ({"mode": "base", "conventions": {"lm_head_positions": "some"}}, "lm_head_positions must be one of"),
])
def test_bad_choices(kw, message):
    with pytest.raises(AnalyzerError) as info:
        workload.choose(MODEL, **kw)
    assert message in info.value.diagnostic.message and info.value.diagnostic.code == "E003"


def test_bad_workload_file(tmp_path):
    bad = tmp_path / "w.yaml"
    bad.write_text("modes: {base: {R: 1}}\ntokens: {q: 'R +* 2'}\nphases: {}\n")
    with pytest.raises(AnalyzerError) as info:
        workload.load_workload_model(bad)
    assert info.value.diagnostic.code == "E005" and "tokens.q" in info.value.diagnostic.message


@pytest.mark.parametrize("text, key", [
    ("remarks: {nope: x}", "remarks.nope"),
    ("notes: [1, 2]", "notes"),
    ("family_notes: {no_such_family: [x]}", "family_notes.no_such_family"),
    ("references: [{title: t}]", "references[0]"),
])
def test_bad_workload_prose(tmp_path, text, key):
    bad = tmp_path / "w.yaml"
    bad.write_text("modes: {base: {R: 1}}\ntokens: {q: 'R'}\nphases: {}\n" + text + "\n")
    with pytest.raises(AnalyzerError) as info:
        workload.load_workload_model(bad)
    assert info.value.diagnostic.code == "E005" and info.value.diagnostic.message.startswith(key)


def test_default_workload_is_named_by_the_index():
    assert MODEL.path == str(workload.default_workload_path())
    assert MODEL.remarks and MODEL.references and set(MODEL.family_notes) <= set(REGISTRY)


def test_costs_json_shape_and_determinism(capsys, tmp_path):
    code, out, err = run_cli(SAMPLE + ["--json", "-"], capsys)
    assert code == 0, err
    doc = json.loads(out)
    assert set(doc["tokens"]) == {"vision_tokens", "llm_image_tokens", "sequence_length"}
    stages = {"sam", "clip", "projector", "prefill", "decode", "other"}
    for phase in ("prefill", "decode"):
        assert set(doc[phase]) == stages | {"total"}
        for entry in doc[phase].values():
            assert {"params", "flops", "weight_bytes", "activation_bytes"} <= set(entry)
            assert isinstance(entry["flops"], int) and isinstance(entry["flops_expr"], str)
        assert sum(doc[phase][s]["flops"] for s in stages) == doc[phase]["total"]["flops"]
    assert doc["prefill"]["total"]["params"] == 78_208 and doc["decode"]["sam"]["flops"] == 0
    assert doc["complete"] is True and doc["workload"]["conventions"] == {"lm_head_positions": "all"}
    again = run_cli(SAMPLE + ["--json", "-"], capsys)[1]
    assert again == out


def test_costs_text_and_options(capsys):
    code, out, _ = run_cli(SAMPLE + ["--mode", "gundam", "--crop-grid", "2x1", "--lm-head", "last", "--kv-length", "40"],
                           capsys)
    assert code == 0
    assert "mode gundam, crops 2x1" in out and "lm_head_positions = last" in out and "T = 40" in out
    assert "prefill: one pass" in out and "activated parameters per decoded token" in out
    assert "embedding row included; toy sizes)" in out  # the workload file's remark


def test_costs_exit_codes(capsys):
    code, _, err = run_cli(SAMPLE + ["--mode", "base", "--crops", "3"], capsys)
    assert code == 2 and "E003" in err and "takes no crops" in err
    code, out, err = run_cli(["costs", str(FIXTURES / "sample_vlm"), "--workload", str(SAMPLE_WORKLOAD)], capsys)
    assert code == 1 and "INCOMPLETE" in out and "unsupported" in err

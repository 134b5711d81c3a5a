"""module_formulations.md, parsed with markdown-it-py: heading structure, well-formed tables,
every family present, balanced math; byte-identical across runs; the JSON twin."""
from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("sympy")
markdown_it = pytest.importorskip("markdown_it")

from costs_helpers import DEEPSEEK, FIXTURES, SAMPLE_FAMILIES, SAMPLE_WORKLOAD  # noqa: E402
from test_costs_workload import run_cli  # noqa: E402

from analyzer.costs.formulas import REGISTRY  # noqa: E402

SAMPLE = ["formulations", str(FIXTURES / "sample_vlm"), "--families", str(SAMPLE_FAMILIES),
          "--workload", str(SAMPLE_WORKLOAD)]


@pytest.fixture(scope="module")
def sample_doc(tmp_path_factory):
    capsys = _Capture()
    out = tmp_path_factory.mktemp("doc") / "module_formulations.md"
    code, _, err = run_cli(SAMPLE + ["-o", str(out)], capsys)
    assert code == 0, err
    return out.read_text(encoding="utf-8")


class _Capture:  # run_cli wants capsys; the module fixture writes to a file instead
    def readouterr(self):
        return "", ""


def headings(tokens) -> list:
    return [(int(t.tag[1]), tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def check_structure(text: str):
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    heads = headings(tokens)
    assert [level for level, _ in heads].count(1) == 1 and heads[0][0] == 1
    for (a, _), (b, _) in zip(heads, heads[1:]):
        assert b <= a + 1, "a heading level is skipped"
    titles = [h for _, h in heads]
    for section in ("Workload and conventions", "Stage totals", "Families", "Module states", "References"):
        assert section in titles
    # tables: every row has the header's number of cells, and the markdown table count is what was parsed
    rows, tables = [], 0
    for t in tokens:
        if t.type == "table_open":
            tables += 1
            rows = []
        elif t.type == "tr_open":
            rows.append(0)
        elif t.type in ("th_open", "td_open"):
            rows[-1] += 1
        elif t.type == "table_close":
            assert rows and len(set(rows)) == 1, rows
    source_tables = len(re.findall(r"^\|(?:---\|)+$", text, flags=re.M))
    assert tables == source_tables > 10
    # balanced math: $$ blocks and inline $ pairs, line by line
    for line in text.splitlines():
        if line.startswith("$$"):
            assert line.endswith("$$") and len(line) > 4
            continue
        assert line.replace("\\$", "").count("$") % 2 == 0, line
    return titles


def test_sample_document_structure(sample_doc):
    titles = check_structure(sample_doc)
    for name in REGISTRY:
        assert f"`{name}`" in " ".join(titles), f"family {name} has no section"
    for stage in ("sam", "clip", "projector", "prefill", "decode", "other"):
        assert f"Stage `{stage}`" in titles
    assert "`model.layers.[0-3].self_attn.q_proj`" in sample_doc
    assert "Unsupported modules: none." in sample_doc


def test_model_prose_comes_from_the_workload_file(sample_doc):
    """References, notes, per-family notes and remarks are the workload file's, rendered as given;
    the analyzer's generic references follow the model's own."""
    refs = sample_doc[sample_doc.index("## References"):]
    assert refs.index("arXiv:2510.18234. the layout this toy model copies: <https://arxiv.org/abs/2510.18234>") \
        < refs.index("torch.utils.flop_counter")
    assert "- A toy model: the figures exercise the formulas" in sample_doc
    encoder = sample_doc[sample_doc.index("### `windowed_vit_encoder`"):]
    assert encoder.index("one stride-2 downsampler (net_2)") < encoder.index("\n#")  # in its own section
    assert "(the weights one decode step reads; toy sizes)." in sample_doc


def test_sample_document_is_deterministic(sample_doc, tmp_path, capsys):
    out = tmp_path / "again.md"
    assert run_cli(SAMPLE + ["-o", str(out)], capsys)[0] == 0
    assert out.read_bytes() == sample_doc.encode("utf-8")


def test_json_twin(capsys):
    code, out, _ = run_cli(SAMPLE + ["--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and set(doc["families"]) == set(REGISTRY)
    assert doc["families"]["linear"]["generic"]["flops"]["text"] == "2*N*d_in*d_out"
    groups = [g for s in doc["stages"].values() for g in s]
    assert sum(g["count"] for g in groups) == 165  # every module of the sample, once
    moe = next(g for g in doc["stages"]["prefill"] if g["family"] == "moe")
    assert moe["notes"] and moe["per_call"]["flops"]["latex"]


@pytest.mark.skipif(not DEEPSEEK, reason="set DEEPSEEK_OCR_SRC to the upstream DeepSeek-OCR folder")
def test_deepseek_document(tmp_path, capsys):
    out = tmp_path / "module_formulations.md"
    code, _, err = run_cli(["formulations", DEEPSEEK, "-o", str(out)], capsys)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    check_structure(text)
    assert "`model.layers.[1-11].mlp.experts.[0-63]`" in text
    assert "Activated parameters per decoded token: 574,128,640" in text

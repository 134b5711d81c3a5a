"""Issue 14: the HTML report, without a browser. The page is byte-identical across runs and hash
seeds, loads nothing, folds exactly the repeated siblings, escapes every name, and still shows
the tree when the costs cannot be computed (tests/test_report_browser.py opens it for real)."""
from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys

import pytest

from analyzer.cli.main import main
from analyzer.diagnostics import Diagnostic, SourceSpan
from analyzer.render.report import report_html, stage_time
from analyzer.render.report_tree import fold, group_label, index_ranges
from analyzer.tree.model import ModuleNode, ModuleTree
from conftest import REPO
from report_helpers import SAMPLE, SAMPLE_ARGS, synthetic_tree


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """(page text, tree JSON, costs JSON) of the sample model, all made by the CLI."""
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(SAMPLE), *SAMPLE_ARGS, "-o", str(out / "r.html")]) == 0
    assert main(["tree", str(SAMPLE), "--json", str(out / "t.json")]) == 0
    assert main(["costs", str(SAMPLE), *SAMPLE_ARGS, "--json", str(out / "c.json")]) == 0
    return ((out / "r.html").read_text(encoding="utf-8"), json.loads((out / "t.json").read_text()),
            json.loads((out / "c.json").read_text()))


def test_byte_identical_across_runs_and_hash_seeds(sample, tmp_path):
    page, _, _ = sample
    assert main(["report", str(SAMPLE), *SAMPLE_ARGS, "-o", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == page
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "analyzer", "report", str(SAMPLE), *SAMPLE_ARGS, "-o", "-"],
                          capture_output=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout.decode("utf-8") == page
    tree = synthetic_tree()
    assert report_html(tree, [], source="x") == report_html(synthetic_tree(), [], source="x")


def test_loads_nothing_from_anywhere(sample):
    page, _, _ = sample
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    refs = re.findall(r"""\b(src|href|action|srcset|poster|data)\s*=\s*["']?([^"'\s>]*)""", page, re.IGNORECASE)
    loads = [(a, v) for a, v in refs if not (a.lower() == "href" and v.startswith("#")) and a.lower() != "data"]
    assert loads == [], loads
    for bad in ("<link", "<img", "<iframe", "<object", "<embed", "<base", "@import", "url(", "fetch(",
                "XMLHttpRequest", "import(", "sourceMappingURL", "WebSocket", "EventSource"):
        assert bad.lower() not in page.lower(), bad
    # the workload's reference is printed as text, never as a link
    assert "https://arxiv.org/abs/2510.18234" in page and 'href="http' not in page
    assert "<svg" in page and "<style>" in page and "<script>" in page


def test_every_module_has_one_row_in_order_and_the_totals_match(sample):
    page, tree, costs = sample
    names = [html.unescape(n) for n in re.findall(r'<div class="n[^"]*" data-n="([^"]*)"', page)]
    assert names == [m["name"] for m in tree["modules"]]
    stages = dict(re.findall(r'<tr data-stage="([^"]+)" data-params="(\d+)"', page))
    assert {s: int(v) for s, v in stages.items()} == tree["totals"]["params_by_stage"]
    own = {}
    for stage, p in re.findall(r'<div class="n[^"]*" data-n="[^"]*" data-c="[^"]*" data-s="([^"]*)" data-p="(\d*)"', page):
        own[stage] = own.get(stage, 0) + int(p)
    assert own == tree["totals"]["params_by_stage"]
    flops = re.search(r'data-phase="prefill".*?</table>', page, re.S).group(0)
    total = re.search(r'<tr data-stage="total".*?</tr>', flops, re.S).group(0)
    assert f'data-v="{costs["prefill"]["total"]["flops"]}"' in total
    for chart in ("params", "flops-prefill", "flops-decode", "bytes-prefill", "bytes-decode"):
        assert f'data-chart="{chart}"' in page
    assert 'data-chart="time-' not in page  # no timing fields in today's costs document
    assert f'<div class="cv">{tree["totals"]["modules"]:,}</div><div class="ck">modules</div>' in page


def test_folds_exactly_the_identical_index_siblings():
    tree = synthetic_tree(layers=4, experts=5)
    groups = fold(tree).groups
    assert groups[0] == ("layers.1", "layers.2", "layers.3")
    assert groups[1:] == [tuple(f"layers.{i}.mlp.experts.{j}" for j in range(4)) for i in (1, 2, 3)]
    page = report_html(tree, [], source="synthetic")
    rows = re.findall(r'<div class="g" data-n="([^"]+)" data-count="(\d+)"', page)
    assert rows == [("layers.[1-3]", "3")] + [(f"layers.{i}.mlp.experts.[0-3]", "4") for i in (1, 2, 3)]
    assert 'data-groups="4"' in page and "4 folded groups" in page
    assert len(re.findall(r'<div class="n[ "]', page)) == len(tree.modules)  # members keep their rows
    # the identical q and k are not indices: never folded; a changed shape splits a run
    assert not any("attn" in m for g in groups for m in g)
    tree.by_name()["layers.2.attn.q"].params["weight"] = (9, 9)  # layers 1 and 3 are no longer neighbours
    assert fold(tree).groups == groups[1:]


def test_index_ranges_and_labels():
    assert index_ranges(["1", "2", "3", "5", "7", "8"]) == "[1-3,5,7-8]"
    assert index_ranges(["0"]) == "[0]"
    assert group_label("model.layers", ("model.layers.1", "model.layers.2")) == "model.layers.[1-2]"
    assert group_label("", ("0", "1")) == "[0-1]"


def test_names_classes_and_messages_are_escaped():
    evil = '<script>alert("x")</script>'
    nodes = [ModuleNode("", "Net", "m.Net", stage="other"),
             ModuleNode(evil, 'A&B"<blink>', "m.A", {"w&<": (2, 2)}, source='x.py:1"><marquee>', stage='s"<>', partial=True)]
    tree = ModuleTree("m:Net", nodes, meta={"hub": {"id": "org/<x>", "revision": "v<1>", "commit": "a" * 40, "path": "/p"},
                                             "config": "c.json"})
    diag = Diagnostic("W101", f"cannot follow {evil}", SourceSpan("m.py", 3, 4), evil)
    page = report_html(tree, [diag], source=evil, config={"k<": "</pre><script>"}, overrides=[f"a={evil}"])
    body = page.split("<script>")  # the page's own script is the last one: nothing else opens one
    assert len(body) == 2 and "alert" not in body[1]
    assert evil not in page and "<blink>" not in page and "<marquee>" not in page and "</pre><script>" not in page
    assert html.escape(evil) in page and "A&amp;B&quot;&lt;blink&gt;" in page
    assert "org/&lt;x&gt;" in page and "v&lt;1&gt;" in page and "a" * 40 in page  # the Hub id, revision, commit
    assert "PARTIAL" in page and f"W101 cannot follow {html.escape(evil)}" in page


def test_a_hub_id_names_its_revision_and_commit(tmp_path, monkeypatch, capsys):
    from hub_layout import C_OLD, tiny_cache

    monkeypatch.setenv("HF_HUB_CACHE", str(tiny_cache(tmp_path / "hf")))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "r.html"
    assert main(["report", "org/tiny", "--revision", "v1.0", "-o", str(out)]) == 1  # no workload fits it
    page = out.read_text(encoding="utf-8")
    assert f"org/tiny <span class=\"muted\">revision</span> v1.0 <span class=\"muted\">commit</span> " \
           f"<span class=\"mono\">{C_OLD}</span>" in page
    assert "&quot;d&quot;: 4" in page  # the snapshot's config.json, as used
    assert "Costs are missing" in page and "no workload template fits" in page  # no template fits (exit 2 in costs)
    assert "Traceback" not in capsys.readouterr().err


def test_costs_missing_still_shows_the_tree(tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(SAMPLE), *SAMPLE_ARGS, "--mode", "nonsense", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "E003 --mode must be one of" in err and "Traceback" not in err
    page = out.read_text(encoding="utf-8")
    assert 'id="costs-missing"' in page and "Costs are missing" in page and "E003 --mode must be one of" in page
    assert len(re.findall(r'<div class="n[ "]', page)) == 165 and 'data-chart="params"' in page and 'data-chart="flops-' not in page
    # without the sample's families, most modules have no family: the page says which and why
    assert main(["report", str(SAMPLE), "--workload", SAMPLE_ARGS[3], "-o", str(out)]) == 1
    page = out.read_text(encoding="utf-8")
    assert "Costs are incomplete" in page and "no family for class SampleDecoderLayer" in page
    assert 'class="nc"' in page and len(re.findall(r'<div class="n[ "]', page)) == 165
    # incomplete figures are not headlines: no FLOP cards, their charts only inside the closed details
    assert 'data-card="prefill-flops"' not in page and 'data-card="modules"' in page
    head, details = page.split('<details class="incomplete">')
    assert 'data-chart="flops-' not in head and 'data-chart="flops-prefill"' in details


def test_a_partial_module_shows_its_first_diagnostics():
    tree = synthetic_tree(layers=2, experts=2)
    tree.by_name()["embed"].partial = True
    diags = [Diagnostic("W102", f"name 'x{i}' is not defined", SourceSpan("m.py", i, 1), "embed") for i in range(5)]
    page = report_html(tree, diags + [Diagnostic("I201", "a fallback")], source="x")
    row = re.search(r'<div class="n[^"]*" data-n="embed".*?<div class="n', page, re.S).group(0)
    assert "PARTIAL" in row and row.count('<div class="dg"') == 4 and "and 2 more" in row
    assert "m.py:2:1 W102 name &#x27;x2&#x27; is not defined [module &#x27;embed&#x27;]" in row
    table = page.split('id="diagnostics"')[1]
    assert table.count("<tr class=\"sev-") == 6 and "I201" in table and "a fallback" in table


def test_bad_input_is_a_diagnostic_not_a_traceback(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing"), "-o", str(tmp_path / "r.html")]) == 2
    assert main(["report", str(SAMPLE), *SAMPLE_ARGS, "-o", str(tmp_path / "no" / "dir" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "E002" in err and "Traceback" not in err and "internal error" not in err


def test_time_per_stage_only_when_the_costs_document_has_it():
    tree = synthetic_tree(layers=2, experts=2)
    stages = ["embed", "body", "head", "other"]
    entry = lambda **kw: {"params": 1, "flops": 10, "weight_bytes": 2, "activation_bytes": 3,  # noqa: E731
                          "arithmetic_intensity": 2.0, "kv_cache_bytes": 0, **kw}
    doc = {"prefill": {s: entry() for s in stages + ["total"]}, "decode": {s: entry() for s in stages + ["total"]},
           "workload": {}, "tokens": {}, "unsupported": {}, "ignored": {}}
    plain = report_html(tree, [], source="x", costs=doc)
    assert 'data-chart="flops-prefill"' in plain and 'data-chart="time-' not in plain
    doc["hardware"] = {"name": "H<100>"}
    doc["prefill"]["body"]["time_s"] = 2e-3
    doc["prefill"]["body"].update(compute_time_s=2e-3, memory_time_s=1e-3)
    doc["prefill"]["head"]["roofline"] = {"time_s": 5e-4, "bound": "memory"}
    doc["decode"]["body"]["time_s"] = "fast"  # not a number: ignored
    doc["decode"]["head"]["time_s"] = float("nan")
    page = report_html(tree, [], source="x", costs=doc)
    assert 'data-chart="time-prefill"' in page and 'data-chart="time-decode"' not in page
    assert 'data-stage="body" data-value="0.002" data-bound="compute"' in page
    assert 'data-stage="head" data-value="0.0005" data-bound="memory"' in page
    assert "on H&lt;100&gt;" in page and "<th>time</th>" in page
    assert stage_time({"time_s": True}) is None and stage_time({"time_s": -1}) is None and stage_time(None) is None
    assert stage_time({"timing": {"latency_s": 1, "compute_s": 0.2, "memory_s": 1}})["bound"] == "memory"

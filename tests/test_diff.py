"""Tests of analyzer.tree.diff / analyzer.render.diff. Small trees are built in memory; the large
cases use the ground-truth files in ../shared/data when present. Expected values come from the
construction of each mutation, never from the code's output."""
from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path

import pytest

from analyzer.diagnostics import AnalyzerError
from analyzer.tree.diff import KINDS, collapse, diff_trees, load_tree
from analyzer.render.diff import render_text, summary_line
from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RUNTIME = DATA / "deepseek-ocr.runtime-tree.json"
SEED = DATA / "deepseek-ocr.module-tree.seed-format.json"
needs_data = pytest.mark.skipif(not RUNTIME.exists() or not SEED.exists(), reason="ground-truth data absent")


# ---- helpers -------------------------------------------------------------------------------
def node(name, cls="Module", params=None, buffers=None, stage="prefill"):
    return ModuleNode(name=name, cls=cls, class_qualname="", params=params or {}, buffers=buffers or {}, stage=stage)


def model(n_layers=2, out_dim=32, attn="LlamaAttention"):
    """A tiny decoder: 6 + 4 * n_layers modules."""
    nodes = [node("", "Model", stage="other"), node("embed", "Embedding", {"weight": (100, 16)}),
             node("layers", "ModuleList")]
    for i in range(n_layers):
        nodes += [node(f"layers.{i}", "Block"), node(f"layers.{i}.attn", attn),
                  node(f"layers.{i}.mlp", "MLP"),
                  node(f"layers.{i}.mlp.fc", "Linear", {"weight": (out_dim, 16), "bias": (out_dim,)})]
    nodes += [node("norm", "RMSNorm", {"weight": (16,)}),
              node("rotary", "Rotary", buffers={"inv_freq": BufferInfo((8,), "float32", False)}),
              node("lm_head", "Linear", {"weight": (100, 16)}, stage="decode")]
    return ModuleTree(root="", modules=nodes)


def get(tree, name):
    return next(m for m in tree.modules if m.name == name)


def only_kinds(result, **expected):
    """Assert the counts per kind: those given, all others zero."""
    assert result.counts == {k: expected.get(k, 0) for k in KINDS}


def names_of(result, kind):
    return [n for e in result.entries[kind] for n in e.names]


# ---- each kind -----------------------------------------------------------------------------
def test_identical():
    r = diff_trees(model(), model())
    assert r.identical and r.compared == 6 + 4 * 2
    only_kinds(r)
    assert summary_line(r) == "14 modules compared, 0 differences"
    assert render_text(r, "a", "b").rstrip().endswith("14 modules compared, 0 differences")


def test_missing_child():
    right = model()
    right.modules = [m for m in right.modules if m.name != "layers.1.mlp.fc"]
    r = diff_trees(model(), right)
    only_kinds(r, missing_right=1)
    [e] = r.entries["missing_right"]
    assert (e.pattern, e.count, e.detail, e.names) == ("layers.1.mlp.fc", 1, "Linear", ("layers.1.mlp.fc",))
    r2 = diff_trees(right, model())  # the other direction
    only_kinds(r2, missing_left=1)
    assert names_of(r2, "missing_left") == ["layers.1.mlp.fc"]
    assert r.compared == r2.compared == 14


def test_swapped_siblings_reports_order():
    # swap the subtrees layers.0.attn (1 module) and layers.0.mlp (2 modules): moving attn alone explains it
    right = model()
    mods = right.modules
    i = [m.name for m in mods].index("layers.0.attn")
    mods[i:i + 3] = [mods[i + 1], mods[i + 2], mods[i]]
    r = diff_trees(model(), right)
    only_kinds(r, order=1)
    assert names_of(r, "order") == ["layers.0.attn"]


def test_swapped_leaf_siblings_one_reported():
    right = model()
    mods = right.modules
    i, j = [m.name for m in mods].index("norm"), [m.name for m in mods].index("rotary")
    mods[i], mods[j] = mods[j], mods[i]
    r = diff_trees(model(), right)
    only_kinds(r, order=1)
    assert names_of(r, "order")[0] in {"norm", "rotary"}


def test_module_moved_far():
    right = model()
    lm = right.modules.pop()  # lm_head moved to just after the root
    right.modules.insert(1, lm)
    r = diff_trees(model(), right)
    only_kinds(r, order=1)
    assert names_of(r, "order") == ["lm_head"]


def test_changed_literal_dimension_reports_params():
    right = model()
    get(right, "layers.1.mlp.fc").params = {"weight": (33, 16), "bias": (33,)}
    r = diff_trees(model(), right)
    only_kinds(r, params=1)
    [e] = r.entries["params"]
    assert e.names == ("layers.1.mlp.fc",)
    assert e.detail == "weight [32, 16] -> [33, 16]; bias [32] -> [33]"


def test_param_added_and_removed():
    right = model()
    get(right, "norm").params = {"weight": (16,), "bias": (16,)}
    get(right, "embed").params = {}
    r = diff_trees(model(), right)
    only_kinds(r, params=2)
    assert [(e.pattern, e.detail) for e in r.entries["params"]] == [
        ("embed", "weight [100, 16] -> absent"), ("norm", "bias absent -> [16]")]


def test_unknown_shape_is_not_a_difference():
    right = model()
    get(right, "norm").params = {"weight": None}
    only_kinds(diff_trees(model(), right))


def test_same_change_in_every_layer_is_one_group():
    r = diff_trees(model(n_layers=4), model(n_layers=4, out_dim=64))
    only_kinds(r, params=4)
    [e] = r.entries["params"]
    assert (e.pattern, e.count) == ("layers.{0..3}.mlp.fc", 4)
    assert e.detail == "weight [32, 16] -> [64, 16]; bias [32] -> [64]"


def test_renamed_class():
    right = model()
    get(right, "layers.0.mlp.fc").cls = "Conv2d"
    r = diff_trees(model(), right)
    only_kinds(r, **{"class": 1})
    [e] = r.entries["class"]
    assert (e.pattern, e.detail) == ("layers.0.mlp.fc", "Linear -> Conv2d")
    assert summary_line(r) == "14 modules compared, 1 difference: 1 class"


def test_loop_bound_changed():
    r = diff_trees(model(n_layers=4), model(n_layers=2))
    removed = [f"layers.{i}{s}" for i in (2, 3) for s in ("", ".attn", ".mlp", ".mlp.fc")]
    only_kinds(r, missing_right=len(removed))
    assert sorted(names_of(r, "missing_right")) == sorted(removed)
    assert [(e.pattern, e.count, e.detail) for e in r.entries["missing_right"]] == [
        ("layers.{2..3}", 2, "Block"), ("layers.{2..3}.attn", 2, "LlamaAttention"),
        ("layers.{2..3}.mlp", 2, "MLP"), ("layers.{2..3}.mlp.fc", 2, "Linear")]
    assert r.compared == 6 + 4 * 4
    assert summary_line(r) == "22 modules compared, 8 differences: 8 missing"
    text = render_text(r, "static.json", "runtime.json")
    assert "only in static.json (missing from runtime.json): 8 modules" in text
    assert re.search(r"^  layers\.\{2\.\.3\}\.mlp\.fc +\(2\)  Linear$", text, re.M)


def test_stage_and_buffers():
    right = model()
    get(right, "norm").stage = "decode"
    get(right, "rotary").buffers = {"inv_freq": BufferInfo((8,), "torch.float16", True)}
    r = diff_trees(model(), right)
    only_kinds(r, stage=1, buffers=1)
    assert r.entries["stage"][0].detail == "prefill -> decode"
    assert r.entries["buffers"][0].detail == "inv_freq float32 -> float16, non-persistent -> persistent"


def test_buffer_dtype_unknown_and_torch_prefix_not_a_difference():
    right = model()
    get(right, "rotary").buffers = {"inv_freq": BufferInfo((8,), None, False)}
    only_kinds(diff_trees(model(), right))
    get(right, "rotary").buffers = {"inv_freq": BufferInfo((8,), "torch.float32", False)}
    only_kinds(diff_trees(model(), right))


def test_ignore_class_either_direction():
    left, right = model(attn="LlamaAttention"), model(attn="LlamaFlashAttention2")
    get(right, "norm").cls = "LayerNorm"
    assert diff_trees(left, right).counts["class"] == 3  # 2 attn + norm
    for pair in ({"LlamaAttention": "LlamaFlashAttention2"}, {"LlamaFlashAttention2": "LlamaAttention"}):
        r = diff_trees(left, right, ignore_class=pair)
        only_kinds(r, **{"class": 1})
        assert names_of(r, "class") == ["norm"]
        only_kinds(diff_trees(right, left, ignore_class=pair), **{"class": 1})


def test_only_stages():
    right = model()
    get(right, "layers.0.mlp.fc").cls = "Conv2d"  # prefill
    get(right, "lm_head").cls = "Embedding"  # decode
    r = diff_trees(model(), right, only_stages={"decode"})
    assert r.compared == 1
    only_kinds(r, **{"class": 1})
    assert names_of(r, "class") == ["lm_head"]
    r = diff_trees(model(), right, only_stages={"prefill"})
    assert r.compared == 12 and names_of(r, "class") == ["layers.0.mlp.fc"]
    # a stage change counts for both stages (the stage from either side)
    get(right, "norm").stage = "decode"
    assert names_of(diff_trees(model(), right, only_stages={"decode"}), "stage") == ["norm"]


def test_only_stages_missing_module_inherits_stage_from_ancestor():
    left = model(n_layers=3)
    right = model(n_layers=2)
    right.meta["fields"] = ["params", "buffers"]  # like a runtime dump: no stage
    r = diff_trees(left, right, only_stages={"prefill"})
    assert len(names_of(r, "missing_right")) == 4
    extra = model(n_layers=3)
    extra.meta["fields"] = ["params", "buffers"]
    r = diff_trees(model(n_layers=2), extra, only_stages={"prefill"})  # right-only modules, stage via "layers"
    assert len(names_of(r, "missing_left")) == 4
    with pytest.raises(AnalyzerError):
        diff_trees(right, extra, only_stages={"prefill"})  # nobody carries a stage


def test_fields_subsetting_in_memory():
    seed_like = model()
    seed_like.meta["fields"] = ["stage"]
    for m in seed_like.modules:
        m.params, m.buffers = {}, {}
    r = diff_trees(model(out_dim=99), seed_like)
    only_kinds(r)
    assert r.fields == ("name", "class", "order", "stage")


# ---- collapse ------------------------------------------------------------------------------
def test_collapse_small_cases():
    names = [f"a.{i}.b.{j}" for i in (1, 3, 5) for j in range(4)]
    assert collapse(names) == [("a.{1,3,5}.b.{0..3}", 12)]
    # not a full cartesian product: layer 2 only has expert 0
    names = [f"l.{i}.e.{j}" for i in (0, 1) for j in (0, 1)] + ["l.2.e.0"]
    assert collapse(names) == [("l.{0..1}.e.{0..1}", 4), ("l.2.e.0", 1)]
    assert collapse(["x", "y.0", "y.1", "y.2", "z"]) == [("x", 1), ("y.{0..2}", 3), ("z", 1)]
    assert collapse(["h.0", "h.1", "h.2", "h.4"]) == [("h.{0..2,4}", 4)]
    assert collapse(["", "m.01", "m.1"]) == [("", 1), ("m.01", 1), ("m.1", 1)]  # "01" is not a number


@needs_data
def test_collapse_experts_in_ground_truth():
    names = [m["name"] for m in json.loads(RUNTIME.read_text())["modules"]]
    experts = [n for n in names if re.fullmatch(r"model\.layers\.\d+\.mlp\.experts\.\d+", n)]
    assert len(experts) == 11 * 64
    assert collapse(experts) == [("model.layers.{1..11}.mlp.experts.{0..63}", 704)]


# ---- ground truth --------------------------------------------------------------------------
@needs_data
def test_seed_list_equals_runtime_ground_truth():
    r = diff_trees(load_tree(str(SEED)), load_tree(str(RUNTIME)))
    assert r.identical and r.compared == 4083
    assert r.fields == ("name", "class", "order")
    assert summary_line(r) == "4083 modules compared, 0 differences"


@needs_data
def test_every_class_changed_is_fast_and_grouped():
    left = load_tree(str(RUNTIME))
    right = copy.deepcopy(left)
    for m in right.modules:
        m.cls += "X"
    best = min(_timed(lambda: diff_trees(left, right)) for _ in range(3))
    assert best < 0.2
    r = diff_trees(left, right)
    only_kinds(r, **{"class": 4083})
    groups = {(e.pattern, e.count, e.detail) for e in r.entries["class"]}
    assert ("model.layers.{1..11}.mlp.experts.{0..63}", 704, "DeepseekV2MLP -> DeepseekV2MLPX") in groups
    assert sum(e.count for e in r.entries["class"]) == 4083


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


@needs_data
def test_ground_truth_mutations(tmp_path):
    data = json.loads(RUNTIME.read_text())
    mods = data["modules"]
    q = next(m for m in mods if m["name"] == "model.layers.3.self_attn.q_proj")
    q["params"]["weight"][1] += 4  # a literal dimension changed
    old_shape = list(q["params"]["weight"])
    old_shape[1] -= 4
    gone = {m["name"] for m in mods if m["name"].startswith("model.layers.11.")} | {"model.layers.11"}
    data["modules"] = [m for m in mods if m["name"] not in gone]
    path = tmp_path / "mutated.json"
    path.write_text(json.dumps(data))
    r = diff_trees(load_tree(str(RUNTIME)), load_tree(str(path)))
    only_kinds(r, params=1, missing_right=len(gone))
    assert r.entries["params"][0].detail == f"weight {old_shape} -> {q['params']['weight']}"
    assert set(names_of(r, "missing_right")) == gone


# ---- loading errors ------------------------------------------------------------------------
def _write(tmp_path, text, name="t.json"):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_load_truncated_json(tmp_path):
    text = json.dumps(model().to_json(), indent=1)
    cut = text[: len(text) // 2]
    with pytest.raises(AnalyzerError) as exc:
        load_tree(_write(tmp_path, cut))
    d = exc.value.diagnostic
    assert d.code == "E006" and "invalid JSON" in d.message and "truncated" in d.message
    assert d.span.line == cut.count("\n") + 1  # the error is at the end of the cut text


def test_load_invalid_json_reports_line_and_column(tmp_path):
    with pytest.raises(AnalyzerError) as exc:
        load_tree(_write(tmp_path, '[\n  {"name": "", "class": "M"},\n  {"name": x}\n]'))
    d = exc.value.diagnostic
    assert (d.code, d.span.line, d.span.column) == ("E006", 3, 11)


@pytest.mark.parametrize("text, fragment", [
    ('{"foo": 1}', "'modules' list"),
    ('42', "number"),
    ('[{"name": "a"}]', "'class' must be a string"),
    ('{"modules": [{"name": "a", "class": "M", "params": {"w": "big"}}]}', "param 'w'"),
    ('[{"name": "a", "class": "M", "buffers": {"b": 3}}]', "buffer 'b'"),
    ('[{"name": "a", "class": "M"},\n {"name": "a", "class": "N"}]', "duplicate module name"),
    ("", "empty"),
])
def test_load_wrong_shape(tmp_path, text, fragment):
    with pytest.raises(AnalyzerError) as exc:
        load_tree(_write(tmp_path, text))
    assert exc.value.diagnostic.code == "E006"
    assert fragment in exc.value.diagnostic.message


def test_load_wrong_shape_points_at_the_module(tmp_path):
    text = '[\n {"name": "", "class": "M"},\n {"name": "a", "class": 7}\n]'
    with pytest.raises(AnalyzerError) as exc:
        load_tree(_write(tmp_path, text))
    d = exc.value.diagnostic
    assert d.span.line == 3 and d.message.startswith("[1] ('a')")


def test_load_missing_file_and_directory(tmp_path):
    for path in (tmp_path / "nope.json", tmp_path):
        with pytest.raises(AnalyzerError) as exc:
            load_tree(str(path))
        assert exc.value.diagnostic.code == "E002"


def test_load_round_trip_of_our_schema(tmp_path):
    tree = model()
    path = _write(tmp_path, json.dumps(tree.to_json()))
    loaded = load_tree(path)
    assert diff_trees(tree, loaded).identical
    get(tree, "norm").cls = "LayerNorm"
    assert names_of(diff_trees(loaded, tree), "class") == ["norm"]


# ---- output --------------------------------------------------------------------------------
def test_to_json_is_deterministic_and_complete():
    def mutated():
        right = model(n_layers=3)
        get(right, "layers.0.mlp.fc").cls = "Conv2d"
        get(right, "norm").stage = "decode"
        return right

    a = diff_trees(model(), mutated()).to_json()
    b = diff_trees(model(), mutated()).to_json()
    assert json.dumps(a) == json.dumps(b)
    assert list(a) == ["identical", "compared", "counts", "differences"]
    assert a["identical"] is False and a["compared"] == 18
    assert a["counts"] == {"missing_left": 4, "missing_right": 0, "class": 1, "order": 0,
                           "params": 0, "buffers": 0, "stage": 1}
    assert list(a["differences"]) == list(KINDS)
    assert a["differences"]["class"] == [
        {"pattern": "layers.0.mlp.fc", "count": 1, "detail": "Linear -> Conv2d", "names": ["layers.0.mlp.fc"]}]
    assert [e["pattern"] for e in a["differences"]["missing_left"]] == [
        "layers.2", "layers.2.attn", "layers.2.mlp", "layers.2.mlp.fc"]


def test_render_text_groups_and_summary():
    right = model(n_layers=3)
    get(right, "layers.0.mlp.fc").cls = "Conv2d"
    text = render_text(diff_trees(model(), right), "L", "R")
    assert "only in R (missing from L): 4 modules" in text
    assert "class differs: 1 module" in text
    assert re.search(r"^  layers\.0\.mlp\.fc +\(1\)  Linear -> Conv2d$", text, re.M)
    assert text.rstrip().splitlines()[-1] == "18 modules compared, 5 differences: 1 class, 4 missing"

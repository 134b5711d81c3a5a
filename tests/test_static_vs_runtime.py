"""The static analysis must rebuild exactly what the runtime dump sees.

For every fixture (and SAM vit_b and a small BERT from the installed packages) the output of
``analyzer.api.analyze`` is compared with ``analyzer.tree.runtime.dump_runtime`` on: module names in
order, class, class_qualname, params (names, order, shapes) and buffers (names, order, shape,
dtype, persistent). ``tree_differences`` lists every difference in readable form.
"""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from analyzer.api import analyze  # noqa: E402
from analyzer.tree.runtime import dump_runtime  # noqa: E402
from analyzer.tree.model import BufferInfo, ModuleNode, ModuleTree  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"

from conftest import FIXTURE_CASES as CASES  # noqa: E402

MAX_SHOWN = 60


# ---- the comparison helper ---------------------------------------------------------------------
def _shape(shape) -> str:
    return "?" if shape is None else "(" + ", ".join(str(d) for d in shape) + ")"


def _buffer(b: BufferInfo) -> str:
    return f"{_shape(b.shape)} {b.dtype} {'persistent' if b.persistent else 'non-persistent'}"


def _compare_named(kind: str, where: str, a: dict, b: dict, fmt, labels) -> list[str]:
    out = []
    la, lb = labels
    only_a = [k for k in a if k not in b]
    only_b = [k for k in b if k not in a]
    if only_b:
        out.append(f"{where}: {kind} missing in {la}: {', '.join(only_b)}")
    if only_a:
        out.append(f"{where}: {kind} only in {la}: {', '.join(only_a)}")
    common_a = [k for k in a if k in b]
    common_b = [k for k in b if k in a]
    if common_a != common_b:
        out.append(f"{where}: {kind} order differs: {la} {common_a} vs {lb} {common_b}")
    for k in common_b:
        if a[k] != b[k]:
            out.append(f"{where}: {kind} {k!r}: {la} {fmt(a[k])} vs {lb} {fmt(b[k])}")
    return out


def tree_differences(static: ModuleTree, runtime: ModuleTree, labels=("static", "runtime")) -> list[str]:
    """Every difference between two trees on the compared fields, one readable line each."""
    la, lb = labels
    out: list[str] = []
    a_names = [m.name for m in static.modules]
    b_names = [m.name for m in runtime.modules]
    a_set, b_set = set(a_names), set(b_names)
    missing = [n for n in b_names if n not in a_set]
    extra = [n for n in a_names if n not in b_set]
    for n in missing:
        out.append(f"module {n!r}: missing in {la} (runtime class {runtime.by_name()[n].cls})")
    for n in extra:
        out.append(f"module {n!r}: only in {la} (class {static.by_name()[n].cls})")
    if len(set(a_names)) != len(a_names):
        dups = sorted({n for n in a_names if a_names.count(n) > 1})
        out.append(f"{la} lists modules more than once: {dups}")
    common_a = [n for n in a_names if n in b_set]
    common_b = [n for n in b_names if n in a_set]
    if common_a != common_b:
        i = next(i for i, (x, y) in enumerate(zip(common_a, common_b)) if x != y)
        out.append(
            f"module order differs at position {i}: {la} has {common_a[i]!r}, {lb} has {common_b[i]!r} "
            f"({la} ...{common_a[max(0, i - 1):i + 3]} vs {lb} ...{common_b[max(0, i - 1):i + 3]})"
        )
    a_by, b_by = static.by_name(), runtime.by_name()
    for name in common_b:
        a: ModuleNode = a_by[name]
        b: ModuleNode = b_by[name]
        where = f"module {name!r}" if name else "root module ''"
        if a.cls != b.cls:
            out.append(f"{where}: class {la} {a.cls} vs {lb} {b.cls}")
        if a.class_qualname != b.class_qualname:
            out.append(f"{where}: class_qualname {la} {a.class_qualname} vs {lb} {b.class_qualname}")
        out.extend(_compare_named("param", where, a.params, b.params, _shape, labels))
        out.extend(_compare_named("buffer", where, a.buffers, b.buffers, _buffer, labels))
    return out


def _report(diffs: list[str]) -> str:
    shown = diffs[:MAX_SHOWN]
    more = f"\n  ... and {len(diffs) - MAX_SHOWN} more" if len(diffs) > MAX_SHOWN else ""
    return f"{len(diffs)} difference(s) between static and runtime trees:\n  " + "\n  ".join(shown) + more


def _assert_same(static: ModuleTree, runtime: ModuleTree) -> None:
    diffs = tree_differences(static, runtime)
    assert not diffs, _report(diffs)


# ---- the helper itself (independent of the static analyzer) ------------------------------------
def test_tree_differences_reports_each_field():
    def tree(mods):
        return ModuleTree(root="x:y", modules=mods)

    runtime = tree([
        ModuleNode("", "Net", "m.Net", params={"a": (2,), "b": (3, 4)},
                   buffers={"buf": BufferInfo((1, 5), "int64", True)}),
        ModuleNode("fc", "Linear", "torch.nn.modules.linear.Linear", params={"weight": (4, 4)}),
        ModuleNode("act", "GELU", "torch.nn.modules.activation.GELU"),
    ])
    assert tree_differences(runtime, runtime) == []
    static = tree([
        ModuleNode("", "Net", "m.Net", params={"b": (3, 4), "a": (2,)},
                   buffers={"buf": BufferInfo((1, 5), "float32", False)}),
        ModuleNode("act", "SiLU", "torch.nn.modules.activation.SiLU"),
        ModuleNode("fc", "Linear", "torch.nn.modules.linear.Linear", params={"weight": None}),
        ModuleNode("drop", "Dropout", "torch.nn.modules.dropout.Dropout"),
    ])
    diffs = tree_differences(static, runtime)
    text = "\n".join(diffs)
    assert "module 'drop': only in static" in text
    assert "module order differs at position 1: static has 'act', runtime has 'fc'" in text
    assert "param order differs" in text
    assert "buffer 'buf': static (1, 5) float32 non-persistent vs runtime (1, 5) int64 persistent" in text
    assert "module 'act': class static SiLU vs runtime GELU" in text
    assert "param 'weight': static ? vs runtime (4, 4)" in text
    missing = tree_differences(tree(runtime.modules[:1]), runtime)
    assert missing[0] == "module 'fc': missing in static (runtime class Linear)"


def test_tree_differences_on_a_runtime_dump():
    tree = dump_runtime(FIXTURES / "constructs_containers", root="containers:ContainerNet")
    assert tree_differences(tree, tree) == []


# ---- static vs runtime -------------------------------------------------------------------------
def _case_id(case) -> str:
    folder, kwargs = case
    return folder + "".join(f"-{k}={v}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_fixture_static_equals_runtime(case):
    folder, kwargs = case
    src = FIXTURES / folder
    static_kwargs = {k: v for k, v in kwargs.items() if k != "stub_modules"}
    runtime = dump_runtime(src, **kwargs)
    static = analyze(src, **static_kwargs).tree
    _assert_same(static, runtime)


def _site_package(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(list(spec.submodule_search_locations)[0])


def test_sam_vit_b_static_equals_runtime():
    src = _site_package("segment_anything")
    stubs = ["torchvision"] if importlib.util.find_spec("torchvision") is None else []
    runtime = dump_runtime(src, root="build_sam:build_sam_vit_b", stub_modules=stubs)
    static = analyze(src, root="build_sam:build_sam_vit_b").tree
    _assert_same(static, runtime)


@pytest.mark.parametrize("attn", [None, "eager"])
def test_bert_static_equals_runtime(tmp_path, attn):
    from transformers import BertConfig

    config = tmp_path / "config.json"
    config.write_text(json.dumps(BertConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=100
    ).to_dict()))
    src = _site_package("transformers") / "models" / "bert"
    runtime = dump_runtime(src, root="modeling_bert:BertModel", config=str(config), attn_implementation=attn)
    static = analyze(src, root="modeling_bert:BertModel", config=str(config), attn_implementation=attn).tree
    _assert_same(static, runtime)

"""Issue 3, acceptance 2: drift is caught, end to end through the CLI.

Each test builds a MUTATED COPY (in tmp_path) of a model source folder: two self-written fixtures
(constructs_containers, sample_vlm) and a registry-served model (the installed ``segment_anything``
package, copied as a package of the same name, root ``build_sam:build_sam_vit_b``). The runtime
side is a JSON dumped once on the meta device from the UNMUTATED source. For every mutation

* ``check MUTATED --against original_runtime.json`` exits 1 and its report names exactly the
  affected modules (left = the mutated static tree, right = the runtime dump), and
* ``diff ORIGINAL MUTATED`` exits 1 and names the same modules (sides swapped: what is missing
  from the mutated tree is "only in ORIGINAL", details read the other way).

The expected names and details are derived from each mutation and the model's source, written
out by hand below; they are not copied from the program's output. The unmutated source gives
exit 0 and the one-line summary "N modules compared, 0 differences".

The static analysis never imports the analyzed code, so ``segment_anything`` (whose __init__
imports torchvision, not installed here) needs no stub on the static side; only the runtime dump
stubs torchvision.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from analyzer.cli.main import main
from analyzer.tree.diff import KINDS

pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
SAM_ROOT = "build_sam:build_sam_vit_b"
CONTAINERS_ROOT = "containers:ContainerNet"

HEADERS = {  # render_diff's section headers, by kind (the "only in" ones depend on the labels)
    "class": "class differs",
    "order": "out of order",
    "params": "parameters differ",
    "buffers": "buffers differ",
    "stage": "stage differs",
}
FLIP_KIND = {"missing_left": "missing_right", "missing_right": "missing_left"}


# ---- helpers -----------------------------------------------------------------------------------
def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    assert "internal error" not in err, err
    return code, out, err


def copy_source(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dst


def replace_once(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace the first ``count`` occurrences of ``old``; the mutation must apply (fail loudly if the
    source changed under us)."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, f"{old!r} not found {count}x in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def rename_everywhere(folder: Path, old: str, new: str) -> None:
    """Rename an identifier (whole word) in every .py file of the folder."""
    hits = 0
    for f in folder.rglob("*.py"):
        text = f.read_text(encoding="utf-8")
        n = len(re.findall(rf"\b{re.escape(old)}\b", text))
        if n:
            hits += n
            f.write_text(re.sub(rf"\b{re.escape(old)}\b", new, text), encoding="utf-8")
    assert hits >= 2, f"class {old} not found (definition + a use) in {folder}"


def swap_blocks(path: Path, first: str, second: str, end: str) -> None:
    """Swap two adjacent statement blocks: [first, second) and [second, end) -> second's then first's."""
    text = path.read_text(encoding="utf-8")
    i, j = text.index(first), text.index(second)
    k = text.index(end, j + len(second))
    assert i < j < k, (first, second, end)
    path.write_text(text[:i] + text[j:k] + text[i:j] + text[k:], encoding="utf-8")


def parse_report(text: str, left: str, right: str) -> dict[str, list[tuple[str, int, str]]]:
    """render_text output -> {kind: [(pattern, count, detail)]}. Every section must be recognised."""
    headers = dict(HEADERS)
    headers["missing_left"] = f"only in {right} (missing from {left})"
    headers["missing_right"] = f"only in {left} (missing from {right})"
    out: dict[str, list[tuple[str, int, str]]] = {k: [] for k in KINDS}
    kind = None
    for line in text.splitlines():
        if not line.strip():
            kind = None
            continue
        if line.startswith("  "):
            assert kind is not None, f"an entry outside any section: {line!r}"
            m = re.match(r"^  (\S+)\s+\((\d+)\)(?:  (.*))?$", line)
            assert m, f"unexpected entry line {line!r}"
            out[kind].append((m[1], int(m[2]), m[3] or ""))
            continue
        found = [k for k, h in headers.items() if line.startswith(h) and re.search(r": \d+ modules?$", line)]
        if found:
            kind = found[0]
    return out


def expand(pattern: str, count: int) -> list[str]:
    """'a.{0..2}.b.{1,4}' -> its names (the inverse of the report's collapsing); checks the count."""
    names = [""]
    for part in re.split(r"(\{[^}]*\})", "" if pattern == "<root>" else pattern):
        if part.startswith("{"):
            values = []
            for item in part[1:-1].split(","):
                lo, _, hi = item.partition("..")
                values += range(int(lo), int(hi or lo) + 1)
            names = [n + str(v) for n in names for v in values]
        else:
            names = [n + part for n in names]
    assert len(names) == count, (pattern, count)
    return names


def flip_detail(kind: str, detail: str) -> str:
    """The detail as the other direction reports it: 'A -> B' parts become 'B -> A'."""
    if kind == "class":
        a, b = detail.split(" -> ")
        return f"{b} -> {a}"
    if kind == "params":
        parts = []
        for part in detail.split("; "):
            key, rest = part.split(" ", 1)
            a, b = rest.split(" -> ")
            parts.append(f"{key} {b} -> {a}")
        return "; ".join(parts)
    return detail


def names_by_kind(diff_json: dict) -> dict[str, dict[str, str]]:
    """--json output -> {kind: {module name: detail}}."""
    return {k: {n: e["detail"] for e in diff_json["differences"][k] for n in e["names"]} for k in KINDS}


def assert_drift(capsys, tmp_path, *, original: Path, mutated: Path, runtime_json: Path, root: list[str],
                 expected: dict[str, dict[str, str | None]], patterns: dict[str, set[tuple[str, int]]] | None = None):
    """``expected``: {kind: {module name: detail or None (not checked)}} in the check direction
    (left = mutated static tree, right = runtime dump of the original). Every kind not given must
    be empty: the report names exactly the affected modules. ``patterns``: collapsed lines
    {kind: {(pattern, count)}} that the text report must show (exactly, for the kinds given)."""
    total = sum(len(v) for v in expected.values())
    assert total, "a mutation must change something"
    # modules compared: the union of both trees' names = the original's plus those only in the mutated tree
    compared = len(runtime_names(runtime_json)) + len(expected.get("missing_right", {}))

    # -- check MUTATED --against original runtime dump
    code, out, err = run_cli(capsys, "check", mutated, "--against", runtime_json, *root)
    assert code == 1, out + err
    report = parse_report(out, str(mutated), str(runtime_json))
    for kind in KINDS:
        got = {name: d for pattern, count, d in report[kind] for name in expand(pattern, count)}
        want = expected.get(kind, {})
        assert set(got) == set(want), f"check {kind}: {sorted(got)} vs expected {sorted(want)}"
        for name, detail in want.items():
            if detail is not None:
                assert got[name] == detail, (kind, name)
    for kind, pats in (patterns or {}).items():
        assert {(p, c) for p, c, _ in report[kind]} == pats, report[kind]
    summary = out.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"{compared} modules compared, {total} differences?: .*", summary), summary
    assert "static tree is PARTIAL" not in out

    # -- diff ORIGINAL MUTATED (both static), exact names through --json
    jpath = tmp_path / "diff.json"
    code, out, err = run_cli(capsys, "diff", original, mutated, *root, "--json", jpath)
    assert code == 1, out + err
    result = json.loads(jpath.read_text())
    assert (result["identical"], result["compared"]) == (False, compared)
    got = names_by_kind(result)
    want = {FLIP_KIND.get(k, k): {n: (flip_detail(k, d) if d is not None else None) for n, d in v.items()}
            for k, v in expected.items()}
    for kind in KINDS:
        wanted = want.get(kind, {})
        assert set(got[kind]) == set(wanted), f"diff {kind}: {sorted(got[kind])} vs {sorted(wanted)}"
        for name, detail in want.get(kind, {}).items():
            if detail is not None:
                assert got[kind][name] == detail, (kind, name)
    summary = out.rstrip().splitlines()[-1]
    assert re.fullmatch(rf"{compared} modules compared, {total} differences?: .*", summary), summary


def dump_json(src: Path, out: Path, **kwargs) -> Path:
    from analyzer.render import tree as render
    from analyzer.tree.runtime import dump_runtime

    out.write_text(render.tree_json(dump_runtime(src, **kwargs), []), encoding="utf-8")
    return out


def runtime_names(path: Path) -> list[str]:
    return [m["name"] for m in json.loads(path.read_text())["modules"]]


# ---- the unmutated sources and their runtime dumps (made once) ---------------------------------
@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tmp_path_factory.mktemp("drift_base")


@pytest.fixture(scope="module")
def containers_rt(base):
    return dump_json(FIXTURES / "constructs_containers", base / "containers.runtime.json", root=CONTAINERS_ROOT)


@pytest.fixture(scope="module")
def vlm_rt(base):
    return dump_json(FIXTURES / "sample_vlm", base / "sample_vlm.runtime.json")


@pytest.fixture(scope="module")
def sam(base):
    """(unmutated copy of the installed segment_anything package, its runtime dump)."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segment_anything is not installed")
    src = copy_source(Path(list(spec.submodule_search_locations)[0]), base / "sam_original" / "segment_anything")
    stubs = ["torchvision"] if importlib.util.find_spec("torchvision") is None else []
    rt = dump_json(src, base / "sam.runtime.json", root=SAM_ROOT, stub_modules=stubs)
    return src, rt


def mutated_sam(tmp_path, sam) -> Path:
    return copy_source(sam[0], tmp_path / "mutated" / "segment_anything")


# ---- unmutated: exit 0, one summary line -------------------------------------------------------
def test_unmutated_containers_check_is_one_line(capsys, containers_rt):
    code, out, err = run_cli(capsys, "check", FIXTURES / "constructs_containers", "--root", CONTAINERS_ROOT,
                             "--against", containers_rt)
    # 24 = root, stem + 3, head, blocks + 5 (blocks.1 holds 2), ffn + 3, task_heads + 2, pool, block0/1, rotary
    assert (code, out) == (0, "24 modules compared, 0 differences\n"), out + err


def test_unmutated_sample_vlm_check_is_one_line(capsys, vlm_rt):
    n = len(runtime_names(vlm_rt))
    code, out, err = run_cli(capsys, "check", FIXTURES / "sample_vlm", "--against", vlm_rt)
    assert (code, out) == (0, f"{n} modules compared, 0 differences\n"), out + err


def test_unmutated_sam_check_is_one_line(capsys, sam):
    src, rt = sam
    n = len(runtime_names(rt))
    code, out, err = run_cli(capsys, "check", src, "--root", SAM_ROOT, "--against", rt)
    assert (code, out) == (0, f"{n} modules compared, 0 differences\n"), out + err
    code, out, err = run_cli(capsys, "diff", src, rt, "--root", SAM_ROOT)
    assert code == 0 and out.rstrip().endswith(f"{n} modules compared, 0 differences"), out + err


# ---- constructs_containers (self-written, plain nn.Module with an attribute-dict config) -------
# config: hidden_size 12, num_blocks 3, tasks [pos, ner], mlp.expansion 2
def _containers(tmp_path) -> tuple[Path, Path]:
    dst = copy_source(FIXTURES / "constructs_containers", tmp_path / "containers_mutated")
    return dst, dst / "containers.py"


def test_containers_literal_dimension(capsys, tmp_path, containers_rt):
    # every task head: nn.Linear(12, 2) -> nn.Linear(12, 3)
    src, py = _containers(tmp_path)
    replace_once(py, "nn.Linear(hidden, 2)", "nn.Linear(hidden, 3)")
    detail = "weight [3, 12] -> [2, 12]; bias [3] -> [2]"
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT],
                 expected={"params": {"task_heads.head_pos": detail, "task_heads.head_ner": detail}},
                 patterns={"params": {("task_heads.head_pos", 1), ("task_heads.head_ner", 1)}})


def test_containers_child_removed(capsys, tmp_path, containers_rt):
    src, py = _containers(tmp_path)
    replace_once(py, '        self.add_module("pool", nn.AdaptiveAvgPool2d(1))\n', "")
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected={"missing_left": {"pool": "AdaptiveAvgPool2d"}},
                 patterns={"missing_left": {("pool", 1)}})


def test_containers_children_swapped(capsys, tmp_path, containers_rt):
    # self.ffn (Sequential of 3: 4 modules) and self.task_heads (ModuleDict of 2: 3 modules) swap places.
    # The fewest modules whose move explains it: the smaller subtree, task_heads.
    src, py = _containers(tmp_path)
    swap_blocks(py, "        self.ffn = nn.Sequential(", "        self.task_heads = ", "        self.add_module(")
    expected = {"order": {"task_heads": "", "task_heads.head_pos": "", "task_heads.head_ner": ""}}
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected=expected)


def test_containers_sequential_items_swapped(capsys, tmp_path, containers_rt):
    # stem = Sequential(Conv2d, BatchNorm2d, ReLU) -> Sequential(Conv2d, ReLU, BatchNorm2d): the names are
    # indices, so stem.1 and stem.2 change class, and the BatchNorm's params and buffers move with it.
    src, py = _containers(tmp_path)
    replace_once(py, "nn.BatchNorm2d(STEM_CHANNELS),\n            nn.ReLU(),",
                 "nn.ReLU(),\n            nn.BatchNorm2d(STEM_CHANNELS),")
    expected = {
        "class": {"stem.1": "ReLU -> BatchNorm2d", "stem.2": "BatchNorm2d -> ReLU"},
        "params": {"stem.1": "weight absent -> [4]; bias absent -> [4]",
                   "stem.2": "weight [4] -> absent; bias [4] -> absent"},
        "buffers": {"stem.1": None, "stem.2": None},  # running_mean/var, num_batches_tracked
    }
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected=expected)


def test_containers_loop_bound(capsys, tmp_path, containers_rt):
    # range(num_blocks=3) -> range(2): blocks gets Linear, Sequential, then the extend()ed LayerNorm lands at
    # index 2 instead of 3. So blocks.2 is a LayerNorm(12) where it was a Linear(12, 12) (weight [12] vs
    # [12, 12]; the bias [12] is the same) and blocks.3 is gone. bias_table still uses num_blocks: unchanged.
    src, py = _containers(tmp_path)
    replace_once(py, "for i in range(config.num_blocks):", "for i in range(config.num_blocks - 1):")
    expected = {
        "class": {"blocks.2": "LayerNorm -> Linear"},
        "params": {"blocks.2": "weight [12] -> [12, 12]"},
        "missing_left": {"blocks.3": "LayerNorm"},
    }
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected=expected)


def test_containers_loop_bound_increased(capsys, tmp_path, containers_rt):
    # NUM_STAGES 2 -> 3: setattr(self, f"block{i}", Conv2d(4, 4, 3)) also makes block2, after block1
    src, py = _containers(tmp_path)
    replace_once(py, "NUM_STAGES = 2", "NUM_STAGES = 3")
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected={"missing_right": {"block2": "Conv2d"}})


def test_containers_class_renamed(capsys, tmp_path, containers_rt):
    src, py = _containers(tmp_path)
    rename_everywhere(src, "ScaledLinear", "ScaledProjection")
    assert_drift(capsys, tmp_path, original=FIXTURES / "constructs_containers", mutated=src, runtime_json=containers_rt,
                 root=["--root", CONTAINERS_ROOT], expected={"class": {"head": "ScaledProjection -> ScaledLinear"}},
                 patterns={"class": {("head", 1)}})


# ---- sample_vlm (self-written transformers-style VLM, root from auto_map) ----------------------
# num_hidden_layers 4, first_k_dense_replace 1, moe_layer_freq 2 -> layer 2 is MoE (experts 0..3 and
# shared_experts), layers 0, 1, 3 are dense. CLIP part: hidden 24, 2 layers. SAM part: depth 4.
def _vlm(tmp_path) -> Path:
    return copy_source(FIXTURES / "sample_vlm", tmp_path / "sample_vlm_mutated")


CLIP_LAYER = ["", ".self_attn", ".self_attn.qkv_proj", ".self_attn.out_proj", ".mlp", ".mlp.fc1", ".mlp.fc2",
              ".layer_norm1", ".layer_norm2"]


def test_vlm_literal_dimension(capsys, tmp_path, vlm_rt):
    # NoTPAttention.qkv_proj: Linear(24, 24 * 3) -> Linear(24, 24 * 4), in both CLIP layers
    src = _vlm(tmp_path)
    replace_once(src / "deepencoder.py", "cfg.hidden_size * 3", "cfg.hidden_size * 4")
    names = [f"model.vision_model.transformer.layers.{i}.self_attn.qkv_proj" for i in (0, 1)]
    detail = "weight [96, 24] -> [72, 24]; bias [96] -> [72]"
    assert_drift(capsys, tmp_path, original=FIXTURES / "sample_vlm", mutated=src, runtime_json=vlm_rt, root=[],
                 expected={"params": dict.fromkeys(names, detail)},
                 patterns={"params": {("model.vision_model.transformer.layers.{0..1}.self_attn.qkv_proj", 2)}})


def test_vlm_child_removed(capsys, tmp_path, vlm_rt):
    src = _vlm(tmp_path)
    replace_once(src / "modeling_sample_vlm.py",
                 "        self.norm = SampleRMSNorm(config.hidden_size, eps=config.rms_norm_eps)\n", "")
    assert_drift(capsys, tmp_path, original=FIXTURES / "sample_vlm", mutated=src, runtime_json=vlm_rt, root=[],
                 expected={"missing_left": {"model.norm": "SampleRMSNorm"}})


def test_vlm_children_swapped(capsys, tmp_path, vlm_rt):
    # sam_model (50 modules: encoder, patch_embed + proj, blocks + 4 x 10, neck + 4, net_2) and vision_model
    # (25: itself, embeddings + 2, transformer, layers + 2 x 9, pre_layrnorm) swap: the smaller subtree,
    # the whole of model.vision_model, is out of place.
    src = _vlm(tmp_path)
    swap_blocks(src / "modeling_sample_vlm.py", "        self.sam_model = build_sam_vit_b()",
                "        self.vision_model = build_clip_l()", "        n_embed = config.hidden_size")
    names = runtime_names(vlm_rt)
    vision = [n for n in names if n == "model.vision_model" or n.startswith("model.vision_model.")]
    sam_part = [n for n in names if n == "model.sam_model" or n.startswith("model.sam_model.")]
    assert (len(vision), len(sam_part)) == (25, 50)
    assert_drift(capsys, tmp_path, original=FIXTURES / "sample_vlm", mutated=src, runtime_json=vlm_rt, root=[],
                 expected={"order": dict.fromkeys(vision, "")})


def test_vlm_loop_bound(capsys, tmp_path, vlm_rt):
    # NoTPTransformer: range(num_layers=2) -> range(1): CLIP layer 1 and its 8 descendants are gone
    src = _vlm(tmp_path)
    replace_once(src / "deepencoder.py", "for layer_id in range(self.num_layers):",
                 "for layer_id in range(self.num_layers - 1):")
    gone = {f"model.vision_model.transformer.layers.1{s}": None for s in CLIP_LAYER}
    assert_drift(capsys, tmp_path, original=FIXTURES / "sample_vlm", mutated=src, runtime_json=vlm_rt, root=[],
                 expected={"missing_left": gone})


def test_vlm_class_renamed(capsys, tmp_path, vlm_rt):
    # SampleMLP -> SampleFFN: the dense MLPs of layers 0, 1, 3, and in MoE layer 2 its 4 experts and the
    # shared expert. Layer 2's own mlp (SampleMoE) is not renamed.
    src = _vlm(tmp_path)
    rename_everywhere(src, "SampleMLP", "SampleFFN")
    names = ([f"model.layers.{i}.mlp" for i in (0, 1, 3)] + [f"model.layers.2.mlp.experts.{e}" for e in range(4)]
             + ["model.layers.2.mlp.shared_experts"])
    assert_drift(capsys, tmp_path, original=FIXTURES / "sample_vlm", mutated=src, runtime_json=vlm_rt, root=[],
                 expected={"class": dict.fromkeys(names, "SampleFFN -> SampleMLP")},
                 patterns={"class": {("model.layers.{0,1,3}.mlp", 3), ("model.layers.2.mlp.experts.{0..3}", 4),
                                     ("model.layers.2.mlp.shared_experts", 1)}})


# ---- segment_anything (registry-served), root build_sam:build_sam_vit_b -------------------------
# vit_b: embed_dim 768, depth 12, global attention in blocks 2, 5, 8, 11; prompt_embed_dim 256.
BLOCK = ["", ".norm1", ".attn", ".attn.qkv", ".attn.proj", ".norm2", ".mlp", ".mlp.lin1", ".mlp.lin2", ".mlp.act"]


def test_sam_literal_dimension(capsys, tmp_path, sam):
    # mlp_ratio 4 -> 3: every encoder block's MLPBlock(768, int(768 * 3) = 2304) instead of 3072;
    # lin2's bias [768] is unchanged. The mask decoder's MLPBlocks use mlp_dim=2048: unaffected.
    src = mutated_sam(tmp_path, sam)
    replace_once(src / "build_sam.py", "mlp_ratio=4,", "mlp_ratio=3,")
    lin1 = "weight [2304, 768] -> [3072, 768]; bias [2304] -> [3072]"
    lin2 = "weight [768, 2304] -> [768, 3072]"
    expected = {"params": {**{f"image_encoder.blocks.{i}.mlp.lin1": lin1 for i in range(12)},
                           **{f"image_encoder.blocks.{i}.mlp.lin2": lin2 for i in range(12)}}}
    assert_drift(capsys, tmp_path, original=sam[0], mutated=src, runtime_json=sam[1], root=["--root", SAM_ROOT],
                 expected=expected,
                 patterns={"params": {("image_encoder.blocks.{0..11}.mlp.lin1", 12),
                                      ("image_encoder.blocks.{0..11}.mlp.lin2", 12)}})


def test_sam_child_removed(capsys, tmp_path, sam):
    # neck = Sequential(Conv2d 1x1, LayerNorm2d, Conv2d 3x3, LayerNorm2d); drop the first LayerNorm2d:
    # neck.1 is now the 3x3 conv, neck.2 the last LayerNorm2d, neck.3 is gone.
    src = mutated_sam(tmp_path, sam)
    replace_once(src / "modeling" / "image_encoder.py", "            LayerNorm2d(out_chans),\n", "", count=1)
    expected = {
        "class": {"image_encoder.neck.1": "Conv2d -> LayerNorm2d", "image_encoder.neck.2": "LayerNorm2d -> Conv2d"},
        "params": {"image_encoder.neck.1": "weight [256, 256, 3, 3] -> [256]; bias absent -> [256]",
                   "image_encoder.neck.2": "weight [256] -> [256, 256, 3, 3]; bias [256] -> absent"},
        "missing_left": {"image_encoder.neck.3": "LayerNorm2d"},
    }
    assert_drift(capsys, tmp_path, original=sam[0], mutated=src, runtime_json=sam[1], root=["--root", SAM_ROOT],
                 expected=expected)


def test_sam_children_swapped(capsys, tmp_path, sam):
    # Sam.__init__ registers prompt_encoder (17 modules: itself, pe_layer, point_embeddings + 4,
    # not_a_point_embed, mask_downscaling + 7, no_mask_embed) after mask_decoder (91) instead of before:
    # the smaller subtree, prompt_encoder, is reported out of order.
    src = mutated_sam(tmp_path, sam)
    swap_blocks(src / "modeling" / "sam.py", "        self.prompt_encoder = prompt_encoder\n",
                "        self.mask_decoder = mask_decoder\n", "        self.register_buffer(")
    names = runtime_names(sam[1])
    prompt = [n for n in names if n == "prompt_encoder" or n.startswith("prompt_encoder.")]
    decoder = [n for n in names if n == "mask_decoder" or n.startswith("mask_decoder.")]
    assert len(prompt) == 17 and len(decoder) > len(prompt)
    assert_drift(capsys, tmp_path, original=sam[0], mutated=src, runtime_json=sam[1], root=["--root", SAM_ROOT],
                 expected={"order": dict.fromkeys(prompt, "")},
                 patterns={"order": {("prompt_encoder", 1), ("prompt_encoder.pe_layer", 1),
                                     ("prompt_encoder.point_embeddings", 1),
                                     ("prompt_encoder.point_embeddings.{0..3}", 4),
                                     ("prompt_encoder.not_a_point_embed", 1), ("prompt_encoder.mask_downscaling", 1),
                                     ("prompt_encoder.mask_downscaling.{0..6}", 7),
                                     ("prompt_encoder.no_mask_embed", 1)}})


def test_sam_loop_bound(capsys, tmp_path, sam):
    # encoder_depth 12 -> 11: image_encoder.blocks.11 and its 9 descendants are gone; blocks 0..10 unchanged
    src = mutated_sam(tmp_path, sam)
    replace_once(src / "build_sam.py", "encoder_depth=12,", "encoder_depth=11,")
    gone = {f"image_encoder.blocks.11{s}": None for s in BLOCK}
    assert_drift(capsys, tmp_path, original=sam[0], mutated=src, runtime_json=sam[1], root=["--root", SAM_ROOT],
                 expected={"missing_left": gone})


def test_sam_class_renamed(capsys, tmp_path, sam):
    # LayerNorm2d -> ChannelNorm2d (definition in modeling/common.py, imports and uses elsewhere): the two in
    # the encoder neck, two in the prompt encoder's mask_downscaling, one in the decoder's output_upscaling.
    src = mutated_sam(tmp_path, sam)
    rename_everywhere(src, "LayerNorm2d", "ChannelNorm2d")
    names = ["image_encoder.neck.1", "image_encoder.neck.3", "prompt_encoder.mask_downscaling.1",
             "prompt_encoder.mask_downscaling.4", "mask_decoder.output_upscaling.1"]
    assert_drift(capsys, tmp_path, original=sam[0], mutated=src, runtime_json=sam[1], root=["--root", SAM_ROOT],
                 expected={"class": dict.fromkeys(names, "ChannelNorm2d -> LayerNorm2d")},
                 patterns={"class": {("image_encoder.neck.{1,3}", 2), ("prompt_encoder.mask_downscaling.{1,4}", 2),
                                     ("mask_decoder.output_upscaling.1", 1)}})

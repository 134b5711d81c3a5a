"""Issue 3 end to end through the CLI (``analyzer.cli.main``): ``diff`` and ``check`` on the DeepSeek-OCR
ground truth, their options, ``dump-runtime`` writing what ``check`` accepts, and bad input.

Exit codes: 0 identical, 1 different, 2 bad input or error (a diagnostic on stderr, never a traceback).
Expected values are derived from the inputs and the mutations made here, not from the program's output.
"""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path

import pytest

from analyzer.cli.main import main
from analyzer.tree.diff import KINDS, load_tree, unrelated
from analyzer.tree.model import ModuleNode, ModuleTree

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
DATA = REPO.parent / "shared" / "data"
GT_RUNTIME = DATA / "deepseek-ocr.runtime-tree.json"
GT_SEED = DATA / "deepseek-ocr.module-tree.seed-format.json"
needs_gt = pytest.mark.skipif(not (GT_RUNTIME.is_file() and GT_SEED.is_file()),
                              reason="DeepSeek-OCR ground truth absent")
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the runtime dump needs torch")

CONTAINERS = FIXTURES / "constructs_containers"
CONTAINERS_ROOT = "containers:ContainerNet"
SAM_ROOT = "build_sam:build_sam_vit_b"
UNRELATED = "the trees share no modules: is this a dump of another model?"
# DeepSeek-OCR: 12 decoder layers, each with a LlamaAttention (eager / sdpa in transformers 4.46.3)
GT_MODULES = 4083
ATTN = [f"model.layers.{i}.self_attn" for i in range(12)]


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, out + err
    assert "internal error" not in err, err
    return code, out, err


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def write_json(path: Path, data) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def names_by_kind(result: dict) -> dict[str, list[str]]:
    return {k: [n for e in result["differences"][k] for n in e["names"]] for k in KINDS}


def assert_error(code: int, out: str, err: str, *fragments: str, diag: str = "E00") -> None:
    """Exit 2, nothing on stdout, one clear diagnostic on stderr holding every fragment."""
    assert code == 2, out + err
    assert out == "", out
    assert diag in err, err
    for f in fragments:
        assert f in err, f"{f!r} not in {err!r}"


# ---- runtime dumps made once per module --------------------------------------------------------
@pytest.fixture(scope="module")
def dumps(tmp_path_factory):
    pytest.importorskip("torch")
    from analyzer.render import tree as render
    from analyzer.tree.runtime import dump_runtime

    d = tmp_path_factory.mktemp("dumps")
    out = {}
    for key, src, kwargs in (("containers", CONTAINERS, {"root": CONTAINERS_ROOT}),
                             ("vlm", FIXTURES / "sample_vlm", {})):
        out[key] = d / f"{key}.runtime.json"
        out[key].write_text(render.tree_json(dump_runtime(src, **kwargs), []), encoding="utf-8")
    return out


@pytest.fixture(scope="module")
def sam_src(tmp_path_factory):
    """A copy of the installed segment_anything package, as a package of the same name."""
    spec = importlib.util.find_spec("segment_anything")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("segment_anything is not installed")
    dst = tmp_path_factory.mktemp("sam") / "segment_anything"
    shutil.copytree(list(spec.submodule_search_locations)[0], dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


# ---- DeepSeek-OCR ground truth: diff, --json, --ignore-class, --only-stage ----------------------
@needs_gt
@pytest.mark.parametrize("left,right", [(GT_RUNTIME, GT_SEED), (GT_SEED, GT_RUNTIME)],
                         ids=["runtime-seed", "seed-runtime"])
def test_ground_truth_runtime_vs_seed_is_identical(capsys, left, right):
    code, out, err = run_cli(capsys, "diff", left, right)
    assert code == 0, out + err
    assert last_line(out) == f"{GT_MODULES} modules compared, 0 differences"
    # the seed list has no params/buffers, the runtime dump no stage: only name, class, order are compared
    assert "compared: name, class, order" in out


@needs_gt
def test_json_to_stdout_has_the_documented_keys(capsys):
    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, GT_SEED, "--json", "-")
    assert code == 0, err
    result = json.loads(out)  # nothing but the JSON on stdout
    assert set(result) == {"identical", "compared", "counts", "differences"}
    assert result["identical"] is True and result["compared"] == GT_MODULES
    assert result["counts"] == dict.fromkeys(KINDS, 0)
    assert result["differences"] == {k: [] for k in KINDS}


@pytest.fixture
def flash_seed(tmp_path):
    """The seed list as a flash_attention_2 build would give it: LlamaFlashAttention2 in every layer."""
    seed = json.loads(GT_SEED.read_text())
    changed = 0
    for m in seed:
        if m["class"] == "LlamaAttention":
            m["class"] = "LlamaFlashAttention2"
            changed += 1
    assert changed == 12
    return write_json(tmp_path / "seed-flash.json", seed)


@needs_gt
def test_class_rename_is_a_difference_until_ignored(capsys, flash_seed):
    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, flash_seed, "--json", "-")
    assert code == 1, err
    result = json.loads(out)
    assert result["identical"] is False
    assert result["counts"] == {**dict.fromkeys(KINDS, 0), "class": 12}
    [entry] = result["differences"]["class"]
    assert set(entry) == {"pattern", "count", "detail", "names"}
    assert entry == {"pattern": "model.layers.{0..11}.self_attn", "count": 12,
                     "detail": "LlamaAttention -> LlamaFlashAttention2", "names": ATTN}

    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, flash_seed)  # text: one collapsed line
    assert code == 1
    assert re.search(r"^  model\.layers\.\{0\.\.11\}\.self_attn +\(12\)  LlamaAttention -> LlamaFlashAttention2$",
                     out, re.M), out
    assert last_line(out) == f"{GT_MODULES} modules compared, 12 differences: 12 class"

    for pair in ("LlamaAttention=LlamaFlashAttention2", "LlamaFlashAttention2=LlamaAttention"):  # either direction
        code, out, err = run_cli(capsys, "diff", GT_RUNTIME, flash_seed, "--ignore-class", pair)
        assert code == 0, out + err
        assert last_line(out) == f"{GT_MODULES} modules compared, 0 differences"


@needs_gt
def test_only_stage_restricts_the_comparison(capsys, tmp_path):
    seed = json.loads(GT_SEED.read_text())
    per_stage = {s: sum(m["stage"] == s for m in seed) for s in ("sam", "clip")}
    target = "model.vision_model.embeddings.position_embedding"
    [m] = [m for m in seed if m["name"] == target]
    assert (m["class"], m["stage"]) == ("Embedding", "clip")
    m["class"] = "Linear"  # drift inside the clip stage only
    mutated = write_json(tmp_path / "seed-clip-drift.json", seed)

    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, mutated, "--only-stage", "sam")
    assert code == 0, out + err
    assert last_line(out) == f"{per_stage['sam']} modules compared, 0 differences"

    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, mutated, "--only-stage", "clip", "--json", "-")
    assert code == 1
    result = json.loads(out)
    assert result["compared"] == per_stage["clip"]
    assert names_by_kind(result) == {**{k: [] for k in KINDS}, "class": [target]}
    assert result["differences"]["class"][0]["detail"] == "Embedding -> Linear"

    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, mutated, "--only-stage", "sam", "--only-stage", "clip")
    assert code == 1
    assert last_line(out) == f"{per_stage['sam'] + per_stage['clip']} modules compared, 1 difference: 1 class"


@needs_gt
def test_only_stage_needs_a_stage_field(capsys):
    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, GT_RUNTIME, "--only-stage", "sam")
    assert_error(code, out, err, "stage", diag="E006")


def test_bad_ignore_class_value(capsys, tmp_path):
    tree = write_json(tmp_path / "t.json", [{"name": "", "class": "Net"}])
    code, out, err = run_cli(capsys, "diff", tree, tree, "--ignore-class", "LlamaAttention")
    assert_error(code, out, err, "--ignore-class expects A=B", diag="E003")


# ---- dump-runtime through the CLI writes what check accepts -------------------------------------
EXECUTES = re.compile(r"EXECUTING the model code in .*meta")


@needs_torch
@pytest.mark.parametrize("folder,root,n", [
    # 24: root, stem + 3, head, blocks + 5, ffn + 3, task_heads + 2, pool, block0, block1, rotary
    ("constructs_containers", CONTAINERS_ROOT, 24),
    ("sample_vlm", None, None),
    # needs_stub: root, fc, gate, gate.proj, norm
    ("needs_stub", "model:StubbedNet", 5),
])
def test_dump_runtime_then_check(capsys, tmp_path, folder, root, n):
    src = FIXTURES / folder
    root_args = ["--root", root] if root else []
    stub_args = ["--stub-module", "not_a_real_pkg"] if folder == "needs_stub" else []
    out_json = tmp_path / "runtime.json"
    code, out, err = run_cli(capsys, "dump-runtime", src, *root_args, *stub_args, "-o", out_json)
    assert code == 0, err
    assert out == ""
    assert EXECUTES.search(err), err  # it says so before running anything
    data = json.loads(out_json.read_text())
    assert data["meta"]["mode"] == "runtime"
    assert data["meta"]["stubs"] == (["not_a_real_pkg"] if stub_args else [])  # the stub is reported
    n = n if n is not None else len(data["modules"])
    assert f"wrote {n} modules to {out_json}" in err

    code, out, err = run_cli(capsys, "check", src, *root_args, "--against", out_json)
    assert (code, out) == (0, f"{n} modules compared, 0 differences\n"), out + err


@needs_torch
def test_dump_runtime_to_stdout_is_pure_json(capsys, tmp_path):
    code, out, err = run_cli(capsys, "dump-runtime", CONTAINERS, "--root", CONTAINERS_ROOT)
    assert code == 0, err
    assert EXECUTES.search(err)
    data = json.loads(out)
    assert [m["name"] for m in data["modules"]][:4] == ["", "stem", "stem.0", "stem.1"]
    dumped = write_json(tmp_path / "from-stdout.json", data)
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", dumped)
    assert (code, out) == (0, "24 modules compared, 0 differences\n"), out + err


@needs_torch
def test_dump_runtime_of_sam_with_torchvision_stubbed_then_check(capsys, tmp_path, sam_src):
    out_json = tmp_path / "sam.runtime.json"
    code, out, err = run_cli(capsys, "dump-runtime", sam_src, "--root", SAM_ROOT, "--stub-module", "torchvision",
                             "-o", out_json)
    assert code == 0, err
    assert EXECUTES.search(err), err
    data = json.loads(out_json.read_text())
    assert data["meta"]["stubs"] == ["torchvision"]
    # 238 = root + image_encoder (1 + patch_embed 2 + blocks 1 + 12 x 10 + neck 5 = 129)
    #       + prompt_encoder 17 + mask_decoder 91
    assert len(data["modules"]) == 238
    code, out, err = run_cli(capsys, "check", sam_src, "--root", SAM_ROOT, "--against", out_json)
    assert (code, out) == (0, "238 modules compared, 0 differences\n"), out + err


@needs_torch
def test_dump_runtime_missing_import_names_it_and_suggests_a_stub(capsys, tmp_path):
    out_json = tmp_path / "never.json"
    code, out, err = run_cli(capsys, "dump-runtime", FIXTURES / "needs_stub", "--root", "model:StubbedNet",
                             "-o", out_json)
    assert_error(code, out, err, "'not_a_real_pkg'", "--stub-module not_a_real_pkg", "model.py:", diag="E007")
    assert EXECUTES.search(err)
    assert not out_json.exists()


@needs_torch
@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_dump_runtime_of_sam_without_stub_names_torchvision(capsys, tmp_path, sam_src):
    code, out, err = run_cli(capsys, "dump-runtime", sam_src, "--root", SAM_ROOT, "-o", tmp_path / "never.json")
    assert_error(code, out, err, "'torchvision'", "--stub-module torchvision", diag="E007")


@needs_torch
@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_failed_dump_of_installed_package_leaves_nothing_behind(capsys, tmp_path, sam_src):
    # Regression: a failed import of the INSTALLED segment_anything used to leave its submodules
    # (segment_anything.build_sam, .modeling...) in sys.modules without their package; a later dump of
    # another folder named segment_anything then ran the installed code instead of that folder's.
    installed = Path(list(importlib.util.find_spec("segment_anything").submodule_search_locations)[0])
    code, out, err = run_cli(capsys, "dump-runtime", installed, "--root", SAM_ROOT, "-o", tmp_path / "never.json")
    assert_error(code, out, err, "--stub-module torchvision", diag="E007")
    mutated = tmp_path / "m" / "segment_anything"
    shutil.copytree(sam_src, mutated)
    build = mutated / "build_sam.py"
    build.write_text(build.read_text().replace("encoder_depth=12,", "encoder_depth=11,", 1))
    code, out, err = run_cli(capsys, "dump-runtime", mutated, "--root", SAM_ROOT, "-o", tmp_path / "never.json")
    assert_error(code, out, err, "--stub-module torchvision", diag="E007")  # still needs the stub
    dumped = tmp_path / "mutated.json"
    code, out, err = run_cli(capsys, "dump-runtime", mutated, "--root", SAM_ROOT, "--stub-module", "torchvision",
                             "-o", dumped)
    assert code == 0, err
    assert len(json.loads(dumped.read_text())["modules"]) == 238 - 10  # this folder's code: one block fewer


@needs_torch
def test_dump_runtime_bad_folder_and_root(capsys, tmp_path):
    code, out, err = run_cli(capsys, "dump-runtime", tmp_path / "nope", "--root", "m:Net")
    assert_error(code, out, err, "does not exist", str(tmp_path / "nope"), diag="E002")
    code, out, err = run_cli(capsys, "dump-runtime", CONTAINERS, "--root", "containers:NoSuchNet")
    assert_error(code, out, err, "NoSuchNet", diag="E004")


# ---- bad input: exit 2 with a clear message, never a traceback -----------------------------------
@pytest.fixture
def small_tree(tmp_path):
    return write_json(tmp_path / "small.json", [{"name": "", "class": "Net", "stage": "other"},
                                                 {"name": "fc", "class": "Linear", "stage": "other"}])


@needs_torch
def test_truncated_json(capsys, tmp_path, dumps):
    text = dumps["containers"].read_text()
    cut = tmp_path / "truncated.json"
    cut.write_text(text[: len(text) // 2], encoding="utf-8")
    code, out, err = run_cli(capsys, "diff", dumps["containers"], cut)
    assert_error(code, out, err, str(cut), "invalid JSON", "truncated", diag="E006")
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", cut)
    assert_error(code, out, err, str(cut), "truncated", diag="E006")


@pytest.mark.parametrize("content,fragment", [
    ('{"schema": "modeltree/1"}', "expected a module tree"),
    ('"a string"', "expected a module tree"),
    ("[1, 2]", "expected an object"),
    ('[{"name": "", "class": null}]', "'class' must be a string"),
    ('{"modules": [{"class": "Net"}]}', "'name' must be a string"),
    ('[{"name": "", "class": "Net", "params": {"w": "big"}}]', "a shape must be a list of integers"),
    ('[{"name": "", "class": "Net", "params": [1]}]', "'params' must be an object"),
    ('[{"name": "", "class": "Net"}, {"name": "", "class": "Net"}]', "duplicate module name"),
    ("", "empty file"),
], ids=["object-no-modules", "string", "list-of-numbers", "class-null", "no-name", "bad-shape", "params-list",
        "duplicate", "empty"])
def test_json_of_the_wrong_shape(capsys, tmp_path, small_tree, content, fragment):
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    code, out, err = run_cli(capsys, "diff", small_tree, bad)
    assert_error(code, out, err, str(bad), fragment, diag="E006")
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", bad)
    assert_error(code, out, err, str(bad), fragment, diag="E006")


def test_not_utf8(capsys, tmp_path, small_tree):
    bad = tmp_path / "binary.json"
    bad.write_bytes(b"\x80\x81\xff{}")
    code, out, err = run_cli(capsys, "diff", bad, small_tree)
    assert_error(code, out, err, str(bad), "not UTF-8", diag="E006")


def test_missing_file(capsys, tmp_path, small_tree):
    missing = tmp_path / "no-such-dump.json"
    code, out, err = run_cli(capsys, "diff", small_tree, missing)
    assert_error(code, out, err, str(missing), "not found", diag="E002")
    code, out, err = run_cli(capsys, "diff", missing, small_tree)
    assert_error(code, out, err, str(missing), "not found", diag="E002")
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", missing)
    assert_error(code, out, err, str(missing), "not found", diag="E002")
    code, out, err = run_cli(capsys, "check", tmp_path / "no-such-src", "--against", small_tree)
    assert_error(code, out, err, str(tmp_path / "no-such-src"), "does not exist", diag="E002")


def test_directory_given_as_the_json_tree(capsys, tmp_path):
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", tmp_path)
    assert_error(code, out, err, str(tmp_path), "is a directory", diag="E002")


def test_json_file_given_as_the_source_folder(capsys, small_tree):
    code, out, err = run_cli(capsys, "check", small_tree, "--against", small_tree)
    assert_error(code, out, err, str(small_tree), "expected a folder", diag="E002")


NOT_A_MODEL = pytest.mark.parametrize("contents", [{}, {"README.txt": "notes, not a model"}],
                                      ids=["empty", "readme-only"])


def _not_a_model(tmp_path, contents) -> Path:
    folder = tmp_path / "not_a_model"
    folder.mkdir()
    for name, text in contents.items():
        (folder / name).write_text(text)
    return folder


@NOT_A_MODEL
def test_directory_that_is_not_a_model_folder(capsys, tmp_path, small_tree, contents):
    folder = _not_a_model(tmp_path, contents)
    for argv in (["diff", folder, small_tree], ["diff", small_tree, folder],
                 ["check", folder, "--against", small_tree]):
        code, out, err = run_cli(capsys, *argv)
        assert_error(code, out, err, "no root given", "--root", diag="E004")
    # with a --root that names no file in the folder
    code, out, err = run_cli(capsys, "check", folder, "--root", "model:Net", "--against", small_tree)
    assert_error(code, out, err, str(folder), "'model'", diag="E004")


@NOT_A_MODEL
def test_not_a_model_folder_message_names_the_folder(capsys, tmp_path, small_tree, contents):
    # With two sides, the message must say which one is wrong; and the folder has no config.json at all,
    # so "config.json has no auto_map.AutoModel entry" is not what the user needs to hear.
    folder = _not_a_model(tmp_path, contents)
    code, out, err = run_cli(capsys, "diff", small_tree, folder)
    assert_error(code, out, err, str(folder), "config.json", "--root", diag="E004")
    assert "config.json has no auto_map" not in err


@needs_torch
@NOT_A_MODEL
def test_dump_runtime_of_a_folder_that_is_not_a_model(capsys, tmp_path, contents):
    folder = _not_a_model(tmp_path, contents)
    code, out, err = run_cli(capsys, "dump-runtime", folder, "-o", tmp_path / "never.json")
    assert code == 2 and out == "", out + err
    assert f"{folder} E004 no root given" in err and "config.json" in err and "--root" in err, err
    assert not (tmp_path / "never.json").exists()


@needs_gt
def test_only_stage_that_no_module_has_is_an_error(capsys):
    # a misspelt stage must not compare 0 modules and pass the CI gate
    code, out, err = run_cli(capsys, "diff", GT_RUNTIME, GT_SEED, "--only-stage", "prefil")
    assert_error(code, out, err, "'prefil'", "no module has this stage", "prefill", diag="E003")
    code, out, err = run_cli(capsys, "check", FIXTURES / "sample_vlm", "--against", GT_SEED, "--only-stage", "sma")
    assert_error(code, out, err, "'sma'", diag="E003")


# ---- a dump of another model ---------------------------------------------------------------------
def _tree(*names_classes: tuple[str, str]) -> ModuleTree:
    return ModuleTree(root="x:y", modules=[ModuleNode(n, c, c) for n, c in names_classes])


def test_unrelated_helper():
    a = _tree(("", "Sam"), ("image_encoder", "ImageEncoderViT"), ("image_encoder.neck", "Sequential"))
    b = _tree(("", "OCR"), ("model", "OCRModel"), ("lm_head", "Linear"))
    message = unrelated(a, b, "sam.json", "ocr.json")
    assert message is not None and message.startswith(UNRELATED)
    assert "sam.json: 3 modules, root class Sam" in message and "ocr.json: 3 modules, root class OCR" in message
    assert unrelated(a, a) is None
    # one shared module below the root is enough to make it a diff of the same model
    assert unrelated(a, _tree(("", "Other"), ("image_encoder", "X"), ("lm_head", "Linear"))) is None
    # a tree with nothing below the root is a (large) difference, not another model
    assert unrelated(a, _tree(("", "Sam"))) is None
    assert unrelated(_tree(("", "A")), _tree(("", "B"))) is None


@needs_torch
def test_unrelated_helper_on_real_dumps(dumps, sam_src):
    containers, vlm = load_tree(str(dumps["containers"])), load_tree(str(dumps["vlm"]))
    assert unrelated(containers, vlm) is not None  # ContainerNet vs SampleOCRForCausalLM: only the root shared
    assert unrelated(vlm, vlm) is None


@needs_torch
def test_diff_against_a_dump_of_another_model_is_an_error(capsys, dumps):
    code, out, err = run_cli(capsys, "diff", dumps["containers"], dumps["vlm"])
    assert_error(code, out, err, UNRELATED, diag="E006")
    code, out, err = run_cli(capsys, "check", CONTAINERS, "--root", CONTAINERS_ROOT, "--against", dumps["vlm"])
    assert_error(code, out, err, UNRELATED, diag="E006")
    code, out, err = run_cli(capsys, "check", FIXTURES / "sample_vlm", "--against", dumps["containers"])
    assert_error(code, out, err, UNRELATED, diag="E006")


@needs_torch
def test_same_model_other_size_is_a_difference_not_an_error(capsys, dumps):
    # num_hidden_layers 4 -> 2: decoder layers 2 and 3 are missing from the static side; the trees are
    # plainly the same model, so this is drift (exit 1), not "another model" (exit 2).
    code, out, err = run_cli(capsys, "check", FIXTURES / "sample_vlm", "--set", "num_hidden_layers=2",
                             "--against", dumps["vlm"], "--verbose")
    assert code == 1, out + err
    assert UNRELATED not in out + err
    assert re.search(r"^  model\.layers\.\{2\.\.3\} +\(2\)  SampleDecoderLayer$", out, re.M), out

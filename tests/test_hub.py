"""Issue 13: Hub ids ``ORG/NAME`` as the source, read offline from the Hugging Face cache.

Each test builds a cache as huggingface_hub lays it out (tests/hub_layout.py: refs, two
snapshots, files as relative symlinks into blobs/) in a temporary folder. huggingface_hub's own
``snapshot_download(..., local_files_only=True)`` on the same layout is the independent truth of
the resolution; the tree built from a snapshot must equal the tree of the same files as a folder.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli.main import main
from analyzer.diagnostics import AnalyzerError
from analyzer.source import hub, inputs
from conftest import REPO, SHARED, rows, write_package
from hub_layout import C_NEW, C_OLD, add_snapshot, folder_files, model_files, tiny_cache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, the only one these tests see."""
    root = tmp_path / "hf-cache"
    root.mkdir()
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.chdir(tmp_path)  # no folder named org/... here unless a test makes one
    return root


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def _tree(capsys, *argv):
    code, out, err = _run(capsys, "tree", *argv, "--json", "-")
    assert code == 0, err
    return json.loads(out), err


def _linear_width(doc) -> int:
    return next(m for m in doc["modules"] if m["name"] == "proj")["params"]["weight"][0]


# ---- resolution: by branch, tag and commit, checked against huggingface_hub -------------------
REVISIONS = [(None, C_NEW), ("main", C_NEW), ("v1.0", C_OLD), (C_OLD, C_OLD), (C_NEW, C_NEW)]


@pytest.mark.parametrize("revision, commit", REVISIONS)
def test_resolution_agrees_with_huggingface_hub(cache, revision, commit):
    from huggingface_hub import snapshot_download

    tiny_cache(cache)
    got = hub.resolve("org/tiny", revision)
    truth = snapshot_download("org/tiny", revision=revision or "main", local_files_only=True, cache_dir=str(cache))
    assert Path(got.path).resolve() == Path(truth).resolve()
    assert (got.commit, got.revision) == (commit, revision or "main")


@pytest.mark.parametrize("revision, commit, width", [(None, C_NEW, 8), ("v1.0", C_OLD, 4), (C_OLD, C_OLD, 4)])
def test_tree_of_a_hub_id_equals_the_tree_of_its_files(cache, capsys, tmp_path, revision, commit, width):
    tiny_cache(cache)
    argv = ["org/tiny", "--no-cache"] + (["--revision", revision] if revision else [])
    doc, err = _tree(capsys, *argv)
    folder = write_package(tmp_path / "plain", model_files(width))
    plain, _ = _tree(capsys, folder, "--no-cache")
    snapshot = cache / "models--org--tiny" / "snapshots" / commit
    assert doc["meta"].pop("hub") == {"id": "org/tiny", "revision": revision or "main", "commit": commit,
                                      "path": str(snapshot)}
    assert doc == plain and _linear_width(doc) == width
    # sources are named by their file in the snapshot, never by a blob's hash
    assert {m["source"].split(":")[0] for m in doc["modules"] if m["source"]} == {"modeling_net.py", "layers.py"}
    assert err == (f"note: org/tiny resolved from the Hugging Face cache: {snapshot} "
                   f"(revision {revision or 'main'} = {commit})\n")


def test_text_output_names_the_id_commit_and_path(cache, capsys):
    tiny_cache(cache)
    code, out, err = _run(capsys, "tree", "org/tiny", "--revision", "v1.0")
    snapshot = cache / "models--org--tiny" / "snapshots" / C_OLD
    assert code == 0 and out.splitlines()[1] == f"source org/tiny @ v1.0 = {C_OLD}  ({snapshot})"
    assert "proj: Linear" in out and "weight[4, 4]" in out


@pytest.mark.parametrize("breakage, revision, words", [
    ("no repo", None, ["org/tiny is neither a local folder nor in the Hugging Face cache", "--download"]),
    ("none", "v2.0", ["revision 'v2.0' is not in the Hugging Face cache (cached: main, v1.0)", "--download"]),
    ("garbage ref", None, ["broken ref", "expected a 40-hex commit hash, found 'not a commit'"]),
    ("empty ref", None, ["broken ref", "found ''"]),
    ("ref to a missing snapshot", None, [f"revision main = {'f' * 40}, but its snapshot folder", "--download"]),
    ("none", "f" * 40, [f"revision {'f' * 40} = {'f' * 40}, but its snapshot folder", "is missing"]),
    ("ref is a folder", None, ["revision 'main' is not in the Hugging Face cache"]),
    ("none", "../../etc", ["--revision '../../etc' is not a branch, tag or commit name"]),
    ("none", "/abs", ["is not a branch, tag or commit name"]),
])
def test_unresolvable_ids_are_one_line_and_exit_2(cache, capsys, tmp_path, breakage, revision, words):
    from huggingface_hub import snapshot_download

    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([{"name": "", "class": "Net", "stage": "other"}]))

    if breakage != "no repo":
        tiny_cache(cache)
    main_ref = cache / "models--org--tiny" / "refs" / "main"
    if breakage == "garbage ref":
        main_ref.write_text("not a commit\n")
    elif breakage == "empty ref":
        main_ref.write_text("")
    elif breakage == "ref to a missing snapshot":
        main_ref.write_text("f" * 40)
    elif breakage == "ref is a folder":
        main_ref.unlink()
        main_ref.mkdir()
    argv = ["tree", "org/tiny"] + (["--revision", revision] if revision else [])
    for command in (argv, ["costs", *argv[1:]], ["check", *argv[1:], "--against", seed],
                    ["diff", *argv[1:], seed], ["diff", seed, *argv[1:]], ["formulations", *argv[1:]]):
        code, out, err = _run(capsys, *command)
        assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("E008 "), (command, err)
        assert all(w in err for w in words), err
    if ".." not in (revision or "") and not (revision or "x").startswith("/"):  # huggingface_hub agrees:
        try:  # no snapshot (for an empty ref it returns the snapshots/ folder itself, which is none)
            found = Path(snapshot_download("org/tiny", revision=revision or "main", local_files_only=True,
                                           cache_dir=str(cache)))
        except Exception:  # noqa: BLE001 - LocalEntryNotFoundError, or whatever it raises
            found = None
        assert found is None or found.parent.name != "snapshots", found


# ---- which argument is a Hub id --------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("deepseek-ai/DeepSeek-OCR", True), ("org/tiny", True), ("a/b", True), ("Org_1/model.v2-final", True),
    ("gpt2", False), ("a/b/c", False), ("/abs/path", False), ("./org/tiny", False), ("org/", False),
    ("org/-x", False), ("org/x.", False), ("org--a/b", False), ("org/a..b", False), ("org/x.git", False),
    ("~/models/x", False), ("org/" + "x" * 93, False), ("org/na me", False), ("orgé/x", False),
])
def test_hub_id_syntax(text, expected):
    assert hub.is_hub_id(text) is expected


def test_a_local_folder_of_the_same_name_wins_and_says_so(cache, capsys, tmp_path):
    tiny_cache(cache)
    write_package(tmp_path / "org" / "tiny", model_files(3))  # cwd is tmp_path
    doc, err = _tree(capsys, "org/tiny", "--no-cache")
    assert _linear_width(doc) == 3 and "hub" not in doc["meta"]
    assert err == "note: org/tiny is a local folder: it is used, not the Hugging Face cache's org/tiny\n"
    # a folder that only looks like a Hub id says nothing when the cache has no such repo
    write_package(tmp_path / "other" / "model", model_files(5))
    doc, err = _tree(capsys, "other/model", "--no-cache")
    assert _linear_width(doc) == 5 and err == ""


def test_revision_given_for_a_folder_is_noted(cache, capsys, tmp_path):
    folder = write_package(tmp_path / "plain", model_files(5))
    doc, err = _tree(capsys, folder, "--revision", "v1.0", "--no-cache")
    assert _linear_width(doc) == 5 and err == f"note: --revision/--download apply to Hub ids only; {folder} is a local folder\n"


def test_cache_dir_follows_huggingface_hub_env_rules(tmp_path):
    """The same environment gives the same cache folder as huggingface_hub.constants (a fresh
    process each: it reads the environment when imported)."""
    cases = [{"HF_HUB_CACHE": str(tmp_path / "a")}, {"HF_HOME": str(tmp_path / "h")},
             {"HF_HUB_CACHE": str(tmp_path / "a"), "HF_HOME": str(tmp_path / "h")},
             {"XDG_CACHE_HOME": str(tmp_path / "x")}, {"HUGGINGFACE_HUB_CACHE": str(tmp_path / "legacy")}, {}]
    code = ("import huggingface_hub.constants as c; from analyzer.source import hub; "
            "print(c.HF_HUB_CACHE); print(hub.cache_dir())")
    for extra in cases:
        env = {k: v for k, v in os.environ.items()
               if k not in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HUGGINGFACE_HUB_CACHE")}
        proc = subprocess.run([sys.executable, "-c", code], env={**env, **extra, "PYTHONPATH": str(REPO)},
                              capture_output=True, text=True, check=True)
        theirs, ours = proc.stdout.splitlines()
        assert Path(theirs) == Path(ours), extra


# ---- every command, the result cache, diff and check ----------------------------------------
def test_result_cache_key_follows_the_resolved_commit(cache, capsys):
    tiny_cache(cache)
    doc, _ = _tree(capsys, "org/tiny")
    assert _linear_width(doc) == 8
    (cache / "models--org--tiny" / "refs" / "main").write_text(C_OLD)  # the branch moves
    doc, _ = _tree(capsys, "org/tiny")
    assert _linear_width(doc) == 4 and doc["meta"]["hub"]["commit"] == C_OLD
    doc, _ = _tree(capsys, "org/tiny", "--revision", "v1.0")  # same commit, another revision: recorded as asked
    assert doc["meta"]["hub"]["revision"] == "v1.0"


def test_diff_and_check_take_hub_ids_and_keep_json_files(cache, capsys, tmp_path):
    tiny_cache(cache)
    dump = tmp_path / "old.json"
    code, _, _ = _run(capsys, "tree", "org/tiny", "--revision", "v1.0", "--json", dump)
    assert code == 0
    code, out, err = _run(capsys, "check", "org/tiny", "--revision", "v1.0", "--against", dump)
    assert code == 0 and out == "4 modules compared, 0 differences\n" and "resolved from the Hugging Face cache" in err
    code, out, _ = _run(capsys, "diff", "org/tiny", dump)  # main (d=8) against v1.0 (d=4)
    assert code == 1 and "proj" in out and "[8, 8]" in out
    # a missing JSON file that looks like ORG/NAME stays a file (E006), never a Hub lookup
    (tmp_path / "out").mkdir()
    code, out, err = _run(capsys, "diff", "out/missing.json", dump)
    assert code == 2 and "E008" not in err and "missing.json" in err


def test_costs_of_a_hub_id_record_it_in_meta(cache, capsys):
    from analyzer.costs.workload import default_workload_path

    tiny_cache(cache)  # no template fits the tiny model (issue 11: exit 2), so the workload is named
    code, out, err = _run(capsys, "costs", "org/tiny", "--json", "-", "--mode", "base",
                          "--workload", str(default_workload_path()))
    doc = json.loads(out) if out.startswith("{") else {}
    assert doc.get("meta", {}).get("hub", {}).get("commit") == C_NEW, (code, err)


@pytest.mark.parametrize("commit, init", [(C_OLD, False), (C_NEW, True)])
def test_dump_runtime_of_a_hub_id(cache, capsys, commit, init):
    """The runtime dump agrees with the static tree; a snapshot with an ``__init__.py`` is still
    an anonymous package (a commit hash is no package name, even when it reads as an identifier)."""
    pytest.importorskip("torch")
    add_snapshot(cache, "org/tiny", commit, {**model_files(4), **({"__init__.py": ""} if init else {})},
                 refs=("v1.0",))
    code, out, err = _run(capsys, "dump-runtime", "org/tiny", "--revision", "v1.0")
    assert code == 0, err
    runtime = json.loads(out)
    assert runtime["meta"]["hub"]["commit"] == commit and f"revision v1.0 = {commit}" in err
    static, _ = _tree(capsys, "org/tiny", "--revision", "v1.0")
    assert [(m["name"], m["class"], m["class_qualname"], m["params"]) for m in runtime["modules"]] == \
        [(m["name"], m["class"], m["class_qualname"], m["params"]) for m in static["modules"]]
    assert static["modules"][0]["class_qualname"] == "modeling_net.Net"


# ---- auto_map into another repo ---------------------------------------------------------------
def _split_repos(cache, code_commit=C_NEW):
    """org/weights holds only config.json, whose auto_map points into org/code."""
    add_snapshot(cache, "org/code", code_commit, {k: v for k, v in model_files(6).items() if k != "config.json"},
                 refs=("main",))
    config = model_files(6, auto_model="org/code--modeling_net.Net")["config.json"]
    add_snapshot(cache, "org/weights", C_OLD, {"config.json": config}, refs=("main",))
    return config


def test_auto_map_into_another_repo_is_read_from_the_cache(cache, capsys, tmp_path):
    config = _split_repos(cache)
    doc, err = _tree(capsys, "org/weights", "--no-cache")
    code_snapshot = cache / "models--org--code" / "snapshots" / C_NEW
    assert _linear_width(doc) == 6 and doc["meta"]["hub"]["id"] == "org/weights"
    assert doc["meta"]["code_repo"] == {"id": "org/code", "revision": "main", "commit": C_NEW,
                                        "path": str(code_snapshot)}
    assert f"note: auto_map.AutoModel points to org/code: org/code resolved from the Hugging Face cache: " \
           f"{code_snapshot} (revision main = {C_NEW})\n" in err
    # --revision is the given repo's; the code repo is read at main, as transformers does
    add_snapshot(cache, "org/weights", C_NEW, {"config.json": config}, refs=("v2",))
    doc, _ = _tree(capsys, "org/weights", "--revision", "v2", "--no-cache")
    assert doc["meta"]["hub"]["commit"] == C_NEW and doc["meta"]["code_repo"]["revision"] == "main"
    # a local folder's config.json may point into a cached repo too
    local = tmp_path / "local"
    local.mkdir()
    (local / "config.json").write_text(config)
    doc, _ = _tree(capsys, local, "--no-cache")
    assert _linear_width(doc) == 6 and "hub" not in doc["meta"] and doc["meta"]["code_repo"]["id"] == "org/code"


def test_auto_map_into_a_repo_that_is_not_cached(cache, capsys):
    _split_repos(cache)
    code, out, err = _run(capsys, "tree", "org/weights", "--set", 'auto_map={"AutoModel": "org/gone--m.Net"}')
    assert code == 2 and err.splitlines()[-1].startswith("E008 org/gone is neither a local folder nor in the")
    code, out, err = _run(capsys, "tree", "org/weights", "--set", 'auto_map={"AutoModel": "nohub--m.Net"}')
    assert code == 2 and "E004" in err and "'nohub' is not a Hub id ORG/NAME" in err


# ---- acceptance: DeepSeek-OCR's files in a cache under HF_HOME ------------------------------
DSOCR = os.environ.get("DEEPSEEK_OCR_SRC")


@pytest.mark.skipif(not DSOCR or not (SHARED / "deepseek-ocr.runtime-tree.json").is_file(),
                    reason="set DEEPSEEK_OCR_SRC to the upstream DeepSeek-OCR files (never committed) to run")
def test_deepseek_ocr_from_the_cache(tmp_path, monkeypatch, capsys):
    from analyzer.tree.model import from_json

    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.chdir(tmp_path)
    folder_files(Path(DSOCR), tmp_path / "hf" / "hub", "deepseek-ai/DeepSeek-OCR", C_NEW)
    code, out, err = _run(capsys, "tree", "deepseek-ai/DeepSeek-OCR", "--json", "-")
    truth = from_json(json.loads((SHARED / "deepseek-ocr.runtime-tree.json").read_text()))
    assert code == 0 and rows(from_json(json.loads(out))) == rows(truth)
    code, hub_costs, _ = _run(capsys, "costs", "deepseek-ai/DeepSeek-OCR", "--mode", "base")
    code2, folder_costs, _ = _run(capsys, "costs", DSOCR, "--mode", "base")
    assert (code, hub_costs) == (code2, folder_costs) and "prefill" in hub_costs

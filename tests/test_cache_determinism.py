"""The result cache is trusted only when nothing changed; output is byte-identical across cache
states and hash seeds."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from analyzer import cache
from analyzer.api import analyze
from analyzer.cli.main import main

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "fixtures" / "sample_vlm"


def tree_json(capsys, *argv):
    assert main(["tree", *argv, "--json", "-"]) == 0
    return capsys.readouterr().out


def test_hit_is_identical_and_marked_cached(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    first = analyze(SAMPLE, use_cache=True)
    second = analyze(SAMPLE, use_cache=True)
    assert not first.cached and second.cached
    assert json.dumps(first.tree.to_json(first.diagnostics)) == json.dumps(second.tree.to_json(second.diagnostics))
    cold = tree_json(capsys, str(SAMPLE), "--no-cache")
    warm = tree_json(capsys, str(SAMPLE))
    assert cold == warm


def test_stale_entry_is_rebuilt_when_a_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    src = tmp_path / "m"
    src.mkdir()
    (src / "m.py").write_text("import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n"
                              "        super().__init__()\n        self.a = nn.Linear(2, 3)\n")
    assert analyze(src, root="m:Net", use_cache=True).tree.modules[1].params["weight"] == (3, 2)
    (src / "m.py").write_text((src / "m.py").read_text().replace("Linear(2, 3)", "Linear(2, 5)"))
    again = analyze(src, root="m:Net", use_cache=True)
    assert not again.cached and again.tree.modules[1].params["weight"] == (5, 2)


def test_corrupted_or_truncated_entries_are_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    analyze(SAMPLE, use_cache=True)
    (entry,) = list((tmp_path / "c").glob("*.json"))
    text = entry.read_text()
    # a changed number inside the payload: the checksum no longer matches
    entry.write_text(text.replace('"params": 0', '"params": 1', 1).replace("[32, 32]", "[32, 33]", 1))
    hit = analyze(SAMPLE, use_cache=True)
    assert not hit.cached and all(s != (32, 33) for m in hit.tree.modules for s in m.params.values())
    entry.write_text(text[: len(text) // 2])  # truncated
    assert not analyze(SAMPLE, use_cache=True).cached
    entry.write_text("[]")  # wrong shape
    assert not analyze(SAMPLE, use_cache=True).cached


def test_cache_clear_and_no_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    assert main(["tree", str(SAMPLE), "--no-cache"]) == 0
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*.json"))
    assert main(["tree", str(SAMPLE)]) == 0
    assert len(list((tmp_path / "c").glob("*.json"))) == 1
    n_facts = len(list((tmp_path / "c" / "facts").glob("*.json")))
    assert n_facts >= 3  # the sample's modeling, configuration and encoder files, and what they import
    n_all = len(list((tmp_path / "c").rglob("*.json")))  # with parsed rules files (parsed/)
    capsys.readouterr()
    assert main(["cache", "clear"]) == 0
    assert f"removed {n_all} cache entries" in capsys.readouterr().out
    assert not list((tmp_path / "c").rglob("*.json"))
    assert cache.load("0" * 64) is None


def _count_indexing(monkeypatch) -> list:
    from analyzer.source import index

    indexed: list = []
    real = index.index_module

    def counting(text, display):
        indexed.append(display)
        return real(text, display)

    monkeypatch.setattr(index, "index_module", counting)
    return indexed


def test_per_file_facts_are_reused_when_the_result_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    indexed = _count_indexing(monkeypatch)
    analyze(SAMPLE, use_cache=True)
    first = len(indexed)
    assert first >= 3
    # another config value: a result-cache miss, but no source file changed, so none is indexed again
    other = analyze(SAMPLE, overrides=["num_hidden_layers=2"], use_cache=True)
    assert not other.cached and len(indexed) == first
    fresh = analyze(SAMPLE, overrides=["num_hidden_layers=2"])
    assert len(indexed) == 2 * first  # without the cache, every file is indexed
    assert json.dumps(other.tree.to_json(other.diagnostics)) == json.dumps(fresh.tree.to_json(fresh.diagnostics))


def test_corrupted_facts_entries_are_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    expected = json.dumps(analyze(SAMPLE).tree.to_json([]))
    analyze(SAMPLE, use_cache=True)
    entries = sorted((tmp_path / "c" / "facts").glob("*.json"))
    good = {p: p.read_bytes() for p in entries}
    wrong_shape = b'{"bindings": {"x": [[1, 2]]}, "classes": 3}'
    corruptions = [
        lambda raw: raw.replace(b"[", b"[0,", 1),  # payload changed: checksum mismatch
        lambda raw: raw[: len(raw) // 2],  # truncated
        # a valid checksum over a payload of the wrong shape
        lambda raw: json.dumps({"sha": json.loads(raw.split(b"\n")[0])["sha"],
                                "checksum": hashlib.sha256(wrong_shape).hexdigest()}).encode() + b"\n" + wrong_shape,
    ]
    for corrupt in corruptions:
        for p, raw in good.items():
            p.write_bytes(corrupt(raw))
        for p in (tmp_path / "c").glob("*.json"):
            p.unlink()  # drop the result entry: the facts must be used or rebuilt
        indexed = _count_indexing(monkeypatch)
        again = analyze(SAMPLE, use_cache=True)
        assert not again.cached and len(indexed) == len(good)  # every corrupted entry was indexed again
        assert json.dumps(again.tree.to_json([])) == expected
        assert {p: p.read_bytes() for p in entries} == good  # and rewritten as it was


def test_identical_across_hash_seeds_and_cache_states(tmp_path):
    outputs = set()
    for seed, extra in (("0", ["--no-cache"]), ("1", []), ("4242", []), ("7", ["drop results"]),
                        ("random", ["--no-cache"])):
        env = {**os.environ, "PYTHONHASHSEED": seed, "MODELTREE_CACHE_DIR": str(tmp_path / "c")}
        drop_results = extra == ["drop results"]  # per-file facts cached, results not
        extra = [] if drop_results else extra
        for fmt in (["--json", "-"], ["--seed-json", "-"], []):
            for p in (tmp_path / "c").glob("*.json") if drop_results else ():
                p.unlink()
            out = subprocess.run([sys.executable, "-m", "analyzer", "tree", str(SAMPLE), *fmt, *extra],
                                 capture_output=True, env=env, cwd=REPO, check=True).stdout
            outputs.add((tuple(fmt), out))
    assert len(outputs) == 3  # one distinct output per format


def test_prefetch_child_indexes_the_folder_for_the_parent(tmp_path, monkeypatch):
    from analyzer import prefetch
    from analyzer.source.index import facts_to_json, index_module

    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    pid = prefetch.start(SAMPLE, [], True)
    assert pid is not None  # POSIX
    prefetch.finish(pid)
    local = sorted(SAMPLE.glob("*.py"))
    for path in local:
        raw = path.read_bytes()
        stored = cache.load_facts(hashlib.sha256(raw).hexdigest())
        assert stored == facts_to_json(index_module(raw.decode(), path.name)), path.name
    indexed = _count_indexing(monkeypatch)
    result = analyze(SAMPLE, use_cache=True)
    assert not {p.name for p in local} & set(indexed)  # the parent found every local file's index
    assert json.dumps(result.tree.to_json([])) == json.dumps(analyze(SAMPLE).tree.to_json([]))


def test_parsed_rules_files_are_cached_checked_and_exact(tmp_path, monkeypatch):
    from analyzer.rules import load_yaml

    monkeypatch.setenv("MODELTREE_CACHE_DIR", str(tmp_path / "c"))
    good = tmp_path / "good.yaml"
    good.write_text("a: [1, 2.5, true]\nb: {c: null}\n")
    int_keys = tmp_path / "int_keys.yaml"
    int_keys.write_text("1: one\n")
    cache.use_parsed_files(True)
    try:
        assert load_yaml(good) == {"a": [1, 2.5, True], "b": {"c": None}}
        (entry,) = (tmp_path / "c" / "parsed").glob("*.json")
        assert load_yaml(good) == {"a": [1, 2.5, True], "b": {"c": None}}  # from the entry
        assert load_yaml(int_keys) == {1: "one"}  # JSON would make the key a string: not cached
        assert len(list((tmp_path / "c" / "parsed").glob("*.json"))) == 1
        entry.write_bytes(entry.read_bytes().replace(b"2.5", b"3.5"))  # corrupted: checksum mismatch
        assert load_yaml(good) == {"a": [1, 2.5, True], "b": {"c": None}}
        assert b"2.5" in entry.read_bytes()  # and rewritten
    finally:
        cache.use_parsed_files(False)

"""The result cache is trusted only when nothing changed; output is byte-identical across cache
states and hash seeds."""
import json
import os
import subprocess
import sys
from pathlib import Path

from analyzer import cache
from analyzer.api import analyze
from analyzer.cli import main

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
    capsys.readouterr()
    assert main(["cache", "clear"]) == 0
    assert "removed 1 cache entry" in capsys.readouterr().out
    assert cache.load("0" * 64) is None


def test_identical_across_hash_seeds_and_cache_states(tmp_path):
    outputs = set()
    for seed, extra in (("0", ["--no-cache"]), ("1", []), ("4242", []), ("random", ["--no-cache"])):
        env = {**os.environ, "PYTHONHASHSEED": seed, "MODELTREE_CACHE_DIR": str(tmp_path / "c")}
        for fmt in (["--json", "-"], ["--seed-json", "-"], []):
            out = subprocess.run([sys.executable, "-m", "analyzer", "tree", str(SAMPLE), *fmt, *extra],
                                 capture_output=True, env=env, cwd=REPO, check=True).stdout
            outputs.add((tuple(fmt), out))
    assert len(outputs) == 3  # one distinct output per format

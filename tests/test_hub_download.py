"""Issue 13: ``--download`` (code files only, never weights) without a network, and weights next
to the code that are never opened.

``huggingface_hub.snapshot_download`` is replaced by a fake that records its arguments and
"downloads" from an in-memory repo through huggingface_hub's own pattern filter
(``filter_repo_objects``, what the real function applies), into the same cache layout."""
from __future__ import annotations

import fnmatch
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.cli.main import main
from analyzer.source import hub
from conftest import REPO, write_package
from hub_layout import C_NEW, add_snapshot, model_files, tiny_cache

WEIGHTS = ["model.safetensors", "model-00001-of-00002.safetensors", "pytorch_model.bin", "consolidated.pt",
           "model.pth", "model-q4.gguf", "sub/dir/model.safetensors", "flax_model.msgpack", "tf_model.h5",
           "model.onnx", "checkpoint.ckpt"]
CODE = ["modeling_net.py", "layers.py", "config.json", "sub/dir/helper.py", "requirements.txt",
        "model.safetensors.index.json", "generation_config.json"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "hf-cache"
    root.mkdir()
    for var in ("HF_HOME", "HUGGINGFACE_HUB_CACHE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.chdir(tmp_path)
    return root


REMOTE = {  # repo id -> its files on the (fake) Hub, weights included
    "org/tiny": {**model_files(8), "model.safetensors": b"\0" * 64, "pytorch_model.bin": b"\1" * 64,
                 "README.md": "# tiny\n", "requirements.txt": "torch\n"},
    "org/code": {k: v for k, v in model_files(6).items() if k != "config.json"} | {"weights.pt": b"\2" * 8},
    "org/weights": {"config.json": model_files(6, auto_model="org/code--modeling_net.Net")["config.json"],
                    "model.safetensors": b"\3" * 8},
}


@pytest.fixture
def fake_hub(monkeypatch):
    """Replaces huggingface_hub.snapshot_download; the list of its calls' keyword arguments."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.utils import filter_repo_objects

    calls = []

    def snapshot_download(repo_id, **kwargs):
        calls.append({"repo_id": repo_id, **kwargs})
        files = REMOTE[repo_id]
        kept = set(filter_repo_objects(list(files), allow_patterns=kwargs.get("allow_patterns"),
                                       ignore_patterns=kwargs.get("ignore_patterns")))
        return str(add_snapshot(Path(kwargs["cache_dir"]), repo_id, C_NEW,
                                {k: v for k, v in files.items() if k in kept}, refs=(kwargs["revision"],)))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def test_patterns_admit_code_and_never_weights():
    from huggingface_hub.utils import filter_repo_objects

    for name in WEIGHTS:
        assert not any(fnmatch.fnmatch(name, p) for p in hub.CODE_PATTERNS) or \
            any(fnmatch.fnmatch(name, p) for p in hub.WEIGHT_PATTERNS), name
    for name in CODE:
        assert any(fnmatch.fnmatch(name, p) for p in hub.CODE_PATTERNS), name
    kept = list(filter_repo_objects(WEIGHTS + CODE, allow_patterns=list(hub.CODE_PATTERNS),
                                    ignore_patterns=list(hub.WEIGHT_PATTERNS)))
    assert kept == CODE


def test_download_fetches_the_code_into_the_cache(cache, capsys, fake_hub, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_for_the_test")
    code, out, err = _run(capsys, "tree", "org/tiny", "--download", "--json", "-")
    assert code == 0, err
    assert fake_hub == [{"repo_id": "org/tiny", "revision": "main", "cache_dir": str(cache),
                         "allow_patterns": ["*.py", "*.json", "*.txt"], "ignore_patterns": list(hub.WEIGHT_PATTERNS),
                         "token": "hf_secret_for_the_test"}]
    doc = json.loads(out)
    assert doc["meta"]["hub"]["commit"] == C_NEW and doc["modules"][1]["params"]["weight"] == [8, 8]
    snapshot = cache / "models--org--tiny" / "snapshots" / C_NEW
    assert sorted(p.name for p in snapshot.iterdir()) == ["config.json", "layers.py", "modeling_net.py",
                                                          "requirements.txt"]
    # once cached, no --download is needed, and nothing is fetched again
    code, _, _ = _run(capsys, "tree", "org/tiny", "--revision", "main")
    assert code == 0 and len(fake_hub) == 1


def test_download_follows_auto_map_into_another_repo(cache, capsys, fake_hub):
    code, out, err = _run(capsys, "tree", "org/weights", "--download", "--no-cache")
    assert code == 0, err
    assert [(c["repo_id"], c["revision"]) for c in fake_hub] == [("org/weights", "main"), ("org/code", "main")]
    assert "weight[6, 6]" in out and not list(cache.rglob("*.pt")) and not list(cache.rglob("*.safetensors"))


@pytest.mark.parametrize("var", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_offline_mode_forbids_download(cache, capsys, fake_hub, monkeypatch, var):
    monkeypatch.setenv(var, "1")
    code, out, err = _run(capsys, "tree", "org/tiny", "--download")
    assert code == 2 and fake_hub == [] and err.count("\n") == 1
    assert err == (f"E008 --download needs the network, but {var}=1 is set: unset it, "
                   "or drop --download to read org/tiny from the cache only\n")


def test_download_without_huggingface_hub_installed(cache, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    code, out, err = _run(capsys, "costs", "org/tiny", "--download")
    assert code == 2 and err == "E008 --download needs huggingface_hub: pip install 'modeltree-analyzer[hub]'\n"


def test_download_failure_is_one_line(cache, capsys, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")

    def failing(repo_id, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("Repository not found\nsecond line\nthird")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", failing)
    code, out, err = _run(capsys, "tree", "org/private", "--download", "--revision", "v1")
    assert code == 2 and err == ("E008 --download of org/private (revision v1) failed: LocalEntryNotFoundError: "
                                 "Repository not found\n")


def test_without_download_nothing_touches_the_network(cache, capsys, monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    attempts = []

    def no_network(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    tiny_cache(cache)
    assert _run(capsys, "tree", "org/tiny", "--no-cache")[0] == 0
    code, out, err = _run(capsys, "tree", "org/absent")
    assert code == 2 and "run again with --download" in err and attempts == []


# ---- weights next to the code are never opened ------------------------------------------------
_OPENED: list | None = None


def _audit(event, args):
    if event == "open" and _OPENED is not None and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


def _weights_beside_code(tmp_path, cache):
    folder = write_package(tmp_path / "with-weights", model_files(8))
    os.mkfifo(folder / "model.safetensors")  # opening it for reading would block forever
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 16)
    os.chmod(folder / "pytorch_model.bin", 0)
    tiny_cache(cache)
    blob = cache / "models--org--tiny" / "blobs" / ("f" * 64)
    os.mkfifo(blob)
    os.symlink(f"../../blobs/{blob.name}", cache / "models--org--tiny" / "snapshots" / C_NEW / "model.safetensors")
    return folder


def test_weights_are_never_opened(cache, capsys, tmp_path):
    global _OPENED
    folder = _weights_beside_code(tmp_path, cache)
    runs = [["tree", folder], ["tree", folder], ["tree", folder, "--no-cache"], ["tree", "org/tiny"],
            ["tree", "org/tiny"], ["diff", "org/tiny", folder], ["costs", "org/tiny", "--mode", "base"]]
    try:
        import torch  # noqa: F401

        runs.append(["dump-runtime", folder])
    except ImportError:
        pass
    _OPENED = []
    try:
        for argv in runs:
            code, out, err = _run(capsys, *argv)
            assert code == (2 if argv[0] == "costs" else 0), (argv, err)  # costs: no workload template fits Net
        opened = list(_OPENED)
    finally:
        _OPENED = None
    assert any(p.endswith("modeling_net.py") for p in opened)  # the hook sees the files that are read
    assert not [p for p in opened if p.endswith((".safetensors", ".bin")) or "/blobs/ffff" in p]


def test_weights_beside_code_in_a_fresh_process(cache, tmp_path):
    """The forked prefetch child and the result cache run too; a FIFO opened would hang."""
    folder = _weights_beside_code(tmp_path, cache)
    env = {**os.environ, "PYTHONPATH": str(REPO), "MODELTREE_CACHE_DIR": str(tmp_path / "mc")}
    for argv in ([folder], [folder], ["org/tiny"]):
        proc = subprocess.run([sys.executable, "-m", "analyzer", "tree", *map(str, argv)], capture_output=True,
                              text=True, timeout=30, env=env, cwd=tmp_path)
        assert proc.returncode == 0 and "weight[8, 8]" in proc.stdout, proc.stderr

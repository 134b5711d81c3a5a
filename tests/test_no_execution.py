"""Never execute: the static commands read fixtures/hostile, whose module level, class bodies,
default arguments, decorators, config class and ``__init__`` all try side effects (writing files,
a socket connection, os.system, subprocess, __import__, eval, exec, an environment variable),
and none of them happens. The tree is still produced, and no analyzed module, nor torch or
transformers, is imported (checked in-process and in a fresh interpreter).
"""
from __future__ import annotations

import glob
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from analyzer.api import analyze
from analyzer.cli.main import main
from analyzer.evaluate.builtins import python_builtins

REPO = Path(__file__).resolve().parents[1]
HOSTILE = REPO / "fixtures" / "hostile"
MARK = "/tmp/modeltree-hostile-5b1e"  # every absolute marker file the fixture would create starts so
PORT = 47631  # the fixture would connect to 127.0.0.1 on this port
EXPECTED = ["", "embed", "layers", "layers.0", "layers.0.proj", "layers.0.act", "layers.1", "layers.1.proj",
            "layers.1.act", "head"]
FIXTURE_MODULES = ("modeling_hostile", "configuration_hostile")


@pytest.fixture
def sentinel(tmp_path, monkeypatch):
    """Run in an empty working directory with a listening socket; after the test, check that
    nothing the fixture tries has happened."""
    for path in glob.glob(MARK + "*"):
        os.remove(path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELTREE_HOSTILE_RAN", raising=False)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", PORT))
        server.listen(8)
        server.setblocking(False)
    except OSError:
        server.close()
        server = None  # the port is taken: the connection check is skipped, the others still run

    def check():
        assert not (tmp_path / "HOSTILE_WAS_HERE").exists(), "a file was written in the working directory"
        assert glob.glob(MARK + "*") == [], "a marker file was written under /tmp"
        assert "MODELTREE_HOSTILE_RAN" not in os.environ
        if server is not None:
            with pytest.raises(BlockingIOError):
                conn, _ = server.accept()
                conn.close()

    yield check
    if server is not None:
        server.close()


def _fixture_modules_loaded() -> list[str]:
    """Modules whose name, or whose file, is the hostile fixture's."""
    out = []
    for name, mod in list(sys.modules.items()):
        file = getattr(mod, "__file__", None) or ""
        if name.split(".")[-1] in FIXTURE_MODULES or (file and Path(file).resolve().is_relative_to(HOSTILE)):
            out.append(name)
    return out


def test_analyze_in_process(sentinel):
    before = set(sys.modules)
    result = analyze(HOSTILE)
    sentinel()
    assert [m.name for m in result.tree.modules] == EXPECTED
    assert result.tree.by_name()["layers.0.proj"].params == {"weight": (8, 8), "bias": (8,)}
    gained = set(sys.modules) - before
    assert not [m for m in gained if m.split(".")[0] in ("torch", "transformers")], sorted(gained)
    assert _fixture_modules_loaded() == []
    # every side effect is an unresolved name or an unknown value, reported where it is
    found = {(d.code, d.span.path, d.span.line) for d in result.diagnostics if d.span}
    for line, name in ((54, "open"), (57, "eval"), (58, "exec"), (59, "__import__"), (61, "__builtins__"),
                       (62, "globals")):
        assert ("W102", "modeling_hostile.py", line) in found, (name, sorted(found))
    messages = " ".join(d.message for d in result.diagnostics)
    for name in ("open", "eval", "exec", "__import__", "compile"):
        assert f"name '{name}' is not defined" in messages
    assert result.partial


def test_cli_static_commands(sentinel, tmp_path, capsys):
    code = main(["tree", str(HOSTILE), "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 1 and "layers" in out and "head: Linear" in out and "Traceback" not in err
    code = main(["tree", str(HOSTILE), "--json", str(tmp_path / "tree.json")])  # with the result cache
    capsys.readouterr()
    assert code == 1
    data = json.loads((tmp_path / "tree.json").read_text())
    assert [m["name"] for m in data["modules"]] == EXPECTED
    code = main(["tree", str(HOSTILE), "--json", str(tmp_path / "tree2.json")])  # a cache hit
    capsys.readouterr()
    assert code == 1 and (tmp_path / "tree2.json").read_text() == (tmp_path / "tree.json").read_text()
    code = main(["diff", str(HOSTILE), str(tmp_path / "tree.json"), "--no-cache"])
    capsys.readouterr()
    assert code == 1  # identical, but a static side is partial
    code = main(["check", str(HOSTILE), "--against", str(tmp_path / "tree.json"), "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 1 and "PARTIAL" in out
    for command in (["costs", str(HOSTILE), "--no-cache"],
                    ["formulations", str(HOSTILE), "--no-cache", "-o", str(tmp_path / "f.md")]):
        code = main(command)
        out, err = capsys.readouterr()
        assert code in (1, 2) and "Traceback" not in out + err  # unsupported classes / partial tree
    sentinel()
    assert _fixture_modules_loaded() == []
    (tmp_path / "f.md").unlink(missing_ok=True)
    (tmp_path / "tree.json").unlink()
    (tmp_path / "tree2.json").unlink()


FRESH = textwrap.dedent("""
    import json, sys
    from analyzer.api import analyze
    result = analyze(sys.argv[1])
    print(json.dumps({"modules": sorted(sys.modules), "names": [m.name for m in result.tree.modules]}))
""")


def test_fresh_interpreter_imports_nothing_analyzed(sentinel, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-c", FRESH, str(HOSTILE)], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    modules = data["modules"]
    assert data["names"] == EXPECTED
    assert "torch" not in modules and "transformers" not in modules
    assert not [m for m in modules if m.split(".")[0] in ("torch", "transformers", *FIXTURE_MODULES)]
    # and the command line, in a fresh interpreter too
    proc = subprocess.run([sys.executable, "-m", "analyzer", "tree", str(HOSTILE), "--no-cache"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert proc.returncode == 1 and "head: Linear" in proc.stdout and "Traceback" not in proc.stderr
    sentinel()


DANGEROUS = {"eval", "exec", "compile", "__import__", "open", "input", "breakpoint", "exit", "quit", "globals",
             "locals", "vars", "memoryview", "bytearray", "help", "__builtins__", "__loader__", "__spec__"}


def test_code_running_builtins_are_not_modeled():
    assert not DANGEROUS & set(python_builtins(None))


@pytest.mark.parametrize("statement, expected", [
    ("self.x = eval('1')", "W102 name 'eval' is not defined"),
    ("self.x = exec('y = 1')", "W102 name 'exec' is not defined"),
    ("self.x = __import__('os')", "W102 name '__import__' is not defined"),
    ("self.x = open('HOSTILE_WAS_HERE', 'w')", "W102 name 'open' is not defined"),
    ("self.x = compile('1', 'f', 'eval')", "W102 name 'compile' is not defined"),
    ("self.x = os.system('touch HOSTILE_WAS_HERE')", "'os.system' is not modeled"),
    ("self.x = os.popen('touch HOSTILE_WAS_HERE')", "'os.popen' is not modeled"),
    # the module's source is read (never imported); what its functions would do stays unknown
    ("self.x = importlib.import_module('subprocess').run(['touch', 'HOSTILE_WAS_HERE'])", "W108"),
    ("self.x = importlib.import_module(sys.argv[1])", "importlib.import_module: the module name is unknown"),
    ("self.x = builtins.exec('1')", "'builtins.exec' is not modeled"),
    ("self.x = sys.modules['os']", "W108"),
])
def test_each_side_effect_is_unknown_or_a_diagnostic(pkg, sentinel, capsys, statement, expected):
    src = pkg({"m.py": f"""
        import builtins
        import importlib
        import os
        import sys

        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.a = nn.Linear(2, 2)
                {statement}
                self.b = nn.Linear(2, 3)
    """}, {})
    code = main(["tree", str(src), "--root", "m:Net", "--no-cache"])
    out, err = capsys.readouterr()
    assert code == 1 and expected in err and "m.py:12:" in err
    assert "a: Linear" in out and "b: Linear" in out
    sentinel()


def test_the_fixture_is_really_hostile():
    """The checks above would be vacuous if the fixture did not try: every side effect is there, at
    module level, in a class body, in a default argument, in a decorator and in __init__ (read with
    the standard library's ast, never run)."""
    import ast

    calls = {}
    for name in ("modeling_hostile.py", "configuration_hostile.py"):
        tree = ast.parse((HOSTILE / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                key = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
                calls.setdefault(key, []).append((name, node.lineno))
    for needed in ("open", "eval", "exec", "__import__", "system", "create_connection", "run", "Popen",
                   "import_module", "compile", "check_call"):
        assert needed in calls, needed
    module_level = [n for n in ast.parse((HOSTILE / "modeling_hostile.py").read_text()).body if isinstance(n, ast.Expr)]
    assert len(module_level) >= 5

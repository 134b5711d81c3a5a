"""Issue 9: the package's layout is a fact a test keeps true. import-linter checks the layers
contract and the absence of import cycles declared in pyproject.toml; files stay small; every
subpackage says what it is for and what it may import."""
from __future__ import annotations

import ast
import os
import subprocess
import sys

from conftest import REPO

ANALYZER = REPO / "analyzer"
MAX_LINES = 500


def test_import_linter_contracts_are_kept():
    # in a child process: import-linter builds its graph from the files (it imports nothing of
    # ours), and its cache stays out of the work tree
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 kept, 0 broken" in proc.stdout, proc.stdout


def test_contracts_name_every_subpackage():
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    named = {name.strip() for layer in layers for name in layer.split("|")}
    packages = {f"analyzer.{p.parent.name}" for p in ANALYZER.glob("*/__init__.py")}
    modules = {f"analyzer.{p.stem}" for p in ANALYZER.glob("*.py") if p.stem not in ("__init__", "__main__")}
    assert packages | modules == named, (packages | modules) ^ named


def test_no_file_over_the_size_limit():
    big = [f"{p.relative_to(REPO)}: {n} lines" for p in sorted(ANALYZER.rglob("*.py"))
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not big, big


def test_every_subpackage_has_a_docstring():
    for init in sorted(ANALYZER.glob("*/__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"{init.relative_to(REPO)}: say its role and what it may import"

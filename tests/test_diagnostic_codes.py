"""One test per diagnostic code of docs/diagnostics.md: each row is (code, a tiny input, the command,
the expected exit code and place). Every code of the catalogue has a row."""
from __future__ import annotations

import json
import re
import textwrap

import pytest

from analyzer.cli.main import main
from analyzer.diagnostics import CODES

NET = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.a = nn.Linear(2, 2)
        {line}
"""  # {line} is line 7 of m.py

# code: (files, config.json (dict, or text), command line after the source folder, exit code, place)
# "{src}" in the command line is the folder; place is "file:line:" (or "file" when the diagnostic
# names a whole file, or None when it names no place).
ROWS = {
    "E001": ({"m.py": NET.format(line="self.b = nn.Linear(2,")}, {}, ["--root", "m:Net"], 2, "m.py:7:"),
    "E002": ({"m.py": NET.format(line="pass")}, {}, ["--root", "m:Net", "--config", "{src}/nowhere.json"], 2,
             "nowhere.json"),
    "E003": ({"m.py": NET.format(line="pass")}, '{\n  "d": 8,\n  "e": [1,,]\n}', ["--root", "m:Net"], 2,
             "config.json:3:"),
    "E004": ({"m.py": NET.format(line="pass")}, {}, ["--root", "m:Nope"], 2, "m.py"),
    "E005": ({"m.py": NET.format(line="pass"), "stages.yaml": "sam: 5\n"}, {},
             ["--root", "m:Net", "--stages", "{src}/stages.yaml"], 2, "stages.yaml"),
    "W101": ({"m.py": NET.format(line="self.b = nn.Linear(cfg.width, 2)")}, {"d": 1}, ["--root", "m:Net"], 1,
             "m.py:7:"),
    "W102": ({"m.py": NET.format(line="self.b = Missing(2)")}, {}, ["--root", "m:Net"], 1, "m.py:7:"),
    "W103": ({"m.py": "from mystery_pkg_xyz import Base\n" + NET.replace("class Net(nn.Module)", "class Net(Base, nn.Module)")
              .format(line="pass")}, {}, ["--root", "m:Net"], 1, "m.py:5:"),
    "W104": ({"m.py": NET.format(line="self.b = nn.Linear(2)")}, {}, ["--root", "m:Net"], 1, "m.py:7:"),
    "W105": ({"m.py": NET.format(line="if torch_flag_xyz.enabled: self.b = nn.ReLU()").replace(
        "import torch.nn as nn", "import torch.nn as nn\nfrom mystery_pkg_xyz import torch_flag_xyz")}, {},
        ["--root", "m:Net"], 1, "m.py:8:"),
    "W106": ({"m.py": NET.format(line="raise ValueError('unsupported')")}, {}, ["--root", "m:Net"], 1, "m.py:7:"),
    "W107": ({"m.py": NET.format(line="while True: pass")}, {}, ["--root", "m:Net"], 1, "m.py:7:"),
    "W108": ({"m.py": NET.format(line="self.b = nn.NoSuchLayer(2)")}, {}, ["--root", "m:Net"], 1, "m.py:7:"),
    "I201": ({"m.py": NET.format(line="self.b = ACT2FN['relu']").replace(
        "import torch.nn as nn", "import torch.nn as nn\nfrom transformers.activations import ACT2FN")}, {},
        ["--root", "m:Net", "--no-site-packages"], 0, "m.py:2:"),
    "I203": ({"m.py": NET.format(line="self.b = nn.Linear(2, 2) if os.environ.get('WIDE') else None").replace(
        "import torch.nn as nn", "import os\nimport torch.nn as nn")}, {}, ["--root", "m:Net"], 0, "m.py:8:"),
    "I204": ({"m.py": NET.format(line="self.b = nn.Linear(2, 2) if torch.__version__ >= '2.0' else None").replace(
        "import torch.nn as nn", "import torch\nimport torch.nn as nn")}, {}, ["--root", "m:Net"], 0, "m.py:8:"),
}


def _write(tmp_path, files, config):
    src = tmp_path / "model"
    src.mkdir()
    for name, text in files.items():
        (src / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    (src / "config.json").write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    return src


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


def _diagnostic_lines(err: str, code: str) -> list[str]:
    return [line for line in err.splitlines() if re.search(rf"(^|\s){code}\s", line)]


@pytest.mark.parametrize("code", sorted(ROWS))
def test_code_from_a_tiny_input(tmp_path, capsys, code):
    files, config, argv, exit_code, place = ROWS[code]
    src = _write(tmp_path, files, config)
    argv = [a.replace("{src}", str(src)) for a in argv]
    got, out, err = _run(capsys, ["tree", str(src), "--no-cache", *argv])
    lines = _diagnostic_lines(err, code)
    assert got == exit_code, err
    assert lines, err
    if place is not None:
        assert any(line.startswith(place) or line.startswith(str(src / place)) for line in lines), lines
    if code.startswith("W"):
        assert "a: Linear" in out  # the rest of the tree is still produced


def test_e006_bad_json_tree(tmp_path, capsys):
    bad = tmp_path / "tree.json"
    bad.write_text('{"schema": "modeltree/1", "modules": [')
    good = tmp_path / "good.json"
    good.write_text(json.dumps([{"name": "", "class": "Net", "stage": "other"}]))
    code, out, err = _run(capsys, ["diff", str(bad), str(good)])
    lines = _diagnostic_lines(err, "E006")
    assert code == 2 and lines and lines[0].startswith(f"{bad}:1:")


def test_e007_runtime_dump_failed(tmp_path, capsys):
    pytest.importorskip("torch")
    src = _write(tmp_path, {"m.py": "import not_a_real_pkg_xyz\n" + NET.format(line="pass")}, {})
    code, out, err = _run(capsys, ["dump-runtime", str(src), "--root", "m:Net"])
    assert code == 2 and _diagnostic_lines(err, "E007") and "not_a_real_pkg_xyz" in err


def test_i202_stubbed_module(tmp_path, capsys):
    pytest.importorskip("torch")
    src = _write(tmp_path, {"m.py": "import not_a_real_pkg_xyz\n" + NET.format(line="pass")}, {})
    code, out, err = _run(capsys, ["dump-runtime", str(src), "--root", "m:Net", "--stub-module", "not_a_real_pkg_xyz"])
    assert code == 0 and _diagnostic_lines(err, "I202") and json.loads(out)["modules"][1]["name"] == "a"


def test_e008_hub_id_not_in_the_cache(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys, ["tree", "no-such-org/no-such-model"])
    assert code == 2 and err.count("\n") == 1 and _diagnostic_lines(err, "E008") and "--download" in err


def test_every_code_has_a_test():
    covered = set(ROWS) | {"E006", "E007", "E008", "I202"}
    assert covered == set(CODES)

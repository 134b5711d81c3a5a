"""Bad input: precise diagnostics with file:line:col, partial modules marked, never a traceback."""
import json

from analyzer.cli.main import main

GOOD = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.a = nn.Linear(cfg.d, 4)
        self.b = nn.Linear(4, 4)
"""


def run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def test_syntax_error_names_file_line_col(pkg, capsys):
    src = pkg({"m.py": "import torch.nn as nn\n\nclass Net(nn.Module:\n    pass\n"}, {})
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net"])
    assert code == 2
    assert err.startswith("m.py:3:") and "E001" in err


def test_missing_config_key_names_key_and_place(pkg, capsys):
    src = pkg({"m.py": GOOD.replace("cfg.d", "cfg.width"), "configuration_m.py": ""}, {"d": 8})
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net", "--json", "-"])
    assert code == 1
    data = json.loads(out)
    diag = [d for d in data["diagnostics"] if d["code"] == "W101"]
    assert diag and "has no key 'width'" in diag[0]["message"] and diag[0]["span"].startswith("m.py:6:")
    # the rest of the tree is still produced, and the root is marked partial
    names = [m["name"] for m in data["modules"]]
    assert names == ["", "b"] and data["modules"][0]["partial"] is True


def test_missing_key_of_a_transformers_config_is_w101(pkg, capsys):
    files = {
        "configuration_m.py": """
            from transformers import PretrainedConfig
            class MConfig(PretrainedConfig):
                def __init__(self, d=4, **kwargs):
                    self.d = d
                    super().__init__(**kwargs)
        """,
        "m.py": """
            import torch.nn as nn
            from transformers.modeling_utils import PreTrainedModel
            from .configuration_m import MConfig

            class Net(PreTrainedModel):
                config_class = MConfig
                def __init__(self, config):
                    super().__init__(config)
                    self.a = nn.Linear(config.d, config.not_there)
        """,
    }
    src = pkg(files, {"d": 8})
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net"])
    assert code == 1
    assert "m.py:9:" in err and "W101 config has no key 'not_there'" in err
    assert "PARTIAL" in out


def test_unknown_class_and_undecidable_condition(pkg, capsys):
    src = pkg({"m.py": """
        import torch.nn as nn
        from mystery_pkg import MysteryLayer

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.a = MysteryLayer(3)
                if MysteryLayer.flag:
                    self.b = nn.Linear(2, 2)
                self.c = nn.Linear(2, 3)
    """}, {})
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net"])
    assert code == 1
    assert "m.py:7:" in err and "W108" in err and "mystery_pkg" in err
    assert "m.py:8:" in err and "W105" in err
    assert "c: Linear" in out and "PARTIAL" in out


def test_raise_in_init_is_reported(pkg, capsys):
    src = pkg({"m.py": """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                if cfg.kind != "linear":
                    raise ValueError(f"Unknown kind: {cfg.kind}")
                self.a = nn.Linear(2, 2)
    """}, {"kind": "conv"})
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net"])
    assert code == 1 and "m.py:7:" in err and "W106 raises ValueError: Unknown kind: conv" in err


def test_bad_root_and_missing_folder(pkg, tmp_path, capsys):
    src = pkg({"m.py": GOOD}, {"d": 8})
    assert run(capsys, ["tree", str(src), "--root", "m"])[0] == 2
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Nope"])
    assert code == 2 and "E004" in err and "'Nope' is not defined" in err
    code, out, err = run(capsys, ["tree", str(src)])
    assert code == 2 and "E004" in err and "--root" in err
    code, out, err = run(capsys, ["tree", str(tmp_path / "nowhere")])
    assert code == 2 and "E002" in err


def test_bad_config_json(pkg, capsys):
    src = pkg({"m.py": GOOD})
    (src / "config.json").write_text('{"d": 8,,}')
    code, out, err = run(capsys, ["tree", str(src), "--root", "m:Net"])
    assert code == 2 and "config.json:1:" in err and "E003" in err


def test_set_override_and_output_is_deterministic(pkg, capsys):
    src = pkg({"m.py": GOOD}, {"d": 8})
    code, out1, _ = run(capsys, ["tree", str(src), "--root", "m:Net", "--set", "d=3", "--json", "-"])
    assert code == 0
    assert json.loads(out1)["modules"][1]["params"]["weight"] == [4, 3]
    _, out2, _ = run(capsys, ["tree", str(src), "--root", "m:Net", "--set", "d=3", "--json", "-"])
    assert out1 == out2


def test_catalogue_lists_every_code():
    from pathlib import Path

    from analyzer.diagnostics import CODES

    doc = (Path(__file__).resolve().parents[1] / "docs" / "diagnostics.md").read_text()
    for code in CODES:
        assert f"| {code} |" in doc

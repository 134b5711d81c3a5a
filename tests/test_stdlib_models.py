"""Issue 10, "standard library": the modules with no Python source to read, modelled
(itertools, os.environ, re, collections.abc, dir(), dataclasses' generated __init__, enum's
metaclass), each checked against the same source built by real torch on the meta device."""
from __future__ import annotations

import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from analyzer.api import analyze  # noqa: E402

STDLIB = 'import itertools, os, re, collections.abc\nfrom itertools import repeat, chain\nimport torch\nfrom torch import nn\n\n\ndef _ntuple(n):\n    def parse(x):\n        if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):\n            return tuple(x)\n        return tuple(repeat(x, n))\n    return parse\n\n\nto_2tuple = _ntuple(2)\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n        k = to_2tuple(3)\n        self.conv = nn.Conv2d(2, 4, k)\n        self.grid = nn.ModuleList([nn.Linear(a, b) for a, b in itertools.product([1, 2], [3])])\n        self.ch = nn.ModuleList(list(chain([nn.ReLU()], [nn.GELU(), nn.Tanh()])))\n        acc = list(itertools.accumulate([1, 2, 3]))\n        self.acc = nn.ModuleList([nn.Linear(a, 1) for a in acc])\n        if os.environ.get("USE_EXTRA", "0") == "1":\n            self.extra = nn.Linear(1, 1)\n        m = re.match(r"(\\d+)x(\\d+)", "16x8")\n        self.re_lin = nn.Linear(int(m.group(1)), int(m.group(2)))\n        pat = re.compile(r"layer_(\\d+)")\n        self.n = nn.ModuleList([nn.Identity() for _ in pat.findall("layer_1 layer_2 layer_3")])\n        self.names = sorted(d for d in dir(self.conv) if d == "weight")\n'

DATACLASSES = 'from dataclasses import dataclass, field, replace, fields, asdict\nimport dataclasses\nfrom typing import ClassVar, Tuple, Optional\nimport torch\nfrom torch import nn\n\n\n@dataclass\nclass BlockCfg:\n    type: str\n    d: int\n    c: int\n    s: int = 2\n    gs: Optional[int] = None\n    br: float = 1.\n\n\n@dataclass\nclass ModelCfg:\n    blocks: Tuple[BlockCfg, ...]\n    stem_chs: int = 32\n    stem_type: str = "3x3"\n    act_layer: str = "relu"\n    extra: dict = field(default_factory=dict)\n    counter: ClassVar[int] = 0\n\n    def __post_init__(self):\n        self.total = sum(b.d for b in self.blocks)\n\n\n@dataclasses.dataclass(eq=True)\nclass Child(BlockCfg):\n    extra_width: int = 3\n\n\nclass Net(nn.Module):\n    def __init__(self, cfg=ModelCfg(blocks=(BlockCfg(type="basic", d=2, c=8), BlockCfg("bottle", 1, 16, s=1)))):\n        super().__init__()\n        self.stem = nn.Conv2d(3, cfg.stem_chs, 3)\n        layers = []\n        prev = cfg.stem_chs\n        for b in cfg.blocks:\n            for i in range(b.d):\n                layers.append(nn.Conv2d(prev, b.c, 3, stride=b.s if i == 0 else 1))\n                prev = b.c\n        self.layers = nn.Sequential(*layers)\n        cfg2 = replace(cfg, stem_chs=7)\n        self.stem2 = nn.Conv2d(3, cfg2.stem_chs, 1)\n        self.n_fields = nn.ModuleList([nn.Identity() for f in fields(cfg) if f.name.startswith("stem")])\n        d = asdict(cfg2)\n        self.last = nn.Linear(d["stem_chs"], cfg.total)\n        ch = Child("x", 1, 2)\n        self.child = nn.Linear(ch.c, ch.extra_width)\n'

ENUMS = 'import enum\nfrom enum import Enum, IntEnum, auto\nimport torch\nfrom torch import nn\n\n\nclass Act(str, Enum):\n    RELU = "relu"\n    GELU = "gelu"\n\n\nclass Kind(Enum):\n    A = auto()\n    B = auto()\n    C = auto()\n\n    @property\n    def width(self):\n        return self.value * 4\n\n\nclass Level(IntEnum):\n    LOW = 1\n    HIGH = 3\n\n\nACTS = {Act.RELU: nn.ReLU, Act.GELU: nn.GELU}\n\n\nclass Net(nn.Module):\n    def __init__(self, act="gelu", kind=Kind.B):\n        super().__init__()\n        a = Act(act)\n        self.act = ACTS[a]()\n        self.lin = nn.Linear(kind.width, kind.value)\n        self.per_kind = nn.ModuleList([nn.Linear(k.value, 1) for k in Kind])\n        if a == "gelu":\n            self.extra = nn.Linear(Level.HIGH, Level.HIGH + 1)\n        self.named = nn.ModuleDict({k.name.lower(): nn.Identity() for k in Kind if k is not Kind.C})\n        self.by_name = nn.Linear(Kind["C"].value, 2)\n        if isinstance(a, str) and isinstance(kind, Kind):\n            self.ok = nn.Identity()\n'


def _write(tmp_path, source):
    folder = tmp_path / "pkg"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "m.py").write_text(source)
    return folder


def _truth(folder, env=None, monkeypatch=None):
    for key, value in (env or {}).items():
        monkeypatch.setenv(key, value)
    sys.path.insert(0, str(folder))
    sys.modules.pop("m", None)
    try:
        import m  # our own test source, run by real torch

        with torch.device("meta"):
            net = m.Net()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("m", None)
    return [(n, type(x).__name__, {k: tuple(p.shape) for k, p in x.named_parameters(recurse=False)})
            for n, x in net.named_modules()]


def _static(folder, **kwargs):
    result = analyze(folder, root="m:Net", config=str(folder / "config.json"), **kwargs)
    return result, [(x.name, x.cls, dict(x.params)) for x in result.tree.modules]


@pytest.mark.parametrize("name, source", [("dataclasses", DATACLASSES), ("enums", ENUMS)])
def test_static_tree_equals_torch(tmp_path, name, source):
    folder = _write(tmp_path, source)
    result, static = _static(folder)
    assert not result.diagnostics, result.diagnostics
    assert static == _truth(folder)


def test_itertools_re_abc_dir_and_an_empty_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("USE_EXTRA", raising=False)
    folder = _write(tmp_path, STDLIB)
    result, static = _static(folder)
    assert static == _truth(folder)
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("I203", 27)]
    assert "treated as unset" in result.diagnostics[0].message and "--env USE_EXTRA=VALUE" in result.diagnostics[0].message
    assert not result.tree.modules[0].partial  # an assumption stated, not a gap
    assert result.root_obj.attrs["names"] == ["weight"]


def test_env_sets_a_key_as_the_live_process_would_see_it(tmp_path, monkeypatch):
    folder = _write(tmp_path, STDLIB)
    result, static = _static(folder, env={"USE_EXTRA": "1"})
    assert static == _truth(folder, {"USE_EXTRA": "1"}, monkeypatch)
    assert "extra" in [name for name, _, _ in static]
    assert "'1' (from --env)" in result.diagnostics[0].message


INFINITE_AND_FOREIGN = """
import itertools, re
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.ModuleList([nn.Linear(1, 1) for _, _ in zip(range(2), itertools.count())])
        self.b = nn.Linear(2, 2) if re.match(lambda s: s, "x") else nn.Identity()
        self.c = nn.Linear(3, 3)
"""


def test_unknowable_stdlib_calls_are_diagnosed(tmp_path):
    folder = _write(tmp_path, textwrap.dedent(INFINITE_AND_FOREIGN))
    result, static = _static(folder)
    codes = sorted(d.code for d in result.diagnostics)
    assert codes == ["W105", "W105"], result.diagnostics
    messages = " ".join(d.message for d in result.diagnostics)
    assert "itertools.count is infinite" in messages and "never passed to a real function" in messages
    assert [name for name, _, _ in static] == ["", "c"] and result.tree.modules[0].partial


STR_AND_COMBINATIONS = """
import itertools
from enum import Enum, IntEnum
import torch
from torch import nn


class Act(str, Enum):
    RELU = "relu"


class Width(IntEnum):
    SMALL = 4


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.named = nn.ModuleDict({f"{Act.RELU}".replace(".", "_"): nn.ReLU(), f"w{Width.SMALL}": nn.Identity()})
        self.pairs = nn.ModuleList([nn.Identity() for _ in itertools.combinations(range(12), 2)])
"""


def test_enum_str_and_itertools_result_sizes(tmp_path):
    folder = _write(tmp_path, textwrap.dedent(STR_AND_COMBINATIONS))
    result, static = _static(folder)
    assert not result.diagnostics, result.diagnostics
    assert static == _truth(folder)
    assert ("named.Act_RELU", "ReLU", {}) in static and ("named.w4", "Identity", {}) in static
    assert len([n for n, _, _ in static if n.startswith("pairs.")]) == 66

"""numpy reductions on plain numbers (analyzer/evaluate/numpy_plain.py), against numpy itself: the
same number where the analyzer gives one, and an unknown where numpy's int64 or float rounding
would differ from plain Python."""
import numpy as np
import pytest

from analyzer.api import analyze
from analyzer.evaluate.numpy_plain import numpy_attr
from analyzer.evaluate.values import Unknown
from conftest import write_package


class _Ev:
    def charge(self, n, span=None):
        pass


KNOWN = [("prod", [8, 5, 4, 2]), ("prod", (3,)), ("prod", []), ("sum", [1, 2, 3]), ("sum", ()),
         ("max", [3, 7.5, 2]), ("min", (4, -1, 9)), ("amax", [1, 2]), ("amin", [2.5]), ("prod", [-3, 2**40, 5])]
UNKNOWN = [("prod", [2**40, 2**40]), ("sum", [2**62, 2**62]), ("sum", [0.1, 0.2, 0.3]), ("prod", [1.5, 2]),
           ("prod", [True, 2]), ("max", [[1], [2]]), ("cumprod", [1, 2]), ("prod", [1, Unknown("x")])]


@pytest.mark.parametrize("name, items", KNOWN)
def test_the_number_numpy_gives(name, items):
    got = numpy_attr(name, None).fn(_Ev(), [items], {}, None)
    want = getattr(np, name)(items)
    assert got == want and type(got) is type(want.item())


@pytest.mark.parametrize("name, items", UNKNOWN)
def test_unknown_where_it_could_differ(name, items):
    fn = numpy_attr(name, None)
    assert isinstance(fn, Unknown) or isinstance(fn.fn(_Ev(), [items], {}, None), Unknown)


def test_a_hop_length_in_a_model(tmp_path):
    src = write_package(tmp_path / "pkg", {"m.py": """
        import math
        import numpy as np
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                hop = np.prod(cfg.ratios)                    # 8 * 5 * 4 = 160
                frame_rate = math.ceil(cfg.rate / hop)       # ceil(24000 / 160) = 150
                self.layers = nn.ModuleList([nn.Linear(frame_rate, 2) for _ in range(int(np.sum(cfg.ratios)) // 17)])
    """}, {"ratios": [8, 5, 4], "rate": 24000})
    result = analyze(src, root="m:Net", use_cache=False)
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    by = result.tree.by_name()
    assert [m.name for m in result.tree.modules] == ["", "layers", "layers.0"]  # 17 // 17
    assert by["layers.0"].params["weight"] == (2, 150)


def test_linspace_split_tolist_as_drop_path_rates(tmp_path):
    src = write_package(tmp_path / "pkg", {"m.py": """
        import numpy as np
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                rates = [x.tolist() for x in torch.Tensor(np.linspace(0, cfg.rate, sum(cfg.depths))).split(cfg.depths)]
                self.stages = nn.ModuleList(
                    nn.ModuleList(nn.Linear(int(p * 100) + 1, 1) if p > 0 else nn.Identity() for p in stage)
                    for stage in rates)
    """}, {"rate": 0.3, "depths": [3, 4]})
    result = analyze(src, root="m:Net", use_cache=False)
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    widths = [m.params["weight"][1] if m.params else None for m in result.tree.modules if m.name.count(".") == 2]
    # float32 of 0, .05, .1, ... .3 (each a hair above) times 100, floored, plus one; 0 -> Identity
    assert widths == [None, 6, 11, 16, 21, 26, 31]
    torch = pytest.importorskip("torch")
    real = [x.tolist() for x in torch.Tensor(np.linspace(0, 0.3, 7)).split([3, 4])]
    assert [int(p * 100) + 1 if p > 0 else None for stage in real for p in stage] == widths

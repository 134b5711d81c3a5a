"""Issue 10, "tensors computed at construction": shapes of buffers and parameters made by tensor
arithmetic, and values read back from small constant tensors (``.item()``, ``.tolist()``, a
comparison, ``int()``), checked against real torch. Values come from numpy only when read; an
in-place change through a view, a random tensor or a large one give no value: a diagnostic and a
partial module, never a guess."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")

from conftest import REPO  # noqa: E402

from analyzer.api import analyze, analyze_with_attrs  # noqa: E402

# expressions whose values a constructor may read back; each is evaluated statically and by torch
EXPRESSIONS = [
    "torch.linspace(0, 0.1, 4)",
    "torch.linspace(0, 0.3, 7)",
    "torch.linspace(-1.5, 2.0, 1)",
    "torch.linspace(0, 0.2, 6).split([2, 4])[1]",
    "torch.linspace(0, 1, 5).chunk(2)[0]",
    "torch.arange(10)",
    "torch.arange(1, 9, 3)",
    "torch.arange(0, 8, 2).float() / 8",
    "1.0 / (10000 ** (torch.arange(0, 16, 2).float() / 16))",
    "torch.exp(torch.arange(0, 8, 2) * (-math.log(10000.0) / 8))",
    "torch.outer(torch.arange(3).float(), torch.arange(4).float())",
    "torch.einsum('i,j->ij', torch.arange(3.0), torch.arange(2.0))",
    "torch.cat([torch.ones(2), torch.zeros(3)])",
    "torch.stack([torch.arange(3), torch.arange(3) * 2], dim=1)",
    "torch.stack(torch.meshgrid([torch.arange(2), torch.arange(3)], indexing='ij'))",
    "torch.flatten(torch.stack(torch.meshgrid([torch.arange(2), torch.arange(3)], indexing='ij')), 1)",
    "torch.tril(torch.ones(4, 4))",
    "torch.triu(torch.ones(3, 3), diagonal=1)",
    "torch.arange(12).view(3, 4).permute(1, 0)",
    "torch.arange(12).reshape(2, 6)[:, 1::2]",
    "torch.arange(12).view(3, 4)[None, :, 2]",
    "torch.arange(12).view(3, 4).sum(-1)",
    "torch.arange(12).view(3, 4).sum(0, keepdim=True)",
    "torch.arange(1, 5, dtype=torch.float32)[None, :].expand(3, -1).contiguous()",
    "torch.log(torch.arange(1, 5, dtype=torch.float32))",
    "torch.tensor([1, 2, 3]) > 1",
    "torch.tensor([[1.5, 2.0], [3.0, 4.0]]).t()",
    "torch.arange(6).cumsum(0)",
    "torch.arange(4).repeat(2)",
    "torch.arange(6) // 4",
    "torch.arange(6) % 4",
    "torch.full((2, 2), 7)",
    "torch.FloatTensor([1, 2])",
    "torch.Tensor([[1, 2], [3, 4]])",
    "torch.tril(torch.ones(3, 3, dtype=bool))",
    "torch.ones(2, dtype=float) / 3",
    "torch.bitwise_xor(torch.ones(3, 3, dtype=torch.bool), torch.tril(torch.ones(3, 3, dtype=torch.bool), -1))",
    "torch.nn.functional.one_hot(torch.tensor([2, 0, 1]), num_classes=4)",
    "torch.nn.functional.one_hot(torch.arange(6).view(2, 3) % 3)",
    "torch.matmul(torch.nn.functional.one_hot(torch.tensor([1, 0]), 3).float(), torch.arange(6.0).view(3, 2))",
]

SWIN_INDEX = """
        coords = torch.stack(torch.meshgrid([torch.arange(3), torch.arange(4)], indexing="ij"))
        coords_flatten = torch.flatten(coords, 1)
        rel = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        rel = rel.permute(1, 2, 0).contiguous()
        rel[:, :, 0] += 3 - 1
        rel[:, :, 1] += 4 - 1
        rel[:, :, 0] *= 2 * 4 - 1
        self.register_buffer("index", rel.sum(-1))
"""


def _package(tmp_path, body: str, name="m"):
    folder = tmp_path / "pkg"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text("{}")
    (folder / f"{name}.py").write_text("import math\nimport torch\nfrom torch import nn\n\n\n" + textwrap.dedent(body))
    return folder


def _attr_source(tmp_path, body):
    folder = _package(tmp_path, body)
    result, attrs = analyze_with_attrs(folder, root="m:Net", config=str(folder / "config.json"))
    return result, attrs


def test_values_read_back_equal_torch(tmp_path):
    lines = "\n".join(f"        self.v{i} = ({e}).flatten().tolist()\n        self.s{i} = tuple(({e}).shape)"
                      for i, e in enumerate(EXPRESSIONS))
    result, attrs = _attr_source(tmp_path, f"class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n{lines}\n")
    assert not result.diagnostics, result.diagnostics
    for i, expr in enumerate(EXPRESSIONS):
        expected = eval(expr, {"torch": torch, "math": math})  # noqa: S307 - our own table, real torch
        assert attrs.get("", (f"s{i}",)) == tuple(expected.shape), expr
        got = attrs.get("", (f"v{i}",))
        assert _close(got, expected.flatten().tolist()), (expr, got, expected)


def _close(a, b) -> bool:
    """Equal, floats to 1e-6 (torch's own CPU kernels differ by an ulp between CPUs)."""
    if isinstance(a, (list, tuple)) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(b, bool) or isinstance(a, bool):
        return a == b and type(a) is type(b)
    if isinstance(b, int):
        return type(a) is int and a == b
    return isinstance(a, float) and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7)


def _tree_vs_torch(tmp_path, body: str):
    folder = _package(tmp_path, body)
    result = analyze(folder, root="m:Net", config=str(folder / "config.json"), use_cache=False)
    sys.path.insert(0, str(folder))
    try:
        sys.modules.pop("m", None)
        import m  # our own test source, built by real torch on the CPU (.item() fails on meta)

        net = m.Net()
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("m", None)
    truth = [(n, type(x).__name__, {k: tuple(p.shape) for k, p in x.named_parameters(recurse=False)},
              {k: (tuple(b.shape), str(b.dtype).removeprefix("torch.")) for k, b in x.named_buffers(recurse=False)})
             for n, x in net.named_modules()]
    static = [(x.name, x.cls, dict(x.params), {k: (b.shape, b.dtype) for k, b in x.buffers.items()})
              for x in result.tree.modules]
    return result, truth, static, net


DROP_PATH_NET = """
class DropPath(nn.Module):
    def __init__(self, p):
        super().__init__()
        self.p = p


class Block(nn.Module):
    def __init__(self, dim, dp):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.drop_path = DropPath(dp) if dp > 0. else nn.Identity()


class Net(nn.Module):
    def __init__(self, dim=8, depths=(2, 3), rate=RATE):
        super().__init__()
        dpr = [x.item() for x in torch.linspace(0, rate, sum(depths))]
        self.blocks = nn.ModuleList([Block(dim, dpr[i]) for i in range(sum(depths))])
        stage_rates = [x.tolist() for x in torch.linspace(0, rate, sum(depths)).split(list(depths))]
        self.stages = nn.ModuleList([nn.Sequential(*[Block(dim, r) for r in rs]) for rs in stage_rates])
        self.tail = nn.ModuleList([Block(dim, r) for r in torch.linspace(0, rate, 3)])
        n = int(torch.tensor(2).item())
        self.extra = nn.ModuleList([nn.Linear(2, 2) for _ in range(n)])
"""


@pytest.mark.parametrize("rate", ["0.0", "0.1"])
def test_drop_path_decisions_from_linspace_values(tmp_path, rate):
    result, truth, static, _ = _tree_vs_torch(tmp_path, DROP_PATH_NET.replace("RATE", rate))
    assert not result.diagnostics, result.diagnostics
    assert static == truth
    kinds = {x[1] for x in truth}
    assert ("DropPath" in kinds) == (rate != "0.0") and "Identity" in kinds


BUFFERS_NET = """
class Net(nn.Module):
    def __init__(self, n=16, dim=8):
        super().__init__()
        self.register_buffer("bias", torch.tril(torch.ones(n, n)).view(1, 1, n, n))
        pe = torch.zeros(n, dim)
        position = torch.arange(0, n, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, dim, 2).float() * (-math.log(10000.0) / dim))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))
        inv_freq = 1.0 / (10000 ** (torch.arange(0, dim, 2).float() / dim))
        t = torch.arange(n).type_as(inv_freq)
        freqs = torch.einsum("i,j->ij", t, inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos_cached", emb.cos()[None, None, :, :], persistent=False)
        self.register_buffer("sin_cached", torch.outer(t, inv_freq).sin(), persistent=False)
SWIN
        A = torch.arange(1, dim + 1, dtype=torch.float32)[None, :]
        A = A.expand(dim * 2, -1).contiguous()
        self.A_log = nn.Parameter(torch.log(A))
        self.legacy = nn.Parameter(torch.FloatTensor(3, 5))
        self.legacy_long = nn.Parameter(torch.LongTensor(2, 2), requires_grad=False)
        self.empty = nn.Parameter(torch.Tensor(4))
        self.data = nn.Parameter(torch.Tensor([1.0, 2.0]))
        self.none = nn.Parameter(torch.Tensor())
""".replace("SWIN", SWIN_INDEX)


def test_buffers_and_parameters_from_tensor_arithmetic(tmp_path):
    result, truth, static, _ = _tree_vs_torch(tmp_path, BUFFERS_NET)
    assert not result.diagnostics, result.diagnostics
    assert static == truth


UNSOUND_IF_GUESSED = """
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        t = torch.zeros(3)
        v = t[1:]
        v += 1                      # changes t through a view: t's values are not tracked any more
        self.a = nn.Linear(2, 2) if t[2] > 0 else nn.Identity()
        r = torch.randn(2)
        self.b = nn.Linear(2, 2) if r.sum() > 100 else nn.Identity()
        big = torch.ones(1000, 1000)
        self.c = nn.ModuleList([nn.Linear(2, 2) for _ in range(int(big.sum().item()) % 3)])
        self.d = nn.Linear(2, 2)
"""


def test_untracked_values_are_diagnosed_never_guessed(tmp_path):
    folder = _package(tmp_path, UNSOUND_IF_GUESSED)
    result = analyze(folder, root="m:Net", config=str(folder / "config.json"), use_cache=False)
    codes = [(d.code, d.span.line) for d in result.diagnostics]
    assert [c for c, _ in codes] == ["W105", "W105", "W105"], result.diagnostics
    assert [line for _, line in codes] == [13, 15, 17]
    assert any("view" in d.message for d in result.diagnostics)
    assert result.tree.modules[0].partial
    names = [m.name for m in result.tree.modules]
    assert names == ["", "d"]  # the undecided modules are missing AND the root says partial


def test_a_tree_without_values_never_imports_numpy():
    code = ("import sys, io, contextlib\nfrom analyzer.cli.main import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['tree', 'fixtures/sample_vlm', '--no-cache'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

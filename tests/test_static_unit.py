"""Small inline models: the static tree must equal the same code built on the meta device."""
import pytest

from analyzer.api import analyze
from analyzer.tree.runtime import dump_runtime
from conftest import differences

CASES = {
    "explicit_super_skips_parent": (
        """
        import torch.nn as nn

        class Base(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.a = nn.Linear(cfg.d, cfg.d)

        class Mid(Base):
            def __init__(self, cfg):
                super().__init__(cfg)
                self.b = nn.Linear(cfg.d, 2)

        class Top(Mid):
            def __init__(self, cfg):
                super(Mid, self).__init__(cfg)   # skips Mid.__init__ on purpose
                self.c = nn.Conv2d(3, cfg.d, kernel_size=3, bias=False)
        """,
        "m:Top", {"d": 8},
    ),
    "loop_append_and_index_conditionals": (
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.blocks = nn.ModuleList()
                for i in range(cfg.n):
                    self.blocks.append(nn.Linear(4, 4) if i % 2 == 0 else nn.LayerNorm(4))
                self.more = nn.ModuleList([nn.Embedding(10 + j, 4) for j in range(3) if j != 1])
                self.more.extend([nn.GELU(), nn.SiLU()])
        """,
        "m:Net", {"n": 5},
    ),
    "partial_and_classes_as_values": (
        """
        from functools import partial
        import torch
        import torch.nn as nn

        class Block(nn.Module):
            def __init__(self, dim, norm_layer=nn.LayerNorm, act_layer=nn.GELU):
                super().__init__()
                self.norm = norm_layer(dim)
                self.act = act_layer()

        class Enc(nn.Module):
            def __init__(self, dim, norm_layer, act_layer):
                super().__init__()
                self.blocks = nn.Sequential(*[Block(dim, norm_layer, act_layer) for _ in range(2)])

        def build():
            return Enc(6, norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), act_layer=nn.ReLU)
        """,
        "m:build", None,
    ),
    "dict_of_classes_and_constants": (
        """
        import torch.nn as nn
        WIDTH = 12
        KINDS = {"lin_a": nn.Linear, "lin_b": nn.Bilinear}

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                key = "lin_" + cfg.get("kind", "a")
                self.proj = KINDS[key](WIDTH, WIDTH // 2)
        """,
        "m:Net", {"kind": "a"},
    ),
    "buffers_parameters_setattr_moduledict": (
        """
        from collections import OrderedDict
        import torch
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.register_buffer("pos", torch.arange(cfg.n).expand((1, -1)))
                inv = 1.0 / (10000 ** (torch.arange(0, cfg.dim, 2).float() / cfg.dim))
                self.register_buffer("inv_freq", inv, persistent=False)
                self.scale = nn.Parameter(torch.ones(cfg.dim))
                self.table = nn.Parameter(torch.zeros(2 * cfg.n - 1, cfg.dim))
                for i in range(2):
                    setattr(self, f"head{i}", nn.Linear(cfg.dim, i + 1))
                self.add_module("extra", nn.Dropout(0.1))
                self.heads = nn.ModuleDict({"x": nn.Linear(2, 2), "y": nn.Identity()})
                self.seq = nn.Sequential(OrderedDict([("first", nn.Linear(2, 3)), ("second", nn.Tanh())]))
                self.head0 = nn.Linear(cfg.dim, 7)   # reassigned: keeps its place
                if cfg.get("with_bias_table", False):
                    self.bias_table = nn.Parameter(torch.zeros(3))
        """,
        "m:Net", {"n": 5, "dim": 8},
    ),
    "builtins_with_children_and_buffers": (
        """
        import torch.nn as nn

        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                self.attn = nn.MultiheadAttention(cfg.d, 4, kdim=cfg.d // 2, vdim=cfg.d // 2)
                self.bn = nn.BatchNorm2d(cfg.d)
                self.emb = nn.Embedding(10, cfg.d, 0)
                self.convt = nn.ConvTranspose2d(cfg.d, 4, (2, 3), groups=2)
        """,
        "m:Net", {"d": 16},
    ),
    "subclass_of_builtin": (
        """
        import torch
        import torch.nn as nn

        class MyNorm(nn.LayerNorm):
            def forward(self, x):
                return super().forward(x.float())

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.n = MyNorm(16, eps=1e-5)
        """,
        "m:Net", None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_static_equals_meta_device(pkg, case):
    source, root, config = CASES[case]
    src = pkg({"m.py": source}, config)
    static = analyze(src, root=root)
    assert not static.partial, [d.format() for d in static.diagnostics]
    runtime = dump_runtime(src, root=root)
    assert differences(static.tree, runtime) == []


def test_registration_order_and_shapes_by_hand(pkg):
    src = pkg({"m.py": CASES["buffers_parameters_setattr_moduledict"][0]}, {"n": 5, "dim": 8})
    tree = analyze(src, root="m:Net").tree
    root = tree.modules[0]
    # own parameters in registration order, shapes by hand: ones(8), zeros(2*5-1, 8)
    assert root.params == {"scale": (8,), "table": (9, 8)}
    assert root.buffers["pos"].shape == (1, 5) and root.buffers["pos"].dtype == "int64"
    assert root.buffers["inv_freq"].shape == (4,) and not root.buffers["inv_freq"].persistent
    assert [m.name for m in tree.modules][:4] == ["", "head0", "head1", "extra"]
    assert tree.by_name()["head0"].params["weight"] == (7, 8)


def test_source_spans_point_at_the_creating_call(pkg):
    src = pkg({"m.py": """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                if cfg.a:
                    self.x = nn.Linear(1, 1)
                elif cfg.b:
                    self.x = nn.Linear(2, 2)
                else:
                    self.x = nn.Linear(3, 3)
                self.seq = nn.Sequential(
                    nn.Linear(4, 4),
                    nn.ReLU(),
                )
                self.many = nn.ModuleList([nn.Linear(5, 5)
                                           for _ in range(2)])
                for i in range(1):
                    try: self.y = nn.Linear(6, 6)
                    except ValueError: pass
    """}, {"a": False, "b": True})
    tree = analyze(src, root="m:Net").tree
    # lines counted by hand in the source above (line 1 is the import)
    expected = {"x": 10, "seq": 13, "seq.0": 14, "seq.1": 15, "many": 17, "many.0": 17, "many.1": 17, "y": 20}
    assert {m.name: int(m.source.split(":")[1]) for m in tree.modules if m.name} == expected
    assert all(m.source.startswith("m.py:") for m in tree.modules if m.name)


def test_stage_lookup_equals_the_longest_prefix_rule():
    from analyzer.rules import StageRules
    from analyzer.tree.tagging import _stage_lookup

    prefixes = [("a.b.c", "deep"), ("a.b", "mid"), ("a", "top"), ("", "root"), ("x.y", "xy"), ("a.bb", "other")]
    prefixes.sort(key=lambda ps: (-len(ps[0]), ps[0]))
    rules = StageRules("none", tuple(prefixes))
    names = ["", "a", "a.b", "a.bc", "a.b.c", "a.b.c.d", "a.b.cd", "a.bb", "a.bb.c", "x", "x.y", "x.y.z", "xy",
             "y", "a.x.b.c", "b.a"]
    lookup = _stage_lookup(rules)
    assert [lookup(n) for n in names] == [rules.stage_of(n) for n in names]
    assert [lookup(n) for n in names] == ["root", "top", "mid", "top", "deep", "deep", "mid", "other", "other",
                                          "none", "xy", "xy", "none", "none", "top", "none"]

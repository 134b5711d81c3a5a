"""Weight norm, spectral norm and parametrizations (analyzer/evaluate/parametrize.py), statically
vs the real module built by torch on the meta device: names and order of modules, parameters and
buffers, classes (``torch.nn.utils.parametrize.Parametrized<Class>``), shapes. Plus the
transformers 4.46.3 Wav2Vec2Model, whose positional convolution is weight-normed."""
from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from analyzer.api import analyze
from analyzer.tree.runtime import dump_runtime
from test_static_vs_runtime import tree_differences

HEADER = """
import torch
import torch.nn as nn
from torch.nn.utils import parametrize, spectral_norm
from torch.nn.utils.parametrizations import weight_norm as wn
import torch.nn.utils.parametrizations as P


class Sym(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(-1, -2)


class Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, a, b):
        return a + b

    def right_inverse(self, w):
        return w, w[0]


class Own(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(3, 3)
        self.weight = nn.Parameter(torch.zeros(4, 4))
        self.register_buffer("stat", torch.zeros(4))


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.first = nn.Linear(2, 2)
"""

CASES = {
    # the transformers idiom (wav2vec2, HuBERT, EnCodec, VITS...)
    "hf_idiom": """
        weight_norm = nn.utils.weight_norm
        if hasattr(nn.utils.parametrizations, "weight_norm"):
            weight_norm = nn.utils.parametrizations.weight_norm
        self.conv = nn.Conv1d(8, 8, 16, padding=8, groups=2)
        self.conv = weight_norm(self.conv, name="weight", dim=2)
        self.after = nn.Linear(self.conv.weight.shape[1], 2)
""",
    "weight_norm_dims": """
        self.d0 = wn(nn.Conv1d(8, 6, 5))
        self.d1 = wn(nn.Conv1d(8, 6, 5), dim=1)
        self.dm1 = wn(nn.Conv1d(8, 6, 5), dim=-1)
        self.dm2 = P.weight_norm(nn.Conv1d(8, 6, 5), dim=-2)
        self.dn = P.weight_norm(nn.Linear(3, 4), "weight", None)
        self.emb = wn(nn.Embedding(10, 4), dim=1)
""",
    "old_weight_norm": """
        self.d0 = nn.utils.weight_norm(nn.Conv1d(8, 6, 5))
        self.d2 = nn.utils.weight_norm(nn.Conv1d(8, 6, 5), dim=2)
        self.dn = torch.nn.utils.weight_norm(nn.Linear(3, 4), dim=None)
        self.dm3 = nn.utils.weight_norm(nn.Conv1d(8, 6, 5), dim=-3)
        self.shape = nn.Linear(self.d0.weight.shape[0], self.d0.weight_g.shape[0])
""",
    "twice_and_other_tensors": """
        self.twice = wn(wn(nn.Linear(3, 4)), name="bias", dim=0)
        self.user = wn(Own())
        self.sym = nn.Linear(4, 4)
        parametrize.register_parametrization(self.sym, "weight", Sym())
        parametrize.register_parametrization(self.sym, "weight", Sym())
        if parametrize.is_parametrized(self.sym, "weight") and not parametrize.is_parametrized(self.first):
            self.flag = nn.Identity()
""",
    "register_parametrization": """
        self.split = nn.Linear(4, 4)
        parametrize.register_parametrization(self.split, "weight", Split(), unsafe=True)
        self.own = Own()
        parametrize.register_parametrization(self.own, "weight", Sym())
        parametrize.register_parametrization(self.own, "stat", Sym(), unsafe=True)
        self.bn = parametrize.register_parametrization(nn.BatchNorm1d(4), "running_mean", Sym(), unsafe=True)
""",
    "spectral_norm": """
        self.sn = P.spectral_norm(nn.Linear(3, 4))
        self.snt = P.spectral_norm(nn.ConvTranspose2d(4, 6, 3))
        self.snd = P.spectral_norm(nn.Conv2d(4, 6, 3), dim=-1, n_power_iterations=2)
        self.snb = P.spectral_norm(nn.Linear(3, 4), name="bias")
        self.old = spectral_norm(nn.Conv2d(3, 5, 3))
        self.oldt = spectral_norm(nn.ConvTranspose1d(3, 5, 2))
        self.oldd = nn.utils.spectral_norm(nn.Conv2d(3, 5, 3), dim=2)
""",
}


def _analyze(pkg, body):
    src = pkg({"m.py": HEADER + body}, {})
    return src, analyze(src, root="m:Net")


@pytest.mark.parametrize("case", sorted(CASES))
def test_static_equals_meta(pkg, case):
    src, result = _analyze(pkg, CASES[case])
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.nn.utils.weight_norm is deprecated
        runtime = dump_runtime(src, root="m:Net")
    assert tree_differences(result.tree, runtime) == []


def test_what_torch_does_on_meta():
    """The expectations written out, from torch itself (not from the analyzer)."""
    with torch.device("meta"):
        conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(8, 8, 16, groups=2), name="weight", dim=2)
        old = nn.utils.weight_norm(nn.Conv1d(8, 6, 5), dim=1)
    assert [(n, type(m).__module__ + "." + type(m).__qualname__) for n, m in conv.named_modules()] == [
        ("", "torch.nn.utils.parametrize.ParametrizedConv1d"),
        ("parametrizations", "torch.nn.modules.container.ModuleDict"),
        ("parametrizations.weight", "torch.nn.utils.parametrize.ParametrizationList"),
        ("parametrizations.weight.0", "torch.nn.utils.parametrizations._WeightNorm")]
    assert [(n, tuple(p.shape)) for n, p in conv.named_parameters()] == [
        ("bias", (8,)), ("parametrizations.weight.original0", (1, 1, 16)),
        ("parametrizations.weight.original1", (8, 4, 16))]
    assert [(n, tuple(p.shape)) for n, p in old.named_parameters()] == [
        ("bias", (6,)), ("weight_g", (1, 8, 1)), ("weight_v", (6, 8, 5))]
    assert type(old) is nn.Conv1d and "weight" not in old._parameters


NET_LINE = HEADER.replace("from torch.nn.utils import", "from mystery_pkg_xyz import thing\nfrom torch.nn.utils import")


@pytest.mark.parametrize("line, code, message", [
    ("self.c = wn(nn.Linear(3, 4), dim=thing)", "W104", "dim is not a known int"),
    ("self.c = nn.utils.weight_norm(nn.Linear(3, 4), dim=thing)", "W104", "dim is not a known int"),
    ("self.c = P.spectral_norm(nn.Linear(3, 4), dim=thing)", "W104", "dim is not a known int"),
    ("self.c = wn(nn.Linear(3, 4), name=thing)", "W105", "the tensor name is unknown"),
    ("self.c = nn.Linear(3, 4)\n        parametrize.register_parametrization(self.c, 'weight', thing)", "W104",
     "the parametrization is unknown"),
])
def test_unknown_arguments_are_partial_not_guessed(pkg, line, code, message):
    src = pkg({"m.py": NET_LINE + "        " + line + "\n"}, {})
    result = analyze(src, root="m:Net")
    assert any(d.code == code and message in d.message for d in result.diagnostics), \
        [d.format() for d in result.diagnostics]
    by_name = result.tree.by_name()
    assert by_name["c"].partial and result.partial
    shapes = {f"{m.name}.{k}": v for m in result.tree.modules for k, v in m.params.items() if m.name.startswith("c")}
    if "dim=thing" in line and "spectral" not in line:  # the structure is known, g's shape is not
        assert None in shapes.values() and ((4, 3) in shapes.values())
        assert (4, 1) not in shapes.values() and (1, 3) not in shapes.values()


@pytest.mark.parametrize("line, torch_error", [
    ("self.c = wn(nn.Conv1d(8, 6, 5), dim=3)", IndexError),
    ("self.c = wn(nn.Linear(3, 4), name='nope')", ValueError),
    ("self.c = nn.utils.weight_norm(nn.Linear(3, 4), name='nope')", AttributeError),
    ("self.c = P.spectral_norm(nn.Linear(3, 4), n_power_iterations=0)", ValueError),
    ("self.c = wn(3)", AttributeError),
    ("self.c = nn.utils.weight_norm(3)", AttributeError),
])
def test_where_torch_raises_the_analyzer_reports(pkg, line, torch_error):
    src = pkg({"m.py": HEADER + "        " + line + "\n"}, {})
    with pytest.raises(Exception) as info:  # the real thing fails (wrapped by the runtime dump)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dump_runtime(src, root="m:Net")
    assert torch_error.__name__ in str(info.value)
    result = analyze(src, root="m:Net")
    assert result.partial and "c" not in result.tree.by_name()
    assert any(d.code == "W104" for d in result.diagnostics), [d.format() for d in result.diagnostics]


@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="transformers is not installed")
@pytest.mark.parametrize("attn", [None, "eager"])
def test_wav2vec2_static_equals_meta(tmp_path, attn):
    import transformers
    from transformers import Wav2Vec2Config

    config = tmp_path / "config.json"
    config.write_text(json.dumps(Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37, conv_dim=(8, 8),
        conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    ).to_dict()))
    src = Path(transformers.__file__).parent / "models" / "wav2vec2"
    root = "modeling_wav2vec2:Wav2Vec2Model"
    static = analyze(src, root=root, config=str(config), attn_implementation=attn)
    assert not static.diagnostics, [d.format() for d in static.diagnostics]
    runtime = dump_runtime(src, root=root, config=str(config), attn_implementation=attn)
    assert tree_differences(static.tree, runtime) == []
    conv = static.tree.by_name()["encoder.pos_conv_embed.conv"]
    assert conv.cls == "ParametrizedConv1d" and list(conv.params) == ["bias"]
    assert static.tree.by_name()["encoder.pos_conv_embed.conv.parametrizations.weight"].params == {
        "original0": (1, 1, 16), "original1": (32, 16, 16)}

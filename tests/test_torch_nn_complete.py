"""Issue 10, torch.nn completeness: every public ``nn.Module`` subclass that torch 2.13 exports from
``torch.nn`` / ``torch.nn.modules`` has a rule in rules/torch_nn.yaml (checked against meta-device
instances in tests/test_torch_rules.py), is a container or the base class the evaluator models in
code, or is listed below as deliberately not modelled, with the reason, and then the static analysis
reports it instead of guessing. The containers ParameterList / ParameterDict and a model using the
new rules are compared with the real model built on the meta device.
"""
from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn as nn
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from analyzer.api import analyze
from analyzer.evaluate.torch_rules import load_torch_rules
from analyzer.tree.runtime import dump_runtime
from test_static_vs_runtime import tree_differences
from test_torch_rules import CASES

RULES = load_torch_rules()

MODELLED_IN_CODE = {
    "Module": "the base class: rules/externals.yaml and analyzer/evaluate/modules.py",
    "ModuleList": "container (analyzer/evaluate/modules.py, items.py)",
    "Sequential": "container",
    "ModuleDict": "container",
    "ParameterList": "container: values appended become parameters '0', '1', ...",
    "ParameterDict": "container: a plain dict is registered in sorted key order, as torch does",
}
UNMODELLED = {
    "AdaptiveLogSoftmaxWithLoss": "a ModuleList of per-cluster Sequentials sized by a loop over cutoffs",
    "Container": "deprecated since PyTorch 0.4",
}


def public_module_classes() -> dict[str, type]:
    out = {}
    for namespace in (nn, nn.modules):
        for name in dir(namespace):
            obj = getattr(namespace, name)
            if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, nn.Module):
                assert out.setdefault(name, obj) is obj, name
    return out


CLASSES = public_module_classes()


def test_every_public_module_class_is_accounted_for():
    assert len(CLASSES) == 163  # torch 2.13.0; a new torch release adds classes: they must be placed
    with_rule = {n for n in CLASSES if n in RULES.rules}
    missing = set(CLASSES) - with_rule - set(MODELLED_IN_CODE) - set(UNMODELLED)
    assert not missing, f"no rule, no container, not listed as unmodelled: {sorted(missing)}"
    assert set(RULES.unmodelled) == set(UNMODELLED)
    assert set(RULES.containers) | {"Module"} == set(MODELLED_IN_CODE)
    assert len(with_rule) == len(CLASSES) - len(MODELLED_IN_CODE) - len(UNMODELLED) == 155
    for name in with_rule:
        cls = CLASSES[name]
        assert RULES.rules[name].qualname == f"{cls.__module__}.{cls.__qualname__}", name
    for name, qualname in RULES.containers.items():
        assert qualname == f"{CLASSES[name].__module__}.{CLASSES[name].__qualname__}"


def test_every_rule_is_checked_on_the_meta_device():
    # tests/test_torch_rules.py builds each case on torch.device("meta") and compares params,
    # buffers and children; options that change parameters have several cases
    counts = {}
    for cls, _, _ in CASES:
        counts[cls] = counts.get(cls, 0) + 1
    assert set(RULES.rules) <= set(counts)
    for name in ("LSTM", "GRU", "RNN", "RNNBase", "Transformer", "TransformerEncoderLayer", "MultiheadAttention",
                 "BatchNorm2d", "LayerNorm", "Embedding", "CrossEntropyLoss", "BCEWithLogitsLoss", "LazyBatchNorm1d"):
        assert counts[name] >= 2, name


NET = """
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ok = nn.Linear(2, 2)
        {line}
"""


@pytest.mark.parametrize("name, line", [
    ("AdaptiveLogSoftmaxWithLoss", "self.x = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4])"),
    ("Container", "self.x = nn.Container(a=nn.ReLU())"),
])
def test_unmodelled_classes_are_reported(pkg, name, line):
    src = pkg({"m.py": NET.format(line=line)}, {})
    result = analyze(src, root="m:Net")
    messages = [d.format() for d in result.diagnostics]
    assert any(f"torch.nn.{name} is deliberately not modelled: {RULES.unmodelled[name]}" in m and " W108 " in m
               for m in messages), messages
    assert result.partial
    assert [m.name for m in result.tree.modules] == ["", "ok"]


def test_lazy_modules_have_names_but_no_shapes(pkg):
    src = pkg({"m.py": NET.format(line="self.lin = nn.LazyLinear(4)\n        self.bn = nn.LazyBatchNorm1d(affine=False)")}, {})
    result = analyze(src, root="m:Net")
    by_name = result.tree.by_name()
    with torch.device("meta"):
        real = {"lin": nn.LazyLinear(4), "bn": nn.LazyBatchNorm1d(affine=False)}
    for name, module in real.items():
        node = by_name[name]
        assert node.cls == type(module).__name__ and node.partial
        assert node.params == {n: None for n, p in module.named_parameters() if isinstance(p, UninitializedParameter)}
        assert {n: b.shape for n, b in node.buffers.items()} == {
            n: None if isinstance(b, UninitializedBuffer) else tuple(b.shape) for n, b in module.named_buffers()}
    lazy = [d.message for d in result.diagnostics if d.code == "W104"]
    assert len(lazy) == 2 and all("lazy module" in m for m in lazy), lazy
    assert not by_name["ok"].partial


MANY = """
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DataParallel


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lstm = nn.LSTM(cfg.d, 8, num_layers=2, bidirectional=True, proj_size=3)
        self.gru = nn.GRU(cfg.d, 8, batch_first=True, bias=False)
        self.rnn = nn.RNN(cfg.d, 4, 1, "relu")
        layer = nn.TransformerEncoderLayer(cfg.d, 2, 16, activation=nn.GELU(), batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2, norm=nn.LayerNorm(cfg.d))
        self.dec_layer = nn.TransformerDecoderLayer(cfg.d, 2, 16, activation=F.gelu)
        self.tr = nn.Transformer(cfg.d, 2, 1, 1, 16)
        self.loss = nn.CrossEntropyLoss(weight=torch.ones(5), label_smoothing=0.1)
        self.bce = nn.BCEWithLogitsLoss(pos_weight=torch.zeros(3, dtype=torch.float64))
        self.nll = nn.NLLLoss()
        self.dp = DataParallel(nn.Linear(2, 2))
        self.tl = nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance())
        self.lce = nn.LinearCrossEntropyLoss(cfg.d, 5, out_features=(2,))
        self.pool = nn.FractionalMaxPool2d(2, output_size=4)
        self.sbn = nn.SyncBatchNorm(cfg.d, affine=False)
        self.cell = nn.RNNCellBase(cfg.d, 8, True, 2)
        # plain attributes torch sets, read back (rules' attrs), also through a parametrization
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(cfg.d, 4, 3, stride=2, padding=1))
        self.register_buffer("stride", torch.tensor(self.conv.stride[0], dtype=torch.int64), persistent=False)
        self.head = nn.Linear(self.lstm.hidden_size * 2 + self.conv.kernel_size[0], self.tr.d_model)
        self.emb = nn.Embedding(10, self.head.out_features, padding_idx=-1)
        self.more = nn.Linear(self.emb.padding_idx, int(self.lstm.dropout) + self.sbn.num_features)
"""


def test_new_rules_static_equals_meta(pkg):
    src = pkg({"m.py": MANY}, {"d": 8})
    result = analyze(src, root="m:Net")
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    diffs = tree_differences(result.tree, dump_runtime(src, root="m:Net"))
    assert not diffs, diffs


@pytest.mark.parametrize("line, expected", [
    ("self.x = nn.LSTM(4, thing)", "LSTM: parameter shapes unknown"),
    ("self.x = nn.CrossEntropyLoss(weight=thing)", "CrossEntropyLoss: parameter shapes unknown"),
    ("self.x = nn.CrossEntropyLoss(weight=torch.ones(thing))", "not a tensor of known shape"),
    ("self.x = nn.TransformerEncoder(thing, 2)", "TransformerEncoder: child modules unknown"),
    ("self.x = nn.TransformerEncoderLayer(8, 2, activation=thing)", "cannot tell whether"),
    ("self.x = nn.GRU(4, 8, proj_size=2)", "proj_size argument is only supported for LSTM"),
    ("self.x = nn.MultiheadAttention(10, 3)", "embed_dim must be divisible by num_heads"),
])
def test_unknown_or_invalid_arguments_are_reported(pkg, line, expected):
    src = pkg({"m.py": "from mystery_pkg_xyz import thing\n" + NET.format(line=line)}, {})
    result = analyze(src, root="m:Net")
    assert any(expected in d.message and d.code == "W104" for d in result.diagnostics), \
        [d.format() for d in result.diagnostics]
    assert result.partial
    x = result.tree.by_name().get("x")
    assert x is None or (x.partial and not x.params and not x.buffers)


# ---- ParameterList / ParameterDict ---------------------------------------------------------------
PARAMS = """
import collections
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.pl = nn.ParameterList([nn.Parameter(torch.zeros(3, 4)), torch.ones(5)])
        self.pl.append(nn.Parameter(torch.zeros(2)))
        self.first = nn.Linear(self.pl[0].shape[1], len(self.pl))
        self.last = nn.Linear(self.pl[-1].shape[0], 1)
        self.pd = nn.ParameterDict({"z": nn.Parameter(torch.zeros(2, 2)), "a": torch.zeros(3)})
        self.pd["b"] = nn.Parameter(torch.zeros(1))
        self.pd.update(collections.OrderedDict([("y", nn.Parameter(torch.zeros(4))), ("c", nn.Parameter(torch.zeros(6)))]))
        self.pd.update([("x", nn.Parameter(torch.zeros(7)))])
        self.pl2 = nn.ParameterList()
        for i in range(2):
            self.pl2.append(nn.Parameter(torch.zeros(i + 1)))
        self.pl2.extend([nn.Parameter(torch.zeros(7))])
        self.pl2[0] = nn.Parameter(torch.zeros(9, 9))
        self.pl2.append(nn.ReLU())
        self.pl2.append(3)
        self.n = nn.Linear(len(self.pl2), len(self.pd))
        self.k = nn.ModuleList([nn.Linear(p.shape[0], 1) for p in self.pl2 if isinstance(p, torch.Tensor)])
        self.ks = nn.ModuleList([nn.Linear(self.pd[k].shape[0], 1) for k in self.pd])
        self.kv = nn.ModuleList([nn.Linear(v.shape[-1], len(k)) for k, v in self.pd.items()])
        if "b" in self.pd and self.pl and "q" not in self.pd:
            self.flag = nn.Identity()
        self.pd2 = nn.ParameterDict(self.pd)
        self.sub = nn.Linear(len(self.pl2[1:]), 2)
        self.empty = nn.ParameterList()
        if not self.empty:
            self.none = nn.Identity()
"""


def test_parameter_containers_static_equals_meta(pkg):
    src = pkg({"m.py": PARAMS}, {})
    result = analyze(src, root="m:Net")
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    runtime = dump_runtime(src, root="m:Net")
    assert tree_differences(result.tree, runtime) == []
    by_name = runtime.by_name()  # what torch does, spelled out
    assert list(by_name["pl"].params) == ["0", "1", "2"]
    assert list(by_name["pd"].params) == ["a", "z", "b", "y", "c", "x"]  # a plain dict: sorted keys
    assert by_name["n"].params["weight"] == (6, 5)


@pytest.mark.parametrize("line, code", [
    ("self.pl = nn.ParameterList([nn.Parameter(torch.zeros(2)), thing])", "W104"),
    ("self.pl = nn.ParameterList([nn.Parameter(torch.zeros(2))])\n        self.pl[3] = nn.Parameter(torch.zeros(1))", "W104"),
    ("self.pl = nn.ParameterDict()\n        self.pl[thing] = nn.Parameter(torch.zeros(1))", "W105"),
    ("self.pl = nn.ParameterDict({'a': nn.Parameter(torch.zeros(1))})\n        self.q = nn.Linear(self.pl['b'].shape[0], 1)", "W104"),
])
def test_parameter_containers_report_what_they_cannot_follow(pkg, line, code):
    src = pkg({"m.py": "from mystery_pkg_xyz import thing\n" + NET.format(line=line)}, {})
    result = analyze(src, root="m:Net")
    assert code in [d.code for d in result.diagnostics], [d.format() for d in result.diagnostics]
    assert result.partial

"""rules/torch_nn.yaml against the real torch.nn classes, instantiated on the meta device."""
from __future__ import annotations

import inspect
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.modules.linear
from torch.nn.parameter import UninitializedBuffer, UninitializedParameter

from analyzer.diagnostics import AnalyzerError
from analyzer.evaluate.torch_rules import (BindError, Clones, Known, Plan, RequireError, ShapeError, bind, instantiate,
                                           instantiate_attrs, instantiate_children, load_torch_rules)

RULES = load_torch_rules()
META_WEIGHT = torch.empty(10, 4, device="meta")
W5 = torch.empty(5, device="meta")
W5_64 = torch.empty(5, dtype=torch.float64, device="meta")
with torch.device("meta"):  # modules passed as arguments (children by value, or cloned)
    ENC_LAYER = nn.TransformerEncoderLayer(8, 2, 16)
    DEC_LAYER = nn.TransformerDecoderLayer(8, 2, 16, activation="gelu")
    NORM8 = nn.LayerNorm(8)
    LINEAR = nn.Linear(2, 3)

# (class, args, kwargs): every rule in the YAML must appear at least once.
CASES = [
    ("Identity", [], {}),
    ("Identity", [3, "x"], {"foo": 1}),
    ("Linear", [3, 4], {}),
    ("Linear", [3, 4, False], {}),
    ("Linear", [], {"in_features": 5, "out_features": 2, "bias": False}),
    ("Linear", [5, 2], {"dtype": torch.float64}),
    ("NonDynamicallyQuantizableLinear", [6, 7], {"bias": False}),
    ("Bilinear", [3, 4, 5], {}),
    ("Bilinear", [3, 4], {"out_features": 5, "bias": False}),
    ("Conv1d", [4, 8, 3], {}),
    ("Conv1d", [4, 8, (5,)], {"groups": 2, "bias": False}),
    ("Conv2d", [3, 16, 3], {"stride": 2, "padding": 1}),
    ("Conv2d", [4, 8, (3, 5)], {"groups": 4, "bias": False}),
    ("Conv2d", [4, 8, [1, 7], 1, "same"], {"padding_mode": "reflect"}),
    ("Conv2d", [6, 6, 3, 1, 1, 1, 3, False], {}),
    ("Conv3d", [2, 4, 3], {}),
    ("Conv3d", [2, 4, (1, 3, 3)], {"groups": 2}),
    ("ConvTranspose1d", [4, 6, 3], {}),
    ("ConvTranspose1d", [4, 6, 3], {"groups": 2, "bias": False}),
    ("ConvTranspose2d", [8, 4, (2, 3)], {"stride": 2, "groups": 2}),
    ("ConvTranspose2d", [8, 4, 4, 2, 1, 0, 4, False], {}),
    ("ConvTranspose3d", [3, 6, 2], {"groups": 3}),
    ("Unfold", [3], {"stride": 2}),
    ("Fold", [(4, 5), 2], {}),
    ("LayerNorm", [16], {}),
    ("LayerNorm", [[4, 5]], {"elementwise_affine": False}),
    ("LayerNorm", [(4, 5)], {"bias": False}),
    ("LayerNorm", [8, 1e-6, True, False], {}),
    ("GroupNorm", [4, 16], {}),
    ("GroupNorm", [2, 8], {"affine": False}),
    ("GroupNorm", [2, 8], {"bias": False}),
    ("RMSNorm", [32], {}),
    ("RMSNorm", [[2, 3]], {"eps": 1e-6}),
    ("RMSNorm", [8], {"elementwise_affine": False}),
    ("LocalResponseNorm", [2], {}),
    ("BatchNorm1d", [10], {}),
    ("BatchNorm1d", [10], {"affine": False}),
    ("BatchNorm2d", [6], {"track_running_stats": False}),
    ("BatchNorm2d", [6, 1e-3, 0.1, False, False], {}),
    ("BatchNorm2d", [6], {"bias": False, "dtype": torch.float64}),
    ("BatchNorm3d", [5], {"momentum": None}),
    ("InstanceNorm1d", [4], {}),
    ("InstanceNorm2d", [4], {"affine": True, "track_running_stats": True}),
    ("InstanceNorm2d", [4], {"track_running_stats": True, "dtype": torch.bfloat16}),
    ("InstanceNorm3d", [4, 1e-5, 0.1, True], {"bias": False}),
    ("Embedding", [10, 4], {}),
    ("Embedding", [10, 4, 0], {}),
    ("Embedding", [10, 4], {"padding_idx": -1, "max_norm": 1.0, "sparse": True}),
    ("Embedding", [10, 4], {"_weight": META_WEIGHT, "_freeze": True}),
    ("EmbeddingBag", [10, 4], {}),
    ("EmbeddingBag", [10, 4], {"mode": "sum", "padding_idx": 2, "_weight": META_WEIGHT}),
    ("RNNCell", [5, 7], {}),
    ("RNNCell", [5, 7, False, "relu"], {}),
    ("LSTMCell", [5, 7], {}),
    ("LSTMCell", [5, 7], {"bias": False}),
    ("GRUCell", [5, 7], {}),
    ("MultiheadAttention", [8, 2], {}),
    ("MultiheadAttention", [8, 2], {"bias": False}),
    ("MultiheadAttention", [8, 2, 0.1, True, True], {"kdim": 4, "vdim": 6}),
    ("MultiheadAttention", [8, 4], {"kdim": 8, "vdim": 8, "batch_first": True}),
    ("MultiheadAttention", [8, 4], {"kdim": 5, "bias": False, "add_bias_kv": True}),
    ("Dropout", [], {}),
    ("Dropout", [0.1], {}),
    ("Dropout1d", [0.2, True], {}),
    ("Dropout2d", [], {"p": 0.3}),
    ("Dropout3d", [], {}),
    ("AlphaDropout", [0.2], {}),
    ("GELU", [], {}),
    ("GELU", ["tanh"], {}),
    ("SiLU", [], {"inplace": True}),
    ("ReLU", [], {}),
    ("ReLU", [True], {}),
    ("ReLU6", [], {}),
    ("LeakyReLU", [0.2], {}),
    ("PReLU", [], {}),
    ("PReLU", [16], {}),
    ("PReLU", [], {"num_parameters": 3, "init": 0.1}),
    ("ELU", [], {"alpha": 0.5}),
    ("CELU", [], {}),
    ("SELU", [], {}),
    ("Mish", [], {}),
    ("Hardswish", [], {}),
    ("Hardsigmoid", [], {}),
    ("Hardtanh", [-2.0, 2.0], {}),
    ("Hardshrink", [], {}),
    ("Softshrink", [0.3], {}),
    ("Tanh", [], {}),
    ("Tanhshrink", [], {}),
    ("Sigmoid", [], {}),
    ("LogSigmoid", [], {}),
    ("Softplus", [], {"beta": 2.0}),
    ("Softsign", [], {}),
    ("Threshold", [0.1, 20.0], {}),
    ("GLU", [], {}),
    ("Softmax", [], {"dim": -1}),
    ("Softmax", [1], {}),
    ("Softmin", [], {}),
    ("LogSoftmax", [-1], {}),
    ("Softmax2d", [], {}),
    ("Flatten", [], {}),
    ("Flatten", [0, 2], {}),
    ("Unflatten", [1, (2, 5)], {}),
    ("PixelShuffle", [2], {}),
    ("PixelUnshuffle", [2], {}),
    ("ChannelShuffle", [2], {}),
    ("Upsample", [], {"scale_factor": 2, "mode": "bilinear", "align_corners": False}),
    ("Upsample", [(8, 8)], {}),
    ("UpsamplingNearest2d", [], {"scale_factor": 2}),
    ("UpsamplingBilinear2d", [4], {}),
    ("MaxPool1d", [2], {}),
    ("MaxPool2d", [3, 2, 1], {}),
    ("MaxPool2d", [(2, 2)], {"ceil_mode": True}),
    ("MaxPool3d", [2], {}),
    ("AvgPool1d", [3], {"stride": 1}),
    ("AvgPool2d", [2], {}),
    ("AvgPool3d", [2], {"divisor_override": 3}),
    ("AdaptiveAvgPool1d", [1], {}),
    ("AdaptiveAvgPool2d", [(1, 1)], {}),
    ("AdaptiveAvgPool2d", [(None, 7)], {}),
    ("AdaptiveAvgPool3d", [2], {}),
    ("AdaptiveMaxPool1d", [4], {}),
    ("AdaptiveMaxPool2d", [7], {"return_indices": True}),
    ("AdaptiveMaxPool3d", [2], {}),
    ("ZeroPad1d", [2], {}),
    ("ZeroPad2d", [(1, 1, 2, 0)], {}),
    ("ZeroPad3d", [1], {}),
    ("ConstantPad1d", [2, 3.5], {}),
    ("ConstantPad2d", [1, 0.0], {}),
    ("ConstantPad3d", [(1, 1, 1, 1, 1, 1)], {"value": 1.0}),
    ("ReflectionPad1d", [2], {}),
    ("ReflectionPad2d", [(1, 1, 2, 2)], {}),
    ("ReplicationPad1d", [2], {}),
    ("ReplicationPad2d", [1], {}),
    ("ReplicationPad3d", [1], {}),
    ("CosineSimilarity", [], {"dim": 0}),
    ("PairwiseDistance", [1.0], {}),
    # lazy modules: parameter names known, shapes None (UninitializedParameter / UninitializedBuffer)
    ("LazyLinear", [4], {}),
    ("LazyLinear", [4, False], {}),
    ("LazyConv1d", [4, 3], {}),
    ("LazyConv2d", [4, 3], {"bias": False}),
    ("LazyConv3d", [2, 3], {"groups": 2}),
    ("LazyConvTranspose1d", [4, 3], {}),
    ("LazyConvTranspose2d", [4, 3, 2], {"bias": False}),
    ("LazyConvTranspose3d", [2, 2], {}),
    ("LazyBatchNorm1d", [], {}),
    ("LazyBatchNorm2d", [], {"affine": False}),
    ("LazyBatchNorm3d", [], {"track_running_stats": False}),
    ("LazyBatchNorm1d", [], {"bias": False, "dtype": torch.float64}),
    ("LazyInstanceNorm1d", [], {}),
    ("LazyInstanceNorm2d", [1e-5, 0.1, False], {}),
    ("LazyInstanceNorm3d", [], {"bias": False, "track_running_stats": False}),
    ("CrossMapLRN2d", [3], {}),
    ("SyncBatchNorm", [6], {}),
    ("SyncBatchNorm", [6], {"affine": False, "track_running_stats": False}),
    ("SyncBatchNorm", [6, 1e-5, 0.1, True, True, None], {"bias": False}),
    # recurrent layers: per-layer, per-direction parameter names
    ("LSTM", [4, 8], {}),
    ("LSTM", [4, 8, 2], {"bidirectional": True}),
    ("LSTM", [4, 8], {"num_layers": 2, "proj_size": 3, "bidirectional": True}),
    ("LSTM", [4, 8, 1, False, True], {}),
    ("LSTM", [], {"input_size": 4, "hidden_size": 6, "proj_size": 2, "bias": False}),
    ("GRU", [4, 8, 3], {}),
    ("GRU", [4, 8], {"bidirectional": True, "bias": False, "batch_first": True}),
    ("GRU", [4, 8, 1, True, False, 0.0, False, 2], {}),  # a positional proj_size is accepted (not a keyword)
    ("RNN", [4, 8, 1, "tanh", True, False, 0.0, False, 2], {}),
    ("RNN", [4, 8], {}),
    ("RNN", [4, 8, 2, "relu"], {}),
    ("RNN", [4, 8], {"nonlinearity": "relu", "bidirectional": True}),
    ("RNN", [4, 8, 2, "tanh", False, True, 0.0, True], {}),
    ("RNNBase", ["LSTM", 4, 8], {}),
    ("RNNBase", ["GRU", 4, 8, 2], {"proj_size": 0}),
    ("RNNBase", ["RNN_RELU", 3, 5], {"bidirectional": True}),
    ("RNNBase", ["LSTM", 3, 5, 2, True, False, 0.0, True, 2], {}),
    ("RNNCellBase", [4, 8, True, 3], {}),
    ("RNNCellBase", [4, 8, False, 1], {}),
    # transformer layers: children by rule, by value (a module activation or norm), and cloned
    ("TransformerEncoderLayer", [16, 2], {}),
    ("TransformerEncoderLayer", [16, 2, 32], {"activation": "gelu", "bias": False, "batch_first": True}),
    ("TransformerEncoderLayer", [16, 2], {"activation": nn.GELU(), "norm_first": True}),
    ("TransformerEncoderLayer", [16, 4, 8, 0.0, F.silu], {}),
    ("TransformerDecoderLayer", [16, 2], {}),
    ("TransformerDecoderLayer", [16, 2, 32, 0.0, nn.ReLU()], {"bias": False}),
    ("TransformerEncoder", [ENC_LAYER, 2], {}),
    ("TransformerEncoder", [ENC_LAYER, 3, NORM8], {"enable_nested_tensor": False}),
    ("TransformerDecoder", [DEC_LAYER, 2], {"norm": NORM8}),
    ("TransformerDecoder", [DEC_LAYER, 0], {}),
    ("Transformer", [], {}),
    ("Transformer", [16, 2, 1, 2, 32], {"activation": "gelu", "bias": False, "norm_first": True}),
    ("Transformer", [8, 2], {"custom_encoder": LINEAR, "num_decoder_layers": 1, "dim_feedforward": 4}),
    ("Transformer", [8, 2], {"custom_decoder": NORM8, "num_encoder_layers": 1, "activation": nn.GELU()}),
    # dropout, activations, pooling, padding
    ("FeatureAlphaDropout", [], {}),
    ("FeatureAlphaDropout", [0.2, True], {}),
    ("RReLU", [], {}),
    ("RReLU", [0.1, 0.2], {}),
    ("FractionalMaxPool2d", [3], {"output_size": 5}),
    ("FractionalMaxPool2d", [2], {"output_ratio": 0.5, "_random_samples": torch.empty(1, 3, 2, device="meta")}),
    ("FractionalMaxPool3d", [2], {"output_size": 4, "return_indices": True}),
    ("LPPool1d", [2, 3], {}),
    ("LPPool2d", [2.0, 2], {"stride": 1}),
    ("LPPool3d", [1, 2], {}),
    ("MaxUnpool1d", [2], {}),
    ("MaxUnpool2d", [2, 2], {}),
    ("MaxUnpool3d", [3, 1, 1], {}),
    ("ReflectionPad3d", [1], {}),
    ("CircularPad1d", [2], {}),
    ("CircularPad2d", [(1, 1, 2, 2)], {}),
    ("CircularPad3d", [1], {}),
    # losses: weighted ones register their weight tensors as buffers
    ("L1Loss", [], {}),
    ("MSELoss", [], {"reduction": "sum"}),
    ("SoftMarginLoss", [], {}),
    ("MultiLabelMarginLoss", [], {}),
    ("SmoothL1Loss", [], {"beta": 0.5}),
    ("HuberLoss", ["sum", 2.0], {}),
    ("KLDivLoss", [], {"reduction": "batchmean", "log_target": True}),
    ("PoissonNLLLoss", [False, True], {}),
    ("GaussianNLLLoss", [], {"full": True}),
    ("CTCLoss", [1], {"zero_infinity": True}),
    ("HingeEmbeddingLoss", [], {}),
    ("CosineEmbeddingLoss", [0.5], {}),
    ("MarginRankingLoss", [], {}),
    ("TripletMarginLoss", [], {"margin": 0.5, "p": 1.0}),
    ("TripletMarginWithDistanceLoss", [], {}),
    ("TripletMarginWithDistanceLoss", [], {"distance_function": nn.PairwiseDistance(p=1.0)}),
    ("TripletMarginWithDistanceLoss", [], {"distance_function": F.cosine_similarity, "swap": True}),
    ("BCELoss", [], {}),
    ("BCELoss", [W5], {}),
    ("MultiLabelSoftMarginLoss", [], {"weight": W5_64}),
    ("BCEWithLogitsLoss", [], {"pos_weight": W5}),
    ("BCEWithLogitsLoss", [W5_64], {"pos_weight": W5}),
    ("NLLLoss", [], {}),
    ("NLLLoss", [W5_64], {"ignore_index": 0}),
    ("NLLLoss2d", [W5], {}),
    ("CrossEntropyLoss", [], {}),
    ("CrossEntropyLoss", [], {"weight": W5, "label_smoothing": 0.1}),
    ("MultiMarginLoss", [2], {"weight": W5}),
    ("LinearCrossEntropyLoss", [8, 5], {}),
    ("LinearCrossEntropyLoss", [8, 5], {"out_features": (2, 3), "bias": True, "weight": W5}),
    ("DataParallel", [LINEAR], {}),
    ("DataParallel", [NORM8, None, None, 1], {}),
]


def torch_class(name: str) -> type:
    return getattr(nn, name, None) or getattr(torch.nn.modules.linear, name)


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def known(v):
    """An argument as the static evaluator hands it to a rule (analyzer/evaluate/construction.py)."""
    if isinstance(v, nn.Module):
        return Known("module", v)
    if isinstance(v, torch.Tensor):
        return Known("tensor", v, tuple(v.shape), dtype_name(v.dtype))
    return Known("object", v) if callable(v) else v


def shape(t) -> tuple | None:
    return None if isinstance(t, (UninitializedParameter, UninitializedBuffer)) else tuple(t.shape)


def check_module(module: nn.Module, rule_name: str, args: list, kwargs: dict, copied: bool = False) -> None:
    rule = RULES.get(rule_name)
    assert rule is not None, rule_name
    assert rule.qualname == type(module).__module__ + "." + type(module).__qualname__
    bound = bind(rule, [known(a) for a in args], {k: known(v) for k, v in kwargs.items()})
    params, buffers = instantiate(rule, bound)
    assert list(params.items()) == [(n, shape(p)) for n, p in module.named_parameters(recurse=False)]
    assert [(n, b.shape, b.dtype, b.persistent) for n, b in buffers.items()] == [
        (n, shape(b), dtype_name(b.dtype), n not in module._non_persistent_buffers_set)
        for n, b in module.named_buffers(recurse=False)
    ]
    for name, value in instantiate_attrs(rule, bound).items():  # the same value, of the same type
        real = getattr(module, name)
        assert (type(value), value) == (type(real), real), (rule_name, name)
    children = instantiate_children(rule, bound)
    assert list(children) == [n for n, _ in module.named_children()]
    for (_, child), spec in zip(module.named_children(), children.values()):
        check_child(child, spec, copied)


def check_child(module: nn.Module, spec, copied: bool = False) -> None:
    """A child against what the rule says it is: built by a rule, the argument itself (``copied``:
    inside clones, a deep copy of it), or clones."""
    if isinstance(spec, Plan):
        check_module(module, spec.cls, spec.args, spec.kwargs, copied)
    elif isinstance(spec, Known) and not copied:
        assert module is spec.obj
    elif isinstance(spec, Known):
        original = spec.obj
        assert module is not original and type(module) is type(original)
        assert [(n, type(m)) for n, m in module.named_modules()] == [(n, type(m)) for n, m in original.named_modules()]
        assert [(n, p.shape) for n, p in module.named_parameters()] == [(n, p.shape) for n, p in original.named_parameters()]
    else:
        assert isinstance(spec, Clones) and type(module) is nn.ModuleList and len(module) == spec.count
        for copy in module:
            check_child(copy, spec.module, True)


@pytest.mark.parametrize("cls, args, kwargs", CASES, ids=lambda v: repr(v)[:40])
def test_rule_matches_torch(cls, args, kwargs):
    with torch.device("meta"):
        module = torch_class(cls)(*args, **kwargs)
    check_module(module, cls, args, kwargs)


def test_every_rule_has_a_case():
    assert set(RULES.rules) - {c for c, _, _ in CASES} == set()


def expected_signature(cls: type) -> list[tuple]:
    if cls.__init__ is nn.Module.__init__:  # Module.__init__ rejects any argument
        return []
    kinds = {inspect.Parameter.POSITIONAL_OR_KEYWORD: "positional", inspect.Parameter.KEYWORD_ONLY: "keyword",
             inspect.Parameter.VAR_POSITIONAL: "*args", inspect.Parameter.VAR_KEYWORD: "**kwargs"}

    def default(d):  # a function default (activation=F.relu) is written {callable: its dotted name}
        return Known("object", f"{d.__module__}.{d.__qualname__}") if inspect.isfunction(d) else d

    return [(p.name, kinds[p.kind], p.default is not p.empty, None if p.default is p.empty else default(p.default))
            for p in list(inspect.signature(cls.__init__).parameters.values())[1:]]


@pytest.mark.parametrize("name", sorted(RULES.rules))
def test_signature_matches_inspect(name):
    rule = RULES.rules[name]
    got = [(a.name, a.kind, a.has_default, a.default) for a in rule.signature]
    assert got == expected_signature(torch_class(name))
    assert [type(a.default) for a in rule.signature] == [type(e[3]) for e in expected_signature(torch_class(name))]


def test_containers_and_lookup():
    for name, qualname in RULES.containers.items():
        cls = getattr(nn, name)
        assert qualname == cls.__module__ + "." + cls.__qualname__
    assert set(RULES.containers) == {"ModuleList", "Sequential", "ModuleDict", "ParameterList", "ParameterDict"}
    linear = RULES.get("Linear")
    assert linear is RULES.get("torch.nn.Linear") is RULES.get("torch.nn.modules.linear.Linear")
    assert linear.name == "Linear"
    for missing in ("torch.nn.modules.conv.Linear", "foo.Linear", "Sequential", "Nope", "torch.nn.Nope"):
        assert RULES.get(missing) is None


BAD_CALLS = [
    ("Linear", [3], {}, "Linear() missing required argument 'out_features'"),
    ("Linear", [3, 4], {"x": 1}, "Linear() got an unexpected keyword argument 'x'"),
    ("Linear", [3, 4], {"in_features": 1}, "Linear() got multiple values for argument 'in_features'"),
    ("Linear", [1, 2, 3, 4, 5, 6], {}, "Linear() takes 5 positional arguments but 6 were given"),
    ("Tanh", [1], {}, "Tanh() takes 0 positional arguments but 1 were given"),
    ("Tanh", [], {"x": 1}, "Tanh() got an unexpected keyword argument 'x'"),
    ("GroupNorm", [2, 8, 1e-5, True, None, None, False], {}, "GroupNorm() takes 6 positional arguments"),
    ("Unflatten", [], {"dim": 1}, "Unflatten() missing required argument 'unflattened_size'"),
]


@pytest.mark.parametrize("cls, args, kwargs, message", BAD_CALLS)
def test_bind_errors_where_python_does(cls, args, kwargs, message):
    with pytest.raises(BindError, match=message.replace("(", r"\(").replace(")", r"\)")):
        bind(RULES.get(cls), args, kwargs)
    with pytest.raises(TypeError), torch.device("meta"):
        torch_class(cls)(*args, **kwargs)


def test_bind_collects_varargs_and_defaults():
    assert bind(RULES.get("Identity"), [1, 2], {"a": 3}) == {"args": (1, 2), "kwargs": {"a": 3}}
    assert bind(RULES.get("GroupNorm"), [2, 8], {"bias": False}) == {
        "num_groups": 2, "num_channels": 8, "eps": 1e-5, "affine": True, "device": None, "dtype": None, "bias": False}
    assert bind(RULES.get("RNN"), [4, 8, 2, "relu"], {"bias": False}) == {
        "args": (4, 8, 2, "relu"), "kwargs": {"bias": False}, "input_size": 4, "hidden_size": 8, "num_layers": 2,
        "nonlinearity": "relu", "bias": False, "batch_first": False, "dropout": 0.0, "bidirectional": False,
        "proj_size": 0, "device": None, "dtype": None}


# torch raises (ValueError, or AssertionError) for these: so does the rule (RequireError), no tree is made up
REQUIRE_CALLS = [
    ("LSTM", [4, 8], {"proj_size": 8}),
    ("LSTM", [4, 8], {"num_layers": 0}),
    ("LSTM", [4, 8, 1, True, False, 1.5], {}),
    ("GRU", [4, 8], {"proj_size": 2}),
    ("RNN", [4, 8], {"nonlinearity": "sigmoid"}),
    ("RNN", [4, 8], {"proj_size": 0}),
    ("RNNBase", ["XYZ", 4, 8], {}),
    ("MultiheadAttention", [10, 3], {}),
    ("FractionalMaxPool2d", [2], {}),
    ("FractionalMaxPool3d", [2], {"output_size": 3, "output_ratio": 0.5}),
    ("MultiMarginLoss", [3], {}),
    ("TripletMarginWithDistanceLoss", [], {"margin": 0.0}),
    ("LinearCrossEntropyLoss", [4, 2], {"label_smoothing": 2.0}),
    ("Conv1d", [4, 4, 3, 2, "same"], {}),
    ("Conv2d", [4, 4, 3], {"stride": (1, 2), "padding": "same"}),
]


@pytest.mark.parametrize("cls, args, kwargs", REQUIRE_CALLS, ids=lambda v: repr(v)[:40])
def test_require_fails_where_torch_raises(cls, args, kwargs):
    with pytest.raises((ValueError, AssertionError, RuntimeError)), torch.device("meta"):
        torch_class(cls)(*args, **kwargs)
    with pytest.raises(RequireError, match=cls):
        bind(RULES.get(cls), args, kwargs)


@pytest.mark.parametrize("cls, args, kwargs", [
    ("Linear", ["x", 4], {}),
    ("Conv2d", [4, 8, 3], {"groups": None}),
    ("LayerNorm", [None], {}),
    ("Linear", [3, -1], {}),
    ("Conv2d", [4, 8, 2.5], {}),
])
def test_shape_errors(cls, args, kwargs):
    rule = RULES.get(cls)
    with pytest.raises(ShapeError, match=cls):
        instantiate(rule, bind(rule, args, kwargs))


class Opaque:
    """Stands for a value the static evaluator could not determine."""


@pytest.mark.parametrize("cls, args, kwargs", [
    ("Linear", [3, 4], {"bias": Opaque()}),
    ("LayerNorm", [4], {"elementwise_affine": Opaque()}),
    ("MultiheadAttention", [8, 2], {"kdim": Opaque()}),
    ("BatchNorm1d", [4], {"affine": False, "track_running_stats": Opaque()}),
    ("LSTM", [4, Opaque()], {}),
    ("GRU", [4, 8], {"bidirectional": Opaque()}),
    ("CrossEntropyLoss", [Opaque()], {}),
    ("CrossEntropyLoss", [Known("tensor", None, None, "float32")], {}),  # a tensor of unknown shape
    ("BCELoss", [Known("object", print)], {}),
    ("TransformerEncoderLayer", [8, 2], {"activation": Opaque()}),
    ("TransformerEncoder", [Opaque(), 2], {}),
    ("TransformerEncoder", [Known("module", None), Opaque()], {}),
    ("Transformer", [8, 2], {"custom_encoder": Opaque()}),
    ("DataParallel", [Opaque()], {}),
])
def test_opaque_values_are_not_guessed(cls, args, kwargs):
    rule = RULES.get(cls)
    with pytest.raises(ShapeError, match=r"cannot (test or compare|evaluate|tell)|not a tensor|not a module"):
        bound = bind(rule, args, kwargs)
        instantiate(rule, bound)
        instantiate_children(rule, bound)


HEAD = "Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: [a, {b: 1}]\n"
BAD_RULES = [
    (HEAD + "  params: {weight: '[a,'}\n", "Linear.params.weight.shape"),
    (HEAD + "  params: {weight: '[a, c]'}\n", "Linear.params.weight.shape: unknown name 'c'"),
    (HEAD + "  params: {weight: \"__import__('os')\"}\n", "Linear.params.weight.shape"),
    (HEAD + "  params: {weight: '[a.real]'}\n", "Linear.params.weight.shape: bad expression"),
    (HEAD + "  params: {weight: '[x for x in a]'}\n", "Linear.params.weight.shape: bad expression"),
    (HEAD + "  params: {weight: {shape: '[a]', when: 3}}\n", "Linear.params.weight.when"),
    (HEAD + "  params: {weight: {shape: '[a]', size: 3}}\n", "Linear.params.weight"),
    (HEAD + "  buffers: {m: {shape: '[a]', dtype: float99}}\n", "Linear.buffers.m"),
    (HEAD + "  buffers: {m: {shape: '[a]', dtype: int64, persistent: maybe}}\n", "Linear.buffers.m.persistent"),
    (HEAD + "  buffers: {m: {shape: '[a]', dtype: [int64]}}\n", "Linear.buffers.m"),
    (HEAD + "  buffers: {m: {shape: '[a]', dtype: int64, dtype_arg: nope}}\n", "Linear.buffers.m"),
    (HEAD + "  children: {c: {class: Nope, args: '[a]'}}\n", "Linear.children.c.class"),
    (HEAD + "  children: {c: {class: Linear, args: 'a'}}\n", "Linear.children.c.args"),
    (HEAD + "  children: {c: {class: Linear, kwargs: {b: '(a'}}}\n", "Linear.children.c.kwargs.b"),
    (HEAD + "  let: {a2: 'a * 2', a3: 'a4'}\n", "Linear.let.a3: unknown name 'a4'"),
    (HEAD + "  weights: {}\n", "Linear: expected a mapping with keys"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Lin\n  signature: []\n", "Linear.qualname"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: [{a: 1}, b]\n", "Linear.signature"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: [a, a]\n", "Linear.signature"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: [{a: {b: 1}}]\n", "Linear.signature"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: [{a: [[1]]}]\n", "Linear.signature"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: a\n", "Linear.signature"),
    ("_containers: [ModuleList]\n", "_containers"),
    (HEAD + "  params: {'w_{x}': '[a]'}\n", "Linear.params: expected a mapping of identifiers"),
    (HEAD + "  params: {w: {lazy: true, shape: '[a]'}}\n", "Linear.params.w: expected a shape, or lazy"),
    (HEAD + "  params: {w: {lazy: 1}}\n", "Linear.params.w: expected a shape, or lazy"),
    (HEAD + "  buffers: {m: {like: c}}\n", "Linear.buffers.m: like"),
    (HEAD + "  buffers: {m: {like: a, shape: '[a]'}}\n", "Linear.buffers.m: like"),
    (HEAD + "  children: {c: {value: a, class: Linear}}\n", "Linear.children.c: expected {class"),
    (HEAD + "  children: {c: {clones: a}}\n", "Linear.children.c: expected {class"),
    (HEAD + "  children: {c: {value: a, args: '[a]'}}\n", "Linear.children.c: expected {class"),
    (HEAD + "  children: {c: {value: 'a +'}}\n", "Linear.children.c.value: bad expression"),
    (HEAD + "  require: {'a >': 'x'}\n", "Linear.require 'a >': bad expression"),
    (HEAD + "  require: [a]\n", "Linear.require: expected a mapping"),
    (HEAD + "  binds: [x]\n", "Linear.binds: needs a signature of only *args and **kwargs"),
    ("Linear:\n  qualname: torch.nn.modules.linear.Linear\n  signature: ['*args', '**kwargs']\n  binds: [args]\n",
     "Linear.binds: must not repeat"),
    (HEAD + "  foreach: {i: 'range(c)'}\n", "Linear.foreach.i: unknown name 'c'"),
    (HEAD + "  let: {p: {class: Nope}}\n", "Linear.let.p.class: unknown class 'Nope'"),
    (HEAD + "  let: {p: {class: Linear, value: a}}\n", "Linear.let.p: expected a mapping with keys"),
    ("_unmodelled: {X: 3}\n", "_unmodelled: expected a mapping"),
    (HEAD + "  params: {w: '[a]'}\n  attrs: {w: a}\n", "Linear.attrs: 'w' is also a parameter"),
    (HEAD + "  attrs: {w: c}\n", "Linear.attrs.w: unknown name 'c'"),
    ("_unmodelled: {Linear: why}\n" + HEAD, "_unmodelled: Linear also has a rule"),
    ("Linear: [\n", "invalid YAML"),
]


@pytest.mark.parametrize("text, where", BAD_RULES)
def test_malformed_rule_is_e005(tmp_path, text, where):
    path = tmp_path / "torch_nn.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AnalyzerError) as info:
        load_torch_rules(path)
    assert info.value.diagnostic.code == "E005"
    assert where in info.value.diagnostic.message
    assert info.value.diagnostic.span.path == str(path)


def test_expressions_are_restricted(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD + textwrap.indent(textwrap.dedent("""\
        let: {k: "pair(a)[1] if b > 0 else -1", n: "max(len(tuple(single(a))), int(b))"}
        params:
          w: "[*pair(k), b // 2, a[0] % 5 if a != 7 else a, n, *([a] if not b == 1 else [])]"
          v: {shape: "[k]", when: "b == 1 and a is not None or False"}
          u: {shape: "[1]", when: "0 < b < 3"}
        """), "  "), encoding="utf-8")
    rule = load_torch_rules(path).get("Linear")
    assert instantiate(rule, bind(rule, [(3, 4)], {})) == ({"w": (4, 4, 0, 3, 2), "v": (4,), "u": (1,)}, {})
    assert instantiate(rule, bind(rule, [7, 5], {})) == ({"w": (7, 7, 2, 7, 5, 7)}, {})


def test_foreach_templates_and_helpers(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(HEAD.replace("[a, {b: 1}]", "[n, {two: true}]") + textwrap.indent(textwrap.dedent("""\
        foreach: {i: "range(n)", s: "['', '_b'] if two else ['']"}
        params:
          w{i}{s}: "[i + 1, prod([2, 3], n)]"
        buffers:
          m{i}: {shape: "[i]", dtype: int64, when: "s == ''"}
        """), "  "), encoding="utf-8")
    rule = load_torch_rules(path).get("Linear")
    params, buffers = instantiate(rule, bind(rule, [2], {}))
    assert params == {"w0": (1, 12), "w0_b": (1, 12), "w1": (2, 12), "w1_b": (2, 12)}
    assert {k: b.shape for k, b in buffers.items()} == {"m0": (0,), "m1": (1,)}
    assert instantiate(rule, bind(rule, [1, False], {}))[0] == {"w0": (1, 6)}
    with pytest.raises(ShapeError, match="exceeds the limit"):
        instantiate(rule, bind(rule, [10**6], {}))


def test_static_path_does_not_import_torch():
    code = "import sys; sys.modules['torch'] = None; from analyzer.evaluate.torch_rules import load_torch_rules; " \
           "r = load_torch_rules(); print(len(r.rules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert int(out.stdout) == len(RULES.rules)

"""The opt-in runtime dump (analyzer.tree.runtime.dump_runtime) on the fixtures, SAM and BERT."""
from __future__ import annotations

import contextlib
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from analyzer.diagnostics import AnalyzerError  # noqa: E402
from analyzer.tree.runtime import AttrDict, dump_runtime  # noqa: E402
from analyzer.tree.model import from_json  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"

from conftest import FIXTURE_CASES as CASES  # noqa: E402


def _case_id(case) -> str:
    folder, kwargs = case
    return folder + "".join(f"-{k}={v}" for k, v in kwargs.items())


def _dump(folder: str, **kwargs):
    return dump_runtime(FIXTURES / folder, **kwargs)


def _rows(tree):
    return [
        (
            m.name,
            m.cls,
            m.class_qualname,
            list(m.params.items()),
            [(k, b.shape, b.dtype, b.persistent) for k, b in m.buffers.items()],
        )
        for m in tree.modules
    ]


def _reference_rows(model):
    """The same rows read directly from a model built here (independent of analyzer.tree.runtime)."""
    rows = []
    for name, mod in model.named_modules():
        cls = type(mod)
        rows.append(
            (
                name,
                cls.__name__,
                f"{cls.__module__}.{cls.__qualname__}",
                [(n, tuple(p.shape)) for n, p in mod.named_parameters(recurse=False)],
                [
                    (n, tuple(b.shape), str(b.dtype).replace("torch.", ""), n not in mod._non_persistent_buffers_set)
                    for n, b in mod.named_buffers(recurse=False)
                ],
            )
        )
    return rows


def _by_name(tree):
    return tree.by_name()


# ---- every fixture -----------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_every_fixture_dumps(case):
    folder, kwargs = case
    tree = _dump(folder, **kwargs)
    assert tree.modules and tree.modules[0].name == ""
    assert tree.meta["mode"] == "runtime"
    assert tree.meta["torch"] == torch.__version__
    assert tree.meta["stubs"] == list(kwargs.get("stub_modules", []))
    for m in tree.modules:
        assert m.source is None and not m.partial
        assert all(isinstance(d, int) for shape in m.params.values() for d in shape)
        # Files of the analyzed (anonymous) folder are shown by file stem, never by a synthetic name.
        assert not m.class_qualname.startswith(("_modeltree", "transformers_modules"))
    # Deterministic and JSON round-trippable.
    again = _dump(folder, **kwargs)
    assert json.dumps(again.to_json()) == json.dumps(tree.to_json())
    assert _rows(from_json(json.loads(json.dumps(tree.to_json())))) == _rows(tree)


def test_no_leftovers_in_sys_modules_or_folder():
    before = set(sys.modules)
    pycache_before = set(FIXTURES.rglob("__pycache__"))
    for folder, kwargs in CASES:
        _dump(folder, **kwargs)
    added = set(sys.modules) - before
    assert not [n for n in added if n.startswith("_modeltree") or n.startswith("not_a_real_pkg")]
    assert not [n for n in added if n.split(".")[0] in {"deepencoder", "containers", "factories", "layers", "model"}]
    assert set(FIXTURES.rglob("__pycache__")) == pycache_before  # no bytecode written into analyzed folders
    assert not any(str(FIXTURES) in p for p in sys.path)


def test_module_importable_without_torch():
    code = "import sys; sys.modules['torch'] = None; import analyzer.tree.runtime; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_prints_nothing(capsys):
    _dump("sample_vlm")
    _dump("needs_stub", root="model:StubbedNet", stub_modules=["not_a_real_pkg"])
    out, err = capsys.readouterr()
    assert out == "" and err == ""


# ---- sample_vlm --------------------------------------------------------------------------------
def test_sample_vlm_structure():
    tree = _dump("sample_vlm")
    assert tree.root == "modeling_sample_vlm:SampleOCRForCausalLM"
    assert tree.meta["attn_implementation"] == "eager"  # custom model without _supports_sdpa
    assert tree.meta["transformers"] == "4.46.3"
    nodes = _by_name(tree)
    top = [m.name for m in tree.modules if m.depth <= 2 and "." not in m.name.removeprefix("model.")]
    assert top == [
        "", "model", "model.embed_tokens", "model.layers", "model.norm", "model.sam_model",
        "model.vision_model", "model.projector", "lm_head",
    ]
    assert nodes[""].class_qualname == "modeling_sample_vlm.SampleOCRForCausalLM"
    assert nodes["model"].cls == "SampleOCRModel"  # the skipped parent's SampleVLMModel never appears
    assert nodes["model.sam_model"].class_qualname == "deepencoder.ImageEncoderViT"
    assert nodes["model.layers.0.self_attn"].class_qualname == (
        "transformers.models.llama.modeling_llama.LlamaAttention"
    )
    # config.json: 4 layers, first_k_dense_replace=1, moe_layer_freq=2 -> only layer 2 is MoE.
    assert [nodes[f"model.layers.{i}.mlp"].cls for i in range(4)] == ["SampleMLP", "SampleMLP", "SampleMoE", "SampleMLP"]
    assert len([n for n in nodes if n.startswith("model.layers.2.mlp.experts.") and n.count(".") == 5]) == 4
    assert nodes["model.layers.2.mlp.shared_experts.gate_proj"].params == {"weight": (32, 32)}  # 16 * 2 shared
    assert nodes["model.layers.0.mlp.act_fn"].cls == "SiLU"  # hidden_act from the config-class default
    assert nodes["model.layers.0.self_attn.k_proj"].params == {"weight": (16, 32)}  # 2 kv heads of 8
    rope = nodes["model.layers.0.self_attn.rotary_emb"].buffers["inv_freq"]
    assert (rope.shape, rope.dtype, rope.persistent) == ((4,), "float32", False)
    # window attention depends on the loop index: blocks 1 and 3 are global (4x4 grid -> 7 rows).
    assert [nodes[f"model.sam_model.blocks.{i}.attn"].params["rel_pos_h"] for i in range(4)] == [
        (3, 8), (7, 8), (3, 8), (7, 8)
    ]
    assert nodes["model.sam_model.blocks.0.norm1"].cls == "LayerNorm"
    assert nodes["model.sam_model"].params == {"pos_embed": (1, 4, 4, 16)}
    pos = nodes["model.vision_model.embeddings"].buffers["position_ids"]
    assert (pos.shape, pos.dtype, pos.persistent) == ((1, 17), "int64", True)
    assert [m.name for m in tree.modules if m.name.startswith("model.projector.layers.")] == [
        "model.projector.layers.0", "model.projector.layers.1", "model.projector.layers.2"
    ]
    assert list(nodes["model"].params) == ["image_newline", "view_seperator"]
    # stages from rules/stages.yaml
    assert nodes["model.sam_model.blocks.0.attn.qkv"].stage == "sam"
    assert nodes["model.vision_model"].stage == "clip"
    assert nodes["model.projector.layers.0"].stage == "projector"
    assert nodes["model.layers.3.mlp"].stage == "prefill"
    assert nodes["lm_head"].stage == "decode" and nodes["lm_head"].leaf
    assert nodes[""].stage == "other" and not nodes[""].leaf


def test_sample_vlm_attn_and_overrides():
    flash = _by_name(_dump("sample_vlm", attn_implementation="flash_attention_2"))
    assert flash["model.layers.0.self_attn"].cls == "LlamaFlashAttention2"  # flash_attn need not be installed
    mla = _dump("sample_vlm", overrides=["use_mla=true"])
    nodes = _by_name(mla)
    assert nodes["model.layers.1.self_attn"].cls == "SampleMLAttention"
    assert nodes["model.layers.1.self_attn.kv_b_proj"].params == {"weight": (4 * (8 - 4 + 8), 8)}


def test_custom_stages_file(tmp_path):
    stages = tmp_path / "stages.yaml"
    stages.write_text("default: rest\nstages:\n  vision: [model.sam_model, model.vision_model]\n")
    nodes = _by_name(_dump("sample_vlm", stages=str(stages)))
    assert nodes["model.vision_model.embeddings"].stage == "vision"
    assert nodes["lm_head"].stage == "rest"


# ---- constructs --------------------------------------------------------------------------------
def test_inheritance_fixture():
    tree = _dump("constructs_inheritance")
    nodes = _by_name(tree)
    assert tree.meta["attn_implementation"] == "sdpa"  # _supports_sdpa = True -> transformers picks sdpa
    assert [m.name for m in tree.modules if m.depth == 1] == ["encoder", "tagger"]  # no model / lm_head
    assert nodes[""].buffers["label_bias"].persistent is False
    assert nodes["encoder.layers.0.attn"].cls == "SdpaAttention"
    # MRO Fused -> WithNorm -> WithAct -> Base: children in the order Base, WithAct, WithNorm, Fused add them.
    assert [m.name for m in tree.modules if m.name.startswith("encoder.layers.0.ffn.")] == [
        "encoder.layers.0.ffn.base_proj", "encoder.layers.0.ffn.act", "encoder.layers.0.ffn.norm",
        "encoder.layers.0.ffn.out",
    ]
    assert nodes["encoder.layers.0.ffn.act"].class_qualname == "transformers.activations.GELUActivation"
    assert nodes["encoder.layers.0.ffn.norm"].class_qualname == "modeling_inherit.MyLN"
    assert nodes["encoder.layers.0.ffn.norm"].params == {"weight": (16,), "bias": (16,)}
    assert len([n for n in nodes if n.count(".") == 2 and n.startswith("encoder.layers.")]) == 3  # config.json
    assert "encoder.layers.2.adapter" in nodes  # use_adapter overridden by config.json
    eager = _by_name(_dump("constructs_inheritance", attn_implementation="eager"))
    assert eager["encoder.layers.0.attn"].cls == "EagerAttention"
    parent = _dump("constructs_inheritance", root="modeling_inherit:InheritForCausalLM")
    assert [m.name for m in parent.modules if m.depth == 1] == ["model", "lm_head"]


def test_containers_fixture():
    tree = _dump("constructs_containers", root="containers:ContainerNet")
    nodes = _by_name(tree)
    assert tree.meta["transformers"] is not None and tree.meta["attn_implementation"] is None
    assert [m.name for m in tree.modules if m.depth == 1] == [
        "stem", "head", "blocks", "ffn", "task_heads", "pool", "block0", "block1", "rotary",
    ]  # head keeps its first position; no dropout (absent key); rotary present
    assert nodes["head"].cls == "ScaledLinear" and nodes["head"].params == {"weight": (7, 12)}
    assert [nodes[f"blocks.{i}"].cls for i in range(4)] == ["Linear", "Sequential", "Linear", "LayerNorm"]
    assert [m.name for m in tree.modules if m.name.startswith("ffn.")] == ["ffn.fc_in", "ffn.act", "ffn.fc_out"]
    assert "task_heads.head_pos" in nodes and "task_heads.head_ner" in nodes
    assert list(nodes[""].params.items()) == [
        ("cls_token", (1, 1, 12)), ("gamma", (12,)), ("bias_table", (3, 12)), ("noise", (2, 12))
    ]
    bufs = {k: (b.shape, b.dtype, b.persistent) for k, b in nodes[""].buffers.items()}
    assert bufs == {"step": ((), "int64", True), "mask": ((10,), "bool", False)}
    rot = {k: (b.shape, b.dtype, b.persistent) for k, b in nodes["rotary"].buffers.items()}
    assert list(rot) == ["inv_freq", "position_ids", "cos_cached"]
    assert rot == {
        "inv_freq": ((3,), "float32", False),
        "position_ids": ((1, 10), "int64", True),
        "cos_cached": ((10, 6), "float32", False),
    }
    assert nodes["stem.1"].buffers["num_batches_tracked"].dtype == "int64"


def test_factories_fixture():
    nodes = _by_name(_dump("constructs_factories", root="factories:build_tiny_vit"))
    assert nodes[""].class_qualname == "factories.TinyViT"
    assert nodes["blocks.0"].class_qualname == "layers.Block"
    assert nodes["blocks.0.mlp.act"].cls == "SiLU"  # act_layer passed down four levels
    assert nodes["blocks.1.attn"].params == {"rel_pos": (7, 8)} and nodes["blocks.2.attn"].params == {"rel_pos": (3, 8)}
    assert nodes["head"].cls == "ResConvHead"
    assert [n for n in nodes if n.startswith("head.")] == ["head.convs", "head.convs.0", "head.convs.1", "head.shortcut"]
    assert nodes["head.convs.1"].params["weight"] == (8, 8, 1, 1)
    plain = _by_name(_dump("constructs_factories", root="factories:build_tiny_vit_plain"))
    assert plain["blocks.0.mlp.act"].cls == "GELU" and plain["head"].cls == "Identity"


def test_attrdict():
    cfg = AttrDict({"a": 1, "nested": {"b": [{"c": 2}]}})
    assert cfg.a == 1 and cfg["a"] == 1 and cfg.get("zz", 5) == 5
    assert cfg.nested.b[0].c == 2
    assert getattr(cfg, "missing", "d") == "d"
    with pytest.raises(AttributeError):
        cfg.missing  # noqa: B018


# ---- stubs -------------------------------------------------------------------------------------
def test_missing_import_fails_with_stub_hint():
    with pytest.raises(AnalyzerError) as info:
        _dump("needs_stub", root="model:StubbedNet")
    diag = info.value.diagnostic
    assert diag.code == "E007"
    assert "'not_a_real_pkg'" in diag.message
    assert "--stub-module not_a_real_pkg" in diag.message
    assert diag.span is not None and diag.span.path.endswith("model.py") and diag.span.line == 10


def test_stub_module_makes_it_work_and_is_removed_afterwards():
    tree = _dump("needs_stub", root="model:StubbedNet", stub_modules=["not_a_real_pkg"])
    assert tree.meta["stubs"] == ["not_a_real_pkg"]
    assert [(m.name, m.class_qualname) for m in tree.modules] == [
        ("", "model.StubbedNet"),
        ("fc", "torch.nn.modules.linear.Linear"),
        ("gate", "model.Gate"),  # the stubbed decorator left the class in place
        ("gate.proj", "torch.nn.modules.linear.Linear"),
        ("norm", "torch.nn.modules.normalization.LayerNorm"),
    ]
    assert "not_a_real_pkg" not in sys.modules
    with pytest.raises(AnalyzerError):  # the stub does not outlive the dump
        _dump("needs_stub", root="model:StubbedNet")


# ---- errors ------------------------------------------------------------------------------------
def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_exception_while_building_is_e007_with_location(tmp_path):
    src = _write(tmp_path / "bad", {
        "bad.py": "import torch.nn as nn\n\n\nclass Bad(nn.Module):\n    def __init__(self):\n"
                  "        super().__init__()\n        self.fc = nn.Linear(2, 2)\n        raise ValueError('boom')\n",
    })
    with pytest.raises(AnalyzerError) as info:
        dump_runtime(src, root="bad:Bad")
    diag = info.value.diagnostic
    assert diag.code == "E007" and "ValueError: boom" in diag.message
    assert diag.span.path.endswith("bad.py") and diag.span.line == 8
    assert "Traceback" not in str(info.value)


def test_missing_sibling_file_is_reported(tmp_path):
    src = _write(tmp_path / "rel", {"m.py": "from .missing import X\n"})
    with pytest.raises(AnalyzerError) as info:
        dump_runtime(src, root="m:X")
    diag = info.value.diagnostic
    assert diag.code == "E007" and "'missing'" in diag.message and "--stub-module" not in diag.message
    assert diag.span.line == 1


def test_syntax_error_is_e007(tmp_path):
    src = _write(tmp_path / "syn", {"s.py": "class A(:\n    pass\n"})
    with pytest.raises(AnalyzerError) as info:
        dump_runtime(src, root="s:A")
    assert info.value.diagnostic.code == "E007" and "SyntaxError" in info.value.diagnostic.message
    assert info.value.diagnostic.span.line == 1


def test_bad_roots(tmp_path):
    src = _write(tmp_path / "roots", {
        "r.py": "import torch.nn as nn\n\n\ndef needs_args(a, b):\n    return nn.Linear(a, b)\n\n\n"
                "def not_a_module():\n    return 3\n\n\n"
                "class Two(nn.Module):\n    def __init__(self, a, b):\n        super().__init__()\n",
    })
    cases = {"nofile:X": "E004", "r:Nope": "E004", "r:needs_args": "E007", "r:not_a_module": "E007", "r:Two": "E007"}
    for root, code in cases.items():
        with pytest.raises(AnalyzerError) as info:
            dump_runtime(src, root=root)
        assert info.value.diagnostic.code == code, root
    with pytest.raises(AnalyzerError) as info:
        dump_runtime(src)  # no config.json, no --root
    assert info.value.diagnostic.code == "E004"


def test_same_file_names_in_two_folders_do_not_collide(tmp_path):
    a = _write(tmp_path / "a", {"net.py": "import torch.nn as nn\n\n\ndef build():\n    return nn.Linear(2, 3)\n"})
    b = _write(tmp_path / "b", {"net.py": "import torch.nn as nn\n\n\ndef build():\n    return nn.Linear(5, 7)\n"})
    assert dump_runtime(a, root="net:build").modules[0].params["weight"] == (3, 2)
    assert dump_runtime(b, root="net:build").modules[0].params["weight"] == (7, 5)
    assert dump_runtime(a, root="net:build").modules[0].params["weight"] == (3, 2)


# ---- registry-served models --------------------------------------------------------------------
def _site_package(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations, name
    return Path(list(spec.submodule_search_locations)[0])


@contextlib.contextmanager
def _segment_anything_importable():
    """segment_anything imports torchvision (not installed here) at package import: give it a fake
    for the reference build, and forget everything imported meanwhile."""
    from conftest import fake_torchvision

    with mock.patch.dict(sys.modules, fake_torchvision()):
        yield


def test_sam_vit_b_from_installed_package():
    sam_dir = _site_package("segment_anything")
    with _segment_anything_importable():
        import segment_anything

        with torch.device("meta"):
            reference = segment_anything.build_sam_vit_b()
        expected = _reference_rows(reference)
    stubs = ["torchvision"] if importlib.util.find_spec("torchvision") is None else []
    tree = dump_runtime(sam_dir, root="build_sam:build_sam_vit_b", stub_modules=stubs)
    assert _rows(tree) == expected
    nodes = _by_name(tree)
    assert nodes["image_encoder"].class_qualname == "segment_anything.modeling.image_encoder.ImageEncoderViT"
    assert nodes["image_encoder.blocks.2.attn"].params["rel_pos_h"] == (127, 64)  # global block
    assert nodes["image_encoder.blocks.0.attn"].params["rel_pos_h"] == (27, 64)  # window 14
    assert nodes[""].buffers["pixel_mean"].persistent is False
    assert tree.meta["stubs"] == stubs
    assert not [n for n in sys.modules if n.startswith(("segment_anything", "torchvision"))]


@pytest.mark.skipif(importlib.util.find_spec("torchvision") is not None, reason="torchvision is installed")
def test_sam_without_stub_names_torchvision():
    with pytest.raises(AnalyzerError) as info:
        dump_runtime(_site_package("segment_anything"), root="build_sam:build_sam_vit_b")
    diag = info.value.diagnostic
    assert diag.code == "E007" and "--stub-module torchvision" in diag.message
    assert diag.span.path.endswith("transforms.py")


BERT_CONFIG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, vocab_size=100)


@pytest.fixture
def bert_config_json(tmp_path):
    from transformers import BertConfig

    path = tmp_path / "config.json"
    path.write_text(json.dumps(BertConfig(**BERT_CONFIG).to_dict()))
    return path


def test_bert_from_installed_transformers(bert_config_json):
    from transformers import BertConfig, BertModel

    bert_dir = _site_package("transformers") / "models" / "bert"
    tree = dump_runtime(bert_dir, root="modeling_bert:BertModel", config=str(bert_config_json))
    with torch.device("meta"):
        reference = BertModel(BertConfig(**BERT_CONFIG))
    assert _rows(tree) == _reference_rows(reference)
    nodes = _by_name(tree)
    assert nodes[""].class_qualname == "transformers.models.bert.modeling_bert.BertModel"
    # transformers 4.46.3 picks SDPA by itself (PreTrainedModel.__init__ -> _autoset_attn_implementation).
    assert tree.meta["attn_implementation"] == "sdpa"
    assert nodes["encoder.layer.0.attention.self"].cls == "BertSdpaSelfAttention"
    assert nodes["embeddings"].buffers["position_ids"].persistent is False  # persistent=False in BertEmbeddings
    assert nodes["embeddings"].buffers["token_type_ids"].shape == (1, 512)
    assert "pooler.dense" in nodes
    eager = dump_runtime(bert_dir, root="modeling_bert:BertModel", config=str(bert_config_json),
                         attn_implementation="eager")
    assert _by_name(eager)["encoder.layer.0.attention.self"].cls == "BertSelfAttention"

"""transformers' modeled base classes (analyzer/evaluate/hf_methods.py) on the constructs_hf_bases
fixture, by hand: ``_from_config`` of composite towers, a class's own ``_check_and_enable_sdpa``
override, ``config.to_dict()`` with ``config.__setattr__``, ``nn.LayerNorm.__init__(self, ...)``,
``self.device`` and ``next(module.parameters())``. (tests/test_static_vs_runtime.py compares the
same fixture with the real model built on the meta device.)"""
from pathlib import Path

from analyzer.api import analyze

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "constructs_hf_bases"


def test_the_tree_by_hand():
    result = analyze(FIXTURE, use_cache=False)
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    by = result.tree.by_name()
    # text_config from config.json: hidden 12, vocab 30; image_config the class default: hidden 8, vocab 40
    assert by["text.embed"].params["weight"] == (30, 12)
    assert by["text.attn.qkv"].params["weight"] == (36, 12)
    assert by["image.embed"].params["weight"] == (40, 8)
    # TextTower takes transformers' default (sdpa, as it declares _supports_sdpa); ImageTower's own
    # _check_and_enable_sdpa swaps the default back to eager
    assert by["text.attn"].cls == "SdpaAttention" and by["image.attn"].cls == "EagerAttention"
    # nn.LayerNorm.__init__(self, normalized_shape=12, eps=...) called unbound
    assert by["text.norm"].params == {"weight": (12,), "bias": (12,)}
    # torch.arange(0, 12, 2, device=self.device): 6 values
    assert by["text_table"].buffers["freqs"].shape == (6,)
    # zeros(1, hidden, 2).to(next(self.embed.parameters()).dtype)
    assert by["text"].buffers["grid"].shape == (1, 12, 2) and by["image"].buffers["grid"].shape == (1, 8, 2)
    # side_hidden_size=20 and side_vocab_size=7 copied over hidden_size / vocab_size by to_dict()
    assert by["side.embed"].params["weight"] == (7, 20)
    # the caller's config is untouched by _from_config and SideModel's deepcopy: 12 + 8 inputs
    assert by["proj"].params["weight"] == (10, 20)


def test_a_forced_attention_implementation_reaches_every_sub_config():
    by = analyze(FIXTURE, use_cache=False, attn_implementation="eager").tree.by_name()
    assert by["text.attn"].cls == "EagerAttention" and by["image.attn"].cls == "EagerAttention"

import json
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


# (fixture folder, keyword arguments) for the static analysis and the runtime dump alike;
# ``stub_modules`` only matters to the runtime dump (the static analysis never imports the code).
FIXTURE_CASES = [
    ("sample_vlm", {}),
    ("sample_vlm", {"attn_implementation": "flash_attention_2"}),
    ("sample_vlm", {"overrides": ["use_mla=true"]}),
    ("constructs_inheritance", {}),
    ("constructs_inheritance", {"attn_implementation": "eager"}),
    ("constructs_inheritance", {"attn_implementation": "flash_attention_2"}),
    ("constructs_inheritance", {"root": "modeling_inherit:InheritForCausalLM"}),
    ("constructs_hf_bases", {}),
    ("constructs_hf_bases", {"attn_implementation": "eager"}),
    ("constructs_containers", {"root": "containers:ContainerNet"}),
    ("constructs_factories", {"root": "factories:build_tiny_vit"}),
    ("constructs_factories", {"root": "factories:build_tiny_vit_plain"}),
    ("needs_stub", {"root": "model:StubbedNet", "stub_modules": ["not_a_real_pkg"]}),
]


def fake_torchvision() -> dict:
    """Stand-ins for the torchvision modules segment_anything imports at package import (torchvision
    is not installed here); {} when the real one is there. Use with mock.patch.dict(sys.modules, ...)."""
    import importlib.util
    import types

    if importlib.util.find_spec("torchvision") is not None:
        return {}
    fake = {}
    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional",
                 "torchvision.ops", "torchvision.ops.boxes"):
        fake[name] = types.ModuleType(name)
    fake["torchvision.transforms.functional"].resize = fake["torchvision.transforms.functional"].to_pil_image = None
    fake["torchvision.ops.boxes"].batched_nms = fake["torchvision.ops.boxes"].box_area = None
    return fake


def write_package(root: Path, files: dict[str, str], config: dict | None = None) -> Path:
    """Write a small model folder: {file name: dedented source}, plus config.json."""
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    if config is not None:
        (root / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return root


def rows(tree):
    """The fields named_modules() determines, for comparisons."""
    return [
        (m.name, m.cls, m.class_qualname, dict(m.params),
         {k: (b.shape, b.dtype, b.persistent) for k, b in m.buffers.items()})
        for m in tree.modules
    ]


def differences(static_tree, runtime_tree) -> list[str]:
    a, b = rows(static_tree), rows(runtime_tree)
    out = []
    if len(a) != len(b):
        out.append(f"{len(a)} static modules vs {len(b)} runtime modules")
    for x, y in zip(a, b):
        if x != y:
            out.append(f"static  {x}\nruntime {y}")
    return out


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never touch the user's cache directory."""
    import os

    old = os.environ.get("MODELTREE_CACHE_DIR")
    os.environ["MODELTREE_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("MODELTREE_CACHE_DIR", None)
    else:
        os.environ["MODELTREE_CACHE_DIR"] = old


@pytest.fixture
def pkg(tmp_path):
    def make(files, config=None, name="model"):
        return write_package(tmp_path / name, files, config)

    return make

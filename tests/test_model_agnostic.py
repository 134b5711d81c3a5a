"""Issue 2, acceptance 4: no model-specific code paths. Nothing in analyzer/ names DeepSeek, SAM or
CLIP; model knowledge lives in rules/ (YAML) and fixtures/. A new model family must work from its
source plus rules alone."""
from __future__ import annotations

import re

from conftest import REPO

ANALYZER = REPO / "analyzer"
EXEMPT: set = set()
# Case-insensitive. DeepSeek anywhere (DeepSeek-OCR, DeepseekV2...), and its deepencoder.py; SAM and
# CLIP as whole words, where `_` also separates words (sam_attention, build_sam_vit_b, x_{clip}),
# so sample, clipboard or eclipse do not count.
MODEL_WORDS = re.compile(r"deepseek|deepencoder|(?<![a-z0-9])(?:sam|clip)(?![a-z0-9])", re.IGNORECASE)
# torch.clip is a tensor op (an alias of clamp), not the model: allowed as this exact token in torch_ops.py.
ALLOWED = {ANALYZER / "evaluate" / "torch_ops.py": ('"clip"',)}


def hits(path, name: str) -> list:
    """``name:line: word  in: text`` for every model name in the file."""
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for token in ALLOWED.get(path, ()):
            line = line.replace(token, "")
        out += [f"{name}:{lineno}: {m.group(0)!r} in: {line.strip()[:100]}" for m in MODEL_WORDS.finditer(line)]
    return out


def test_analyzer_names_no_model():
    files = sorted(p for p in ANALYZER.rglob("*.py") if p not in EXEMPT)
    assert len(files) > 30
    found = [h for p in files for h in hits(p, str(p.relative_to(REPO)))]
    assert not found, "model-specific names in analyzer/ (move them to rules/ or fixtures/):\n" + "\n".join(found)


def test_the_check_catches_model_names_only(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text('a = "DeepSeek-OCR"  # DeepseekV2\nb = sam_attention\nc = "SAM neck"\n'
                      'd = build_sam_vit_b\ne = r"x_{clip}"\nf = "CLIP-L"\ng = "deepencoder.Attention"\n'
                      'h = "sample samples clipboard eclipse clipped resample"\n')
    found = [h.split(":")[1] for h in hits(sample, "x.py")]
    assert found == ["1", "1", "2", "3", "4", "5", "6", "7"]
    clip_op = ANALYZER / "evaluate" / "torch_ops.py"
    assert '"clip"' in clip_op.read_text() and not hits(clip_op, "torch_ops.py")

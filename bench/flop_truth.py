"""FLOP truths of issue 11 (bench/costs_zoo.py): IMPORTS AND RUNS torch, transformers and timm.

Counts ``torch.utils.flop_counter.FlopCounterMode`` on the real forward of a real model, built from
its DEFAULT config (``AutoConfig.for_model(type)``) inside ``FakeTensorMode`` (real modules and a
real forward, every tensor a shape without storage: a 7B model needs no memory):

* decoders (``AutoModelForCausalLM.from_config``, default attention choice): the prefill,
  ``input_ids`` [1, S] with ``use_cache=True`` (logits on all S positions), then one decode step,
  ``input_ids`` [1, 1] over the cache a (not counted) forward of T - 1 tokens produced: its
  attention sees T keys (checked on the attention ops' shapes);
* image encoders (``AutoModel.from_config``, or ``timm.create_model``): one forward of
  ``pixel_values`` [1, 3, H, W].

MoE under fake tensors: the router's picks have no values, so the ``nonzero`` of each expert's
mask (``torch.where(expert_mask[e])``) is answered with a fixed, valid routing: token t's k-th pick
is expert (t * top_k + k) mod E (top_k distinct experts per token). The expert total (N * top_k
expert calls) does not depend on the routing; the tokens each expert got are recorded.

    python bench/flop_truth.py list                          # the models of the sweep (JSON)
    python bench/flop_truth.py run [--only llama,vit] [--rebuild] [--out DIR] [--timeout S]
    python bench/flop_truth.py show transformers-llama       # a cached record

``run`` builds each model in its own subprocess (one at a time) and caches
``DIR/<zoo>-<name>.json`` (default DIR /tmp/flop-truth). Importable: torch is imported only inside
functions (tests/flop_truth_small.py uses ``decoder_truth`` on tiny configs with real tensors).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))  # flop_census imports torch only inside its functions
from flop_census import count, keys_seen, params

DEFAULT_OUT = Path("/tmp/flop-truth")
FORMAT = 1  # bump when the record changes
S_PREFILL, T_DECODE, IMAGE = 512, 1024, 224

DECODERS = ("llama", "mistral", "qwen2", "gemma", "phi3", "granite", "olmo", "stablelm", "starcoder2", "cohere",
            "gpt_neox", "gpt2", "opt", "falcon", "bloom", "gptj", "persimmon", "phi", "glm", "mpt", "codegen", "biogpt")
MOE = ("mixtral", "qwen2_moe", "olmoe")
ENCODERS = ("vit", "deit", "dinov2", "clip_vision_model", "siglip_vision_model")
TIMM = ("vit_base_patch16_224",)


def sweep() -> list[dict]:
    rows = [{"zoo": "transformers", "name": n, "kind": "decoder"} for n in DECODERS + MOE]
    rows += [{"zoo": "transformers", "name": n, "kind": "encoder"} for n in ENCODERS]
    rows += [{"zoo": "timm", "name": n, "kind": "encoder"} for n in TIMM]
    return rows


def key(entry: dict) -> str:
    return f"{entry['zoo']}-{entry['name']}"



def decoder_truth(model, vocab: int, S: int = S_PREFILL, T: int = T_DECODE, fake: bool = True) -> dict:
    """Prefill of S tokens and one decode step over T keys (a cache of T - 1 positions) of a causal LM."""
    import torch

    model.eval()
    ids = torch.zeros((1, S), dtype=torch.long)
    prefill, out = count(model, lambda: model(input_ids=ids, use_cache=True), fake)
    prefill["logits"] = list(out.logits.shape)
    cache_ids = torch.zeros((1, T - 1), dtype=torch.long)  # the cache's forward: under the census too, not kept
    past = count(model, lambda: model(input_ids=cache_ids, use_cache=True), fake)[1].past_key_values
    step = torch.zeros((1, 1), dtype=torch.long)
    decode, out = count(model, lambda: model(input_ids=step, past_key_values=past, use_cache=True), fake)
    decode["logits"] = list(out.logits.shape)
    decode["keys_seen"] = keys_seen(decode["attention_ops"])
    decode["keys_ok"] = T in decode["keys_seen"] and (T - 1) not in decode["keys_seen"]
    return {"S": S, "T": T, "prefill": prefill, "decode": decode, **params(model)}


def encoder_truth(model, image: int = IMAGE, fake: bool = True, **kwargs) -> dict:
    import torch

    model.eval()
    pixels = torch.zeros((1, 3, image, image))
    if kwargs or not hasattr(model, "default_cfg"):
        fwd = lambda: model(pixel_values=pixels, **kwargs)
    else:
        fwd = lambda: model(pixels)
    forward, _ = count(model, fwd, fake)
    return {"image_size": image, "prefill": forward, **params(model)}


# ---- building (in the worker subprocess) -----------------------------------------------------
def _model_info(model) -> dict:
    cls = type(model)
    return {"class": cls.__name__, "class_module": cls.__module__, "module_file": sys.modules[cls.__module__].__file__}


def build_transformers(entry: dict, fake_mode):
    """The model of the default config under FakeTensorMode; when its weight init asks a fake tensor for
    a value (ViT's trunc_normal_), again with transformers' no_init_weights (init only sets values)."""
    from torch._subclasses.fake_tensor import DataDependentOutputException
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM
    from transformers.modeling_utils import no_init_weights

    config = AutoConfig.for_model(entry["name"])
    auto = AutoModelForCausalLM if entry["kind"] == "decoder" else AutoModel
    try:
        with fake_mode:
            return auto.from_config(config), config, "fake"
    except DataDependentOutputException:
        config = AutoConfig.for_model(entry["name"])
        with fake_mode, no_init_weights():
            return auto.from_config(config), config, "fake, no_init_weights"


def build_timm(entry: dict):
    """timm's factories call .item() on a torch.linspace (drop-path rates): built and run for real on
    the CPU (the image encoders are small)."""
    import timm

    return timm.create_model(entry["name"], pretrained=False), None, "real"


def worker(entry: dict, out: Path) -> dict:
    """Build one model under FakeTensorMode, count it, write the record."""
    import warnings

    warnings.filterwarnings("ignore")
    os.environ["HF_HUB_OFFLINE"] = "1"
    sys.path.insert(0, str(BENCH))
    from zoo_truth import install_stubs

    install_stubs(("torchvision", "PIL"))
    from importlib.metadata import version

    from torch._subclasses.fake_tensor import FakeTensorMode

    record = {"format": FORMAT, **entry, "versions": {"torch": version("torch"), entry["zoo"]: version(entry["zoo"])}}
    start = time.perf_counter()
    fake_mode = FakeTensorMode(allow_non_fake_inputs=False)
    try:
        if entry["zoo"] == "timm":
            model, config, build = build_timm(entry)
        else:
            model, config, build = build_transformers(entry, fake_mode)
        record["build"] = build
        record.update(_model_info(model))
        if config is not None:
            record["config"] = config.to_dict()
            record["attn_implementation"] = getattr(model.config, "_attn_implementation", None)
            record["src"] = str(Path(record["module_file"]).parent.relative_to(Path(sys.modules["transformers"].__file__).parent.parent))
            record["root"] = f"{Path(record['module_file']).stem}:{record['class']}"
        else:
            record["src"], record["root"] = "timm/models", f"vision_transformer:{entry['name']}"
        fake = build.startswith("fake")
        with fake_mode if fake else contextlib.nullcontext():
            if entry["kind"] == "decoder":
                record.update(decoder_truth(model, config.vocab_size, fake=fake))
            else:
                record.update(encoder_truth(model, fake=fake))
        record["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a model that does not build is an outcome
        tb = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages/" in f.filename]
        tb = [f for f in tb if f"site-packages/{entry['zoo']}/" in f.filename] or tb  # the model's own line
        where = f" at {tb[-1].filename.split('site-packages/', 1)[1]}:{tb[-1].lineno}" if tb else ""
        record.update({"status": "error", "reason": f"{type(exc).__name__}: {' '.join(str(exc).split())[:400]}{where}",
                       "traceback": traceback.format_exc()[-3000:]})
    record["seconds"] = round(time.perf_counter() - start, 1)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{key(entry)}.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(record, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, out / f"{key(entry)}.json")
    return record


def load(out: Path, entry: dict) -> dict | None:
    path = out / f"{key(entry)}.json"
    if not path.is_file():
        return None
    rec = json.loads(path.read_text())
    return rec if rec.get("format") == FORMAT else None


def run(entries: list[dict], out: Path, rebuild: bool, timeout: float) -> None:
    for entry in entries:
        if not rebuild and load(out, entry) is not None:
            print(f"cached  {key(entry)}", flush=True)
            continue
        start = time.time()
        cmd = [sys.executable, __file__, "worker", json.dumps(entry), str(out)]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
            if proc.returncode != 0 and load(out, entry) is None:
                _write_failure(out, entry, f"worker exit {proc.returncode}: {proc.stderr.strip()[-600:]}")
        except subprocess.TimeoutExpired:
            _write_failure(out, entry, f"timeout: not counted within {timeout:g} s")
        rec = load(out, entry) or {}
        line = (f"prefill {rec['prefill']['flops']:.4g}" if rec.get("status") == "ok" else rec.get("reason", "?"))
        print(f"{rec.get('status', '?'):6}  {key(entry)}  {time.time() - start:.0f} s  {line}", flush=True)


def _write_failure(out: Path, entry: dict, reason: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{key(entry)}.json").write_text(json.dumps({"format": FORMAT, **entry, "status": "error", "reason": reason}))


def truth_table(records: list[dict]) -> str:
    lines = [f"{'model':34} {'prefill':>16} {'decode':>14} {'params':>12} {'params_all':>12}  attn     build / routing"]
    for r in records:
        if r.get("status") != "ok":
            lines.append(f"{key(r):34} {r.get('status')}: {r.get('reason', '')[:150]}")
            continue
        dec = (r.get("decode") or {}).get("flops")
        route = (r["prefill"].get("routing") or {})
        extra = r.get("build", "")
        if route:
            extra += f"; top-{route['top_k']} of {route['experts']} experts, {route['expert_rows_total']} expert rows"
        if dec is not None and not r["decode"].get("keys_ok"):
            extra += f"; decode keys {r['decode'].get('keys_seen')} (not {r['T']})"
        lines.append(f"{key(r):34} {r['prefill']['flops']:>16} {dec if dec is not None else '-':>14} {r['params']:>12} "
                     f"{r['params_all']:>12}  {r.get('attn_implementation') or '-':8} {extra}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list")
    r = sub.add_parser("run")
    r.add_argument("--only", help="comma-separated names")
    r.add_argument("--rebuild", action="store_true")
    r.add_argument("--out", type=Path, default=DEFAULT_OUT)
    r.add_argument("--timeout", type=float, default=1800)
    s = sub.add_parser("show")
    s.add_argument("key")
    s.add_argument("--out", type=Path, default=DEFAULT_OUT)
    t = sub.add_parser("table", help="the cached truths, one line each")
    t.add_argument("--out", type=Path, default=DEFAULT_OUT)
    w = sub.add_parser("worker")
    w.add_argument("entry")
    w.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    if args.cmd == "list":
        json.dump(sweep(), sys.stdout, indent=1)
        return 0
    if args.cmd == "show":
        print((args.out / f"{args.key}.json").read_text())
        return 0
    if args.cmd == "table":
        print(truth_table([load(args.out, e) or {**e, "status": "not built"} for e in sweep()]))
        return 0
    if args.cmd == "worker":
        rec = worker(json.loads(args.entry), args.out)
        return 0 if rec["status"] == "ok" else 1
    entries = sweep()
    if args.only:
        names = args.only.split(",")
        entries = [e for e in entries if e["name"] in names]
    run(entries, args.out, args.rebuild, args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

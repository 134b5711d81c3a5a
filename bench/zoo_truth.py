"""Truth builder of the zoo sweep (bench/zoo.py): IMPORTS AND RUNS torch, transformers and timm.

Run only as a subprocess of bench/zoo.py (or tests/test_zoo_sample.py); the analyzing side never
imports this file's dependencies.

    python bench/zoo_truth.py list ZOO                 # JSON list of the zoo's models on stdout
    python bench/zoo_truth.py build ZOO OUT_DIR [TIMEOUT]   # entries of `list` (or bare {"model": name}) on stdin

``build`` writes, per model, ``OUT_DIR/<model>.json`` (the record: status, reason, the static
side's src and root, build mode and time) and, when it could be built, ``OUT_DIR/<model>.tree.json``
(the named_modules() tree in this project's schema, modeltree/1, without stage/leaf fields) and for
transformers ``OUT_DIR/<model>.config.json`` (``config.to_dict()`` of the default config). It
prints ``START <model>`` and ``DONE <model>`` lines on stdout so that the parent can enforce a
per-model timeout and restart the batch after a crash or a hang.

How a model is built:
* transformers: ``AutoConfig.for_model(model_type)``, then ``AutoModelForCausalLM.from_config``
  when the type has a causal-LM class, else ``AutoModel.from_config`` (default attention choice).
* timm: ``timm.create_model(name, pretrained=False)``, with a permissive stub for ``torchvision``
  (not installed; timm imports it at module level but never uses it to build a model).
* Both under ``with torch.device("meta")``. When that fails (some ``__init__``s call
  ``.item()``/``.tolist()`` on a tensor they create, which a meta tensor cannot answer), the model
  is built again in mode ``meta-params``: no device context, but every parameter is swapped for a
  meta tensor of the same shape the moment it is registered (as accelerate's ``init_empty_weights``
  does), so buffers and intermediate tensors are real CPU tensors. Its record says so.
"""
from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
import traceback
import types
import warnings
from pathlib import Path

TRUTH_FORMAT = 2  # bump when the record or tree layout changes (part of the cache key)


# ---- torchvision stub ------------------------------------------------------------------------
class _StubType(type):
    """A stub class: any attribute is another stub class; calling it gives a stub instance."""

    def __getattr__(cls, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _StubType(attr, (), {"__module__": cls.__module__})


class _StubModule(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        value = _StubType(attr, (), {"__module__": self.__name__})
        setattr(self, attr, value)
        return value


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, names):
        self.names = tuple(names)

    def find_spec(self, fullname, path=None, target=None):
        if any(fullname == n or fullname.startswith(n + ".") for n in self.names):
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StubModule(spec.name)

    def exec_module(self, module):
        return None


def install_stubs(names=("torchvision",)) -> None:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    if missing:
        sys.meta_path.insert(0, _StubFinder(missing))


def _quiet() -> None:
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ["HF_HUB_OFFLINE"] = "1"  # a default config that asks for pretrained weights fails fast
    import logging

    logging.disable(logging.WARNING)


# ---- the zoos --------------------------------------------------------------------------------
def versions(zoo: str) -> dict:
    from importlib.metadata import version

    return {"torch": version("torch"), zoo: version(zoo)}


def list_transformers() -> list[dict]:
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES, MODEL_MAPPING_NAMES

    out = []
    for model_type in CONFIG_MAPPING_NAMES:
        if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
            out.append({"model": model_type, "auto": "AutoModelForCausalLM",
                        "class": MODEL_FOR_CAUSAL_LM_MAPPING_NAMES[model_type]})
        elif model_type in MODEL_MAPPING_NAMES:
            cls = MODEL_MAPPING_NAMES[model_type]
            out.append({"model": model_type, "auto": "AutoModel", "class": cls if isinstance(cls, str) else cls[0]})
        else:
            out.append({"model": model_type, "auto": None, "class": None})
    return out


def list_timm() -> list[dict]:
    """The first registered model of each timm model module, modules in order of first registration.

    "First registered" = the first key of ``timm.models._registry._model_entrypoints`` (a dict, so in
    ``@register_model`` order: the modules in the order ``timm.models`` imports them, and within a
    module the entry points in source order) whose ``_model_to_module`` is that module. That is the
    first ``@register_model`` function of the file. (``_module_to_models`` holds sets, and
    ``list_models`` sorts names, so neither keeps that order.)
    """
    install_stubs()
    import timm  # noqa: F401
    from timm.models import _registry as reg

    firsts: dict[str, str] = {}
    counts: dict[str, int] = {}
    for name in reg._model_entrypoints:
        module = reg._model_to_module[name]
        firsts.setdefault(module, name)
        counts[module] = counts.get(module, 0) + 1
    return [{"model": name, "module": module, "models_in_module": counts[module]} for module, name in firsts.items()]


@contextlib.contextmanager
def _meta_params():
    """Every parameter registered meanwhile is replaced by a meta tensor of its shape and dtype."""
    import torch

    original = torch.nn.Module.register_parameter

    def register_parameter(self, name, param):
        original(self, name, param)
        if param is not None and param.device.type != "meta":
            kind = type(self._parameters[name])
            kwargs = self._parameters[name].__dict__
            self._parameters[name] = kind(self._parameters[name].to("meta"), requires_grad=param.requires_grad)
            self._parameters[name].__dict__.update(kwargs)

    torch.nn.Module.register_parameter = register_parameter
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original


def _build_transformers(entry: dict, mode: str):
    import torch
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    config = AutoConfig.for_model(entry["model"])
    config_dict = config.to_dict()
    auto = AutoModelForCausalLM if entry["auto"] == "AutoModelForCausalLM" else AutoModel
    ctx = torch.device("meta") if mode == "meta" else _meta_params()
    with ctx:
        model = auto.from_config(config)
    return model, config_dict


def _build_timm(entry: dict, mode: str):
    import timm
    import torch

    ctx = torch.device("meta") if mode == "meta" else _meta_params()
    with ctx:
        model = timm.create_model(entry["model"], pretrained=False)
    return model, None


def _tree(model) -> list[dict]:
    rows = []
    for name, mod in model.named_modules():
        cls = type(mod)
        non_persistent = getattr(mod, "_non_persistent_buffers_set", set())
        rows.append({
            "name": name,
            "class": cls.__name__,
            "class_qualname": f"{cls.__module__}.{cls.__qualname__}",
            "params": {p: [int(d) for d in t.shape] for p, t in mod.named_parameters(recurse=False)},
            "buffers": {b: {"shape": [int(d) for d in t.shape], "dtype": str(t.dtype).removeprefix("torch."),
                            "persistent": b not in non_persistent}
                        for b, t in mod.named_buffers(recurse=False)},
        })
    return rows


class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def _reason(exc: BaseException, zoo: str, timeout: float) -> str:
    """``Type: message at FILE:LINE``, FILE:LINE the innermost frame in the zoo's package (else in
    any installed package), relative to site-packages."""
    if isinstance(exc, _Timeout):
        return f"timeout: not built within {timeout:g} s"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "site-packages/" in f.filename]
    own = [f for f in frames if f.filename.split("site-packages/", 1)[1].startswith(zoo + "/")]
    where = ""
    for fr in reversed(own or frames):
        where = f" at {fr.filename.split('site-packages/', 1)[1]}:{fr.lineno}"
        break
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}{where}"


def build_one(zoo: str, entry: dict, timeout: float) -> tuple[dict, list[dict] | None]:
    record = {"format": TRUTH_FORMAT, "zoo": zoo, "model": entry["model"], "versions": versions(zoo),
              "entry": entry, "status": "skipped"}
    if entry.get("unknown"):
        record["reason"] = f"not a model of the {zoo} sweep (bench/zoo_truth.py list {zoo})"
        return record, None
    if zoo == "transformers" and entry.get("auto") is None:
        record["reason"] = "no causal-LM or base model class (not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES nor MODEL_MAPPING_NAMES)"
        return record, None
    builder = _build_transformers if zoo == "transformers" else _build_timm
    errors = {}
    for mode in ("meta", "meta-params"):
        start = time.perf_counter()
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            model, config_dict = builder(entry, mode)
            rows = _tree(model)
        except BaseException as exc:  # noqa: BLE001 - every failure is a reason to skip
            if isinstance(exc, KeyboardInterrupt):
                raise
            errors[mode] = _reason(exc, zoo, timeout)
            if isinstance(exc, _Timeout):
                break
            continue
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        cls = type(model)
        module_file = Path(sys.modules[cls.__module__].__file__)
        package_dir = Path(sys.modules[zoo].__file__).parent
        record.update({
            "status": "ok",
            "mode": mode,
            "meta_error": errors.get("meta"),
            "build_seconds": round(time.perf_counter() - start, 3),
            "class": cls.__name__,
            "class_module": cls.__module__,
            "src": str(module_file.parent.relative_to(package_dir.parent)) if zoo == "transformers" else "timm/models",
            # transformers: the class, in the file that defines it; timm: the entry point, in the
            # module that registered it (not always the class's: byoanet's models build a ByobNet)
            "root": (f"{module_file.stem}:{cls.__name__}" if zoo == "transformers"
                     else f"{entry['module']}:{entry['model']}"),
            "config": config_dict,
            "modules": len(rows),
        })
        del model
        return record, rows
    record["reason"] = errors.get("meta", "")
    if "meta-params" in errors and errors["meta-params"] != errors.get("meta"):
        record["reason"] += f" (and without the meta device: {errors['meta-params']})"
    return record, None


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    _quiet()
    if argv[:1] == ["list"]:
        zoo = argv[1]
        models = list_transformers() if zoo == "transformers" else list_timm()
        json.dump({"versions": versions(zoo), "models": models}, sys.stdout)
        return 0
    if argv[:1] == ["build"]:
        zoo, out_dir = argv[1], Path(argv[2])
        timeout = float(argv[3]) if len(argv) > 3 else 120.0
        entries = json.load(sys.stdin)
        out_dir.mkdir(parents=True, exist_ok=True)
        install_stubs()  # transformers imports timm (when installed) for its timm backbones
        import torch  # noqa: F401 - imported once for the whole batch
        __import__(zoo)
        if any(len(e) == 1 for e in entries):  # bare {"model": name}: complete it from the zoo's list
            known = {e["model"]: e for e in (list_transformers() if zoo == "transformers" else list_timm())}
            entries = [{**known.get(e["model"], {"unknown": True}), **e} for e in entries]
        for entry in entries:
            print(f"START {entry['model']}", flush=True)
            record, rows = build_one(zoo, entry, timeout)
            if rows is not None:
                tree = {"schema": "modeltree/1", "root": record["root"],
                        "meta": {"mode": "runtime", "build": record["mode"], **record["versions"]},
                        "modules": rows}
                _write_json(out_dir / f"{entry['model']}.tree.json", tree)
            config = record.pop("config", None)
            if config is not None:  # the static side's config.json: config.to_dict() of the default config
                _write_json(out_dir / f"{entry['model']}.config.json", config)
                record["config_file"] = f"{entry['model']}.config.json"
            _write_json(out_dir / f"{entry['model']}.json", record)
            print(f"DONE {entry['model']}", flush=True)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Zoo sweep (issue 10): the static tree of every transformers model type and of one timm model per
timm model module, compared with the real ``named_modules()`` built on the meta device.

    python bench/zoo.py transformers                  # every model type of the installed transformers
    python bench/zoo.py timm                          # the first registered model of each timm module
    python bench/zoo.py transformers timm --json zoo.json --markdown
    python bench/zoo.py transformers --only llama,bert,t5 -v

What is compared
* transformers: for each ``model_type`` of ``CONFIG_MAPPING_NAMES``, ``AutoConfig.for_model(type)``
  (the default config) and ``AutoModelForCausalLM.from_config`` when the type has a causal-LM class
  (``MODEL_FOR_CAUSAL_LM_MAPPING_NAMES``), else ``AutoModel.from_config`` (``MODEL_MAPPING_NAMES``),
  with transformers' default attention choice. Static side: ``analyze(<site-packages>/<dir of the
  class's __module__>, root="<module file stem>:<class>", config=<config.to_dict() as config.json>)``.
* timm: the first registered model of each module of ``timm.models`` (see bench/zoo_truth.py
  ``list_timm``: the module's first ``@register_model`` function), built with
  ``timm.create_model(name, pretrained=False)``. Static side: ``analyze(<site-packages>/timm/models,
  root="<module stem>:<entry point>")`` with no config.json (a zero-argument factory root: the
  analyzer then starts from an empty config, ``{}``; nothing reads it).
* Truths are built by bench/zoo_truth.py in subprocesses (``--jobs`` of them, each a batch of models;
  a per-model timeout), on ``torch.device("meta")``, and cached as JSON under ``--cache``
  (default /tmp/modeltree-zoo) in a folder named after the zoo, its version and torch's: a re-run
  only redoes the static side. The static side runs in processes forked from this one, which never
  imports torch (nor transformers/timm): one fresh fork per model, with the analyzer and LibCST
  already imported and no result cache, so its time is one cold analysis.

Outcome per model
* ``exact``: ``diff_trees`` finds no difference and every class_qualname matches.
* ``partial``: it differs, and the analysis says so (``Analysis.partial``: a module marked partial or
  a warning). ``uncovered`` counts differences that are not inside a partial module (the module,
  or one of its ancestors in the static tree, marked partial): a warning elsewhere said "partial",
  but not about them.
* ``silently wrong``: it differs and nothing says so (no warning, no partial module).
* ``error``: the analysis raised ``AnalyzerError`` (exit 2), crashed or timed out.
* ``skipped``: the truth could not be built (its reason is printed).

``modules exact`` = over all built models of a zoo, the truth modules whose name, class,
class_qualname, own parameters (names, order, shapes) and own buffers (names, order, shape, dtype,
persistent) the static tree has exactly, and not out of order, divided by the number of truth
modules (a model that errors contributes 0 of its modules).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import select
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from zoo_truth import TRUTH_FORMAT  # noqa: E402  (zoo_truth imports torch only inside its functions)

ZOOS = ("transformers", "timm")
DEFAULT_CACHE = Path("/tmp/modeltree-zoo")
STATUSES = ("exact", "partial", "silently wrong", "error", "skipped")


# ---- where things are ------------------------------------------------------------------------
def site_packages(package: str) -> Path:
    """The folder holding ``package`` (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed")
    return Path(list(spec.submodule_search_locations)[0]).parent


def versions(zoo: str) -> dict:
    from importlib.metadata import version

    return {"torch": version("torch"), zoo: version(zoo)}


def truth_dir(cache: Path, zoo: str) -> Path:
    v = versions(zoo)
    return Path(cache) / f"{zoo}-{v[zoo]}-torch-{v['torch']}-f{TRUTH_FORMAT}"


# ---- truths (subprocesses) -------------------------------------------------------------------
def _worker_cmd(*args) -> list[str]:
    return [sys.executable, str(BENCH / "zoo_truth.py"), *map(str, args)]


def list_models(zoo: str, cache: Path) -> list[dict]:
    """The zoo's models (bench/zoo_truth.py list), cached next to the truths."""
    folder = truth_dir(cache, zoo)
    path = folder / "_models.json"
    if path.is_file():
        return json.loads(path.read_text())["models"]
    proc = subprocess.run(_worker_cmd("list", zoo), capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"listing the {zoo} models failed:\n{proc.stderr[-3000:]}")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(proc.stdout)
    return json.loads(proc.stdout)["models"]


def _skip_record(zoo: str, entry: dict, reason: str) -> dict:
    return {"format": TRUTH_FORMAT, "zoo": zoo, "model": entry["model"], "versions": versions(zoo),
            "entry": entry, "status": "skipped", "reason": reason}


def _run_batch(zoo: str, entries: list[dict], folder: Path, timeout: float, log) -> None:
    """Build ``entries`` in one worker; after a crash or a hang, the model being built is recorded
    as skipped and a new worker goes on with the rest."""
    remaining = [e for e in entries]
    startup = 180.0  # importing torch + the zoo on a loaded machine
    while remaining:
        err = open(folder / f"_worker{os.getpid()}-{remaining[0]['model']}.log", "w+")
        proc = subprocess.Popen(_worker_cmd("build", zoo, folder, timeout), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err)
        proc.stdin.write(json.dumps(remaining).encode())
        proc.stdin.close()
        fd, buf, current, hung = proc.stdout.fileno(), b"", None, False
        deadline = time.monotonic() + startup + timeout
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                hung = True
                proc.kill()
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                word, _, name = line.decode().partition(" ")
                if word == "START":
                    current = name
                    deadline = time.monotonic() + timeout + 30
                elif word == "DONE":
                    remaining = [e for e in remaining if e["model"] != name]
                    log(f"  truth {zoo}/{name}")
                    current = None
        rc = proc.wait()
        err.seek(0)
        tail = " ".join(err.read()[-600:].split())
        err.close()
        os.unlink(err.name)
        if not remaining:
            return
        victim = next((e for e in remaining if e["model"] == current), None)
        if victim is None:  # the worker died before its first model: every remaining one fails alike
            for e in remaining:
                _write(folder / f"{e['model']}.json", _skip_record(zoo, e, f"truth worker failed (exit {rc}): {tail}"))
            return
        reason = (f"timeout: the build hung for more than {timeout + 30:g} s" if hung
                  else f"the truth worker died (exit {rc}) building it: {tail[-300:]}")
        _write(folder / f"{victim['model']}.json", _skip_record(zoo, victim, reason))
        log(f"  truth {zoo}/{victim['model']}: {reason}")
        remaining = [e for e in remaining if e is not victim]


def _write(path: Path, data) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
    os.replace(tmp, path)


def cached_record(folder: Path, model: str) -> dict | None:
    path = folder / f"{model}.json"
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("format") != TRUTH_FORMAT:
        return None
    if record["status"] == "ok" and not (folder / f"{model}.tree.json").is_file():
        return None
    return record


def build_truths(zoo: str, entries: list[dict], cache: Path, *, jobs: int = 2, timeout: float = 120.0,
                 rebuild: bool = False, log=lambda s: None) -> dict[str, dict]:
    """Truth records of ``entries`` ({model: record}), building the ones not cached in ``jobs``
    parallel worker subprocesses (the models dealt round-robin among them)."""
    import threading

    folder = truth_dir(cache, zoo)
    folder.mkdir(parents=True, exist_ok=True)
    todo = [e for e in entries if rebuild or cached_record(folder, e["model"]) is None]
    if todo:
        log(f"building {len(todo)} {zoo} truth(s) in {min(jobs, len(todo))} subprocess(es) -> {folder}")
        batches = [todo[i::max(1, jobs)] for i in range(max(1, jobs))]
        threads = [threading.Thread(target=_run_batch, args=(zoo, b, folder, timeout, log)) for b in batches if b]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    out = {}
    for e in entries:
        out[e["model"]] = cached_record(folder, e["model"]) or _skip_record(zoo, e, "no truth record was written")
    return out


# ---- the static side -------------------------------------------------------------------------
def _short_path(path: str, record: dict, sp: Path) -> str:
    """A diagnostic's file relative to site-packages (the analyzer names files in the source folder
    relative to it)."""
    if path.startswith(str(sp) + os.sep):
        return path[len(str(sp)) + 1:]
    if not os.path.isabs(path) and (sp / record["src"] / path).exists():
        return f"{record['src']}/{path}"
    return path


def _node_sig(m) -> tuple:
    return (m.cls, m.class_qualname, list(m.params.items()),
            [(k, b.shape, (b.dtype or "").removeprefix("torch."), b.persistent) for k, b in m.buffers.items()])


def _ancestors(name: str):
    """``name``, its parent, ... up to the root ``""``."""
    while True:
        yield name
        if name == "":
            return
        name = name.rsplit(".", 1)[0] if "." in name else ""


def _parent(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else ""


CONTAINERS = ("ModuleList", "Sequential", "ModuleDict")


def _owners(name: str, static: dict[str, str]) -> list[str]:
    """The modules whose ``__init__`` decides what ``name`` is: its parent, and when that is a
    container (ModuleList, Sequential, ModuleDict: filled by their owner), the owner too."""
    out = []
    while name:
        name = _parent(name)
        out.append(name)
        if static.get(name) not in CONTAINERS:
            break
    return out


def covering(kind: str, name: str, partial: set[str], static: dict[str, str]) -> str | None:
    """The partial module that accounts for a difference of ``kind`` at module ``name``, else None.

    ``static`` maps the static tree's module names to their classes. A parameter or buffer
    difference must be on a partial module itself; a class, class_qualname, order or extra-module
    difference on the module or its owners (``_owners``: they chose the class and the registration
    order); a missing module on its nearest ancestor in the static tree or that one's owners."""
    if kind in ("params", "buffers", "unknown"):
        candidates = [name]
    elif kind == "missing_left":
        near = next((n for n in _ancestors(_parent(name)) if n in static), "") if name else ""
        candidates = [near, *_owners(near, static)] if name else [name]
    else:
        candidates = [name, *_owners(name, static)]
    return next((c for c in candidates if c in partial), None)


def uncovered_diffs(diffs: list[dict], partial: set[str], static: dict[str, str]) -> list[tuple[dict, str]]:
    """(difference, module) pairs no partial module accounts for (``covering``). A module whose
    class difference or absence is accounted for takes its subtree with it: what differs on or
    below a module of the wrong class, or below a missing one, is covered too."""
    wrong_ok: set[str] = set()
    for x in diffs:
        if x["kind"] in ("class", "missing_left", "missing_right"):
            wrong_ok.update(n for n in x["names"] if covering(x["kind"], n, partial, static) is not None)
    out = []
    for x in diffs:
        for n in x["names"]:
            if covering(x["kind"], n, partial, static) is not None:
                continue
            if any(a in wrong_ok for a in (_ancestors(n) if x["kind"] in ("params", "buffers", "unknown")
                                             else _ancestors(_parent(n)) if n else ())):
                continue
            out.append((x, n))
    return out


def _unknown_shapes(sby, tby) -> list[tuple[str, str]]:
    """(module, detail) where the static side has a parameter or buffer of unknown shape or dtype
    (``diff_trees`` does not compare unknowns)."""
    out = []
    for n, t in tby.items():
        s = sby.get(n)
        if s is None:
            continue
        parts = [f"{k} unknown -> {list(v)}" for k, v in t.params.items() if k in s.params and s.params[k] is None]
        parts += [f"{k} unknown -> {list(b.shape)} {b.dtype}" for k, b in t.buffers.items()
                  if k in s.buffers and (s.buffers[k].shape is None or s.buffers[k].dtype is None)]
        if parts:
            out.append((n, "; ".join(parts)))
    return out


def compare(static_tree, truth_tree) -> dict:
    """Differences between the static tree and the truth, first ones (in truth order) first."""
    from analyzer.tree.diff import collapse_groups, diff_trees

    d = diff_trees(static_tree, truth_tree)
    sby, tby = static_tree.by_name(), truth_tree.by_name()
    diffs = [{"kind": e.kind, "pattern": e.pattern, "count": e.count, "detail": e.detail, "names": list(e.names)}
             for kind in d.entries for e in d.entries[kind]]
    extra = [("class_qualname", n, f"{sby[n].class_qualname} -> {tby[n].class_qualname}") for n in tby
             if n in sby and sby[n].cls == tby[n].cls and sby[n].class_qualname != tby[n].class_qualname]
    extra += [("unknown", n, detail) for n, detail in _unknown_shapes(sby, tby)]
    grouped: dict[tuple, list[str]] = {}
    for kind, n, detail in extra:
        grouped.setdefault((kind, detail), []).append(n)
    for (kind, detail), names in grouped.items():
        for pattern, members in collapse_groups(names):
            diffs.append({"kind": kind, "pattern": pattern, "count": len(members), "detail": detail, "names": members})
    pos = {n: i for i, n in enumerate(tby)}
    diffs.sort(key=lambda x: (pos.get(x["names"][0], len(pos)), x["kind"]))
    for x in diffs:
        x["pattern"] = x["pattern"] or "''"
    out_of_order = {n for e in d.entries.get("order", ()) for n in e.names}
    exact = sum(1 for n, m in tby.items() if n in sby and n not in out_of_order and _node_sig(sby[n]) == _node_sig(m))
    counts = {k: sum(x["count"] for x in diffs if x["kind"] == k) for k in dict.fromkeys(x["kind"] for x in diffs)}
    return {"diffs": diffs, "exact_modules": exact, "truth_modules": len(tby), "static_modules": len(sby),
            "counts": counts}


def _is_consequence(d: dict, builtins: set[str]) -> bool:
    """A diagnostic that reports the effect of an earlier failure (a name left unbound, an attribute
    never set on a model class), not a construct of its own."""
    msg = d["message"]
    if re.search(r"name '[^']*' is not defined", msg):
        return True
    m = re.match(r"'(\w+)' object has no attribute", msg)
    return bool(m) and m.group(1) not in builtins


def cause_diagnostic(diags: list[dict], module: str, builtins: set[str]) -> dict | None:
    """The diagnostic naming the construct behind a difference covered by partial ``module``: the
    first (in the analyzer's order) non-consequence on the module itself, else in its subtree, else
    its first diagnostic."""
    own = [d for d in diags if d["module"] == module]
    sub = [d for d in diags if d["module"] is not None and (module == "" or d["module"].startswith(module + "."))]
    for pool in (own, sub):
        found = [d for d in pool if not _is_consequence(d, builtins)]
        if found:
            return found[0]
    return (own or sub or [None])[0]


def normalize(text: str) -> str:
    """A grouping key: specific class names, numbers and long tails removed."""
    text = re.sub(r"\bclass [A-Za-z_][\w.]*", "class X", text)
    text = re.sub(r"(?<![\w.])\d+(?![\w])", "N", text)
    text = re.sub(r"\btransformers(\.\w+)+", "transformers.…", text)
    text = re.sub(r"^[A-Z]\w+ requires the", "X requires the", text)
    text = re.sub(r"(?<=[.!]) (Checkout|You can|Please).*", "", text)
    return text[:110]


def construct(d: dict, builtins: set[str]) -> str:
    """The Python/torch construct a diagnostic names, as a coarse grouping key."""
    msg, code = d["message"], d["code"]
    m = re.search(r"'([\w.]+)' is not modeled", msg)
    if m:
        q = m.group(1)
        if q.startswith("timm.layers"):
            return "timm.layers.* is not modeled (timm.layers is a modeled_packages root in rules/externals.yaml)"
        return f"'{q}' is not modeled"
    for pattern, fmt in ((r"(torch\.[\w.]+\(\.\.\.\)) is not modeled", "{} is not modeled"),
                         (r"(Tensor\.\w+\(\.\.\.\)) is not shape-modeled", "{} is not shape-modeled"),
                         (r"(torch\.nn\.\w+) has no rule", "{} has no rule in rules/torch_nn.yaml")):
        m = re.search(pattern, msg)
        if m:
            return fmt.format(m.group(1))
    m = re.match(r"'(\w+)' object has no attribute '(\w+)'", msg)
    if m and m.group(1) in builtins:
        return f"attribute of a torch.nn builtin module not modeled ({m.group(1)}.{m.group(2)})"
    return f"{code} {normalize(msg)}"


def analyze_model(zoo: str, record: dict, folder: Path) -> dict:
    """Run the static analysis of one built model in this process and classify it. Never raises."""
    from analyzer.api import analyze
    from analyzer.diagnostics import AnalyzerError
    from analyzer.tree.model import from_json

    model = record["model"]
    res = {"zoo": zoo, "model": model, "root": record.get("root"), "src": record.get("src"),
           "build": record.get("mode"), "seconds": None}
    if record["status"] != "ok":
        reason = record.get("reason", "")
        key = "skipped: " + normalize(re.sub(r" at \S+:\d+", "", reason.split(" (and without")[0]))
        return {**res, "status": "skipped", "reason": reason, "cause": key, "construct": key}
    sp = site_packages(zoo)
    truth = from_json(json.loads((folder / f"{model}.tree.json").read_text()))
    config = str(folder / record["config_file"]) if record.get("config_file") else None
    start = time.perf_counter()
    try:
        analysis = analyze(sp / record["src"], root=record["root"], config=config, use_cache=False)
    except AnalyzerError as exc:
        d = exc.diagnostic
        msg = f"{d.code} {d.message}"
        return {**res, "status": "error", "seconds": time.perf_counter() - start, "truth_modules": len(truth.modules),
                "exact_modules": 0, "reason": msg, "cause": "error: " + normalize(msg),
                "construct": "error: " + normalize(msg)}
    except Exception as exc:  # noqa: BLE001 - a crash of the analyzer is an outcome too
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        msg = f"crash {type(exc).__name__}: {exc} at {Path(tb.filename).name}:{tb.lineno}"
        return {**res, "status": "error", "seconds": time.perf_counter() - start, "truth_modules": len(truth.modules),
                "exact_modules": 0, "reason": msg[:400], "cause": "error: " + normalize(msg),
                "construct": "error: analyzer crash " + normalize(msg)}
    res["seconds"] = time.perf_counter() - start
    cmp = compare(analysis.tree, truth)
    diags = [{"code": d.code, "message": d.message, "module": d.module,
              "span": _short_path(d.span.path, record, sp) + (f":{d.span.line}" if d.span.line else "") if d.span else None}
             for d in analysis.diagnostics if d.severity != "info"]
    builtins = {m.cls for m in analysis.tree.modules if m.class_qualname.startswith("torch.")}
    partial_mods = {m.name for m in analysis.tree.modules if m.partial}
    static_names = {m.name: m.cls for m in analysis.tree.modules}
    uncovered = uncovered_diffs(cmp["diffs"], partial_mods, static_names)
    res.update({k: cmp[k] for k in ("exact_modules", "truth_modules", "static_modules", "counts")})
    res.update({"partial": analysis.partial, "partial_modules": len(partial_mods), "warnings": len(diags),
                "diagnostics": diags[:20], "uncovered": len(uncovered),
                "first_uncovered": [f"{x['kind']} {n or repr('')}: {x['detail']}" for x, n in uncovered[:2]]})
    res["diffs"] = [{k: v for k, v in x.items() if k != "names"} for x in cmp["diffs"][:3]]
    if not cmp["diffs"]:
        res.update(status="exact", reason=f"exact, with {len(diags)} warning(s)" if diags else "")
        return res
    first = cmp["diffs"][0]
    diff_text = "; ".join(f"{x['kind']} {x['pattern']} ({x['count']}) {x['detail']}".rstrip() for x in res["diffs"][:2])
    if not analysis.partial:
        key = f"no diagnostic at all: {first['kind']} {normalize(first['detail'])}"
        res.update(status="silently wrong", reason=f"{diff_text}; no diagnostic", cause=key, construct=key)
        return res
    res["status"] = "partial"
    cover = covering(first["kind"], first["names"][0], partial_mods, static_names)
    if cover is None:
        # said "partial", but not where this difference is: as good as silent for this difference
        key = f"no diagnostic at the differing module: {first['kind']} {normalize(first['detail'])}"
        res.update(reason=f"{diff_text} || not covered by a partial module ({len(diags)} warning(s) elsewhere, "
                          f"e.g. {diags[0]['span'] if diags else '-'} {diags[0]['code'] if diags else ''} "
                          f"{diags[0]['message'][:100] if diags else ''}) [uncovered: {res['uncovered']}]",
                   cause=key, construct=key)
        return res
    cause = cause_diagnostic(diags, cover, builtins)
    picked = [cause] + [d for d in diags if d is not cause and d["module"] == cause["module"]][:1] if cause else []
    diag_text = " | ".join(f"{d['span'] or '?'} {d['code']} {d['message'][:160]}" for d in picked)
    res["cause_diagnostic"] = cause
    res["reason"] = f"{diff_text} || {diag_text}" + (
        f" [uncovered: {res['uncovered']}, e.g. {res['first_uncovered'][0]}]" if res["uncovered"] else "")
    res["cause"] = f"{cause['code']} {normalize(cause['message'])}" if cause else "partial module without a diagnostic"
    res["construct"] = construct(cause, builtins) if cause else "partial module without a diagnostic"
    return res


def _static_child(conn, zoo, record, folder):
    try:
        conn.send(analyze_model(zoo, record, folder))
    finally:
        conn.close()


def run_static(zoo: str, records: list[dict], folder: Path, *, jobs: int = 2, timeout: float = 300.0,
               log=lambda s: None) -> list[dict]:
    """``analyze_model`` for every record, each in a fresh fork of this process (``jobs`` at a time;
    past ``timeout`` seconds a model is an error). Results in the order of ``records``."""
    import multiprocessing
    import multiprocessing.connection

    import analyzer.pipeline  # noqa: F401 - imported (LibCST too) once, before forking

    ctx = multiprocessing.get_context("fork")
    results: dict[int, dict] = {}
    pending = list(enumerate(records))
    running: dict = {}  # conn -> (index, process, started)
    while pending or running:
        while pending and len(running) < max(1, jobs):
            i, rec = pending.pop(0)
            if rec["status"] != "ok":
                results[i] = analyze_model(zoo, rec, folder)
                continue
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_static_child, args=(child, zoo, rec, folder), daemon=True)
            proc.start()
            child.close()
            running[parent] = (i, proc, time.monotonic())
        if not running:
            continue
        for conn in multiprocessing.connection.wait(list(running), timeout=1.0):
            i, proc, _ = running.pop(conn)
            try:
                results[i] = conn.recv()
            except EOFError:
                results[i] = _failed(zoo, records[i], f"the analysis process died (exit {proc.exitcode})")
            conn.close()
            proc.join()
            log(f"  static {zoo}/{records[i]['model']}: {results[i]['status']}")
        now = time.monotonic()
        for conn, (i, proc, started) in list(running.items()):
            if now - started > timeout:
                proc.kill()
                proc.join()
                conn.close()
                del running[conn]
                results[i] = _failed(zoo, records[i], f"timeout: the analysis took more than {timeout:g} s")
                results[i]["seconds"] = timeout
                log(f"  static {zoo}/{records[i]['model']}: timeout")
    return [results[i] for i in range(len(records))]


def _failed(zoo: str, record: dict, reason: str) -> dict:
    return {"zoo": zoo, "model": record["model"], "root": record.get("root"), "src": record.get("src"),
            "status": "error", "seconds": None, "truth_modules": record.get("modules", 0), "exact_modules": 0,
            "reason": reason, "cause": "error: " + normalize(reason), "construct": "error: " + normalize(reason)}


# ---- reporting -------------------------------------------------------------------------------
def summarize(zoo: str, results: list[dict]) -> dict:
    built = [r for r in results if r["status"] != "skipped"]
    counts = {s: sum(1 for r in results if r["status"] == s) for s in STATUSES}
    truth = sum(r.get("truth_modules", 0) for r in built)
    exact_mods = sum(r.get("exact_modules", 0) for r in built)
    times = [r["seconds"] for r in built if r.get("seconds") is not None]
    return {"zoo": zoo, "models": len(results), "built": len(built), **counts,
            "uncovered_models": sum(1 for r in results if r["status"] == "partial" and r.get("uncovered")),
            "truth_modules": truth, "exact_modules": exact_mods,
            "modules_exact": exact_mods / truth if truth else 0.0,
            "static_median_s": statistics.median(times) if times else None,
            "static_max_s": max(times) if times else None}


def table(summaries: list[dict]) -> str:
    lines = ["| zoo | models | exact | modules exact | silently wrong | partial (uncovered) | error | skipped "
             "| static s/model (median, max) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summaries:
        t = f"{s['static_median_s']:.2f}, {s['static_max_s']:.2f}" if s["static_median_s"] is not None else "-"
        pct = f" ({100 * s['exact'] / s['built']:.0f}%)" if s["built"] else ""
        lines.append(f"| {s['zoo']} | {s['models']} | {s['exact']}{pct} | {100 * s['modules_exact']:.1f}% "
                     f"({s['exact_modules']:,}/{s['truth_modules']:,}) | {s['silently wrong']} | "
                     f"{s['partial']} ({s['uncovered_models']}) | {s['error']} | {s['skipped']} | {t} |")
    return "\n".join(lines)


DEFINITIONS = """\
models: all listed; exact: no difference at all (% of the built ones); modules exact: truth modules \
(name, class, class_qualname, own params and buffers, order) reproduced exactly, over all built \
models; silently wrong: differs with no warning and no partial module; partial: differs and says so \
(uncovered: of those, models with differences outside every partial module); error: the analysis \
exited 2, crashed or timed out; skipped: the truth could not be built on the meta device."""


def histogram(results: list[dict], key: str = "construct", examples: int = 3):
    """[(key, count, example results)] over the non-exact models, most frequent first."""
    groups: dict[str, list[dict]] = {}
    for r in results:
        if r["status"] != "exact":
            groups.setdefault(r[key], []).append(r)
    return sorted(((k, len(v), v[:examples]) for k, v in groups.items()), key=lambda t: (-t[1], t[0]))


def _example(r: dict) -> str:
    d = r.get("cause_diagnostic")
    return f"{r['model']}" + (f" ({d['span']})" if d and d.get("span") else "")


def report(zoo: str, results: list[dict], verbose: bool) -> str:
    out = [f"== {zoo}"]
    for r in results:
        if r["status"] == "exact" and not verbose:
            continue
        t = f" {r['seconds']:.2f}s" if r.get("seconds") is not None else ""
        frac = f" {r['exact_modules']}/{r['truth_modules']}" if "truth_modules" in r else ""
        out.append(f"{r['status']:>14} {r['model']}{frac}{t}: {r.get('reason', '')}")
    silent = [r for r in results if r["status"] == "silently wrong" or r.get("uncovered")]
    if silent:
        out += ["", f"differences no diagnostic accounts for ({zoo}: silently wrong models, and the uncovered "
                    "differences of partial ones):"]
        for r in silent:
            first = r.get("first_uncovered") or [f"{x['kind']} {x['pattern']}: {x['detail']}" for x in r.get("diffs", [])]
            out.append(f"  {r['model']} ({r['status']}, {r.get('uncovered', 0)} module difference(s)): {'; '.join(first[:2])}")
    for key, title in (("construct", "by construct"), ("cause", "by diagnostic")):
        if key == "cause" and not verbose:
            continue
        out += ["", f"causes ({zoo}, non-exact models, {title}: what is behind each model's first difference):"]
        for cause, n, ex in histogram(results, key):
            out.append(f"  {n:4d}  {cause}   e.g. {', '.join(_example(r) for r in ex)}")
    return "\n".join(out)


def sweep(zoo: str, *, cache: Path, only=None, jobs=2, timeout=120.0, static_timeout=300.0, rebuild=False,
          log=lambda s: None) -> list[dict]:
    entries = list_models(zoo, cache)
    if only:
        known = {e["model"] for e in entries}
        unknown = [m for m in only if m not in known]
        if unknown:
            raise SystemExit(f"not {zoo} models of the sweep: {', '.join(unknown)}")
        entries = [e for e in entries if e["model"] in set(only)]
    records = build_truths(zoo, entries, cache, jobs=jobs, timeout=timeout, rebuild=rebuild, log=log)
    return run_static(zoo, [records[e["model"]] for e in entries], truth_dir(cache, zoo), jobs=jobs,
                      timeout=static_timeout, log=log)


def analyzer_state() -> str:
    """Which analyzer ran: its folder, and for a git checkout the commit and the changed files under it."""
    import analyzer

    folder = Path(analyzer.__file__).resolve().parent
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", ".", "../rules"],
                               capture_output=True, text=True, timeout=10).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        head, dirty = "", []
    state = f"{folder}" + (f" at {head}" if head else "")
    return state + (f" + {len(dirty)} uncommitted file(s)" if dirty else "")


def _use_analyzer_from(folder: Path) -> None:
    """Analyze with the analyzer/ (and rules/) of another checkout, e.g. an export of a commit:
    ``git archive HEAD analyzer rules | tar -x -C /tmp/analyzer-head``."""
    import types

    folder = folder.resolve()
    if not (folder / "analyzer" / "__init__.py").is_file():
        raise SystemExit(f"--analyzer-src {folder}: no analyzer/ package there")
    sys.path.insert(0, str(folder))
    if (folder / "rules").is_dir() and not (folder / "analyzer" / "rulefiles").exists():
        rulefiles = types.ModuleType("analyzer.rulefiles")
        rulefiles.__path__ = [str(folder / "rules")]
        sys.modules["analyzer.rulefiles"] = rulefiles
    import analyzer

    assert Path(analyzer.__file__).resolve().parent == folder / "analyzer", analyzer.__file__


def _compile_analyzer() -> None:
    """Byte-compile the analyzer first, as pip does (bench/bench.py does the same): this VM sets
    PYTHONDONTWRITEBYTECODE=1, and the modules the pipeline imports lazily would otherwise be
    compiled again in every forked analysis and counted in its time."""
    import compileall

    import analyzer

    compileall.compile_dir(str(Path(analyzer.__file__).resolve().parent), quiet=1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("zoos", nargs="+", choices=ZOOS, metavar="ZOO", help="transformers and/or timm")
    ap.add_argument("--only", help="comma-separated model names (transformers model types, timm model names)")
    ap.add_argument("--jobs", type=int, default=2, help="parallel truth workers and static analyses (default 2)")
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"truth cache folder (default {DEFAULT_CACHE})")
    ap.add_argument("--rebuild", action="store_true", help="build the truths again even when cached")
    ap.add_argument("--timeout", type=float, default=120.0, help="per-model truth build timeout, s (default 120)")
    ap.add_argument("--static-timeout", type=float, default=300.0, help="per-model analysis timeout, s (default 300)")
    ap.add_argument("--json", metavar="OUT", help="write every result and the summaries as JSON")
    ap.add_argument("--markdown", action="store_true", help="print only the summary table (README-ready markdown)")
    ap.add_argument("--analyzer-src", type=Path, metavar="DIR",
                    help="use DIR/analyzer (and DIR/rules) instead of the installed analyzer")
    ap.add_argument("-v", "--verbose", action="store_true", help="list exact models too, and progress")
    args = ap.parse_args(argv)
    if args.analyzer_src:
        _use_analyzer_from(args.analyzer_src)
    _compile_analyzer()
    only = [m.strip() for m in args.only.split(",") if m.strip()] if args.only else None
    log = (lambda s: print(s, file=sys.stderr, flush=True)) if args.verbose else (lambda s: None)
    all_results, summaries = {}, []
    for zoo in dict.fromkeys(args.zoos):
        sel = None
        if only:
            sel = [m for m in only if m in {e["model"] for e in list_models(zoo, args.cache)}]
            if not sel:
                continue
        results = sweep(zoo, cache=args.cache, only=sel, jobs=args.jobs, timeout=args.timeout,
                        static_timeout=args.static_timeout, rebuild=args.rebuild, log=log)
        all_results[zoo] = results
        summaries.append(summarize(zoo, results))
        if not args.markdown:
            print(report(zoo, results, args.verbose), "\n", flush=True)
    if only:
        known = {r["model"] for rs in all_results.values() for r in rs}
        missing = [m for m in only if m not in known]
        if missing:
            print(f"unknown model(s): {', '.join(missing)}", file=sys.stderr)
            return 2
    print(f"analyzer: {analyzer_state()}")
    print(table(summaries))
    print()
    print(DEFINITIONS)
    if args.json:
        from importlib.metadata import version

        doc = {"versions": {z: versions(z) for z in all_results}, "analyzer": version("modeltree-analyzer"),
               "analyzer_state": analyzer_state(),
               "summaries": summaries, "results": all_results}
        Path(args.json).write_text(json.dumps(doc, indent=1, default=list))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The workload model (rules/workloads/*.yaml) and one concrete choice of it.

``load_workload_model`` reads and checks the file (E005 with the key on a bad one); without a
path it reads the one rules/workloads/index.yaml names as ``default``. Besides the workload
itself, the file carries the model's prose, rendered as given: ``remarks`` (short parentheticals
after a token count or the activated parameters), ``notes`` (bullets under the conventions),
``family_notes`` (per family) and ``references``.

``choose`` binds a mode, a crop grid, the prompt length, the decode KV length, conventions and a
dtype, and returns the token counts and the per-phase entries with SymPy workloads. The entries
stay symbolic in the top-level symbols (R, R_c, w_c, h_c, S, T); ``values`` holds their numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import sympy as sp

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.costs.formulas.base import BYTES, sym
from analyzer.rules import RULES_DIR, load_yaml

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "fp8": 1}
WORKLOADS_DIR = RULES_DIR / "workloads"
_KEYS = {"name", "title", "symbols", "constants", "defaults", "modes", "tokens", "conventions", "phases",
         "remarks", "notes", "family_notes", "references", "applies", "stages", "image"}
DOC = "docs/workloads.md"  # how to write a workload template
REMARK_KEYS = ("activated_params_per_token",)  # besides the token names


@dataclass(frozen=True)
class Entry:
    module: str
    work: dict  # workload symbol -> SymPy expression in the top-level symbols
    family: str | None = None
    when: str | None = None


@dataclass(frozen=True)
class WorkloadModel:
    path: str
    name: str
    title: str
    symbols: dict
    constants: dict
    defaults: dict
    modes: dict
    tokens: tuple  # ((name, SymPy expression), ...) in file order
    conventions: dict
    phases: dict  # phase -> tuple[Entry]
    remarks: dict = field(default_factory=dict)  # token name or REMARK_KEYS -> short text
    notes: tuple = ()  # model-specific notes (strings)
    family_notes: dict = field(default_factory=dict)  # family -> tuple of notes on this model's use of it
    references: tuple = ()  # ({"title", "url", "note"?}, ...)
    applies: dict = field(default_factory=dict)  # {family: F, modules: [...]}: when the template fits a tree
    stages: tuple = ()  # role-based stage names (families give them); () = the tree's stage tags
    default_stage: str = "other"  # for modules no family gave a stage
    image: bool = False  # takes --image-size (H x W pixels: the symbols H and W)

    @property
    def specificity(self) -> int:
        return len(self.applies.get("modules", ())) + ("family" in self.applies)


@dataclass(frozen=True)
class Workload:
    model: WorkloadModel
    mode: str
    crop_grid: tuple | None
    dtype: str
    conventions: dict  # convention -> chosen value
    values: dict  # Symbol -> int (R, R_c, w_c, h_c, N_text, S, T, b_e)
    tokens: dict  # token name -> int
    phases: dict  # phase -> tuple[Entry] (filtered, conventions substituted)


def _bad(path, key, message) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E005", f"{key}: {message}", SourceSpan(str(path))))


def _user(message) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E003", message))


def _sympify(text, names: dict, path, key):
    try:
        return sp.sympify(str(text), locals=names)
    except (sp.SympifyError, SyntaxError, TypeError) as exc:
        raise _bad(path, key, f"invalid expression {text!r} ({exc})") from None


def default_workload_path() -> Path:
    """The workload file rules/workloads/index.yaml names as ``default``."""
    index = WORKLOADS_DIR / "index.yaml"
    data = load_yaml(index)
    name = data.get("default") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise _bad(index, "default", "expected the file name of a workload in rules/workloads/")
    return WORKLOADS_DIR / name


def load_workload_model(path=None) -> WorkloadModel:
    path = Path(path) if path else default_workload_path()
    data = load_yaml(path)
    if not isinstance(data, dict) or not {"modes", "phases", "tokens"} <= set(data) or not set(data) <= _KEYS:
        raise _bad(path, "(top)", f"expected keys {sorted(_KEYS)} (modes, tokens and phases required)")
    symbols = {str(k): str(v) for k, v in (data.get("symbols") or {}).items()}
    constants = dict(data.get("constants") or {})
    if not all(isinstance(v, int) for v in constants.values()):
        raise _bad(path, "constants", "constants must be integers")
    names = {k: sym(k) for k in symbols} | {k: sp.Integer(v) for k, v in constants.items()}
    tokens = []
    for name, text in (data["tokens"] or {}).items():
        expr = _sympify(text, names, path, f"tokens.{name}")
        tokens.append((str(name), expr))
        names[str(name)] = expr
    conventions = {}
    for name, spec in (data.get("conventions") or {}).items():
        if not isinstance(spec, dict) or not isinstance(spec.get("choices"), dict) or spec.get("default") not in spec["choices"]:
            raise _bad(path, f"conventions.{name}", "expected {symbol, default, choices} with default among choices")
        choices = {str(k): _sympify(v, names, path, f"conventions.{name}.choices.{k}") for k, v in spec["choices"].items()}
        conventions[str(name)] = {"symbol": str(spec.get("symbol", name)), "default": str(spec["default"]),
                                  "choices": choices, "doc": str(spec.get("doc", ""))}
        names[conventions[str(name)]["symbol"]] = sym(conventions[str(name)]["symbol"])
    modes = data["modes"]
    if not isinstance(modes, dict) or not all(isinstance(m, dict) and "R" in m for m in modes.values()):
        raise _bad(path, "modes", "each mode needs at least R")
    for phase, entries in (data["phases"] or {}).items():
        for i, e in enumerate(entries or []):
            if isinstance(e, dict) and e.get("when") not in (None, "image", "crops"):
                raise _bad(path, f"phases.{phase}[{i}].when", "expected 'image' or 'crops'")
    phases = {}
    for phase, entries in (data["phases"] or {}).items():
        out = []
        for i, e in enumerate(entries or []):
            key = f"phases.{phase}[{i}]"
            if not isinstance(e, dict) or not isinstance(e.get("module"), str) or not isinstance(e.get("work"), dict):
                raise _bad(path, key, "expected {module, work, family?, when?}")
            work = {str(k): _sympify(v, names, path, f"{key}.work.{k}") for k, v in e["work"].items()}
            out.append(Entry(e["module"], work, e.get("family"), e.get("when")))
        phases[str(phase)] = tuple(out)
    prose = _prose(data, path, {name for name, _ in tokens})
    applies = data.get("applies") or {}
    if not isinstance(applies, dict) or not set(applies) <= {"family", "modules"} or \
            not isinstance(applies.get("family", ""), (str, list)) or \
            not isinstance(applies.get("modules", []), list):
        raise _bad(path, "applies", "expected {family: FAMILY, modules: [dotted names]}")
    stages = data.get("stages") or {}
    if not isinstance(stages, dict) or not isinstance(stages.get("names", []), list):
        raise _bad(path, "stages", "expected {names: [stage, ...], default: stage}")
    return WorkloadModel(str(path), str(data.get("name", path.stem)), str(data.get("title", "")), symbols, constants,
                         dict(data.get("defaults") or {}), modes, tuple(tokens), conventions, phases, **prose,
                         applies=dict(applies), stages=tuple(stages.get("names", ())),
                         default_stage=str(stages.get("default", "other")), image=bool(data.get("image", False)))


def template_paths() -> list:
    """The templates rules/workloads/index.yaml lists under ``templates`` (the default first)."""
    index = WORKLOADS_DIR / "index.yaml"
    data = load_yaml(index)
    names = data.get("templates") if isinstance(data, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and Path(n).name == n for n in names):
        raise _bad(index, "templates", "expected a list of file names in rules/workloads/")
    return [WORKLOADS_DIR / n for n in names]


def fits(model: WorkloadModel, binder) -> bool:
    """The template's ``applies`` rule on a tree: the root binds to ``family`` (by class or by
    structure) and every listed module exists."""
    if not model.applies:
        return False
    if any(m not in binder.nodes for m in model.applies.get("modules", ())):
        return False
    want = model.applies.get("family")
    if want is None:
        return True
    name = ""
    for _ in range(8):  # through wrappers (a module holding only its inner model)
        b = binder.bind(name)
        if b.family is None or b.family.name != "wrapper":
            break
        name = binder.view.kids[name][0]
    return b.family is not None and b.family.name in (want if isinstance(want, list) else [want])


def select_template(binder) -> WorkloadModel:
    """The most specific template that fits (ties: the index's order); E003 naming what was looked
    for when none does."""
    models = [load_workload_model(p) for p in template_paths()]
    fitting = [m for m in models if fits(m, binder)]
    if fitting:
        return max(fitting, key=lambda m: m.specificity)  # max keeps the first of equals
    root = binder.bind("")
    got = root.family.name if root.family is not None else f"none ({root.problem})"
    wanted = "; ".join(f"{Path(m.path).name}: root family {m.applies.get('family', '-')}"
                       + (f" with modules {', '.join(m.applies['modules'])}" if m.applies.get("modules") else "")
                       for m in models)
    raise _user(f"no workload template fits this model (its root's family: {got}). Looked for: {wanted}. "
                f"Write one and pass it with --workload FILE (see {DOC}).")


def _strings(raw, path, key) -> tuple:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(s, str) and s for s in raw):
        raise _bad(path, key, "expected a list of strings")
    return tuple(raw)


def _prose(data: dict, path, token_names: set) -> dict:
    from analyzer.costs.formulas.registry import REGISTRY

    remarks = data.get("remarks") or {}
    if not isinstance(remarks, dict) or not all(isinstance(v, str) for v in remarks.values()):
        raise _bad(path, "remarks", "expected a mapping of name -> text")
    for k in remarks:
        if k not in token_names and k not in REMARK_KEYS:
            raise _bad(path, f"remarks.{k}", f"expected a token name or one of {', '.join(REMARK_KEYS)}")
    family_notes = data.get("family_notes") or {}
    if not isinstance(family_notes, dict):
        raise _bad(path, "family_notes", "expected a mapping of family -> [notes]")
    for fam in family_notes:
        if fam not in REGISTRY:
            raise _bad(path, f"family_notes.{fam}",
                       f"unknown family {fam!r} (registered: {', '.join(sorted(REGISTRY))})")
    references = []
    for i, ref in enumerate(data.get("references") or []):
        if (not isinstance(ref, dict) or not {"title", "url"} <= set(ref) <= {"title", "url", "note"}
                or not all(isinstance(v, str) and v for v in ref.values())):
            raise _bad(path, f"references[{i}]", "expected {title, url, note?} (strings)")
        references.append(dict(ref))
    return {"remarks": {str(k): v for k, v in remarks.items()},
            "notes": _strings(data.get("notes"), path, "notes"),
            "family_notes": {str(f): _strings(n, path, f"family_notes.{f}") for f, n in family_notes.items()},
            "references": tuple(references)}


def crop_grid_for(n: int) -> tuple:
    """The most square (w_c, h_c) with w_c * h_c = n and w_c <= h_c (a portrait page)."""
    w = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return (w, n // w)


def parse_grid(text: str) -> tuple:
    w, sep, h = str(text).lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise _user(f"--crop-grid expects WxH (e.g. 2x3), got {text!r}")
    return (int(w), int(h))


def parse_size(text) -> tuple:
    """--image-size: N (a square) or HxW, in pixels."""
    h, sep, w = str(text).lower().partition("x")
    w = w if sep else h
    if not h.isdigit() or not w.isdigit() or int(h) < 1 or int(w) < 1:
        raise _user(f"--image-size expects N or HxW (e.g. 224 or 384x256), got {text!r}")
    return (int(h), int(w))


def choose(model: WorkloadModel, *, mode: str | None = None, crops: int | None = None, crop_grid=None,
           text_tokens: int | None = None, kv_length: int | None = None, dtype: str = "bf16",
           conventions: dict | None = None, image_size=None) -> Workload:
    mode = mode or model.defaults.get("mode")
    if mode not in model.modes:
        raise _user(f"--mode must be one of {', '.join(model.modes)}, got {mode!r}")
    if dtype not in DTYPE_BYTES:
        raise _user(f"--dtype must be one of {', '.join(DTYPE_BYTES)}, got {dtype!r}")
    spec = model.modes[mode]
    grid = _grid(mode, spec, crops, crop_grid)
    n_text = model.defaults.get("text_tokens", 0) if text_tokens is None else text_tokens
    if n_text < 0:
        raise _user("--text-tokens must be >= 0")
    values = {sym("R"): int(spec["R"]), sym("I"): int(int(spec["R"]) > 0), sym("R_c"): int(spec.get("R_c", 0)) if grid else 0,
              sym("w_c"): grid[0] if grid else 0, sym("h_c"): grid[1] if grid else 0, sym("N_text"): int(n_text)}
    if model.image:
        h, w = parse_size(image_size) if image_size is not None else (int(spec["R"]), int(spec["R"]))
        values[sym("H")], values[sym("W")] = h, w
    elif image_size is not None:
        raise _user(f"--image-size: the workload {model.name!r} takes no image")
    tokens = {}
    for name, expr in model.tokens:
        tokens[name] = int(expr.subs(values))
    seq = tokens.get("sequence_length")
    if seq is not None:
        values[sym("S")] = seq
        t = seq + 1 if kv_length is None else kv_length
        if t < 1:
            raise _user("--kv-length must be >= 1")
        values[sym("T")] = t
    values[BYTES] = DTYPE_BYTES[dtype]
    chosen = {}
    subst = {}
    for name, conv in model.conventions.items():
        value = (conventions or {}).get(name, conv["default"])
        if value not in conv["choices"]:
            raise _user(f"{name} must be one of {', '.join(conv['choices'])}, got {value!r}")
        chosen[name] = value
        subst[sym(conv["symbol"])] = conv["choices"][value]
    flags = {"image": int(spec["R"]) > 0, "crops": grid is not None}
    phases = {}
    for phase, entries in model.phases.items():
        keep = [e for e in entries if e.when is None or flags.get(e.when, False)]
        phases[phase] = tuple(Entry(e.module, {k: v.subs(subst) for k, v in e.work.items()}, e.family, e.when)
                              for e in keep)
    return Workload(model, mode, grid, dtype, chosen, values, tokens, phases)


def _grid(mode, spec, crops, crop_grid):
    if crops is not None and crop_grid is not None:
        raise _user("give --crops or --crop-grid, not both")
    if "crops" not in spec:
        if crops is not None or crop_grid is not None:
            raise _user(f"mode {mode!r} takes no crops")
        return None
    lo, hi = spec["crops"]
    if crops is None and crop_grid is None:
        raise _user(f"mode {mode!r} needs --crops N ({lo}..{hi}) or --crop-grid WxH")
    if crops is not None and int(crops) < 1:
        raise _user(f"--crops must be >= 1, got {crops}")
    grid = parse_grid(crop_grid) if crop_grid is not None else crop_grid_for(int(crops))
    if not lo <= grid[0] * grid[1] <= hi:
        raise _user(f"mode {mode!r} takes {lo}..{hi} crops, got {grid[0] * grid[1]}")
    return grid

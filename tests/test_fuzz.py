"""Broken input: a mutation fuzzer over the self-written fixtures, plus hostile path inputs.

The fuzzer (fixed seed) mutates one file of a fixture at a time, Python source or config.json:
it deletes, duplicates and swaps tokens, swaps and replaces literals, truncates, inserts bad
Unicode, NUL bytes and invalid UTF-8, duplicates, deletes and re-indents lines, removes
``super().__init__()``, inserts runaway or odd statements, and in config.json nulls values,
changes their types and points ``auto_map`` elsewhere. Every input must end, within
FUZZ_TIME_LIMIT seconds, in an ``Analysis`` (possibly partial; its text and JSON renderings are
made too) or an ``AnalyzerError``, and every diagnostic must carry a code of the catalogue.

    FUZZ_ITERATIONS=20000 python -m pytest tests/test_fuzz.py       # the longer opt-in run
    FUZZ_INDEX=1234 python -m pytest tests/test_fuzz.py             # replay one input
    FUZZ_SAVE=/tmp/fuzz python -m pytest tests/test_fuzz.py         # keep failing inputs
    FUZZ_WORKERS=1 ...                                               # one process (default: 2)

Each input index has its own random generator (seeded from SEED and the index), so any input can
be replayed alone.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from analyzer.evaluate import limits
from analyzer.render import tree as render
from analyzer.api import Analysis, analyze
from analyzer.cli.main import main
from analyzer.diagnostics import CODES, AnalyzerError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "fixtures"
SEED = 20261127
ITERATIONS = int(os.environ.get("FUZZ_ITERATIONS", "2000"))
TIME_LIMIT = float(os.environ.get("FUZZ_TIME_LIMIT", "5"))
# Inserted runaway loops would each spend the full scope budget (tests/test_pathological.py checks
# that bound); a smaller budget keeps them cheap here. The fixtures' largest scope is ~1,300 steps.
FUZZ_SCOPE_BUDGET = 20_000

# (fixture, root or None for auto_map, files to mutate, weight). Small fixtures carry the weight:
# a run of the whole sample_vlm costs ten of constructs_containers (fixtures/hostile, which reads
# the socket and subprocess sources, as much: it has tests of its own, tests/test_no_execution.py).
TARGETS = [
    ("constructs_containers", "containers:ContainerNet", ["containers.py", "config.json"], 25),
    ("constructs_factories", "factories:build_tiny_vit", ["factories.py", "layers.py", "config.json"], 25),
    ("needs_stub", "model:StubbedNet", ["model.py", "config.json"], 20),
    ("constructs_inheritance", None, ["modeling_inherit.py", "configuration_inherit.py", "config.json"], 10),
    ("sample_vlm", "deepencoder:build_clip_l", ["deepencoder.py"], 5),
    ("sample_vlm", "deepencoder:build_sam_vit_b", ["deepencoder.py"], 3),
    ("sample_vlm", None, ["config.json", "modeling_sample_vlm.py", "configuration_sample_vlm.py"], 1),
]


class Hang(BaseException):
    """Raised by the per-input alarm (a BaseException: the analyzer must not swallow it)."""


# ---------------------------------------------------------------------------------- mutations
TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|\"[^\"\n]*\"|'[^'\n]*'|\S")
NUMBER = re.compile(r"(?<![\w.])\d[\d_]*(\.\d+)?(?![\w.])")
STRING = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'")
NAME = re.compile(r"\b[A-Za-z_]\w*\b")
NUMBERS = ["0", "1", "-1", "2", "3", "7", "10**9", "10**12", "2**64", "1.5", "0.0", "1e308", "-0", "None",
           "True", "'7'", "[]", "()", "{}", "10**100000", "9" * 30]
STRINGS = ["''", "'x'", "'gelu'", "'relu'", "'linear'", "'eager'", "'sdpa'", "'flash_attention_2'", "'\\x00'",
           "'\\u202e'", "None", "0", "'%999999999d'", "'{:999999999}'", "'{0.__class__}'", "'a' * 10**9"]
STATEMENTS = [
    "while True: pass", "while True:\n{i}    x = 1", "for _i in range(10**12): pass", "for _i in range(999999): pass",
    "raise ValueError('fuzz')", "return", "return None", "assert False", "import not_a_module_xyz",
    "from . import nothing_here", "from .nowhere import Thing", "del self", "self = None", "x = x",
    "global G", "nonlocal_x = 1", "self.fuzz = self", "self.fuzz = nn.Linear(2, 2)", "self.fuzz = nn.Linear()",
    "self.fuzz = nn.Linear(-1, 10**12)", "self.fuzz = nn.ModuleList([self])", "self.add_module('', self)",
    "self.add_module('a.b', nn.ReLU())", "setattr(self, None, 1)", "self.register_buffer('b', None)",
    "self.register_buffer(1, 2)", "lambda: (yield)", "x = [i for i in range(10**6)]", "x = 'a' * 10**8",
    "x = 2 ** 2 ** 2 ** 2 ** 2", "x = eval('1')", "exec('x = 1')", "open('FUZZ_WAS_HERE', 'w')",
    "x = {**self}", "x = [*self]", "x, y = 1", "x = self[0]", "x = len()", "x = isinstance()", "x = range('a')",
    "x = super().__init__()", "super().__init__()", "super().__init__(); super().__init__()", "x = type(self)()",
    "x = copy.deepcopy(self)", "self.__class__ = int", "x = {}.get()", "x = getattr()", "x = sorted(1)",
    "x = max()", "x = sum(self)", "x = '{}'.format()", "x = 1 / 0", "x = 1 % 0", "x = int('x' * 5000)",
    "async def f(): pass", "with open('x') as f: pass", "try:\n{i}    pass\n{i}except:\n{i}    pass",
    "class Inner: pass", "x: int", "print(*self)", "x = f'{self:>999999999}'", "x = [] + list(range(10**6))",
]
BAD_BYTES = [b"\x00", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe2\x80\xae", b"\xef\xbb\xbf", b"\xc0\xaf", b"\x80\x80",
             "\u2028".encode(), "\u00a0".encode(), b"\x0c", b"\r", b"\t", b"\\", b"\x1b[2J", "\U0001f600".encode()]
SWAPS = [("+", "-"), ("*", "//"), ("==", "!="), (" and ", " or "), ("<", ">"), ("True", "False"), ("is None", "is not None"),
         ("(", "["), (")", "]"), (":", ";"), ("self.", "cls."), ("config.", "config.missing_"), (" in ", " not in ")]


def _spans(rx, text):
    return [m.span() for m in rx.finditer(text)]


def _replace(text, span, new):
    return text[: span[0]] + new + text[span[1]:]


def mutate_source(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    ops: list[str] = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        op = rng.choice(["delete_token", "duplicate_token", "swap_literals", "replace_number", "replace_string",
                         "replace_name", "truncate", "duplicate_line", "delete_line", "swap_lines", "remove_super",
                         "reindent", "insert_statement", "insert_statement", "swap_operator", "bad_unicode"])
        lines = text.splitlines(keepends=True)
        if op in ("delete_token", "duplicate_token"):
            spans = _spans(TOKEN, text)
            if spans:
                s = rng.choice(spans)
                text = _replace(text, s, "" if op == "delete_token" else text[s[0]:s[1]] * 2)
        elif op == "swap_literals":
            spans = _spans(NUMBER, text) + _spans(STRING, text)
            if len(spans) >= 2:
                a, b = sorted(rng.sample(spans, 2))
                if a[1] <= b[0]:
                    text = text[: a[0]] + text[b[0]:b[1]] + text[a[1]:b[0]] + text[a[0]:a[1]] + text[b[1]:]
        elif op == "replace_number":
            spans = _spans(NUMBER, text)
            if spans:
                text = _replace(text, rng.choice(spans), rng.choice(NUMBERS))
        elif op == "replace_string":
            spans = _spans(STRING, text)
            if spans:
                text = _replace(text, rng.choice(spans), rng.choice(STRINGS))
        elif op == "replace_name":
            spans = _spans(NAME, text)
            if spans:
                s = rng.choice(spans)
                other = rng.choice(spans)
                text = _replace(text, s, text[other[0]:other[1]])
        elif op == "truncate":
            text = text[: rng.randrange(len(text) + 1)]
        elif op in ("duplicate_line", "delete_line", "reindent") and lines:
            i = rng.randrange(len(lines))
            if op == "duplicate_line":
                lines.insert(i, lines[i])
            elif op == "delete_line":
                del lines[i]
            else:
                lines[i] = (" " * rng.choice((1, 4, 8)) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
            text = "".join(lines)
        elif op == "swap_lines" and len(lines) >= 2:
            i, j = rng.sample(range(len(lines)), 2)
            lines[i], lines[j] = lines[j], lines[i]
            text = "".join(lines)
        elif op == "remove_super":
            text = "".join(line for line in lines if "super(" not in line or rng.random() < 0.3)
        elif op == "insert_statement" and lines:
            i = rng.randrange(len(lines))
            indent = re.match(r"[ \t]*", lines[i]).group(0)
            stmt = rng.choice(STATEMENTS).replace("{i}", indent)
            lines.insert(i, indent + stmt + "\n")
            text = "".join(lines)
        elif op == "swap_operator":
            a, b = rng.choice(SWAPS)
            if rng.random() < 0.5:
                a, b = b, a
            spots = [m.start() for m in re.finditer(re.escape(a), text)]
            if spots:
                k = rng.choice(spots)
                text = text[:k] + b + text[k + len(a):]
        elif op == "bad_unicode":
            ops.append(op)
            return _insert_bytes(rng, text.encode("utf-8", "surrogatepass")), ops
        ops.append(op)
    return text.encode("utf-8", "surrogatepass"), ops


def _insert_bytes(rng, data: bytes) -> bytes:
    for _ in range(rng.randint(1, 3)):
        k = rng.randrange(len(data) + 1)
        data = data[:k] + rng.choice(BAD_BYTES) + data[k:]
    return data


CONFIG_VALUES = [None, 0, -1, 1, 2, 10**30, -(10**30), 1.5, float("nan"), float("inf"), "", "x", "gelu", [], [1, 2],
                 {}, {"a": 1}, True, False, "../x.Y", "/etc/passwd.X", {"AutoModel": "../../x.Y"}, "\u0000", "\ud800"]
AUTO_MAP = ["../x.Y", "/etc/passwd.X", "..modeling.X", "modeling", "", "a.b.c.D", "nonexistent.Model", "os.system",
            "config.json.X", "repo--modeling.X", ".X", "x.", "\u202emodeling.X", "modeling_inherit.InheritConfig",
            "configuration_inherit.InheritConfig", "deepencoder.build_sam_vit_b", "deepencoder.MLPBlock"]


def _paths(value, prefix=()):
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, prefix + (i,))
    return out


def _get(value, path):
    for p in path:
        value = value[p]
    return value


def _retype(rng, v):
    if isinstance(v, bool):
        return rng.choice([str(v).lower(), int(v), [v], None])
    if isinstance(v, int):
        return rng.choice([str(v), float(v), [v], {"value": v}, -v, v * 10**9, None, bool(v)])
    if isinstance(v, float):
        return rng.choice([str(v), int(v) if v == v and abs(v) < 1e18 else 0, [v], None])
    if isinstance(v, str):
        return rng.choice([len(v), [v], {v: v}, v * 3, v.upper(), None, v + ".", "." + v])
    if isinstance(v, list):
        return rng.choice([{str(i): x for i, x in enumerate(v)}, tuple(v) and v[0], len(v), v * 2, [], None])
    if isinstance(v, dict):
        return rng.choice([list(v.values()), list(v), len(v), None, {}])
    return rng.choice(CONFIG_VALUES)


def mutate_config(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    ops: list[str] = []
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and rng.random() < 0.8:
        for _ in range(rng.choice((1, 1, 2, 3))):
            paths = [p for p in _paths(data) if p]
            op = rng.choice(["null", "retype", "retype", "delete", "add", "value", "auto_map"])
            if op == "auto_map":
                data.setdefault("auto_map", {}) if isinstance(data.get("auto_map"), dict) else data.__setitem__("auto_map", {})
                data["auto_map"][rng.choice(["AutoModel", "AutoConfig", "AutoModelForCausalLM"])] = rng.choice(AUTO_MAP)
            elif op == "add":
                data[rng.choice(["", "__class__", "auto_map", "model_type", "x" * 200, "num_hidden_layers", "\u0000"])] = \
                    rng.choice(CONFIG_VALUES)
            elif paths:
                path = rng.choice(paths)
                parent = _get(data, path[:-1])
                if op == "null":
                    parent[path[-1]] = None
                elif op == "delete":
                    del parent[path[-1]]
                elif op == "value":
                    parent[path[-1]] = rng.choice(CONFIG_VALUES)
                else:
                    parent[path[-1]] = _retype(rng, parent[path[-1]])
            ops.append(op)
        text = json.dumps(data, indent=1, ensure_ascii=rng.random() < 0.5)
    ops_text = []
    if rng.random() < 0.25 or data is None:
        op = rng.choice(["truncate", "bad_bytes", "duplicate_key", "not_an_object"])
        if op == "truncate":
            text = text[: rng.randrange(len(text) + 1)]
        elif op == "duplicate_key":
            text = text.replace("{", '{"hidden_size": "dup", ', 1)
        elif op == "not_an_object":
            text = rng.choice(["[]", "null", "1", '"x"', "[" + text + "]"])
        ops_text.append(op)
        data_bytes = text.encode("utf-8", "surrogatepass")
        if op == "bad_bytes":
            data_bytes = _insert_bytes(rng, data_bytes)
        return data_bytes, ops + ops_text
    return text.encode("utf-8", "surrogatepass"), ops


# ---------------------------------------------------------------------------------- the run
def _input(index: int):
    """(target, file, mutated bytes, ops) of input number ``index``: reproducible alone."""
    rng = random.Random(SEED * 1_000_003 + index)
    target = rng.choices(TARGETS, weights=[t[3] for t in TARGETS])[0]
    fname = rng.choice(target[2])
    original = (FIXTURES / target[0] / fname).read_text(encoding="utf-8")
    if fname.endswith(".json"):
        data, ops = mutate_config(rng, original)
    else:
        data, ops = mutate_source(rng, original)
    return target, fname, data, ops


def _on_alarm(signum, frame):
    raise Hang()


def _check_one(work: Path, root, failures: list, label: str) -> str:
    """Analyze ``work``; return the outcome kind, or record a failure."""
    signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT)
    started = time.perf_counter()
    try:
        result = analyze(work, root=root)
        assert isinstance(result, Analysis)
        render.text_tree(result.tree, result.diagnostics)
        json.loads(render.tree_json(result.tree, result.diagnostics))
        bad = [d for d in result.diagnostics if d.code not in CODES]
        if bad:
            failures.append(f"{label}: diagnostic without a catalogue code: {bad[0].format()}")
        return "partial" if result.partial else "complete"
    except AnalyzerError as exc:
        if exc.diagnostic.code not in CODES:
            failures.append(f"{label}: AnalyzerError without a catalogue code: {exc}")
        return exc.diagnostic.code
    except Hang:
        failures.append(f"{label}: no answer within {TIME_LIMIT} s (hang)")
        return "hang"
    except Exception as exc:  # noqa: BLE001 - the point of the test
        tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
        failures.append(f"{label}: uncaught {type(exc).__name__}: {exc}\n" + "".join(tb[-6:]))
        return "crash"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - started
        if elapsed > TIME_LIMIT * 1.5:
            failures.append(f"{label}: took {elapsed:.1f} s")


def _run(indices, base: Path, save: Path | None):
    """Run the inputs ``indices`` in folder ``base``: (outcome counts, failures)."""
    base.mkdir(parents=True, exist_ok=True)
    work_dirs: dict[str, Path] = {}
    failures: list[str] = []
    outcomes: dict[str, int] = {}
    old_handler = signal.signal(signal.SIGALRM, _on_alarm)
    old_limit = sys.getrecursionlimit()
    cwd = os.getcwd()
    os.chdir(base)  # a mutated source that ever ran could only write here
    try:
        for index in indices:
            target, fname, data, ops = _input(index)
            fixture, root = target[0], target[1]
            work = work_dirs.get(fixture)
            if work is None:
                work = work_dirs[fixture] = base / fixture
                shutil.copytree(FIXTURES / fixture, work)
            path = work / fname
            original = path.read_bytes()
            path.write_bytes(data)
            label = f"input {index} ({fixture}/{fname}: {', '.join(ops)}; root {root or 'auto_map'})"
            before = len(failures)
            try:
                kind = _check_one(work, root, failures, label)
            finally:
                path.write_bytes(original)
            outcomes[kind] = outcomes.get(kind, 0) + 1
            if save is not None and len(failures) > before:
                save.mkdir(parents=True, exist_ok=True)
                (save / f"{index}-{fixture}-{fname}").write_bytes(data)
            if sys.getrecursionlimit() != old_limit:
                failures.append(f"{label}: the recursion limit was left changed")
                sys.setrecursionlimit(old_limit)
        if list(base.glob("FUZZ_WAS_HERE")):
            failures.append("a mutated source was executed (FUZZ_WAS_HERE was written)")
    finally:
        os.chdir(cwd)
        signal.signal(signal.SIGALRM, old_handler)
    return outcomes, failures


def test_fuzz_mutated_fixtures(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "SCOPE_STEP_BUDGET", FUZZ_SCOPE_BUDGET)
    if os.environ.get("FUZZ_INDEX"):
        indices = [int(os.environ["FUZZ_INDEX"])]
    else:
        indices = list(range(ITERATIONS))
    save = Path(os.environ["FUZZ_SAVE"]) if os.environ.get("FUZZ_SAVE") else None
    workers = max(1, min(int(os.environ.get("FUZZ_WORKERS", "2")), os.cpu_count() or 1, len(indices)))
    started = time.perf_counter()
    if workers == 1:
        outcomes, failures = _run(indices, tmp_path / "w0", save)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            jobs = [pool.submit(_run, indices[w::workers], tmp_path / f"w{w}", save) for w in range(workers)]
            results = [j.result() for j in jobs]
        outcomes, failures = {}, []
        for o, f in results:
            failures += f
            for k, n in o.items():
                outcomes[k] = outcomes.get(k, 0) + n
    elapsed = time.perf_counter() - started
    print(f"\nfuzz: {len(indices)} inputs in {elapsed:.1f} s ({workers} processes): {dict(sorted(outcomes.items()))}")
    assert sum(outcomes.values()) == len(indices)
    assert not failures, f"{len(failures)} failing inputs (of {len(indices)}):\n\n" + "\n\n".join(failures[:15])
    if not os.environ.get("FUZZ_INDEX"):
        # the mutations exercise more than the parser: most inputs get through to the evaluator
        assert outcomes.get("complete", 0) + outcomes.get("partial", 0) > len(indices) // 3, outcomes


# ---------------------------------------------------------------------------------- path inputs
CONTAINERS = FIXTURES / "constructs_containers"


def _folder(tmp_path, auto_model=None, extra=None) -> Path:
    src = tmp_path / "model"
    shutil.copytree(CONTAINERS, src)
    if auto_model is not None:
        cfg = json.loads((src / "config.json").read_text())
        cfg["auto_map"] = {"AutoModel": auto_model}
        (src / "config.json").write_text(json.dumps(cfg))
    if extra is not None:
        extra(src)
    return src


def _cli(capsys, *argv):
    code = main(["tree", *map(str, argv), "--no-cache"])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err
    return code, out, err


@pytest.mark.parametrize("root", ["../x:Y", "/etc/passwd:X", "containers/../containers:ContainerNet",
                                  "../constructs_containers/containers:ContainerNet"])
def test_root_outside_the_folder(tmp_path, capsys, root):
    src = _folder(tmp_path)
    code, out, err = _cli(capsys, src, "--root", root)
    assert code == 2 and "E004" in err and "inside the source folder" in err and out == ""


@pytest.mark.parametrize("auto_model", ["../x.Y", "/etc/passwd.X", "..containers.ContainerNet", "../../etc/passwd.X"])
def test_auto_map_outside_the_folder(tmp_path, capsys, auto_model):
    src = _folder(tmp_path, auto_model)
    code, out, err = _cli(capsys, src)
    module = auto_model.rpartition(".")[0]
    assert code == 2 and "E004" in err and f"root module '{module}'" in err and "auto_map.AutoModel" in err


def _symlink(name, target):
    return lambda src: os.symlink(target, src / name)


@pytest.mark.parametrize("name, make", [
    ("evil", _symlink("evil.py", "/etc/passwd")),  # a file outside the folder, through a symlink
    ("loop", _symlink("loop.py", "loop.py")),  # a symlink loop
    ("ping", lambda src: (os.symlink("pong.py", src / "ping.py"), os.symlink("ping.py", src / "pong.py"))),
    ("broken", _symlink("broken.py", "/nonexistent/modeltree/broken.py")),  # a broken symlink
    ("folder", lambda src: (src / "folder.py").mkdir()),  # unreadable as a file: a directory named like one
    ("device", _symlink("device.py", "/dev/zero")),  # a device would never end
])
def test_auto_map_to_unusable_files(tmp_path, capsys, name, make):
    src = _folder(tmp_path, f"{name}.Model", make)
    code, out, err = _cli(capsys, src)
    assert code == 2 and "E004" in err and f"root module '{name}'" in err


def test_symlink_loop_directory_in_the_folder(tmp_path, capsys):
    src = _folder(tmp_path, None, _symlink("sub", "."))
    code, out, err = _cli(capsys, src, "--root", "containers:ContainerNet")
    assert code == 0 and "24 modules" in out
    # and through the result cache, which lists the folder's files
    code = main(["tree", str(src), "--root", "containers:ContainerNet"])
    out, err = capsys.readouterr()
    assert code == 0 and "24 modules" in out


@pytest.mark.parametrize("make, message", [
    (_symlink("helper.py", "/nonexistent/modeltree/helper.py"), "module 'helper' not found"),
    (lambda src: (src / "helper.py").mkdir(), "module 'helper' not found"),
])
def test_imported_file_unusable_is_a_warning(tmp_path, capsys, make, message):
    def extra(src):
        make(src)
        with (src / "containers.py").open("a") as f:
            f.write("\n\nfrom helper import Thing\n\n\nclass Net2(ContainerNet):\n"
                    "    def __init__(self, cfg):\n        super().__init__(cfg)\n        self.t = Thing()\n")

    src = _folder(tmp_path, None, extra)
    code, out, err = _cli(capsys, src, "--root", "containers:Net2")
    assert code == 1 and message in err and "25 modules" not in out and "24 modules" in out


def test_missing_and_unreadable_config(tmp_path, capsys):
    src = _folder(tmp_path)
    code, out, err = _cli(capsys, src, "--root", "containers:ContainerNet", "--config", tmp_path / "nowhere.json")
    assert code == 2 and "E002" in err and "config file not found" in err
    code, out, err = _cli(capsys, src, "--root", "containers:ContainerNet", "--config", src)
    assert code == 2 and "E002" in err and "config is not a regular file" in err
    code, out, err = _cli(capsys, tmp_path / "nowhere")
    assert code == 2 and "E002" in err
    code, out, err = _cli(capsys, src / "containers.py")
    assert code == 2 and "E002" in err


def test_config_that_never_ends(tmp_path):
    src = _folder(tmp_path)
    special = tmp_path / "config.fifo"
    os.mkfifo(special)
    try:
        proc = subprocess.run([sys.executable, "-m", "analyzer", "tree", str(src), "--no-cache", "--root",
                               "containers:ContainerNet", "--config", str(special)],
                              capture_output=True, text=True, timeout=2, cwd=REPO)
    except subprocess.TimeoutExpired:
        pytest.fail("no answer within 2 s")
    assert proc.returncode == 2 and "E002" in proc.stderr

"""Replay of identical module constructions (analyzer/replay.py) must never change a result.

Each case builds modules whose constructions look identical but are not (state changed between
them, a closure, a side effect, a module changed after it was built...), or are (the replay case).
Every case is analyzed with replay on and off, and the two outputs must be byte-identical; the
cases without diagnostics are also compared with the model built by torch on the meta device.
"""
from __future__ import annotations

import dataclasses
import json

import pytest

from analyzer.evaluate import limits, replay
from analyzer.api import analyze
from analyzer.tree.runtime import dump_runtime
from analyzer.evaluate.values import ModuleObj
from conftest import differences

HEADER = """
import torch
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.proj = nn.Linear(cfg.width, cfg.width)
        self.norm = nn.LayerNorm(cfg.width)
        self.act = nn.GELU()
        self.width = cfg.width
"""

CASES = {
    # the replay case: identical constructions in a comprehension and in a loop
    "identical_in_comprehension": """
class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n)])
        self.more = nn.ModuleList([Block(cfg) for _ in range(3)])
""",
    # the config changes between constructions: none may be a copy of the one before
    "config_changed_between": """
class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList()
        for i in range(cfg.n):
            cfg.width = 4 + i
            self.blocks.append(Block(cfg))
""",
    # a global list changes between constructions, and the constructor reads it
    "global_changed_between": """
SIZES = [3]


class Sized(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(SIZES[-1], 2)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.a = nn.ModuleList([Sized() for _ in range(2)])
        SIZES.append(7)
        self.b = nn.ModuleList([Sized() for _ in range(2)])
""",
    # a class attribute changes between constructions
    "class_attribute_changed_between": """
class Wide(nn.Module):
    dim = 5

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(self.dim, self.dim)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.a = Wide()
        Wide.dim = 9
        self.b = Wide()
        self.c = Wide()
""",
    # a closure whose variable changes between constructions is passed to the constructor
    "closure_changed_between": """
class Holder(nn.Module):
    def __init__(self, make):
        super().__init__()
        self.lin = make()


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = 4

        def make():
            return nn.Linear(d, d)

        self.a = Holder(make)
        d = 6
        self.b = Holder(make)
        self.c = Holder(make)
""",
    # each construction registers itself in a global list, and the next one reads its length
    "side_effect_in_constructor": """
REGISTRY = []


class Counted(nn.Module):
    def __init__(self):
        super().__init__()
        REGISTRY.append(1)
        self.lin = nn.Linear(len(REGISTRY), 2)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([Counted() for _ in range(4)])
""",
    # a module made by a global's first evaluation, inside a construction, is shared by all of
    # them (named_modules() lists it once), never copied
    "global_module_shared": """
SHARED = nn.Linear(2, 2)


class UsesShared(nn.Module):
    def __init__(self, k):
        super().__init__()
        if k:
            self.s = SHARED  # evaluated for the first time in the second construction
        self.own = nn.Linear(3, 3)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.items = nn.ModuleList([UsesShared(0), UsesShared(1), UsesShared(1), UsesShared(1)])
""",
    # a list grown in place (list +=) between constructions that read it
    "list_grown_in_place_between": """
SIZES = [3]


class Sized(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(SIZES[-1], 2)


def grow(sizes):
    sizes += [7]
    return None


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        items = [Sized(), Sized(), grow(SIZES), Sized()]
        self.layers = nn.ModuleList([m for m in items if m is not None])
""",
    # a built module is changed afterwards: later copies must not carry the change
    "recorded_module_changed_after": """
class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.a = Block(cfg)
        self.a.extra = nn.Linear(2, 2)
        self.a.proj = nn.Linear(3, 3)
        self.b = Block(cfg)
        self.c = Block(cfg)
""",
    # nested identical constructions, the outer ones identical too
    "nested_identical": """
class Pair(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.first = Block(cfg)
        self.second = Block(cfg)
        self.register_buffer("scale", torch.ones(cfg.width), persistent=False)
        self.bias = nn.Parameter(torch.zeros(cfg.width))


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.pairs = nn.Sequential(*[Pair(cfg) for _ in range(3)])
        self.shared = Block(cfg)
        self.again = self.shared
""",
    # the arguments differ only in type: 2 and 2.0 and True are three constructions
    "argument_types_differ": """
class Scaled(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.lin = nn.Linear(4, 4 if isinstance(k, bool) else (2 if isinstance(k, float) else 3))


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.warm = Scaled(2)  # reads the globals for the first time
        # no write between these four constructions: only the argument types tell them apart
        self.items = nn.ModuleList([Scaled(1), Scaled(1.0), Scaled(True), Scaled(1), Scaled((1, 2)),
                                    Scaled((1.0, 2))])
""",
}

# constructions that report diagnostics: never recorded, every copy reports again
WITH_DIAGNOSTICS = {
    "diagnostic_in_constructor": """
class Odd(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.lin = nn.Linear(cfg.width, cfg.missing_key)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.odds = nn.ModuleList([Odd(cfg) for _ in range(3)])
""",
}

# a loop that ran out of budget once is refused at once afterwards, also in a construction that
# was recorded before (its replay would hide the refusal)
RUNAWAY = """
def spin(n):
    i = 0
    while i < n:
        i += 1
    return None


class Looper(nn.Module):
    def __init__(self, n):
        super().__init__()
        spin(n)
        self.lin = nn.Linear(2, 2)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        a = Looper(1)
        b = Looper(1)
        spin(10 ** 9)
        c = Looper(1)
        self.items = nn.ModuleList([a, b, c])
"""

CONFIG = {"width": 8, "n": 4}


def _run(src, on: bool, monkeypatch):
    monkeypatch.setattr(limits, "REPLAY_CONSTRUCTIONS", on)
    result = analyze(src, root="m:Net")
    return result, json.dumps(result.tree.to_json(result.diagnostics), sort_keys=True)


@pytest.mark.parametrize("case", sorted(CASES))
def test_replay_changes_nothing_and_matches_torch(pkg, case, monkeypatch):
    src = pkg({"m.py": HEADER + CASES[case]}, CONFIG)
    off, off_json = _run(src, False, monkeypatch)
    on, on_json = _run(src, True, monkeypatch)
    assert on_json == off_json
    assert not on.partial, [d.format() for d in on.diagnostics]
    assert differences(on.tree, dump_runtime(src, root="m:Net")) == []


@pytest.mark.parametrize("case", sorted(WITH_DIAGNOSTICS))
def test_replay_changes_nothing_with_diagnostics(pkg, case, monkeypatch):
    src = pkg({"m.py": HEADER + WITH_DIAGNOSTICS[case]}, CONFIG)
    off, off_json = _run(src, False, monkeypatch)
    on, on_json = _run(src, True, monkeypatch)
    assert on_json == off_json
    assert len([d for d in on.diagnostics if d.code == "W101"]) == 3  # one per module, as without replay


def test_identical_constructions_are_replayed(pkg, monkeypatch):
    src = pkg({"m.py": HEADER + CASES["identical_in_comprehension"]}, CONFIG)
    replayed = []
    real = replay.replay

    def counting(ev, record, *args):
        obj = real(ev, record, *args)
        replayed.append(obj is not None)
        return obj

    monkeypatch.setattr(replay, "replay", counting)
    analyze(src, root="m:Net")
    # the first Block reads the module's globals for the first time (not replayable), the second is
    # recorded, the other two replayed; building the first list is a write, so the second list
    # records its first Block again and replays the other two
    assert replayed == [True, True, False, True, True]


def test_replay_within_step_budget_and_depth_as_evaluation(pkg, monkeypatch):
    """Near the total step budget and the call depth limit, replay ends where evaluation ends."""
    source = HEADER + """
def nest(cfg, k):
    if k == 0:
        return Block(cfg)
    return nest(cfg, k - 1)


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(40)])
        self.deep = nn.ModuleList([nest(cfg, k) for k in range(12)])
"""
    src = pkg({"m.py": source}, CONFIG)
    monkeypatch.setattr(limits, "MAX_DEPTH", 10)
    for budget in (300, 700, 1500):
        monkeypatch.setattr(limits, "TOTAL_STEP_BUDGET", budget)
        assert _run(src, True, monkeypatch)[1] == _run(src, False, monkeypatch)[1], budget


def test_module_copy_sets_every_field():
    fields = {f.name for f in dataclasses.fields(ModuleObj)}
    assert fields == set(replay._MODULE_FIELDS)
    original = ModuleObj(cls=None)
    copy = replay._copy_module(original, 0, {})
    assert all(hasattr(copy, name) for name in fields) and copy.uid != original.uid


def test_replay_after_a_loop_ran_out_of_budget(pkg, monkeypatch):
    monkeypatch.setattr(limits, "SCOPE_STEP_BUDGET", 2_000)
    src = pkg({"m.py": HEADER + RUNAWAY}, CONFIG)
    off, off_json = _run(src, False, monkeypatch)
    on, on_json = _run(src, True, monkeypatch)
    assert on_json == off_json
    assert [m.name for m in on.tree.modules if m.partial] == ["", "items.2"]  # the spin, and c


def test_replay_changes_nothing_on_mutated_fixtures(tmp_path, monkeypatch):
    """The fuzzer's mutated fixtures (broken sources, odd configs, runaway statements): every one
    gives the same bytes, diagnostics included, with replay on and off."""
    import shutil

    from test_fuzz import FIXTURES, FUZZ_SCOPE_BUDGET, _input

    from analyzer.diagnostics import AnalyzerError

    monkeypatch.setattr(limits, "SCOPE_STEP_BUDGET", FUZZ_SCOPE_BUDGET)
    compared = 0
    for index in range(0, 1200, 4):  # 300 inputs, spread over the fuzzer's sequence
        target, fname, data, _ = _input(index)
        work = tmp_path / f"in{index}"
        shutil.copytree(FIXTURES / target[0], work)
        (work / fname).write_bytes(data)
        outputs = []
        for on in (False, True):
            monkeypatch.setattr(limits, "REPLAY_CONSTRUCTIONS", on)
            try:
                result = analyze(work, root=target[1])
                outputs.append(json.dumps(result.tree.to_json(result.diagnostics), sort_keys=True))
            except AnalyzerError as exc:
                outputs.append(exc.diagnostic.format())
        assert outputs[0] == outputs[1], f"input {index} ({target[0]}/{fname})"
        compared += 1
        shutil.rmtree(work)
    assert compared == 300

"""A skipped statement (analyzer/evaluate/skipped.py) leaves nothing it may have changed looking
known: names it binds, attributes it sets, a config it may change as a whole, a list it fills,
a function's result when it held a ``return``. Each expectation is worked out by hand: what would be
stale (the value from before the statement) must come out unknown, with a diagnostic on the module
it reaches; what the statement cannot have touched stays known."""
from analyzer.api import analyze
from conftest import write_package

SOURCE = """
import copy
import torch.nn as nn


def helper(cfg):
    if cfg.mystery.value:        # W101: skipped; it holds a return, so the result is unknown
        return 1
    return 2


class Net(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width = cfg.width
        if cfg.mystery.value > 1:              # W101: skipped
            width = width * 2
        self.a = nn.Linear(width, 3)           # width unknown, not the stale 4
        sub = copy.deepcopy(cfg)
        for k, v in pairs(cfg):                # W102 (pairs is not defined): skipped
            setattr(sub, k, v)                 # ... it may have changed sub in any key
        self.b = nn.Linear(sub.width, 5)       # unknown
        self.c = nn.Linear(cfg.width, 6)       # cfg itself is not written there: known, [6, 4]
        self.d = nn.Linear(helper(cfg), 7)     # unknown
        self.n = 8
        layers = [nn.Linear(1, 1)]
        if cfg.mystery:                        # W101: skipped
            self.n = 16
            layers.append(nn.Linear(2, 2))
        self.e = nn.Linear(self.n, 9)          # unknown, not the stale 8
        self.f = nn.Linear(len(layers), 2)     # unknown: the list may have grown
        self.g = nn.Linear(cfg.width, 10)      # known, [10, 4]
"""


def test_what_a_skipped_statement_may_have_changed_is_unknown(tmp_path):
    src = write_package(tmp_path / "pkg", {"m.py": SOURCE}, {"width": 4})
    result = analyze(src, root="m:Net", use_cache=False)
    by = result.tree.by_name()
    for name in ("a", "b", "d", "e", "f"):
        assert by[name].partial and by[name].params == {}, name  # no shape claimed
    assert by["c"].params == {"weight": (6, 4), "bias": (6,)} and not by["c"].partial
    assert by["g"].params == {"weight": (10, 4), "bias": (10,)} and not by["g"].partial
    messages = {d.module: d.message for d in result.diagnostics if d.code == "W104"}
    assert "may have been changed by the statement skipped at m.py:15" in messages["a"]
    assert "statement skipped at m.py:19" in messages["b"]
    assert "statement skipped at m.py:6" in messages["d"]
    assert "statement skipped at m.py:26" in messages["e"] and "statement skipped at m.py:26" in messages["f"]


def test_a_statement_that_runs_out_of_budget_forgets_what_it_filled(tmp_path):
    # the loop stops part-way (W107): the dict it filled must not give a stale length
    src = write_package(tmp_path / "pkg", {"m.py": """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                offsets = {}
                for i in range(400):
                    for j in range(400):
                        offsets[(i, j)] = len(offsets)
                self.table = nn.Embedding(len(offsets), 2)
                self.ok = nn.Linear(3, 3)
    """})
    result = analyze(src, root="m:Net", use_cache=False)
    by = result.tree.by_name()
    assert any(d.code == "W107" for d in result.diagnostics)
    assert by["table"].partial and by["table"].params == {}
    assert by["ok"].params["weight"] == (3, 3)


def test_calling_a_callable_stored_on_an_object_does_not_taint_it(tmp_path):
    # layers.make(...) calls a class held by the instance, not a method: it cannot change `layers`
    src = write_package(tmp_path / "pkg", {"m.py": """
        import torch.nn as nn


        class Layers:
            def __init__(self):
                self.make = nn.Linear
                self.width = 4

            def grow(self):
                self.width = 8


        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                layers = Layers()
                if cfg.mystery:                     # W101: skipped
                    self.x = layers.make(2, 2)
                self.a = nn.Linear(layers.width, 1)  # known: [1, 4]
                if cfg.mystery:                     # W101: skipped; grow() is a method: it may change layers
                    layers.grow()
                self.b = nn.Linear(layers.width, 1)  # unknown
    """}, {})
    by = analyze(src, root="m:Net", use_cache=False).tree.by_name()
    assert by["a"].params["weight"] == (1, 4) and not by["a"].partial
    assert by["b"].partial and by["b"].params == {}

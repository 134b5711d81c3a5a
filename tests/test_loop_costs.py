"""What a loop costs against the step budget (the evaluator's docstring): appending to a list or
looking a key up in a dict costs the same whatever their size (it used to cost their length each
time, so filling a list was quadratic), and a loop that ran out of budget is refused later only over
as many items or more (the same loop over fewer items is run). Expectations by hand."""
from analyzer.api import analyze
from conftest import write_package


def test_filling_a_list_and_a_dict_is_linear(tmp_path):
    # 20,000 iterations of ~5 steps each fit in one statement's 100,000 steps
    src = write_package(tmp_path / "pkg", {"m.py": """
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                seen, order = {}, []
                for i in range(20000):
                    if i % 7 not in seen:
                        seen[i % 7] = len(seen)
                    order.append(seen[i % 7])
                self.table = nn.Embedding(len(order), len(seen))
    """})
    result = analyze(src, root="m:Net", use_cache=False)
    assert not result.diagnostics, [d.format() for d in result.diagnostics]
    assert result.tree.by_name()["table"].params["weight"] == (20000, 7)


def test_a_runaway_loop_is_refused_again_only_over_as_many_items(tmp_path):
    src = write_package(tmp_path / "pkg", {"m.py": """
        import torch.nn as nn


        class Pairs(nn.Module):
            def __init__(self, n):
                super().__init__()
                count = 0
                for i in range(n):
                    for j in range(n):
                        count += 1
                self.lin = nn.Linear(count, 1)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.big = Pairs(400)        # 160,000 iterations: runs out (W107)
                self.big_again = Pairs(500)  # more items: refused at once (W107, "before")
                self.small = Pairs(30)       # 900 iterations: run, and exact
    """})
    result = analyze(src, root="m:Net", use_cache=False)
    by = result.tree.by_name()
    w107 = {d.module: d.message for d in result.diagnostics if d.code == "W107"}
    assert set(w107) == {"big", "big_again"} and "before" in w107["big_again"]
    assert by["big"].partial and by["big_again"].partial
    assert by["small.lin"].params["weight"] == (1, 900) and not by["small"].partial

"""Unit tests of analyzer.source.parse: the quick call walker must list calls in the order LibCST's own
visitor does (source order), on real third-party code and on the constructs whose LibCST fields are
declared out of source order."""
import importlib.util
from pathlib import Path

import libcst as cst
import pytest

from analyzer.source.parse import _CallCollector, _walk_calls


def _visitor_order(node):
    collector = _CallCollector()
    node.visit(collector)
    return collector.calls


def _walker_order(node):
    out: list = []
    _walk_calls(node, out)
    return out


def _transformers_file(rel):
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("transformers is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / rel


@pytest.mark.parametrize("rel", ["models/bert/modeling_bert.py", "models/gpt2/modeling_gpt2.py",
                                 "models/llama/modeling_llama.py", "configuration_utils.py"])
def test_walker_lists_calls_in_visitor_order_on_real_code(rel):
    module = cst.parse_module(_transformers_file(rel).read_text(encoding="utf-8"))
    calls = _walker_order(module)
    assert len(calls) > 100
    assert [id(c) for c in calls] == [id(c) for c in _visitor_order(module)]


def test_walker_order_on_fields_declared_out_of_source_order():
    code = '''\
@deco(a())
def f(x=b(), *, y=c()) -> d():
    return e() if g() else h()
class K(base(), metaclass=meta()):
    try:
        pass
    except i() as err:
        j()
lam = lambda p=k(): m()
v = [n() for _ in o() if p()]
w = {q(): r() for _ in s()}
'''
    module = cst.parse_module(code)
    names = [c.func.value for c in _walker_order(module)]
    assert names == ["deco", "a", "b", "c", "d", "e", "g", "h", "base", "meta", "i", "j", "k", "m", "n", "o", "p",
                     "q", "r", "s"]
    assert [id(c) for c in _walker_order(module)] == [id(c) for c in _visitor_order(module)]

"""Sub-models found by name at construction (transformers' AutoModel.from_config / load_backbone
pattern), on fixtures/lazy_registry: importlib.import_module of constant names (relative to a
package and absolute), a lazy OrderedDict subclass of strings keyed by type(config), a classmethod
copied with types.FunctionType + functools.update_wrapper and re-documented, a class rebound from
itself (X = f(X)), a property with a setter, module._modules item assignment, numpy.log2. The
truth is the fixture itself, imported and built on the meta device."""
from pathlib import Path

from analyzer.api import analyze
from analyzer.tree.runtime import dump_runtime
from conftest import differences

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "lazy_registry"


def test_lazy_registry_equals_meta_device():
    static = analyze(FIXTURE, root="modeling_root:Root")
    assert not static.partial, [d.format() for d in static.diagnostics]
    assert static.diagnostics == []
    runtime = dump_runtime(FIXTURE, root="modeling_root:Root")
    assert differences(static.tree, runtime) == []
    by_name = static.tree.by_name()
    assert by_name["body.layers.0.1"].cls == "Identity"  # replaced through _modules
    assert by_name["body.head"].params["weight"] == (3 + 1, 32)  # the setter's widths, extra=1


def test_unknown_module_name_is_unknown_not_guessed():
    static = analyze(FIXTURE, root="modeling_root:Unresolved")
    assert static.partial
    msgs = [d.format() for d in static.diagnostics]
    assert any("importlib.import_module: the module name is unknown" in m and "modeling_root.py:28" in m for m in msgs), msgs
    assert [m.name for m in static.tree.modules] == [""]


RULES_OF_PYTHON = """
    import functools
    import types
    import torch.nn as nn

    N = 2
    N = N * 3          # rebound from itself: the binding before it


    class C:
        @property
        def p(self):
            return 1


    def helper(a, b=5):
        return a + b


    def copy(f):
        return functools.update_wrapper(types.FunctionType(f.__code__, f.__globals__, argdefs=f.__defaults__), f)


    class Net(nn.Module):
        def __init__(self, cfg):
            super().__init__()
            c = C()
            try:
                c.p = 5        # a property without a setter
                n = 2
            except AttributeError:
                n = 3
            g = copy(helper)
            self.a = nn.Linear(n, N)
            self.b = nn.Linear(g(1), len(g.__name__))
            self.c = nn.Linear(len(helper.__qualname__), 1)
"""


def test_property_without_setter_rebinding_and_copied_functions(pkg):
    src = pkg({"m.py": RULES_OF_PYTHON}, {})
    static = analyze(src, root="m:Net")
    assert not static.partial, [d.format() for d in static.diagnostics]
    assert differences(static.tree, dump_runtime(src, root="m:Net")) == []
    assert static.tree.by_name()["a"].params["weight"] == (6, 3)


def test_function_copy_without_its_defaults_is_unknown(pkg):
    # Python: the copy has no defaults, so g(1) raises TypeError; never the original's defaults
    src = pkg({"m.py": RULES_OF_PYTHON.replace(", argdefs=f.__defaults__", "")}, {})
    static = analyze(src, root="m:Net")
    assert static.partial
    assert any("types.FunctionType with argdefs other than those of helper" in d.message for d in static.diagnostics)
    assert static.tree.by_name()["b"].partial and static.tree.by_name()["b"].params.get("weight") is None


MODEL_DTYPE = """
    import torch
    import torch.nn as nn
    from transformers import PretrainedConfig, PreTrainedModel


    class Cfg(PretrainedConfig):
        model_type = "dtype-probe"

        def __init__(self, d=4, **kwargs):
            self.d = d
            super().__init__(**kwargs)


    class Net(PreTrainedModel):
        config_class = Cfg

        def __init__(self, config):
            super().__init__(config)
            self.steps = nn.Parameter(torch.zeros(3, dtype=torch.int64), requires_grad=False)
            self.register_buffer("only_ints", torch.zeros(1, dtype=self.dtype))  # no float yet: the last dtype
            self.proj = nn.Linear(config.d, config.d)
            self.register_buffer("floats", torch.zeros(config.d, dtype=self.dtype))  # the first floating one
"""


def test_pretrained_model_dtype(pkg):
    src = pkg({"m.py": MODEL_DTYPE}, {"d": 4})
    static = analyze(src, root="m:Net")
    assert not static.partial, [d.format() for d in static.diagnostics]
    assert differences(static.tree, dump_runtime(src, root="m:Net")) == []
    root = static.tree.by_name()[""]
    assert root.buffers["only_ints"].dtype == "int64" and root.buffers["floats"].dtype == "float32"

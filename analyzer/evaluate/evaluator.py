"""The partial evaluator: interprets ``__init__`` bodies, and every function they call, over
LibCST trees. It never executes the analyzed code: names resolve through the source index, and
torch, the standard library and rule-modeled classes are implemented here or in rules/. Python's
``eval``, ``exec``, ``__import__``, ``open``... are not builtins here (a call to them is W102);
modeled packages (``os``, ``sys``, ``importlib``...) give unknown values, and other packages
(``subprocess``, ``socket``...) are only read, as source, like any other.

Control of failure: analyzed-code exceptions (a missing config key, ``raise``, an unresolved
name) become ``EvalRaise`` carrying a diagnostic. Outside an analyzed ``try`` the statement that
raised is skipped, the module being built is marked partial, and evaluation goes on with the next
statement.

Bounded evaluation (W107). Every unit of work is a *step*: a statement, a call, a loop or
comprehension iteration, 32 elements of a plain sequence built or scanned natively, 16 steps per
module object created, and one step per unit of LibCST parse cost (below). Steps are counted
against two budgets, both deterministic (no wall clock, so the output never depends on the
machine's load):

* a **scope budget** of ``SCOPE_STEP_BUDGET`` steps. A scope is one top-level statement of an
  ``__init__`` being run by an instantiation, or of a function called from outside any ``__init__``
  (a root factory), or the evaluation of one module-level or class-level binding. Work done inside
  a *child* instantiation is charged to the child's own statements, not to the parent, so the budget
  does not shrink as models grow: a 4,083-module vision-language model takes ~39k steps in all, its
  largest scope ~3,600. A runaway loop is stopped after ``SCOPE_STEP_BUDGET`` steps (a quarter to a
  third of a second on a 2-core machine): its statement is skipped with a W107 naming the loop that
  used most of the budget (else the statement), its module is marked partial, and the module's
  next statement, and every sibling module, go on with fresh budgets. A loop that ran out once is
  not run again over as many items or more (twelve instances of a runaway layer cost one budget;
  the same loop over fewer items is run), and what the skipped statement may have changed becomes
  unknown (analyzer/evaluate/skipped.py). A binding that runs out becomes an unknown value.
  Appending to a list or a hash lookup costs the same at any size; copying or scanning a plain
  sequence costs a step per ``ELEMENTS_PER_STEP`` elements. A comprehension costs a step per element: 100,000 elements run out
  (W107 at the comprehension), 50,000 complete.
* a **total budget** of ``TOTAL_STEP_BUDGET`` steps for the whole analysis (50 times
  the 4,083-module model above), the safety net against many different runaway scopes: once spent, every remaining
  statement is skipped (one W107 is reported, every module it hits is marked partial), so the
  analysis still ends, with a tree.

Replay (analyzer/evaluate/replay.py): a module construction identical to one recorded earlier, with nothing
changed since, is not evaluated again but copied, charged the recorded steps; it ends exactly as
its evaluation would, or it is evaluated.

Recursion: analyzed calls nest at most ``MAX_DEPTH`` deep. A class that builds itself (directly or
through others) is abandoned at its *outermost* instance: that statement is skipped with a W107,
and the outer instance keeps everything else. Other runaway recursion (mutually recursive
factories) ends the statement of the innermost scope. A Python ``RecursionError`` (a pathological
data structure) ends the current statement the same way.

Parsing: before a definition is handed to LibCST (whose native parser is quadratic in nesting
depth and crashes the whole process on an expression nested some thousands deep), its nesting
depth and parse cost (the sum of its syntax nodes' depths) are measured with the standard
library's ``ast``. A definition longer than ``MAX_DEFINITION_LINES``, nested deeper than
``MAX_NESTING`` or costing more than ``MAX_PARSE_COST`` is not parsed: a W107 names the line (of
the deepest node), once, and the function, method or binding is an unknown value; instances of a
class whose ``__init__`` is refused are marked partial. Real code stays far below these limits
(transformers 4.46: depth <= 46 with elif chains, cost <= 28,000, definitions <= 1,148 lines).

Sizes: ranges longer than ``limits.MAX_SEQ`` are not iterated, and arithmetic or formatting
that would build huge values (``x * x`` on big integers, ``'{:999999999}'.format(1)``, ``s + s`` over
a million characters, ``math.factorial(10**6)``) gives an unknown value instead.
"""
from __future__ import annotations

from analyzer.evaluate.attributes import get_attribute
from analyzer.evaluate.budget import BudgetMixin
from analyzer.evaluate.builtins import python_builtins
from analyzer.evaluate.calls import CallsMixin
from analyzer.evaluate.classes import ClassesMixin
from analyzer.evaluate.core import BINOPS, Frame
from analyzer.evaluate.expressions import ExpressionsMixin
from analyzer.evaluate.guards import ParseGuardMixin
from analyzer.evaluate.import_effects import ImportEffectsMixin
from analyzer.evaluate.scopes import ScopesMixin
from analyzer.evaluate.statements import StatementsMixin
from analyzer.evaluate.values import (
    ClassValue,
    ModuleObj,
)
from analyzer.source.index import SourceIndex


class Evaluator(StatementsMixin, ExpressionsMixin, CallsMixin, ClassesMixin, ScopesMixin, ImportEffectsMixin, ParseGuardMixin, BudgetMixin):
    BINOPS = BINOPS

    def __init__(self, index: SourceIndex, nn_rules, externals, report, attn_implementation=None, env=None):
        self.index = index
        self.nn_rules = nn_rules
        self.externals = externals  # analyzer.evaluate.externals.Externals
        self._report = report  # callable(Diagnostic, ModuleObj | None)
        # -- construction replay (analyzer/evaluate/replay.py): every write to an object of the analyzed
        # program counts here; constructions being recorded; finished records by call key
        self.writes = 0
        self.reports = 0  # diagnostics reported or attempted (a recorded construction has none)
        self.recordings: list = []
        self.constructions: dict = {}
        self.depth_peak = 0
        self.attn_implementation = attn_implementation
        self.env: dict = dict(env or {})  # os.environ as the analysis assumes it (--env); empty by default
        self.steps = 0  # all steps of this analysis
        self.scope_steps = 0  # steps of the current budget scope
        self._owners: list = []  # objects whose statements run as budget scopes, outermost first
        self._total_reported = False
        self._parse_verdicts: dict = {}
        self._warned: set = set()
        # id of a loop node that exhausted a scope budget -> the fewest items it ran out over (None: any)
        self._runaway_loops: dict = {}
        self._runaway_changes = 0
        self.depth = 0
        self.try_depth = 0
        self.building: list[ModuleObj] = []
        self.frames: list[Frame] = []
        self._module_values: dict[str, object] = {}
        self._globals: dict[tuple[str, str], object] = {}
        self._globals_busy: dict = {}  # (module, name[, line]) -> the binding being evaluated
        # import-time effects (analyzer/evaluate/import_effects.py)
        self._loaded_modules: set[str] = set()
        self._pending_effects: list = []
        self._flushing_effects = False
        self._container_sizes: dict = {}  # id of a module-level container -> (it, its size when last seen)
        self._import_filled: set = set()  # ids of the containers import-time effects changed
        self._effects_problem: str | None = None
        self._writes_globals: dict = {}
        self._classes: dict[tuple[str, str], ClassValue] = {}
        self.used_fallbacks: set[str] = set()
        self.chosen_attn: str | None = None
        self._lookup_cache: dict = {}  # (class, name, after) -> (owner, member); cleared when a class changes
        self._builtin_mro: dict = {}
        self._builtin_kind: dict = {}
        self._mro_busy = 0  # MROs being computed (a cycle sees a provisional one)
        self._signatures: dict = {}  # id(Parameters node) -> its parameters, unpacked once
        self.nn_memo: dict = {}  # builtin constructor call -> (params, buffers, bound arguments)
        self.class_info: dict = {}  # per-class facts the modelled areas derive from members; cleared with _lookup_cache
        self._get_attribute = get_attribute
        self.builtins = python_builtins(self)
        self._super = self.builtins["super"]

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
  not run again (twelve instances of a runaway layer cost one budget). A binding that runs out
  becomes an unknown value. A comprehension costs a step per element: 100,000 elements run out
  (W107 at the comprehension), 50,000 complete.
* a **total budget** of ``TOTAL_STEP_BUDGET`` steps for the whole analysis (50 times
  the 4,083-module model above), the safety net against many different runaway scopes: once spent, every remaining
  statement is skipped (one W107 is reported, every module it hits is marked partial), so the
  analysis still ends, with a tree.

Replay (analyzer/replay.py): a module construction identical to one recorded earlier, with nothing
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

Sizes: ranges longer than ``intrinsics.MAX_SEQ`` are not iterated, and arithmetic or formatting
that would build huge values (``x * x`` on big integers, ``'{:999999999}'.format(1)``, ``s + s`` over
a million characters, ``math.factorial(10**6)``) gives an unknown value instead.
"""
from __future__ import annotations

import ast
import operator

import libcst as cst

from analyzer import replay, torch_ops
from analyzer.diagnostics import Diagnostic, SourceSpan
from analyzer.index import SourceIndex, resolve_relative
from analyzer.sources import LazySpan, resolve_span
from analyzer.values import (
    MISSING,
    BoundMethod,
    BuiltinClass,
    ClassValue,
    ExceptionValue,
    ExternalModule,
    FunctionValue,
    Instance,
    Intrinsic,
    ModuleObj,
    PartialValue,
    SourceModule,
    SuperValue,
    Tensor,
    Unknown,
    type_name,
)

SCOPE_STEP_BUDGET = 100_000  # steps of one scope (see the module docstring)
TOTAL_STEP_BUDGET = 2_000_000  # steps of a whole analysis
STEP_BUDGET = SCOPE_STEP_BUDGET  # older name
# Replay of module constructions (see Evaluator.instantiate and analyzer/replay.py). Off: every
# construction is evaluated (tests compare both).
REPLAY_CONSTRUCTIONS = True
MODULE_STEPS = 16  # steps charged per module object created (it costs more than a statement, downstream too)
MAX_DEPTH = 120  # analyzed call depth
MAX_NESTING = 100  # syntax nesting depth of one definition handed to LibCST
MAX_PARSE_COST = 50_000  # sum of syntax node depths of one definition handed to LibCST
MAX_DEFINITION_LINES = 5_000  # longer definitions are refused without parsing them at all
MAX_DEFINITION_CHARS = 200_000


class EvalRaise(Exception):
    """An exception raised by (our model of) the analyzed code."""

    def __init__(self, code: str, message: str, span: SourceSpan | None, exc_type: str = "Exception"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.span = span
        self.exc_type = exc_type


class BudgetExceeded(EvalRaise):
    """A budget ran out. ``kind``: "steps" (the scope's), "total" (the whole analysis') or "depth"
    (recursion). ``unwind_to``: the object whose statement must absorb it (the outermost instance of
    a class built recursively), or None for the nearest scope. ``located``: the span already names
    the loop that did not finish."""

    def __init__(self, code, message, span, kind="steps", unwind_to=None):
        super().__init__(code, message, span, "RecursionError" if kind == "depth" else "Exception")
        self.kind = kind
        self.unwind_to = unwind_to
        self.located = False


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Frame:
    __slots__ = ("locals", "file", "snippet", "func", "parent", "globals_file", "stmt")

    def __init__(self, file, snippet, func=None, parent=None):
        self.locals: dict = {}
        self.file = file
        self.snippet = snippet
        self.func = func
        self.parent = parent  # enclosing function frame (closures) or comprehension parent
        # the statement being executed: spans are resolved relative to it (cheap positions)
        self.stmt = parent.stmt if parent is not None and parent.snippet is snippet else None


_MISSING = MISSING
# Python errors an intrinsic raises when the analyzed code calls it with arguments it does not fit
_INTRINSIC_MISUSE = (TypeError, ValueError, IndexError, KeyError, AttributeError, ZeroDivisionError, OverflowError)

BINOPS = {
    cst.Add: operator.add, cst.Subtract: operator.sub, cst.Multiply: operator.mul, cst.Divide: operator.truediv,
    cst.FloorDivide: operator.floordiv, cst.Modulo: operator.mod, cst.Power: operator.pow,
    cst.LeftShift: operator.lshift, cst.RightShift: operator.rshift, cst.BitOr: operator.or_,
    cst.BitAnd: operator.and_, cst.BitXor: operator.xor, cst.MatrixMultiply: None,
}
AUGOPS = {
    cst.AddAssign: cst.Add, cst.SubtractAssign: cst.Subtract, cst.MultiplyAssign: cst.Multiply,
    cst.DivideAssign: cst.Divide, cst.FloorDivideAssign: cst.FloorDivide, cst.ModuloAssign: cst.Modulo,
    cst.PowerAssign: cst.Power, cst.LeftShiftAssign: cst.LeftShift, cst.RightShiftAssign: cst.RightShift,
    cst.BitOrAssign: cst.BitOr, cst.BitAndAssign: cst.BitAnd, cst.BitXorAssign: cst.BitXor,
}
CMPOPS = {
    cst.Equal: operator.eq, cst.NotEqual: operator.ne, cst.LessThan: operator.lt, cst.LessThanEqual: operator.le,
    cst.GreaterThan: operator.gt, cst.GreaterThanEqual: operator.ge,
}
PLAIN = (int, float, str, bool, type(None), tuple, list, dict, set, frozenset, bytes, complex, range)


def is_plain(v) -> bool:
    return isinstance(v, PLAIN)


def syntax_nesting(tree, start: int = 0) -> tuple[int, int, object]:
    """(maximum depth, sum of depths, deepest node) of a standard-library ``ast`` tree whose root
    is at depth ``start``, computed without recursion. An ``elif`` nests, as it does in LibCST's
    tree (whose visitors recurse)."""
    best = start
    total = 0
    deepest = tree
    stack = [(tree, start)]
    pop, push = stack.pop, stack.append
    AST = ast.AST
    while stack:
        node, d = pop()
        total += d
        if d > best:
            best, deepest = d, node
        d1 = d + 1
        for name in node._fields:
            if name == "ctx" or name == "op":
                continue
            v = getattr(node, name, None)
            if v.__class__ is list:
                for x in v:
                    if isinstance(x, AST):
                        push((x, d1))
            elif isinstance(v, AST):
                push((v, d1))
    return best, total, deepest


class Evaluator:
    BINOPS = BINOPS

    def __init__(self, index: SourceIndex, nn_rules, externals, report, attn_implementation=None):
        self.index = index
        self.nn_rules = nn_rules
        self.externals = externals  # analyzer.externals.Externals
        self._report = report  # callable(Diagnostic, ModuleObj | None)
        # -- construction replay (analyzer/replay.py): every write to an object of the analyzed
        # program counts here; constructions being recorded; finished records by call key
        self.writes = 0
        self.reports = 0  # diagnostics reported or attempted (a recorded construction has none)
        self.recordings: list = []
        self.constructions: dict = {}
        self.depth_peak = 0
        self.attn_implementation = attn_implementation
        self.steps = 0  # all steps of this analysis
        self.scope_steps = 0  # steps of the current budget scope
        self._owners: list = []  # objects whose statements run as budget scopes, outermost first
        self._total_reported = False
        self._parse_verdicts: dict = {}
        self._warned: set = set()
        self._runaway_loops: set = set()  # ids of loop nodes that exhausted a scope budget
        self.depth = 0
        self.try_depth = 0
        self.building: list[ModuleObj] = []
        self.frames: list[Frame] = []
        self._module_values: dict[str, object] = {}
        self._globals: dict[tuple[str, str], object] = {}
        self._globals_busy: set = set()
        self._classes: dict[tuple[str, str], ClassValue] = {}
        self.used_fallbacks: set[str] = set()
        self.chosen_attn: str | None = None
        self._lookup_cache: dict = {}  # (class, name, after) -> (owner, member); cleared when a class changes
        self._builtin_mro: dict = {}
        self._builtin_kind: dict = {}
        self._mro_busy = 0  # MROs being computed (a cycle sees a provisional one)
        self._signatures: dict = {}  # id(Parameters node) -> its parameters, unpacked once
        self.nn_memo: dict = {}  # builtin constructor call -> (params, buffers, bound arguments)
        self.class_info: dict = {}  # per-class facts intrinsics derive from members; cleared with _lookup_cache
        from analyzer import intrinsics

        self.intrinsics = intrinsics
        self._get_attribute = intrinsics.get_attribute
        self.builtins = intrinsics.python_builtins(self)
        self._super = self.builtins["super"]

    # ------------------------------------------------------------------ diagnostics and spans
    def span(self, node, frame: Frame | None):
        if frame is None or frame.snippet is None:
            return None
        return LazySpan(frame.snippet, node, frame.stmt)

    def current_span(self) -> SourceSpan | None:
        return None

    def report(self, diagnostic, obj) -> None:
        self.reports += 1
        self._report(diagnostic, obj)

    def note_write(self, target) -> None:
        """``target`` (an object of the analyzed program) is changed: counted for replay's validity,
        and a recording whose construction changes an object it did not create is not replayable."""
        self.writes += 1
        if self.recordings:
            uid = getattr(target, "uid", None)
            for rec in self.recordings:
                if uid is None or uid < rec.first_uid:
                    rec.pure = False

    def not_replayable(self) -> None:
        """What is being evaluated depends on more than its arguments (a closure's frame, a global
        or class attribute evaluated for the first time): no construction being recorded is replayable."""
        for rec in self.recordings:
            rec.pure = False

    def warn(self, code: str, message: str, span: SourceSpan | None) -> None:
        self.reports += 1
        obj = self.building[-1] if self.building else None
        if obj is not None and code[0] in "EW":
            obj.partial = True
        # once per place and module: a loop whose body fails would repeat it at every iteration
        where = (id(span.snippet), id(span.node)) if isinstance(span, LazySpan) else span
        key = (code, message, where, obj.uid if obj is not None else None)
        if key in self._warned:
            return
        self._warned.add(key)
        self.report(Diagnostic(code, message, self.resolve_now(span)), obj)

    @staticmethod
    def resolve_now(span):
        """A diagnostic's span, resolved now: resolving walks a LibCST tree recursively; past the
        recursion limit the place is dropped rather than the analysis."""
        try:
            return resolve_span(span)
        except RecursionError:
            return None

    def fail(self, code: str, message: str, span, exc_type: str = "Exception"):
        raise EvalRaise(code, message, span, exc_type)

    # ------------------------------------------------------------------ budgets (module docstring)
    def tick(self, span=None) -> None:
        self.steps += 1
        self.scope_steps += 1
        if self.scope_steps > SCOPE_STEP_BUDGET or self.steps > TOTAL_STEP_BUDGET:
            self._exhausted(span)

    def charge(self, n: int, span=None) -> None:
        """Count ``n`` steps of work done at once (elements built natively, parse cost)."""
        if n > 0:
            self.steps += n
            self.scope_steps += n
            if self.scope_steps > SCOPE_STEP_BUDGET or self.steps > TOTAL_STEP_BUDGET:
                self._exhausted(span)

    def _exhausted(self, span):
        if self.steps > TOTAL_STEP_BUDGET:
            raise BudgetExceeded("W107", f"the evaluation budget of the whole analysis ({TOTAL_STEP_BUDGET:,} steps) "
                                 "is spent; the remaining statements are skipped", span, "total")
        raise BudgetExceeded("W107", f"evaluation step budget exhausted ({SCOPE_STEP_BUDGET:,} steps for one "
                             "statement, its calls included); the statement is skipped", span)

    def _locate(self, e: BudgetExceeded, start: int, node, span) -> None:
        """Name the loop that used most of a spent scope budget (called as the exception leaves it),
        and remember it: a loop that ran out once is not run again (see _refuse_loop)."""
        if e.kind == "steps" and not e.located and self.scope_steps - start >= SCOPE_STEP_BUDGET // 2:
            e.located = True
            e.span = span
            e.message = (f"this loop did not finish within the evaluation step budget ({SCOPE_STEP_BUDGET:,} "
                         "steps for one statement); the statement is skipped")
            self._runaway_loops.add(id(node))

    def _refuse_loop(self, span) -> None:
        """A loop that already ran out of budget (in an earlier instance of the same class, say)
        ends its statement at once: twelve runaway layers cost one budget, not twelve."""
        e = BudgetExceeded("W107", f"this loop did not finish within the evaluation step budget "
                           f"({SCOPE_STEP_BUDGET:,} steps for one statement) before, and is not run again; "
                           "the statement is skipped", span)
        e.located = True
        raise e

    def budget_report(self, e: BudgetExceeded, span) -> None:
        """Report a spent budget where its scope absorbs it; the whole-analysis budget only once."""
        if e.kind == "total":
            if self.building:
                self.building[-1].partial = True
            if self._total_reported:
                return
            self._total_reported = True
        self.warn("W107", e.message, e.span or span)

    def _recursion_target(self):
        """The outermost object under construction whose class is being built again inside it."""
        first: dict = {}
        for obj in self._owners:
            if obj is None:
                continue
            key = id(obj.cls)
            if key in first:
                return first[key]
            first[key] = obj
        return None

    def exec_body_scoped(self, block, frame: Frame, owner) -> None:
        """Run a function body statement by statement, each statement its own budget scope."""
        stmts = (block,) if isinstance(block, cst.SimpleStatementSuite) else block.body
        self._owners.append(owner)
        try:
            for stmt in stmts:
                saved = self.scope_steps
                self.scope_steps = 0
                try:
                    if stmt is block:
                        self.exec_block(block, frame)
                    else:
                        self.exec_stmt(stmt, frame)
                except BudgetExceeded as e:
                    if e.unwind_to is not None and e.unwind_to is not owner:
                        raise
                    self.budget_report(e, self.span(stmt, frame))
                except RecursionError:
                    self.budget_report(BudgetExceeded("W107", "nesting too deep to evaluate (Python's recursion limit)",
                                                      None, "depth"), self.span(stmt, frame))
                finally:
                    self.scope_steps = saved
        finally:
            self._owners.pop()

    # ------------------------------------------------------------------ parsing, guarded
    def snippet(self, file, start: int, end: int):
        """``file.snippet(start, end)``, once the definition is known to be safe for LibCST."""
        self.guard(file, start, end)
        return file.snippet(start, end)

    def guard(self, file, start: int, end: int) -> None:
        """Raise unless lines start..end are safe to hand to LibCST: nested at most MAX_NESTING deep
        and of a parse cost at most MAX_PARSE_COST (charged as steps, once)."""
        key = (id(file), start, end)
        verdict = self._parse_verdicts.get(key)
        if verdict is None:
            verdict = self._parse_verdict(file, start, end)
            self._parse_verdicts[key] = verdict
            if verdict[0] is None:
                self.charge(verdict[2])
        if verdict[0] is not None:
            raise EvalRaise(verdict[0], verdict[1], verdict[3])

    _BINDING_NODES = {"def": (cst.FunctionDef,), "class": (cst.ClassDef,)}

    def binding_snippet(self, file, name: str, binding):
        """The parsed statement of an indexed binding, checked to be the statement the index saw
        (a file whose line breaks the index and the line splitting count differently could
        otherwise hand over another statement)."""
        snip = self.snippet(file, binding.start, binding.end)
        expected = self._BINDING_NODES.get(binding.kind, (cst.SimpleStatementLine,))
        node = snip.node
        if not isinstance(node, expected) or (binding.kind in ("def", "class") and node.name.value != name):
            raise EvalRaise("W104", f"the statement binding '{name}' could not be located at line {binding.start} "
                            "(unusual line breaks in the file?)", SourceSpan(file.display, binding.start, 0))
        return snip

    def _parse_verdict(self, file, start: int, end: int):
        """(code of the refusal or None, message, parse cost, span), from the lines LibCST would get."""
        lines = file.lines()  # as SourceFile.snippet splits them
        whole = SourceSpan(file.display, start, 0)
        if end - start + 1 > MAX_DEFINITION_LINES:
            return "W107", (f"definition too large to analyze ({end - start + 1:,} lines; the limit is "
                            f"{MAX_DEFINITION_LINES:,})"), 0, whole
        body = "".join(lines[start - 1: end])
        if len(body) > MAX_DEFINITION_CHARS:
            return "W107", (f"definition too large to analyze ({len(body):,} characters; the limit is "
                            f"{MAX_DEFINITION_CHARS:,})"), 0, whole
        indented = body[:1] in (" ", "\t")
        stmts = file.facts().statements.get((start, end))  # the index's own parse of these lines
        if stmts is None:
            code = ("if 1:\n" + body) if indented else body
            try:
                tree = ast.parse(code)
            except SyntaxError:
                return None, "", 0, None  # LibCST reports it (E001)
            except (RecursionError, MemoryError, ValueError) as exc:
                return "W107", f"definition cannot be analyzed ({type(exc).__name__} while parsing it)", 0, whole
            stmts = tree.body[0].body if indented and tree.body and isinstance(tree.body[0], ast.If) else tree.body
            base = start - (2 if indented else 1)  # file line = snippet line + base
        else:
            base = 0
        if not stmts:
            return "W104", (f"no statement at lines {start}-{end} where the index saw one (unusual line breaks "
                            "in the file?)"), 0, whole
        file.ast_trees[(start, end)] = (stmts, base)  # reused for statement positions
        # nesting as LibCST sees the snippet: under its module and, when indented, an "if 1:" wrapper
        depth, cost, deepest = 0, 0, None
        for st in stmts:
            d, c, n = syntax_nesting(st, 2 if indented else 1)
            cost += c
            if d > depth or deepest is None:
                depth, deepest = d, n
        if depth > MAX_NESTING:
            line = getattr(deepest, "lineno", start - base) + base
            col = getattr(deepest, "col_offset", 0)
            return "W107", (f"expression or block nested {depth} levels deep (the limit is {MAX_NESTING}); "
                            "this definition is not analyzed"), 0, SourceSpan(file.display, line, col)
        if cost > MAX_PARSE_COST:
            return "W107", (f"definition too large to analyze ({end - start + 1:,} lines, parse cost {cost:,}; "
                            f"the limit is {MAX_PARSE_COST:,})"), 0, whole
        return None, "", cost, None

    def parse_expression_guarded(self, src: str):
        """LibCST expression of ``src`` (a base-class expression), or None when too deeply nested."""
        try:
            depth, cost, _ = syntax_nesting(ast.parse(src, mode="eval"))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            return None
        if depth > MAX_NESTING or cost > MAX_PARSE_COST:
            return None
        return cst.parse_expression(src)

    # ------------------------------------------------------------------ modules and globals
    def module_value(self, name: str, span=None):
        if name in self._module_values:
            return self._module_values[name]
        if self.externals.is_modeled_module(name):
            value = ExternalModule(name)
        else:
            try:
                file = self.index.find(name)
            except OSError:
                file = None
            value = SourceModule(file) if file is not None else Unknown(f"module '{name}' not found", span, True)
        self._module_values[name] = value
        return value

    def module_attr(self, mod, name: str, span):
        """Attribute ``name`` of a module value (a submodule when not bound in the module)."""
        if isinstance(mod, ExternalModule):
            return self.intrinsics.external_attr(self, mod.qualname, name, span)
        if isinstance(mod, SourceModule):
            qual = f"{mod.file.module}.{name}" if mod.file.module else name
            modeled = self.externals.modeled_class(qual)
            if modeled is not None:
                return modeled
            value = self.global_get(mod.file, name, span, missing_ok=True)
            if value is not _MISSING:
                return value
            sub = self.module_value(qual, span)
            if not isinstance(sub, Unknown):
                return sub
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            raise EvalRaise("W102", f"module '{mod.file.module}' has no attribute '{name}'", span, "AttributeError")
        return self.getattr(mod, name, span)

    def use_fallback(self, qual: str, fallback, span):
        if qual not in self.used_fallbacks:
            self.used_fallbacks.add(qual)
            self.report(Diagnostic("I201", f"'{qual}' comes from the YAML fallback in rules/externals.yaml (its source is not installed)", span), None)
        return self.intrinsics.fallback_value(self, qual, fallback, span)

    def import_value(self, file, target: str, attr: str | None, span):
        """The value bound by ``import target`` / ``from target import attr`` in ``file``."""
        absname = resolve_relative(file, target)
        if attr is None:
            return self.module_value(absname, span)
        qual = f"{absname}.{attr}"
        modeled = self.externals.modeled_class(qual)
        if modeled is not None:
            return modeled
        mod = self.module_value(absname, span)
        if isinstance(mod, Unknown):
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            return Unknown(f"cannot resolve 'from {target} import {attr}': module '{absname}' not found", span, True)
        try:
            return self.module_attr(mod, attr, span)
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            fallback = self.externals.fallback(qual)
            if fallback is not None:
                return self.use_fallback(qual, fallback, span)
            return Unknown(e.message, span, True)

    def global_get(self, file, name: str, span, missing_ok: bool = False):
        key = (file.module, name)
        if key in self._globals:
            return self._globals[key]
        if name == "__name__":
            return file.module
        facts = file.facts()
        bindings = facts.bindings.get(name)
        if not bindings:
            if missing_ok:
                return _MISSING
            raise EvalRaise("W102", f"name '{name}' is not defined", span, "NameError")
        unconditional = [b for b in bindings if not b.conditional]
        binding = unconditional[-1] if unconditional else bindings[0]
        if key in self._globals_busy:
            return Unknown(f"'{name}' is defined in terms of itself", span)
        self._globals_busy.add(key)
        if self.recordings:
            self.not_replayable()
        try:
            value = self._eval_binding(file, name, binding, span)
        finally:
            self._globals_busy.discard(key)
        self._globals[key] = value
        return value

    def _eval_binding(self, file, name, binding, span):
        bspan = SourceSpan(file.display, binding.start, 0)
        if binding.kind == "class":
            return self.class_value(file, name)
        if binding.kind in ("import", "from"):
            return self.import_value(file, binding.module, binding.attr, bspan)
        try:
            if binding.kind == "def":
                return self.function_value(file, name, binding, None)
            snip = self.binding_snippet(file, name, binding)
        except BudgetExceeded:
            raise
        except EvalRaise as e:  # refused (too deep or too large) or not found: reported once, unknown
            self.warn(e.code, e.message, e.span or bspan)
            return Unknown(e.message, e.span or bspan, True)
        node = snip.node
        frame = Frame(file, snip)
        # a top-level assignment: evaluate its statement in a module-scope frame, its own budget scope
        frame.locals = _ModuleScope(self, file)
        saved = self.scope_steps
        self.scope_steps = 0
        try:
            self.exec_stmt(node, frame)
        except BudgetExceeded as e:
            if e.unwind_to is not None:
                raise
            self.budget_report(e, bspan)
            return Unknown(e.message, e.span or bspan, True)
        except EvalRaise as e:
            return Unknown(e.message, e.span, True)
        finally:
            self.scope_steps = saved
        return frame.locals.own.get(name, Unknown(f"'{name}' is not bound by its statement", bspan))

    def class_value(self, file, name: str) -> ClassValue:
        key = (file.module, name)
        cls = self._classes.get(key)
        if cls is None:
            cls = ClassValue(name, file, file.facts().classes[name])
            self._classes[key] = cls
        return cls

    # ------------------------------------------------------------------ classes
    def bases_of(self, cls) -> list:
        if isinstance(cls, BuiltinClass):
            return list(cls.options.get("bases", []))
        if cls.bases is None:
            cls.bases = []
            snip_frame = Frame(cls.file, None)
            for src in cls.facts.bases_src:
                saved = self.scope_steps
                self.scope_steps = 0
                try:
                    expr = self.parse_expression_guarded(src)
                    if expr is None:
                        value = Unknown(f"nested deeper than {MAX_NESTING} levels")
                    else:
                        value = self.eval(expr, snip_frame)
                except BudgetExceeded as e:
                    if e.unwind_to is not None:
                        raise
                    value = Unknown(e.message)
                except (EvalRaise, cst.ParserSyntaxError) as e:
                    value = Unknown(getattr(e, "message", str(e)))
                except RecursionError:
                    value = Unknown("nesting too deep to evaluate")
                finally:
                    self.scope_steps = saved
                if isinstance(value, (ClassValue, BuiltinClass)):
                    cls.bases.append(value)
                elif isinstance(value, Unknown):
                    self.report(
                        Diagnostic("W103", f"base class '{src}' of {cls.name} is unknown ({value.reason})",
                                   SourceSpan(cls.file.display, cls.facts.start, 0)),
                        None,
                    )
        return cls.bases

    def mro(self, cls) -> list:
        if not isinstance(cls, (ClassValue, BuiltinClass)):
            return []
        if isinstance(cls, BuiltinClass):
            chain = self._builtin_mro.get(cls)
            if chain is None:
                chain = self._builtin_mro[cls] = [cls] + [c for b in self.bases_of(cls) for c in self.mro(b)]
            return chain
        if cls.mro is None:
            cls.mro = [cls]  # guards against cycles while computing
            self._mro_busy += 1
            try:
                seqs = [self.mro(b) for b in self.bases_of(cls)] + [list(self.bases_of(cls))]
            finally:
                self._mro_busy -= 1
            result = [cls]
            seqs = [list(s) for s in seqs if s]
            while seqs:
                for seq in seqs:
                    head = seq[0]
                    if not any(head in s[1:] for s in seqs):
                        break
                else:
                    head = seqs[0][0]  # inconsistent MRO: fall back to depth-first order
                result.append(head)
                seqs = [[c for c in s if c is not head] for s in seqs]
                seqs = [s for s in seqs if s]
            cls.mro = result
        return cls.mro

    def builtin_kind(self, cls) -> BuiltinClass | None:
        """The first modeled builtin class in the MRO of ``cls`` (None for plain classes)."""
        cacheable = isinstance(cls, (ClassValue, BuiltinClass))
        if cacheable and cls in self._builtin_kind:
            return self._builtin_kind[cls]
        found = None
        for c in self.mro(cls):
            if isinstance(c, BuiltinClass) and c.kind != "object":
                found = c
                break
        if cacheable and not self._mro_busy:  # an MRO is final once no MRO is being computed
            self._builtin_kind[cls] = found
        return found

    def class_member(self, cls, name: str):
        """Own member of a class (not inherited); _MISSING when absent."""
        if isinstance(cls, BuiltinClass):
            attrs = cls.options.get("class_attrs", {})
            return attrs[name] if name in attrs else _MISSING
        if name in cls.ns:
            return cls.ns[name]
        binding = cls.facts.members.get(name)
        if binding is None:
            return _MISSING
        if name in cls._evaluating:
            return Unknown(f"class attribute {cls.name}.{name} refers to itself")
        cls._evaluating.add(name)
        if self.recordings:
            self.not_replayable()
        try:
            try:
                if binding.kind == "def":
                    value = self.function_value(cls.file, name, binding, cls)
                else:
                    snip = self.binding_snippet(cls.file, name, binding)
            except BudgetExceeded:
                raise
            except EvalRaise as e:  # refused or not found: reported once, an unknown member
                self.warn(e.code, e.message, e.span)
                cls.ns[name] = Unknown(e.message, e.span, True)
                return cls.ns[name]
            if binding.kind != "def":
                frame = Frame(cls.file, snip)
                frame.locals = _ClassScope(self, cls)
                saved = self.scope_steps
                self.scope_steps = 0
                try:
                    self.exec_stmt(snip.node, frame)
                    value = frame.locals.own.get(name, _MISSING)
                except BudgetExceeded as e:
                    if e.unwind_to is not None:
                        raise
                    self.budget_report(e, SourceSpan(cls.file.display, binding.start, 0))
                    value = Unknown(e.message, e.span)
                except EvalRaise as e:
                    value = Unknown(e.message, e.span)
                finally:
                    self.scope_steps = saved
        finally:
            cls._evaluating.discard(name)
        cls.ns[name] = value
        return value

    def lookup_mro(self, cls, name: str, after=None):
        """(defining class, member) searching the MRO of ``cls``, optionally after class ``after``."""
        key = (cls, name, after)  # classes hash by identity
        try:
            hit = self._lookup_cache.get(key)
        except TypeError:  # not a class at all: nothing to cache
            return self._lookup_mro(cls, name, after)
        if hit is None:
            hit = self._lookup_mro(cls, name, after)
            self._lookup_cache[key] = hit
        return hit

    def _lookup_mro(self, cls, name: str, after=None):
        chain = self.mro(cls)
        if after is not None:
            if after in chain:
                chain = chain[chain.index(after) + 1 :]
            else:
                chain = []
        for c in chain:
            v = self.class_member(c, name)
            if v is not _MISSING:
                return c, v
        return None, _MISSING

    def issubclass(self, cls, parent) -> bool:
        if cls is parent:
            return True
        if isinstance(cls, (ClassValue, BuiltinClass)):
            for c in self.mro(cls):
                if c is parent or (isinstance(c, BuiltinClass) and isinstance(parent, BuiltinClass)
                                   and c.qualname == parent.qualname):
                    return True
        return False

    # ------------------------------------------------------------------ functions
    def function_value(self, file, name: str, binding, owner):
        """The function an indexed ``def`` binds. The parse guard runs now (its refusals are reported
        where the name is used, as before); LibCST parses the body when the function is first called."""
        self.guard(file, binding.start, binding.end)
        found = [st for st in file.facts().statements.get((binding.start, binding.end), ())
                 if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == name]
        if not found:  # the index and this statement disagree: parse now, and let the check report it
            snip = self.binding_snippet(file, name, binding)
            return self.make_function(snip.node, Frame(file, snip), owner)
        kind = self._decorator_kind([(d.id if isinstance(d, ast.Name) else d.attr if isinstance(d, ast.Attribute)
                                      else None, isinstance(d, ast.Attribute)) for d in found[0].decorator_list])
        qual = f"{file.module}.{owner.name + '.' if owner else ''}{name}"
        return FunctionValue(name, qual, None, None, file, None, owner, kind,
                             load=lambda: self.binding_snippet(file, name, binding))

    @staticmethod
    def _decorator_kind(decorators) -> str:
        """``decorators``: (simple name or attribute name or None, is an attribute) of each, in order."""
        kind = "function"
        for dname, is_attribute in decorators:
            if dname in ("staticmethod", "classmethod", "property"):
                kind = dname
            elif is_attribute and dname in ("setter", "deleter"):
                kind = "property_" + dname
        return kind

    def make_function(self, node, frame: Frame, owner=None):
        kind = self._decorator_kind([(d.value if isinstance(d, cst.Name) else d.attr.value
                                      if isinstance(d, cst.Attribute) else None, isinstance(d, cst.Attribute))
                                     for d in (dec.decorator for dec in getattr(node, "decorators", ()))])
        qual = f"{frame.file.module}.{owner.name + '.' if owner else ''}{node.name.value}"
        closure = frame if frame.func is not None else None
        return FunctionValue(node.name.value, qual, node, frame.snippet, frame.file, closure, owner, kind)

    def call_function(self, fn: FunctionValue, args: list, kwargs: dict, span, self_obj=_MISSING, scoped=False):
        """Call an analyzed function. ``scoped``: an ``__init__`` run by an instantiation, whose
        statements are budget scopes (so are those of a function called outside any such scope)."""
        self.depth += 1
        if self.depth > self.depth_peak:
            self.depth_peak = self.depth
        if self.recordings and fn.closure is not None:
            self.not_replayable()
        try:
            if self.depth > MAX_DEPTH:
                target = self._recursion_target()
                if target is not None:
                    msg = (f"call depth limit ({MAX_DEPTH}) reached: {type_name(target)} is built again inside "
                           "itself without end; this statement is skipped")
                else:
                    msg = f"call depth limit ({MAX_DEPTH}) reached in {fn.qualname} (unbounded recursion?)"
                raise BudgetExceeded("W107", msg, span, "depth", target)
            frame = Frame(fn.file, fn.snippet, fn, fn.closure)
            if self_obj is not _MISSING:
                args = [self_obj, *args]
            self.bind_params(fn, args, kwargs, frame, span)
            node = fn.node
            if isinstance(node, cst.Lambda):
                return self.eval(node.body, frame)
            try:
                if scoped or not self._owners:
                    self.exec_body_scoped(node.body, frame, self_obj if scoped else None)
                else:
                    self.exec_block(node.body, frame)
            except _Return as r:
                return r.value
            return None
        finally:
            self.depth -= 1

    def default_value(self, param, frame: Frame):
        """A parameter's default; one that cannot be evaluated is reported and stays unknown."""
        try:
            return self.eval(param.default, frame)
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            if self.try_depth:
                raise
            self.warn(e.code, e.message, e.span or self.span(param, frame))
            return Unknown(e.message, e.span, True)

    def bind_params(self, fn: FunctionValue, args: list, kwargs: dict, frame: Frame, span):
        params = fn.node.params
        sig = self._signatures.get(id(params))
        if sig is None:
            star = params.star_arg
            sig = self._signatures[id(params)] = (
                [(p.name.value, p) for p in (*params.posonly_params, *params.params)],
                star.name.value if isinstance(star, cst.Param) else None,
                [(p.name.value, p) for p in params.kwonly_params],
                params.star_kwarg.name.value if params.star_kwarg is not None else None,
                params,  # keeps the node alive while its id is a key
            )
        positional, star_name, kwonly, star_kwarg, _ = sig
        loc = frame.locals
        kwargs = dict(kwargs) if kwargs else {}
        defaults_frame = []  # made once, when a default is first needed

        def keyword_or_default(pname, p, what):
            if pname in kwargs:
                return kwargs.pop(pname)
            if p.default is None:
                raise EvalRaise("W104", f"{fn.name}() missing {what} '{pname}'", span, "TypeError")
            if not defaults_frame:
                defaults_frame.append(Frame(fn.file, fn.snippet, None, fn.closure))
            return self.default_value(p, defaults_frame[0])

        n_args = len(args)
        for i, (pname, p) in enumerate(positional):
            if i < n_args:
                loc[pname] = args[i]
                if pname in kwargs:
                    raise EvalRaise("W104", f"{fn.name}() got multiple values for argument '{pname}'", span, "TypeError")
            else:
                loc[pname] = keyword_or_default(pname, p, "required argument")
        if star_name is not None:
            loc[star_name] = tuple(args[len(positional):])
        elif n_args > len(positional):
            raise EvalRaise("W104", f"{fn.name}() takes {len(positional)} positional arguments but {len(args)} were given", span, "TypeError")
        for pname, p in kwonly:
            loc[pname] = keyword_or_default(pname, p, "keyword-only argument")
        if star_kwarg is not None:
            loc[star_kwarg] = kwargs
        elif kwargs:
            raise EvalRaise("W104", f"{fn.name}() got an unexpected keyword argument '{next(iter(kwargs))}'", span, "TypeError")

    # ------------------------------------------------------------------ calls
    def call(self, fn, args: list, kwargs: dict, span):
        self.tick(span)
        t = type(fn)
        if t is ClassValue or t is BuiltinClass:
            return self.instantiate(fn, args, kwargs, span)
        if t is FunctionValue:
            if self.externals.is_environment_probe(fn.qualname):
                return Unknown(f"{fn.qualname}() probes the installed environment", span)
            if fn.kind == "classmethod" and fn.owner is not None:
                return self.call_function(fn, args, kwargs, span, self_obj=fn.owner)
            return self.call_function(fn, args, kwargs, span)
        if isinstance(fn, BoundMethod):
            f = fn.func
            if isinstance(f, FunctionValue):
                return self.call_function(f, args, kwargs, span, self_obj=fn.obj)
            return self.call(f, [fn.obj, *args], kwargs, span)
        if isinstance(fn, Intrinsic):
            try:
                return fn.fn(self, args, kwargs, span)
            except _INTRINSIC_MISUSE as exc:
                # e.g. isinstance(x) or len(a, b): the analyzed call does not fit the builtin
                raise EvalRaise("W104", f"{fn.name}(): arguments not understood ({type(exc).__name__}: {exc})",
                                span, type(exc).__name__) from None
        if isinstance(fn, (ClassValue, BuiltinClass)):
            return self.instantiate(fn, args, kwargs, span)
        if isinstance(fn, PartialValue):
            return self.call(fn.func, fn.args + list(args), {**fn.kwargs, **kwargs}, span)
        if isinstance(fn, Unknown):
            return Unknown(fn.reason, fn.span or span, True)
        if isinstance(fn, (Instance, ModuleObj)):
            _, m = self.lookup_mro(fn.cls, "__call__")
            if m is not _MISSING and isinstance(m, FunctionValue):
                return self.call_function(m, args, kwargs, span, self_obj=fn)
            return Unknown(f"calling a {type_name(fn)} object (its forward) is not evaluated", span)
        raise EvalRaise("W104", f"'{type_name(fn)}' object is not callable", span, "TypeError")

    def instantiate(self, cls, args: list, kwargs: dict, span):
        base = self.builtin_kind(cls)
        kind = base.kind if base is not None else "object"
        if kind == "tensor":  # torch.Tensor(data) / torch.Tensor(*sizes): float32
            data = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else list(args)
            t = torch_ops.from_data(list(data), {})
            if len(args) != 1 or not isinstance(args[0], (list, tuple)):
                t = Tensor(torch_ops.shape_from_args(list(args)), "float32")
            t.dtype = "float32"
            return t
        if kind == "exception":
            return ExceptionValue(cls.name, str(args[0]) if args and is_plain(args[0]) else "")
        if kind in ("nn", "container", "module_base", "hf_model", "fallback_module"):
            if REPLAY_CONSTRUCTIONS and type(cls) is ClassValue:
                return self._construct_replayable(cls, args, kwargs, span)
            return self._new_module(cls, args, kwargs, span)
        if kind in ("dict", "attrdict"):
            obj = Instance(cls, storage={})
        elif kind in ("plain",):
            return self.intrinsics.construct_plain(self, base, args, kwargs, span)
        else:
            obj = Instance(cls)
        self._run_init(cls, base, obj, args, kwargs, span)
        return obj

    def _construct_replayable(self, cls, args: list, kwargs: dict, span):
        """A module class of the analyzed source: replayed when an identical construction was
        recorded and still applies, else evaluated (and recorded). See analyzer/replay.py."""
        key = replay.call_key(cls, args, kwargs)
        if key is None:
            return self._new_module(cls, args, kwargs, span)
        record = self.constructions.get(key)
        if record is not None:
            obj = replay.replay(self, record, span, MAX_DEPTH, SCOPE_STEP_BUDGET, TOTAL_STEP_BUDGET)
            if obj is not None:
                return obj
        rec = replay.start(self)
        try:
            obj = self._new_module(cls, args, kwargs, span)
        finally:
            excursion = replay.end(self, rec)
        record = replay.finish(self, rec, excursion, obj, args, kwargs)
        if record is not None:
            self.constructions[key] = record
        return obj

    def _new_module(self, cls, args, kwargs, span) -> ModuleObj:
        """A module object of ``cls``, its ``__init__`` run (errors reported, the module partial)."""
        self.charge(MODULE_STEPS, span)
        obj = ModuleObj(cls, span)
        self.building.append(obj)
        try:
            self._run_init(cls, self.builtin_kind(cls), obj, args, kwargs, span)
        finally:
            self.building.pop()
        return obj

    def _run_init(self, cls, base, obj, args, kwargs, span) -> None:
        """Run the ``__init__`` of ``cls`` on ``obj``: analyzed source, else the modeled builtin's."""
        owner, init = self.lookup_mro(cls, "__init__")
        if isinstance(init, Unknown) and isinstance(obj, ModuleObj):
            obj.partial = True  # its __init__ was refused or not found (reported once, where it is)
        if isinstance(init, FunctionValue):
            try:
                self.call_function(init, args, kwargs, span, self_obj=obj, scoped=True)
            except BudgetExceeded:
                raise
            except EvalRaise as e:
                if self.try_depth:
                    raise
                self.warn(e.code, e.message, e.span or span)
        else:
            self.intrinsics.builtin_init(self, base, obj, args, kwargs, span)

    # ------------------------------------------------------------------ attributes
    def getattr(self, obj, name: str, span):
        return self.intrinsics.get_attribute(self, obj, name, span)

    def setattr(self, obj, name: str, value, span):
        self.intrinsics.set_attribute(self, obj, name, value, span)

    # ------------------------------------------------------------------ statements
    def exec_block(self, block, frame: Frame):
        body = block.body
        if isinstance(block, cst.SimpleStatementSuite):
            for small in body:
                self.exec_small(small, frame)
            return
        for stmt in body:
            self.exec_stmt(stmt, frame)

    def exec_stmt(self, stmt, frame: Frame):
        try:
            self.tick()
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    frame.stmt = small
                    self.exec_small(small, frame)
            else:
                frame.stmt = stmt
                handler = self._compound.get(type(stmt))
                if handler is None:
                    raise EvalRaise("W104", f"statement {type(stmt).__name__} is not followed", self.span(stmt, frame))
                handler(self, stmt, frame)
        except (_Return, _Break, _Continue):
            raise
        except BudgetExceeded as e:
            if e.span is None:
                e.span = self.span(stmt, frame)
            raise
        except EvalRaise as e:
            if self.try_depth:
                raise
            self.warn(e.code, e.message, e.span or self.span(stmt, frame))
        except RecursionError:
            raise BudgetExceeded("W107", "nesting too deep to evaluate (Python's recursion limit)",
                                 self.span(stmt, frame), "depth") from None

    def exec_small(self, node, frame: Frame):
        t = type(node)
        if t is cst.Expr:
            self.eval(node.value, frame)
        elif t is cst.Assign:
            value = self.eval(node.value, frame)
            for target in node.targets:
                self.assign(target.target, value, frame)
        elif t is cst.AnnAssign:
            if node.value is not None:
                self.assign(node.target, self.eval(node.value, frame), frame)
        elif t is cst.AugAssign:
            current = self.eval(node.target, frame)
            value = self.binop(AUGOPS[type(node.operator)], current, self.eval(node.value, frame), self.span(node, frame), inplace=True)
            self.assign(node.target, value, frame)
        elif t is cst.Return:
            raise _Return(self.eval(node.value, frame) if node.value is not None else None)
        elif t is cst.Pass:
            return
        elif t is cst.Break:
            raise _Break()
        elif t is cst.Continue:
            raise _Continue()
        elif t is cst.Raise:
            exc = self.eval(node.exc, frame) if node.exc is not None else None
            if isinstance(exc, ExceptionValue):
                msg, etype = f"raises {exc.type_name}: {exc.message}", exc.type_name
            elif isinstance(exc, (ClassValue, BuiltinClass)):
                msg, etype = f"raises {exc.name}", exc.name
            else:
                msg, etype = "raises an exception", "Exception"
            raise EvalRaise("W106", msg, self.span(node, frame), etype)
        elif t is cst.Assert:
            test = self.eval(node.test, frame)
            if not isinstance(test, Unknown) and not self.truth(test, self.span(node, frame)):
                raise EvalRaise("W106", "assertion fails here", self.span(node, frame), "AssertionError")
        elif t is cst.Import:
            for alias in node.names:
                dotted = self.dotted(alias.name)
                if alias.asname is not None:
                    frame.locals[alias.asname.name.value] = self.module_value(dotted, self.span(node, frame))
                else:
                    top = dotted.split(".")[0]
                    frame.locals[top] = self.module_value(top, self.span(node, frame))
        elif t is cst.ImportFrom:
            target = "." * len(node.relative) + (self.dotted(node.module) if node.module is not None else "")
            if isinstance(node.names, cst.ImportStar):
                raise EvalRaise("W104", "'from ... import *' inside a function is not followed", self.span(node, frame))
            for alias in node.names:
                attr = self.dotted(alias.name)
                bound = alias.asname.name.value if alias.asname is not None else attr
                frame.locals[bound] = self.import_value(frame.file, target, attr, self.span(node, frame))
        elif t in (cst.Global, cst.Nonlocal):
            return
        elif t is cst.Del:
            self.delete(node.target, frame)
        else:
            raise EvalRaise("W104", f"statement {t.__name__} is not followed", self.span(node, frame))

    @staticmethod
    def dotted(node) -> str:
        if isinstance(node, cst.Name):
            return node.value
        if isinstance(node, cst.Attribute):
            return f"{Evaluator.dotted(node.value)}.{node.attr.value}"
        return ""

    def exec_if(self, node, frame):
        while True:
            test = self.eval(node.test, frame)
            span = self.span(node.test, frame)
            if isinstance(test, Unknown):
                raise EvalRaise("W105", f"cannot decide this condition: {test.reason}", span)
            if self.truth(test, span):
                self.exec_block(node.body, frame)
                return
            orelse = node.orelse
            if orelse is None:
                return
            if isinstance(orelse, cst.If):
                node = orelse
                continue
            self.exec_block(orelse.body, frame)
            return

    def iterate(self, value, span):
        if isinstance(value, Unknown):
            raise EvalRaise("W105", f"cannot iterate over an unknown value: {value.reason}", span)
        return self.intrinsics.iterate(self, value, span)

    def exec_for(self, node, frame):
        span = self.span(node.iter, frame)
        items = self.iterate(self.eval(node.iter, frame), span)
        broke = False
        start = self.scope_steps
        if self._runaway_loops and id(node) in self._runaway_loops:
            self._refuse_loop(self.span(node, frame))
        try:
            for item in items:
                self.tick(span)
                self.assign(node.target, item, frame)
                if self._loop_body(node, frame):
                    broke = True
                    break
        except BudgetExceeded as e:
            self._locate(e, start, node, self.span(node, frame))
            raise
        if not broke and node.orelse is not None:
            self.exec_block(node.orelse.body, frame)

    def _loop_body(self, node, frame) -> bool:
        """One iteration of a loop's body; True when it breaks out of the loop."""
        try:
            self.exec_block(node.body, frame)
        except _Break:
            return True
        except _Continue:
            pass
        return False

    def exec_while(self, node, frame):
        broke = False
        start = self.scope_steps
        if self._runaway_loops and id(node) in self._runaway_loops:
            self._refuse_loop(self.span(node, frame))
        try:
            while True:
                span = self.span(node.test, frame)
                self.tick(span)
                test = self.eval(node.test, frame)
                if isinstance(test, Unknown):
                    raise EvalRaise("W105", f"cannot decide this loop condition: {test.reason}", span)
                if not self.truth(test, span):
                    break
                if self._loop_body(node, frame):
                    broke = True
                    break
        except BudgetExceeded as e:
            self._locate(e, start, node, self.span(node, frame))
            raise
        if not broke and node.orelse is not None:
            self.exec_block(node.orelse.body, frame)

    def exec_try(self, node, frame):
        self.try_depth += 1
        try:
            try:
                self.exec_block(node.body, frame)
            finally:
                self.try_depth -= 1
        except BudgetExceeded:
            raise
        except EvalRaise as e:
            for h in node.handlers:
                if h.type is None or self._handler_matches(h.type, e.exc_type, frame):
                    if h.name is not None:
                        frame.locals[h.name.name.value] = ExceptionValue(e.exc_type, e.message)
                    self.exec_block(h.body, frame)
                    break
            else:
                raise
        else:
            if node.orelse is not None:
                self.exec_block(node.orelse.body, frame)
        finally:
            if node.finalbody is not None:
                self.exec_block(node.finalbody.body, frame)

    def _handler_matches(self, type_node, exc_type: str, frame) -> bool:
        names = []
        nodes = [e.value for e in type_node.elements] if isinstance(type_node, cst.Tuple) else [type_node]
        for n in nodes:
            names.append(n.value if isinstance(n, cst.Name) else n.attr.value if isinstance(n, cst.Attribute) else "")
        if "Exception" in names or "BaseException" in names:
            return True
        families = {"KeyError": "LookupError", "IndexError": "LookupError", "ModuleNotFoundError": "ImportError"}
        return exc_type in names or families.get(exc_type) in names

    def exec_with(self, node, frame):
        for item in node.items:
            value = self.eval(item.item, frame)
            if item.asname is not None:
                self.assign(item.asname.name, value, frame)
        self.exec_block(node.body, frame)

    def exec_def(self, node, frame):
        frame.locals[node.name.value] = self.make_function(node, frame)

    def exec_classdef(self, node, frame):
        if self.recordings:
            self.not_replayable()  # a class made per call: copies must not share it
        raise EvalRaise("W104", "a class defined inside a function is not followed", self.span(node, frame))

    _compound = {
        cst.If: exec_if, cst.For: exec_for, cst.While: exec_while, cst.Try: exec_try,
        cst.With: exec_with, cst.FunctionDef: exec_def, cst.ClassDef: exec_classdef,
    }

    # ------------------------------------------------------------------ assignment
    def assign(self, target, value, frame: Frame):
        t = type(target)
        if t is cst.Name:
            frame.locals[target.value] = value
        elif t is cst.Attribute:
            obj = self.eval(target.value, frame)
            self.setattr(obj, target.attr.value, value, self.span(target, frame))
        elif t in (cst.Tuple, cst.List):
            span = self.span(target, frame)
            items = list(self.iterate(value, span))
            elements = target.elements
            star = next((i for i, e in enumerate(elements) if isinstance(e, cst.StarredElement)), None)
            if star is None:
                if len(items) != len(elements):
                    raise EvalRaise("W104", f"cannot unpack {len(items)} values into {len(elements)} targets", span, "ValueError")
                for e, v in zip(elements, items):
                    self.assign(e.value, v, frame)
            else:
                after = len(elements) - star - 1
                for e, v in zip(elements[:star], items[:star]):
                    self.assign(e.value, v, frame)
                self.assign(elements[star].value, list(items[star: len(items) - after]), frame)
                for e, v in zip(elements[star + 1:], items[len(items) - after:]):
                    self.assign(e.value, v, frame)
        elif t is cst.Subscript:
            obj = self.eval(target.value, frame)
            key = self.eval_slice(target.slice, frame)
            self.intrinsics.set_item(self, obj, key, value, self.span(target, frame))
        elif t is cst.StarredElement:
            self.assign(target.value, value, frame)
        else:
            raise EvalRaise("W104", f"assignment to {t.__name__} is not followed", self.span(target, frame))

    def delete(self, target, frame):
        if isinstance(target, cst.Name):
            frame.locals.pop(target.value, None)
        elif isinstance(target, cst.Attribute):
            obj = self.eval(target.value, frame)
            self.intrinsics.del_attribute(self, obj, target.attr.value, self.span(target, frame))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self.delete(e.value, frame)
        elif isinstance(target, cst.Subscript):
            obj = self.eval(target.value, frame)
            key = self.eval_slice(target.slice, frame)
            self.intrinsics.del_item(self, obj, key, self.span(target, frame))

    # ------------------------------------------------------------------ expressions
    def eval(self, node, frame: Frame):
        t = type(node)
        if t is cst.Name:  # most evaluated nodes: a local variable, found without a dispatch
            name = node.value
            f = frame
            while f is not None:
                loc = f.locals
                if name in loc:
                    return loc[name]
                f = f.parent
            return self.e_name(node, frame)
        handler = self._expr.get(t)
        if handler is None:
            raise EvalRaise("W104", f"expression {type(node).__name__} is not followed", self.span(node, frame))
        return handler(self, node, frame)

    def lookup(self, name: str, frame: Frame, node):
        f = frame
        while f is not None:
            loc = f.locals
            if name in loc:
                return loc[name]
            f = f.parent
        if frame.file is not None:
            value = self.global_get(frame.file, name, None, missing_ok=True)
            if value is not _MISSING:
                return value
        if name in self.builtins:
            return self.builtins[name]
        raise EvalRaise("W102", f"name '{name}' is not defined", self.span(node, frame), "NameError")

    def e_name(self, node, frame):
        v = node.value
        if v == "True":
            return True
        if v == "False":
            return False
        if v == "None":
            return None
        return self.lookup(v, frame, node)

    def e_attribute(self, node, frame):
        obj = self.eval(node.value, frame)
        span = self.span(node, frame) if not isinstance(obj, PLAIN) else None
        return self._get_attribute(self, obj, node.attr.value, span)

    def e_call(self, node, frame):
        fn = self.eval(node.func, frame)
        if fn is self._super and not node.args:
            return self.zero_arg_super(node, frame)
        args: list = []
        kwargs: dict = {}
        for a in node.args:
            value = self.eval(a.value, frame)
            if a.star == "*":
                args.extend(self.iterate(value, self.span(a, frame)))
            elif a.star == "**":
                if isinstance(value, Instance) and value.storage is not None:
                    value = value.storage
                if not isinstance(value, dict):
                    raise EvalRaise("W105", "cannot expand ** of an unknown mapping", self.span(a, frame))
                kwargs.update(value)
            elif a.keyword is not None:
                kwargs[a.keyword.value] = value
            else:
                args.append(value)
        return self.call(fn, args, kwargs, self.span(node, frame))

    def zero_arg_super(self, node, frame):
        f = frame
        while f is not None and (f.func is None or f.func.owner is None):
            f = f.parent
        if f is None:
            raise EvalRaise("W104", "super() without arguments outside a method", self.span(node, frame))
        params = f.func.node.params
        first = (list(params.posonly_params) + list(params.params))[:1]
        if not first or first[0].name.value not in f.locals:
            raise EvalRaise("W104", "super() in a method without a self argument", self.span(node, frame))
        return SuperValue(f.func.owner, f.locals[first[0].name.value])

    def eval_slice(self, elements, frame):
        keys = []
        for el in elements:
            s = el.slice
            if isinstance(s, cst.Index):
                keys.append(self.eval(s.value, frame))
            else:
                keys.append(slice(
                    self.eval(s.lower, frame) if s.lower is not None else None,
                    self.eval(s.upper, frame) if s.upper is not None else None,
                    self.eval(s.step, frame) if s.step is not None else None,
                ))
        return keys[0] if len(keys) == 1 else tuple(keys)

    def e_subscript(self, node, frame):
        obj = self.eval(node.value, frame)
        key = self.eval_slice(node.slice, frame)
        return self.intrinsics.get_item(self, obj, key, self.span(node, frame))

    def binop(self, op_type, left, right, span, inplace=False):
        return self.intrinsics.binop(self, op_type, left, right, span, inplace)

    def e_binop(self, node, frame):
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        return self.binop(type(node.operator), left, right, self.span(node, frame))

    def e_unary(self, node, frame):
        v = self.eval(node.expression, frame)
        op = type(node.operator)
        if op is cst.Not:
            if isinstance(v, Unknown):
                return v
            return not self.truth(v, self.span(node, frame))
        if isinstance(v, Unknown):
            return v
        if isinstance(v, Tensor):
            return Tensor(v.shape, v.dtype)
        try:
            return {cst.Minus: operator.neg, cst.Plus: operator.pos, cst.BitInvert: operator.invert}[op](v)
        except TypeError:
            raise EvalRaise("W104", f"bad operand type for unary operator: '{type_name(v)}'", self.span(node, frame), "TypeError") from None

    def e_boolop(self, node, frame):
        left = self.eval(node.left, frame)
        if isinstance(left, Unknown):
            return left
        truth = self.truth(left, self.span(node, frame))
        if isinstance(node.operator, cst.And):
            return self.eval(node.right, frame) if truth else left
        return left if truth else self.eval(node.right, frame)

    def e_compare(self, node, frame):
        left = self.eval(node.left, frame)
        for comp in node.comparisons:
            right = self.eval(comp.comparator, frame)
            result = self.intrinsics.compare(self, type(comp.operator), left, right, self.span(node, frame))
            if isinstance(result, Unknown) or not result:
                return result
            left = right
        return True

    def e_ifexp(self, node, frame):
        test = self.eval(node.test, frame)
        if isinstance(test, Unknown):
            raise EvalRaise("W105", f"cannot decide this condition: {test.reason}", self.span(node.test, frame))
        return self.eval(node.body if self.truth(test, self.span(node, frame)) else node.orelse, frame)

    def truth(self, v, span) -> bool:
        return self.intrinsics.truth(self, v, span)

    def e_integer(self, node, frame):
        text = node.value.replace("_", "")
        try:
            return int(text, 0) if not text.startswith("0") or text == "0" or text[1:2] in "xXoObB" else int(text)
        except ValueError as exc:  # e.g. more digits than int() converts (4,300)
            raise EvalRaise("W104", f"integer literal not evaluated: {exc}", self.span(node, frame), "ValueError") from None

    def e_float(self, node, frame):
        return float(node.value.replace("_", ""))

    def e_imaginary(self, node, frame):
        return complex(node.value.replace("_", ""))

    def e_string(self, node, frame):
        try:
            return node.evaluated_value
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            raise EvalRaise("W104", f"string literal not evaluated: {type(exc).__name__}", self.span(node, frame)) from None

    def e_concat(self, node, frame):
        left = self.eval(node.left, frame)
        right = self.eval(node.right, frame)
        if isinstance(left, Unknown):
            return left
        if isinstance(right, Unknown):
            return right
        return left + right

    def e_fstring(self, node, frame):
        out = []
        for part in node.parts:
            if isinstance(part, cst.FormattedStringText):
                out.append(part.value)
                continue
            v = self.eval(part.expression, frame)
            if isinstance(v, Unknown):
                return Unknown(v.reason, v.span)
            spec = ""
            if part.format_spec:
                spec_parts = []
                for sp in part.format_spec:
                    if isinstance(sp, cst.FormattedStringText):
                        spec_parts.append(sp.value)
                    else:
                        sv = self.eval(sp.expression, frame)
                        if isinstance(sv, Unknown):
                            return Unknown(sv.reason, sv.span)
                        spec_parts.append(str(sv))
                spec = "".join(spec_parts)
            if not is_plain(v):
                v = self.intrinsics.to_str(self, v)
            if self.intrinsics._BIG_NUMBER.search(spec):
                return Unknown("a format with a huge width or precision is not evaluated", self.span(part, frame))
            self.intrinsics._charge_sizes(self, (v,), None)
            try:
                if part.conversion == "r":
                    v = repr(v)
                elif part.conversion == "s":
                    v = str(v)
                out.append(format(v, spec))
            except (ValueError, TypeError):
                out.append(str(v))
        return "".join(out)

    def _elements(self, elements, frame):
        out = []
        for el in elements:
            if isinstance(el, cst.StarredElement):
                out.extend(self.iterate(self.eval(el.value, frame), self.span(el, frame)))
            else:
                out.append(self.eval(el.value, frame))
        return out

    def e_list(self, node, frame):
        return self._elements(node.elements, frame)

    def e_tuple(self, node, frame):
        return tuple(self._elements(node.elements, frame))

    def e_set(self, node, frame):
        return set(self._elements(node.elements, frame))

    def e_dict(self, node, frame):
        out = {}
        for el in node.elements:
            if isinstance(el, cst.StarredDictElement):
                v = self.eval(el.value, frame)
                if isinstance(v, Instance) and v.storage is not None:
                    v = v.storage
                if not isinstance(v, dict):
                    raise EvalRaise("W105", "cannot expand ** of an unknown mapping", self.span(el, frame))
                out.update(v)
            else:
                out[self.eval(el.key, frame)] = self.eval(el.value, frame)
        return out

    def _comprehension(self, for_in, frame, emit):
        span = self.span(for_in, frame)
        items = self.iterate(self.eval(for_in.iter, frame), span)
        start = self.scope_steps
        if self._runaway_loops and id(for_in) in self._runaway_loops:
            self._refuse_loop(span)
        try:
            for item in items:
                self.tick(span)
                self.assign(for_in.target, item, frame)
                ok = True
                for cond in for_in.ifs:
                    test = self.eval(cond.test, frame)
                    if isinstance(test, Unknown):
                        raise EvalRaise("W105", f"cannot decide this comprehension filter: {test.reason}",
                                        self.span(cond, frame))
                    if not self.truth(test, span):
                        ok = False
                        break
                if not ok:
                    continue
                if for_in.inner_for_in is not None:
                    self._comprehension(for_in.inner_for_in, frame, emit)
                else:
                    emit()
        except BudgetExceeded as e:
            self._locate(e, start, for_in, span)
            raise

    def e_listcomp(self, node, frame):
        inner = Frame(frame.file, frame.snippet, frame.func, frame)
        out = []
        self._comprehension(node.for_in, inner, lambda: out.append(self.eval(node.elt, inner)))
        return out

    def e_setcomp(self, node, frame):
        return set(self.e_listcomp(node, frame))

    def e_dictcomp(self, node, frame):
        inner = Frame(frame.file, frame.snippet, frame.func, frame)
        out = {}

        def emit():
            out[self.eval(node.key, inner)] = self.eval(node.value, inner)

        self._comprehension(node.for_in, inner, emit)
        return out

    def e_lambda(self, node, frame):
        return FunctionValue("<lambda>", f"{frame.file.module}.<lambda>", node, frame.snippet, frame.file, frame, None)

    def e_ellipsis(self, node, frame):
        return Ellipsis

    def e_namedexpr(self, node, frame):
        value = self.eval(node.value, frame)
        self.assign(node.target, value, frame)
        return value

    _expr = {
        cst.Name: e_name, cst.Attribute: e_attribute, cst.Call: e_call, cst.Subscript: e_subscript,
        cst.BinaryOperation: e_binop, cst.UnaryOperation: e_unary, cst.BooleanOperation: e_boolop,
        cst.Comparison: e_compare, cst.IfExp: e_ifexp, cst.Integer: e_integer, cst.Float: e_float,
        cst.Imaginary: e_imaginary, cst.SimpleString: e_string, cst.ConcatenatedString: e_concat,
        cst.FormattedString: e_fstring, cst.List: e_list, cst.Tuple: e_tuple, cst.Set: e_set, cst.Dict: e_dict,
        cst.ListComp: e_listcomp, cst.GeneratorExp: e_listcomp, cst.SetComp: e_setcomp, cst.DictComp: e_dictcomp,
        cst.Lambda: e_lambda, cst.Ellipsis: e_ellipsis, cst.NamedExpr: e_namedexpr,
    }


class _ModuleScope(dict):
    """Locals of a module-level statement: reads fall back to the module's globals."""

    def __init__(self, ev: Evaluator, file):
        super().__init__()
        self.ev = ev
        self.file = file
        self.own: dict = {}

    def __contains__(self, name):
        return dict.__contains__(self, name) or bool(self.file.facts().bindings.get(name))

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        return self.ev.global_get(self.file, name, None)

    def __setitem__(self, name, value):
        dict.__setitem__(self, name, value)
        self.own[name] = value


class _ClassScope(dict):
    """Locals of a class-body statement: reads see earlier class members, then module globals."""

    def __init__(self, ev: Evaluator, cls: ClassValue):
        super().__init__()
        self.ev = ev
        self.cls = cls
        self.own: dict = {}

    def __contains__(self, name):
        return dict.__contains__(self, name) or name in self.cls.facts.members

    def __getitem__(self, name):
        if dict.__contains__(self, name):
            return dict.__getitem__(self, name)
        v = self.ev.class_member(self.cls, name)
        if v is _MISSING:
            raise KeyError(name)
        return v

    def __setitem__(self, name, value):
        dict.__setitem__(self, name, value)
        self.own[name] = value

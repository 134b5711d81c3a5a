"""Spans, diagnostics and the step budgets (see the evaluator's docstring): ``BudgetMixin`` reports
problems against the module being built, charges steps, and turns an exhausted budget into one W107.
"""
from __future__ import annotations

import libcst as cst

from analyzer.diagnostics import Diagnostic, SourceSpan
from analyzer.evaluate import limits, skipped
from analyzer.evaluate.core import BudgetExceeded, EvalRaise, Frame
from analyzer.source.parse import LazySpan, resolve_span


class BudgetMixin:

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
        if self.scope_steps > limits.SCOPE_STEP_BUDGET or self.steps > limits.TOTAL_STEP_BUDGET:
            self._exhausted(span)

    def charge(self, n: int, span=None) -> None:
        """Count ``n`` steps of work done at once (elements built natively, parse cost)."""
        if n > 0:
            self.steps += n
            self.scope_steps += n
            if self.scope_steps > limits.SCOPE_STEP_BUDGET or self.steps > limits.TOTAL_STEP_BUDGET:
                self._exhausted(span)

    def _exhausted(self, span):
        if self.steps > limits.TOTAL_STEP_BUDGET:
            raise BudgetExceeded("W107", f"the evaluation budget of the whole analysis ({limits.TOTAL_STEP_BUDGET:,} steps) "
                                 "is spent; the remaining statements are skipped", span, "total")
        raise BudgetExceeded("W107", f"evaluation step budget exhausted ({limits.SCOPE_STEP_BUDGET:,} steps for one "
                             "statement, its calls included); the statement is skipped", span)

    def _locate(self, e: BudgetExceeded, start: int, node, span, size=None) -> None:
        """Name the loop that used most of a spent scope budget (called as the exception leaves it),
        and remember it: a loop that ran out once is not run again over as many items or more
        (``size``: its iterable's length, None for a while loop or an iterator; see _refuse_loop)."""
        if e.kind == "steps" and not e.located and self.scope_steps - start >= limits.SCOPE_STEP_BUDGET // 2:
            e.located = True
            e.span = span
            e.message = (f"this loop did not finish within the evaluation step budget ({limits.SCOPE_STEP_BUDGET:,} "
                         "steps for one statement); the statement is skipped")
            key = id(node)
            before = self._runaway_loops.get(key, 0)
            self._runaway_loops[key] = None if size is None or before is None else min(size, before or size)
            self._runaway_changes += 1

    def _ran_away(self, node, size) -> bool:
        """Whether this loop ran out of budget before over no more items than it has now."""
        if id(node) not in self._runaway_loops:
            return False
        limit = self._runaway_loops[id(node)]
        return limit is None or size is None or size >= limit

    def _refuse_loop(self, span) -> None:
        """A loop that already ran out of budget (in an earlier instance of the same class, say)
        ends its statement at once: twelve runaway layers cost one budget, not twelve."""
        e = BudgetExceeded("W107", f"this loop did not finish within the evaluation step budget "
                           f"({limits.SCOPE_STEP_BUDGET:,} steps for one statement) before, and is not run again; "
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
                    skipped.forget(self, stmt, frame, "W107", e.span or self.span(stmt, frame))
                except RecursionError:
                    self.budget_report(BudgetExceeded("W107", "nesting too deep to evaluate (Python's recursion limit)",
                                                      None, "depth"), self.span(stmt, frame))
                    skipped.forget(self, stmt, frame, "W107", self.span(stmt, frame))
                finally:
                    self.scope_steps = saved
        finally:
            self._owners.pop()

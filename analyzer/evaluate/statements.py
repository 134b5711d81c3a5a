"""Statements (``StatementsMixin``): blocks, assignments and deletions, ``if``/``for``/``while``,
``try``/``except``, ``with``, and nested ``def``/``class``.
"""
from __future__ import annotations

import libcst as cst

from analyzer.evaluate import skipped
from analyzer.evaluate.attributes import del_attribute
from analyzer.evaluate.core import (
    AUGOPS,
    BudgetExceeded,
    EvalRaise,
    Frame,
    _Break,
    _Continue,
    _Return,
)
from analyzer.evaluate.items import del_item, set_item
from analyzer.evaluate.operators import iterate
from analyzer.evaluate.values import (
    BuiltinClass,
    ClassValue,
    ExceptionValue,
    Unknown,
)


class StatementsMixin:

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
            span = e.span or self.span(stmt, frame)
            self.warn(e.code, e.message, span)
            skipped.forget(self, stmt, frame, e.code, span)
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
            return f"{StatementsMixin.dotted(node.value)}.{node.attr.value}"
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
        return iterate(self, value, span)

    def exec_for(self, node, frame):
        span = self.span(node.iter, frame)
        items = self.iterate(self.eval(node.iter, frame), span)
        broke = False
        start = self.scope_steps
        size = len(items) if isinstance(items, (list, tuple, range)) else None
        if self._runaway_loops and self._ran_away(node, size):
            self._refuse_loop(self.span(node, frame))
        try:
            for item in items:
                self.tick(span)
                self.assign(node.target, item, frame)
                if self._loop_body(node, frame):
                    broke = True
                    break
        except BudgetExceeded as e:
            self._locate(e, start, node, self.span(node, frame), size)
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
        if self._runaway_loops and self._ran_away(node, None):
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
            set_item(self, obj, key, value, self.span(target, frame))
        elif t is cst.StarredElement:
            self.assign(target.value, value, frame)
        else:
            raise EvalRaise("W104", f"assignment to {t.__name__} is not followed", self.span(target, frame))

    def delete(self, target, frame):
        if isinstance(target, cst.Name):
            frame.locals.pop(target.value, None)
        elif isinstance(target, cst.Attribute):
            obj = self.eval(target.value, frame)
            del_attribute(self, obj, target.attr.value, self.span(target, frame))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for e in target.elements:
                self.delete(e.value, frame)
        elif isinstance(target, cst.Subscript):
            obj = self.eval(target.value, frame)
            key = self.eval_slice(target.slice, frame)
            del_item(self, obj, key, self.span(target, frame))

    _compound = {
        cst.If: exec_if, cst.For: exec_for, cst.While: exec_while, cst.Try: exec_try,
        cst.With: exec_with, cst.FunctionDef: exec_def, cst.ClassDef: exec_classdef,
    }

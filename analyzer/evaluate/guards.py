"""Parse guards (``ParseGuardMixin``): before a definition is handed to LibCST, its size, nesting
depth and parse cost are measured with ``ast``; one that is too large is refused with a W107.
"""
from __future__ import annotations

import ast

import libcst as cst

from analyzer.diagnostics import SourceSpan
from analyzer.evaluate import limits
from analyzer.evaluate.core import EvalRaise


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


class ParseGuardMixin:

    # ------------------------------------------------------------------ parsing, guarded
    def snippet(self, file, start: int, end: int):
        """``file.snippet(start, end)``, once the definition is known to be safe for LibCST."""
        self.guard(file, start, end)
        return file.snippet(start, end)

    def guard(self, file, start: int, end: int) -> None:
        """Raise unless lines start..end are safe to hand to LibCST: nested at most limits.MAX_NESTING deep
        and of a parse cost at most limits.MAX_PARSE_COST (charged as steps, once)."""
        key = (id(file), start, end)
        verdict = self._parse_verdicts.get(key)
        if verdict is None:
            verdict = self._parse_verdict(file, start, end)
            self._parse_verdicts[key] = verdict
            if verdict[0] is None:
                self.charge(verdict[2])
        if verdict[0] is not None:
            raise EvalRaise(verdict[0], verdict[1], verdict[3])

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
        if end - start + 1 > limits.MAX_DEFINITION_LINES:
            return "W107", (f"definition too large to analyze ({end - start + 1:,} lines; the limit is "
                            f"{limits.MAX_DEFINITION_LINES:,})"), 0, whole
        body = "".join(lines[start - 1: end])
        if len(body) > limits.MAX_DEFINITION_CHARS:
            return "W107", (f"definition too large to analyze ({len(body):,} characters; the limit is "
                            f"{limits.MAX_DEFINITION_CHARS:,})"), 0, whole
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
        if depth > limits.MAX_NESTING:
            line = getattr(deepest, "lineno", start - base) + base
            col = getattr(deepest, "col_offset", 0)
            return "W107", (f"expression or block nested {depth} levels deep (the limit is {limits.MAX_NESTING}); "
                            "this definition is not analyzed"), 0, SourceSpan(file.display, line, col)
        if cost > limits.MAX_PARSE_COST:
            return "W107", (f"definition too large to analyze ({end - start + 1:,} lines, parse cost {cost:,}; "
                            f"the limit is {limits.MAX_PARSE_COST:,})"), 0, whole
        return None, "", cost, None

    def parse_expression_guarded(self, src: str):
        """LibCST expression of ``src`` (a base-class expression), or None when too deeply nested."""
        try:
            depth, cost, _ = syntax_nesting(ast.parse(src, mode="eval"))
        except (SyntaxError, RecursionError, MemoryError, ValueError):
            return None
        if depth > limits.MAX_NESTING or cost > limits.MAX_PARSE_COST:
            return None
        return cst.parse_expression(src)

    _BINDING_NODES = {"def": (cst.FunctionDef,), "class": (cst.ClassDef,)}

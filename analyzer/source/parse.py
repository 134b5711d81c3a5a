"""LibCST on demand: a definition's statement parsed when the evaluator needs it (``Snippet``), and
positions resolved only for the spans that are shown. The cheap ``ast`` index of files lives in
analyzer/source/index.py.
"""
from __future__ import annotations

import ast

import libcst as cst

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan


class Snippet:
    """A parsed definition with lazily resolved positions (line offset into its file)."""

    __slots__ = ("node", "offset", "_positions", "_wrapper", "file", "code", "_calls", "_stmts", "_in_stmt", "key")

    def __init__(self, node, wrapper, offset, file, code, key=None):
        self.key = key  # (start, end) lines in the file
        self.node = node
        self._wrapper = wrapper
        self.offset = offset
        self._positions = None
        self._calls = None
        self._stmts = None  # id(CST statement) -> (line, col, ast statement), in file lines
        self._in_stmt: dict = {}  # id(small statement) -> its own node positions
        self.file = file
        self.code = code


class _CallCollector(cst.CSTVisitor):
    def __init__(self):
        self.calls = []

    def visit_Call(self, node):
        self.calls.append(node)


# Fields of a LibCST node that hold child nodes, in the order LibCST visits them (source order).
# Most node classes declare their fields in that order; these do not.
_VISIT_ORDER = {
    "IfExp": ("body", "test", "orelse"),
    "FunctionDef": ("decorators", "params", "returns", "body"),
    "ClassDef": ("decorators", "bases", "keywords", "body"),
    "Parameters": ("posonly_params", "params", "star_arg", "kwonly_params", "star_kwarg"),
    "ExceptHandler": ("type", "name", "body"),
}
_TOKEN_FIELDS = frozenset({
    "lpar", "rpar", "lbracket", "rbracket", "lbrace", "rbrace", "comma", "semicolon", "equal", "dot", "colon",
    "operator", "first_colon", "second_colon", "leading_lines", "lines_after_decorators", "trailing_whitespace",
    "header", "footer", "asynchronous", "star", "indent", "newline", "encoding", "default_indent",
    "default_newline", "has_trailing_newline", "value_str",
})
_CHILD_FIELDS: dict = {}


def _child_fields(t) -> tuple:
    fields = _CHILD_FIELDS.get(t)
    if fields is None:
        import dataclasses

        fields = _VISIT_ORDER.get(t.__name__) or tuple(
            f.name for f in dataclasses.fields(t) if f.name not in _TOKEN_FIELDS and "whitespace" not in f.name
        )
        _CHILD_FIELDS[t] = fields
    return fields


def _walk_calls(node, out: list) -> None:
    if type(node) is cst.Call:
        out.append(node)
    for name in _child_fields(type(node)):
        v = getattr(node, name)
        if isinstance(v, cst.CSTNode):
            _walk_calls(v, out)
        elif isinstance(v, (list, tuple)):
            for x in v:
                if isinstance(x, cst.CSTNode):
                    _walk_calls(x, out)


def _same_callee(c, a) -> bool:
    f, g = c.func, a.func
    if isinstance(f, cst.Name):
        return isinstance(g, ast.Name) and g.id == f.value
    if isinstance(f, cst.Attribute):
        return isinstance(g, ast.Attribute) and g.attr == f.attr.value
    return not isinstance(g, (ast.Name, ast.Attribute))


def _pair_calls(cst_node, ast_node, base: int = 0) -> dict:
    """id(CST Call) -> (line, col): the CST's calls in source order (a direct walk, checked callee by
    callee; LibCST's slower visitor when the check fails) paired with the ``ast`` calls sorted by
    (start, enclosing first)."""
    calls = sorted(
        (n for n in ast.walk(ast_node) if isinstance(n, ast.Call)),
        key=lambda n: (n.lineno, n.col_offset, -(n.end_lineno or 0), -(n.end_col_offset or 0)),
    )
    found: list = []
    _walk_calls(cst_node, found)
    if len(found) != len(calls) or not all(_same_callee(c, a) for c, a in zip(found, calls)):
        collector = _CallCollector()
        cst_node.visit(collector)
        found = collector.calls
        if len(found) != len(calls):
            return {}
    return {id(c): (a.lineno + base, a.col_offset) for c, a in zip(found, calls)}


class LazySpan:
    """A span resolved only when shown: most spans the evaluator makes are never printed.
    ``stmt`` is the statement being executed when it was made (positions are found from it)."""

    __slots__ = ("snippet", "node", "stmt", "_resolved")

    def __init__(self, snippet, node, stmt=None):
        self.snippet = snippet
        self.node = node
        self.stmt = stmt
        self._resolved = None

    def resolve(self) -> SourceSpan:
        if self._resolved is None:  # replayed constructions share their spans: resolved once
            line, col = position(self.snippet, self.node, self.stmt)
            self._resolved = SourceSpan(self.snippet.file.display, line, col)
        return self._resolved

    def __str__(self) -> str:
        return str(self.resolve())

    def short(self) -> str:
        return self.resolve().short()


def resolve_span(span):
    return span.resolve() if isinstance(span, LazySpan) else span


def parse_snippet(file, start: int, end: int) -> "Snippet":
    """Parse lines start..end (1-based, inclusive) of ``file`` as one statement with LibCST; an
    indented definition (a method) is wrapped in ``if 1:`` first."""
    body = "".join(file.lines()[start - 1 : end])
    if not body.endswith("\n"):
        body += "\n"
    indented = body[:1] in (" ", "\t")
    code = ("if 1:\n" + body) if indented else body
    try:
        module = cst.parse_module(code)
    except cst.ParserSyntaxError as exc:
        line = exc.raw_line + start - (2 if indented else 1)
        raise AnalyzerError(
            Diagnostic("E001", f"syntax error: {exc.message}", SourceSpan(file.display, line, exc.raw_column))
        ) from None
    stmt = module.body[0]
    if indented:
        stmt = stmt.body.body[0]
    return Snippet(stmt, module, start - (2 if indented else 1), file, code, (start, end))


def _snippet_statements(snip: Snippet) -> tuple[list, int]:
    """(the ``ast`` statements of a snippet, base): file line = their line + base. Those the index
    (base 0) or the parse guard already has, else a parse of the snippet's code."""
    found = snip.file.ast_trees.get(snip.key)
    if found is not None:
        return found
    tree = ast.parse(snip.code)
    body = tree.body
    if snip.code.startswith("if 1:\n") and body and isinstance(body[0], ast.If):
        body = body[0].body  # the "if 1:" wrapper of an indented definition
    return body, snip.offset


def _call_positions(snip: Snippet) -> dict:
    """Positions of every Call in the snippet (file lines), by pairing LibCST's calls with ``ast``'s."""
    try:
        stmts, base = _snippet_statements(snip)
    except SyntaxError:
        return {}
    return _pair_calls(snip.node, ast.Module(body=stmts, type_ignores=[]), base)


def _pair_statements(cst_body, ast_body, out: dict, base: int = 0) -> None:
    """Map CST statements to (line, col) by walking CST and ``ast`` statement lists in parallel."""
    i = 0
    for item in cst_body:
        if isinstance(item, cst.SimpleStatementLine):
            for small in item.body:
                a = ast_body[i]
                out[id(small)] = (a.lineno + base, a.col_offset, a, base)
                i += 1
            continue
        a = ast_body[i]
        i += 1
        out[id(item)] = (a.lineno + base, a.col_offset, a, base)
        for cst_block, ast_block in _blocks(item, a):
            if isinstance(cst_block, list):  # an elif: one If statement in the else list
                _pair_statements(cst_block, ast_block, out, base)
            elif isinstance(cst_block, cst.SimpleStatementSuite):
                for small, sa in zip(cst_block.body, ast_block, strict=True):
                    out[id(small)] = (sa.lineno + base, sa.col_offset, sa, base)
            else:
                _pair_statements(cst_block.body, ast_block, out, base)
    if i != len(ast_body):
        raise ValueError("statement lists differ")


def _blocks(item, a):
    if isinstance(item, cst.If):
        yield item.body, a.body
        if isinstance(item.orelse, cst.If):
            yield [item.orelse], a.orelse
        elif item.orelse is not None:
            yield item.orelse.body, a.orelse
    elif isinstance(item, (cst.For, cst.While)):
        yield item.body, a.body
        if item.orelse is not None:
            yield item.orelse.body, a.orelse
    elif isinstance(item, cst.Try):
        yield item.body, a.body
        for h, ah in zip(item.handlers, a.handlers, strict=True):
            yield h.body, ah.body
        if item.orelse is not None:
            yield item.orelse.body, a.orelse
        if item.finalbody is not None:
            yield item.finalbody.body, a.finalbody
    elif isinstance(item, (cst.With, cst.FunctionDef, cst.ClassDef)):
        yield item.body, a.body
    else:
        raise ValueError(f"unpaired statement {type(item).__name__}")


def _statement_positions(snip: Snippet) -> dict:
    """id(CST statement) -> (line, col, ast statement), in file lines."""
    out: dict = {}
    try:
        top = snip._wrapper.body
        if top and isinstance(top[0], cst.If) and snip.code.startswith("if 1:\n") and top[0].body.body[0] is snip.node:
            top = top[0].body.body  # the "if 1:" wrapper of an indented definition
        stmts, base = _snippet_statements(snip)
        _pair_statements(top, stmts, out, base)
    except (SyntaxError, ValueError, IndexError, AttributeError, RecursionError):
        return {}
    return out


def _calls_in_statement(stmt, ast_stmt, base: int) -> dict:
    """id(CST Call) -> (line, col) for the calls of one small statement: LibCST visits them in source
    order, and so does a sort of the statement's ``ast`` calls by (start, enclosing first)."""
    return _pair_calls(stmt, ast_stmt, base)


def _positions_in_statement(snip: Snippet, stmt) -> dict:
    """Positions of every node of one small statement, relative to its first character (slower;
    for spans of nodes other than calls, which only diagnostics need)."""
    key = ("all", id(stmt))
    found = snip._in_stmt.get(key)
    if found is None:
        try:
            mini = cst.Module(body=[cst.SimpleStatementLine(body=[stmt])])
            from libcst.metadata import MetadataWrapper, PositionProvider  # costly import: diagnostics only

            found = MetadataWrapper(mini, unsafe_skip_copy=True).resolve(PositionProvider)
        except Exception:  # noqa: BLE001 - any failure falls back to the whole snippet
            found = {}
        snip._in_stmt[key] = found
    return found


def position(snip: Snippet, node, stmt=None) -> tuple[int, int]:
    """(line in the file, column) of ``node``; ``stmt`` is the small statement it belongs to, from
    which positions are found cheaply."""
    if stmt is not None and not isinstance(stmt, cst.BaseCompoundStatement):
        if snip._stmts is None:
            snip._stmts = _statement_positions(snip)
        anchor = snip._stmts.get(id(stmt))
        if anchor is not None:
            if node is stmt:
                return (anchor[0], anchor[1])
            if isinstance(node, cst.Call):
                calls = snip._in_stmt.get(id(stmt))
                if calls is None:
                    calls = snip._in_stmt[id(stmt)] = _calls_in_statement(stmt, anchor[2], anchor[3])
                pos = calls.get(id(node))
                if pos is not None:
                    return pos
            pos = _positions_in_statement(snip, stmt).get(node)
            if pos is not None:
                line = anchor[0] + pos.start.line - 1
                col = pos.start.column + (anchor[1] if pos.start.line == 1 else 0)
                return (line, col)
    if isinstance(node, cst.Call):
        if snip._calls is None:
            snip._calls = _call_positions(snip)
        pos = snip._calls.get(id(node))
        if pos is not None:
            return pos
    if snip._positions is None:
        from libcst.metadata import MetadataWrapper, PositionProvider

        wrapper = MetadataWrapper(snip._wrapper, unsafe_skip_copy=True)
        snip._positions = wrapper.resolve(PositionProvider)
    pos = snip._positions.get(node)
    if pos is None:
        return (snip.offset + 1, 0)
    return (pos.start.line + snip.offset, pos.start.column)

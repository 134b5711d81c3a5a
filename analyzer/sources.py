"""Finding and reading source files: the analyzed folder's package root, imported packages on the
search path, and parsing with LibCST on demand.

Files are indexed cheaply with the standard library's ``ast`` (top-level bindings, class members and
their line ranges, never executed). The LibCST tree of a definition is parsed only when the
evaluator needs it, one definition at a time, and positions are resolved only for those snippets.
"""
from __future__ import annotations

import ast
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan


@dataclass
class Binding:
    """Where a top-level (or class-level) name is bound."""

    kind: str  # "class" | "def" | "assign" | "import" | "from"
    start: int  # first line (decorators included)
    end: int
    conditional: bool = False
    # for imports
    module: str | None = None  # absolute or relative (leading dots) module path
    attr: str | None = None  # for "from" imports: the imported name


@dataclass
class ClassFacts:
    name: str
    start: int
    end: int
    bases_src: list[str]
    members: dict[str, Binding] = field(default_factory=dict)  # methods and class attributes


@dataclass
class ModuleFacts:
    bindings: dict[str, list[Binding]]
    classes: dict[str, ClassFacts]
    # (start, end) lines -> the ``ast`` statements on those lines (absolute line numbers); the
    # evaluator's parse guard and the span positions reuse them instead of parsing again
    statements: dict[tuple[int, int], list] = field(default_factory=dict)


def _binding_row(b: Binding) -> list:
    return [b.kind, b.start, b.end, b.conditional, b.module, b.attr]


def _binding(row) -> Binding:
    kind, start, end, conditional, module, attr = row
    if not (isinstance(kind, str) and type(start) is int and type(end) is int and isinstance(conditional, bool)
            and (module is None or isinstance(module, str)) and (attr is None or isinstance(attr, str))):
        raise ValueError("bad binding")
    return Binding(kind, start, end, conditional, module, attr)


def facts_to_json(facts: ModuleFacts) -> dict:
    """The index of a file as plain data, for the per-file cache (the ``ast`` statements stay out)."""
    return {
        "bindings": {name: [_binding_row(b) for b in bs] for name, bs in facts.bindings.items()},
        "classes": {name: [c.start, c.end, c.bases_src, {m: _binding_row(b) for m, b in c.members.items()}]
                    for name, c in facts.classes.items()},
    }


def facts_from_json(data: dict) -> ModuleFacts:
    """``facts_to_json`` reversed; raises ValueError (or TypeError) on anything of the wrong shape."""
    bindings = {name: [_binding(r) for r in rows] for name, rows in data["bindings"].items()}
    classes = {}
    for name, (start, end, bases, members) in data["classes"].items():
        if type(start) is not int or type(end) is not int or not all(isinstance(b, str) for b in bases):
            raise ValueError("bad class")
        classes[name] = ClassFacts(name, start, end, list(bases), {m: _binding(r) for m, r in members.items()})
    return ModuleFacts(bindings, classes)


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


def _pair_calls(cst_node, ast_node) -> dict:
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
    return {id(c): (a.lineno, a.col_offset) for c, a in zip(found, calls)}


class LazySpan:
    """A span resolved only when shown: most spans the evaluator makes are never printed.
    ``stmt`` is the statement being executed when it was made (positions are found from it)."""

    __slots__ = ("snippet", "node", "stmt")

    def __init__(self, snippet, node, stmt=None):
        self.snippet = snippet
        self.node = node
        self.stmt = stmt

    def resolve(self) -> SourceSpan:
        line, col = position(self.snippet, self.node, self.stmt)
        return SourceSpan(self.snippet.file.display, line, col)

    def __str__(self) -> str:
        return str(self.resolve())

    def short(self) -> str:
        return self.resolve().short()


def resolve_span(span):
    return span.resolve() if isinstance(span, LazySpan) else span


def _bind_target_names(target: ast.AST, out: list[str]) -> None:
    if isinstance(target, ast.Name):
        out.append(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _bind_target_names(t, out)
    elif isinstance(target, ast.Starred):
        _bind_target_names(target.value, out)


def _index_statements(stmts, bindings: dict[str, list[Binding]], classes: dict, conditional: bool,
                      nodes: dict) -> None:
    for st in stmts:
        start = min([st.lineno] + [d.lineno for d in getattr(st, "decorator_list", [])])
        end = st.end_lineno or st.lineno
        nodes.setdefault((start, end), []).append(st)
        if isinstance(st, ast.ClassDef):
            bindings.setdefault(st.name, []).append(Binding("class", start, end, conditional))
            cf = ClassFacts(st.name, start, end, [ast.unparse(b) for b in st.bases])
            member_bindings: dict[str, list[Binding]] = {}
            _index_statements(st.body, member_bindings, {}, False, nodes)
            cf.members = {k: v[-1] for k, v in member_bindings.items()}
            classes[st.name] = cf
        elif isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)):
            bindings.setdefault(st.name, []).append(Binding("def", start, end, conditional))
        elif isinstance(st, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = st.targets if isinstance(st, ast.Assign) else [st.target]
            names: list[str] = []
            for t in targets:
                _bind_target_names(t, names)
            if isinstance(st, ast.AnnAssign) and st.value is None:
                continue
            for n in names:
                bindings.setdefault(n, []).append(Binding("assign", start, end, conditional))
        elif isinstance(st, ast.Import):
            for alias in st.names:
                if alias.asname:
                    bindings.setdefault(alias.asname, []).append(
                        Binding("import", start, end, conditional, module=alias.name)
                    )
                else:
                    top = alias.name.split(".")[0]
                    bindings.setdefault(top, []).append(Binding("import", start, end, conditional, module=top))
        elif isinstance(st, ast.ImportFrom):
            mod = "." * st.level + (st.module or "")
            for alias in st.names:
                if alias.name == "*":
                    continue
                bindings.setdefault(alias.asname or alias.name, []).append(
                    Binding("from", start, end, conditional, module=mod, attr=alias.name)
                )
        elif isinstance(st, ast.If):
            _index_statements(st.body, bindings, classes, True, nodes)
            _index_statements(st.orelse, bindings, classes, True, nodes)
        elif isinstance(st, ast.Try):
            _index_statements(st.body, bindings, classes, True, nodes)
            for h in st.handlers:
                _index_statements(h.body, bindings, classes, True, nodes)
            _index_statements(st.orelse, bindings, classes, True, nodes)
            _index_statements(st.finalbody, bindings, classes, conditional, nodes)
        elif isinstance(st, ast.With):
            _index_statements(st.body, bindings, classes, conditional, nodes)


def index_module(text: str, display: str) -> ModuleFacts:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        raise AnalyzerError(
            Diagnostic(
                "E001",
                f"syntax error: {exc.msg}",
                SourceSpan(display, exc.lineno or 0, max((exc.offset or 1) - 1, 0)),
            )
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise AnalyzerError(Diagnostic("E001", f"cannot parse: {type(exc).__name__}", SourceSpan(display))) from None
    bindings: dict[str, list[Binding]] = {}
    classes: dict[str, ClassFacts] = {}
    nodes: dict = {}
    _index_statements(tree.body, bindings, classes, False, nodes)
    return ModuleFacts(bindings, classes, nodes)


class SourceFile:
    """One Python file: its dotted module name, display path, index and parsed snippets."""

    def __init__(self, path: Path, module: str, display: str, is_package: bool, local: bool):
        self.path = path
        self.module = module
        self.display = display
        self.is_package = is_package  # an __init__.py
        self.local = local  # inside the analyzed folder's package
        self.facts_cache = False  # read and write this file's index in the per-file facts cache
        self._text: str | None = None
        self.sha256: str | None = None  # of the bytes read, for the result cache
        # (start, end) -> the ``ast`` statements of a snippet (absolute line numbers), once checked
        self.ast_trees: dict = {}
        self._lines: list[str] | None = None
        self._facts: ModuleFacts | None = None
        self._snippets: dict[tuple[int, int], Snippet] = {}

    @property
    def package(self) -> str:
        """The package used to resolve relative imports from this file."""
        if self.is_package:
            return self.module
        return self.module.rpartition(".")[0]

    def text(self) -> str:
        if self._text is None:
            try:
                raw = self.path.read_bytes()
                self.sha256 = hashlib.sha256(raw).hexdigest()
            except OSError as exc:
                raise AnalyzerError(
                    Diagnostic("E002", f"cannot read source file: {exc.strerror or exc}", SourceSpan(self.display))
                ) from None
            try:
                self._text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise AnalyzerError(
                    Diagnostic("E001", f"source is not valid UTF-8 (byte {exc.start})", SourceSpan(self.display))
                ) from None
        return self._text

    def lines(self) -> list[str]:
        """The text's lines as the tokenizer counts them (``split_lines``), each with its line break."""
        if self._lines is None:
            self._lines = split_lines(self.text())
        return self._lines

    def facts(self) -> ModuleFacts:
        if self._facts is None:
            text = self.text()
            if self.facts_cache:
                from analyzer import cache

                data = cache.load_facts(self.sha256)
                if data is not None:
                    try:
                        self._facts = facts_from_json(data)
                    except (KeyError, TypeError, ValueError, AttributeError):
                        self._facts = None  # of the wrong shape: indexed again and overwritten
            if self._facts is None:
                self._facts = index_module(text, self.display)
                if self.facts_cache:
                    from analyzer import cache

                    cache.store_facts(self.sha256, facts_to_json(self._facts))
        return self._facts

    def snippet(self, start: int, end: int) -> Snippet:
        """Parse lines start..end (1-based, inclusive) as one statement with LibCST."""
        key = (start, end)
        snip = self._snippets.get(key)
        if snip is None:
            body = "".join(self.lines()[start - 1 : end])
            if not body.endswith("\n"):
                body += "\n"
            indented = body[:1] in (" ", "\t")
            code = ("if 1:\n" + body) if indented else body
            try:
                module = cst.parse_module(code)
            except cst.ParserSyntaxError as exc:
                line = exc.raw_line + start - (2 if indented else 1)
                raise AnalyzerError(
                    Diagnostic("E001", f"syntax error: {exc.message}", SourceSpan(self.display, line, exc.raw_column))
                ) from None
            stmt = module.body[0]
            if indented:
                stmt = stmt.body.body[0]
            wrapper = module
            snip = Snippet(stmt, wrapper, start - (2 if indented else 1), self, code, key)
            self._snippets[key] = snip
        return snip


def _snippet_statements(snip: Snippet) -> list:
    """The ``ast`` statements of a snippet with absolute line numbers: those the index (or the parse
    guard) already has, else a parse of the snippet's code shifted to the file's lines."""
    stmts = snip.file.ast_trees.get(snip.key)
    if stmts is None:
        tree = ast.parse(snip.code)
        body = tree.body
        if snip.code.startswith("if 1:\n") and body and isinstance(body[0], ast.If):
            body = body[0].body  # the "if 1:" wrapper of an indented definition
        ast.increment_lineno(tree, snip.offset)
        stmts = body
    return stmts


def _call_positions(snip: Snippet) -> dict:
    """Positions of every Call in the snippet (file lines), by pairing LibCST's calls with ``ast``'s."""
    try:
        stmts = _snippet_statements(snip)
    except SyntaxError:
        return {}
    return _pair_calls(snip.node, ast.Module(body=stmts, type_ignores=[]))


def _pair_statements(cst_body, ast_body, out: dict) -> None:
    """Map CST statements to (line, col) by walking CST and ``ast`` statement lists in parallel."""
    i = 0
    for item in cst_body:
        if isinstance(item, cst.SimpleStatementLine):
            for small in item.body:
                a = ast_body[i]
                out[id(small)] = (a.lineno, a.col_offset, a)
                i += 1
            continue
        a = ast_body[i]
        i += 1
        out[id(item)] = (a.lineno, a.col_offset, a)
        for cst_block, ast_block in _blocks(item, a):
            if isinstance(cst_block, list):  # an elif: one If statement in the else list
                _pair_statements(cst_block, ast_block, out)
            elif isinstance(cst_block, cst.SimpleStatementSuite):
                for small, sa in zip(cst_block.body, ast_block, strict=True):
                    out[id(small)] = (sa.lineno, sa.col_offset, sa)
            else:
                _pair_statements(cst_block.body, ast_block, out)
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
        _pair_statements(top, _snippet_statements(snip), out)
    except (SyntaxError, ValueError, IndexError, AttributeError, RecursionError):
        return {}
    return out


def _calls_in_statement(stmt, ast_stmt) -> dict:
    """id(CST Call) -> (line, col) for the calls of one small statement: LibCST visits them in source
    order, and so does a sort of the statement's ``ast`` calls by (start, enclosing first)."""
    return _pair_calls(stmt, ast_stmt)


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
                    calls = snip._in_stmt[id(stmt)] = _calls_in_statement(stmt, anchor[2])
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


class SourceIndex:
    """Resolves dotted module names to files: the analyzed package first, then the search path."""

    def __init__(self, src_dir: Path, search_paths: list[Path] | tuple = (), site_packages: bool = True,
                 facts_cache: bool = False):
        self.src_dir = src_dir
        self.facts_cache = facts_cache
        top = src_dir
        while (top / "__init__.py").is_file() and (top.parent / "__init__.py").is_file():
            top = top.parent
        if (src_dir / "__init__.py").is_file():
            self.base = top.parent  # the directory that plays sys.path's role for the local package
            rel = src_dir.relative_to(self.base)
            self.local_package = ".".join(rel.parts)
        else:
            self.base = src_dir  # an anonymous folder: files are top-level modules (file stems)
            self.local_package = ""
        self.roots: list[Path] = [Path(p).resolve() for p in search_paths]
        if site_packages:
            self.roots += [
                Path(p).resolve() for p in sys.path
                if p and Path(p).is_dir() and Path(p).resolve() != Path.cwd().resolve()
            ]
        self._files: dict[str, SourceFile | None] = {}

    def files_read(self) -> list[tuple[str, str]]:
        """(absolute path, sha256) of every source file whose text was read, sorted."""
        return sorted({(str(f.path), f.sha256) for f in self._files.values() if f is not None and f.sha256})

    def packages_read(self) -> dict[str, str]:
        """{top-level package: version} of the installed packages whose source was read; the
        version comes from the package's ``__version__`` literal, read statically."""
        out = {}
        for f in self._files.values():
            if f is None or f.local or not f.sha256:
                continue
            top = f.module.split(".")[0]
            if top in out:
                continue
            version = "unknown version"
            root = f.path
            for _ in range(f.module.count(".") + (1 if f.is_package else 0)):
                root = root.parent
            init = root / "__init__.py" if f.module.count(".") or f.is_package else None
            try:
                text = init.read_text(encoding="utf-8", errors="replace") if init and init.is_file() else ""
            except OSError:
                text = ""
            m = _VERSION.search(text)
            if m:
                version = m.group(1)
            out[top] = version
        return dict(sorted(out.items()))

    def local_module_name(self, stem: str) -> str:
        return f"{self.local_package}.{stem}" if self.local_package else stem

    def find(self, module: str) -> SourceFile | None:
        if module in self._files:
            return self._files[module]
        found = self._find_in(self.base, module, local=True)
        if found is None and not (self.local_package and module.split(".")[0] == self.local_package.split(".")[0]):
            for root in self.roots:
                found = self._find_in(root, module, local=False)
                if found is not None:
                    break
        if found is not None:
            found.facts_cache = self.facts_cache
        self._files[module] = found
        return found

    def _find_in(self, root: Path, module: str, local: bool) -> SourceFile | None:
        parts = module.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        d = root.joinpath(*parts)
        for path, is_pkg in ((d / "__init__.py", True), (d.with_suffix(".py"), False)):
            try:
                if path.is_file():
                    resolved = path.resolve()
                    inside = resolved.is_relative_to(self.src_dir)
                    display = str(resolved.relative_to(self.src_dir)) if inside else str(path.relative_to(root))
                    return SourceFile(resolved, module, display, is_pkg, inside)
            except OSError:
                return None
        return None


_VERSION = re.compile(r"^__version__\s*=\s*[\"']([^\"']+)[\"']", re.M)


# \r, and what str.splitlines also splits on but the tokenizer does not
_UNUSUAL_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_LINE_BREAK = re.compile(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)")


def split_lines(text: str) -> list[str]:
    """Lines as Python's tokenizer (and ``ast`` line numbers) count them: only \\r\\n, \\r and
    \\n end a line (``str.splitlines`` also splits on form feeds and \\u2028)."""
    if not _UNUSUAL_BREAKS.search(text):
        return text.splitlines(keepends=True)  # the common case, ten times faster
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def resolve_relative(importer: SourceFile, target: str) -> str:
    """Absolute module name of ``target`` (which may start with dots) imported from ``importer``."""
    if not target.startswith("."):
        return target
    level = len(target) - len(target.lstrip("."))
    rest = target[level:]
    base = importer.package.split(".") if importer.package else []
    if level - 1 > len(base):
        return rest  # beyond the top; the caller reports it as unresolved
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, rest] if rest else base).strip(".")

"""The source index, without LibCST: finding source files (the analyzed folder's package root,
imported packages on the search path), reading them, and indexing each with the standard
library's ``ast``: top-level bindings, class members and their line ranges, never executed.
LibCST parses a definition only when the evaluator needs it (``SourceFile.snippet``, see
analyzer/source/parse.py). Importing this module stays cheap, so a child process can index files
while its parent imports LibCST (analyzer/prefetch.py).
"""
from __future__ import annotations

import ast
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.source.hub import blobs_dir


@dataclass
class Binding:
    """Where a top-level (or class-level) name is bound."""

    kind: str  # "class" | "def" | "assign" | "import" | "from" | "star" (``from module import *``)
    start: int  # first line (decorators included)
    end: int
    conditional: bool = False
    # for imports
    module: str | None = None  # absolute or relative (leading dots) module path
    attr: str | None = None  # for "from" imports: the imported name
    # bound in an ``except`` handler: the path taken only when the ``try`` body raised
    fallback: bool = False


@dataclass
class ClassFacts:
    name: str
    start: int
    end: int
    bases_src: list[str]
    members: dict[str, Binding] = field(default_factory=dict)  # methods and class attributes
    # a property whose last definition is ``@name.setter`` / ``.deleter`` / ``.getter``: its defs,
    # getter first (the earlier defs that the last binding in ``members`` hides)
    properties: dict[str, list[Binding]] = field(default_factory=dict)


@dataclass
class ModuleFacts:
    bindings: dict[str, list[Binding]]
    classes: dict[str, ClassFacts]
    # (start, end) lines -> the ``ast`` statements on those lines (absolute line numbers); the
    # evaluator's parse guard and the span positions reuse them instead of parsing again
    statements: dict[tuple[int, int], list] = field(default_factory=dict)
    # the module's ``from module import *`` statements (kind "star"), in source order: each binds
    # the names the module exports, found only when a name is looked up
    stars: list[Binding] = field(default_factory=list)
    # what the module body runs at import besides binding names (analyzer/evaluate/import_effects.py),
    # in source order: unconditional top-level decorated definitions, call statements and assignments
    # of a call's result
    effects: list[Effect] = field(default_factory=list)


@dataclass
class Effect:
    """A top-level statement whose calls Python makes when it imports the module."""

    kind: str  # "decorated" (a def or class, ``name``) | "call" (an expression statement) | "assign" (``name``)
    start: int
    end: int
    name: str | None
    # the dotted name each call's callee is written as (None: not a dotted name), and whether it is
    # called with arguments first (a decorator factory, ``@register("x")``); decorators bottom-up
    callees: list[tuple[str | None, bool]] = field(default_factory=list)


def _binding_row(b: Binding) -> list:
    return [b.kind, b.start, b.end, b.conditional, b.module, b.attr, b.fallback]


def _binding(row) -> Binding:
    kind, start, end, conditional, module, attr, fallback = row
    if not (isinstance(kind, str) and type(start) is int and type(end) is int and isinstance(conditional, bool)
            and (module is None or isinstance(module, str)) and (attr is None or isinstance(attr, str))
            and isinstance(fallback, bool)):
        raise ValueError("bad binding")
    return Binding(kind, start, end, conditional, module, attr, fallback)


def facts_to_json(facts: ModuleFacts) -> dict:
    """The index of a file as plain data, for the per-file cache (the ``ast`` statements stay out)."""
    return {
        "bindings": {name: [_binding_row(b) for b in bs] for name, bs in facts.bindings.items()},
        "classes": {name: [c.start, c.end, c.bases_src, {m: _binding_row(b) for m, b in c.members.items()},
                           {m: [_binding_row(b) for b in bs] for m, bs in c.properties.items()}]
                    for name, c in facts.classes.items()},
        "stars": [_binding_row(b) for b in facts.stars],
        "effects": [[e.kind, e.start, e.end, e.name, [list(c) for c in e.callees]] for e in facts.effects],
    }


def facts_from_json(data: dict) -> ModuleFacts:
    """``facts_to_json`` reversed; raises ValueError (or TypeError) on anything of the wrong shape."""
    bindings = {name: [_binding(r) for r in rows] for name, rows in data["bindings"].items()}
    classes = {}
    for name, (start, end, bases, members, properties) in data["classes"].items():
        if type(start) is not int or type(end) is not int or not all(isinstance(b, str) for b in bases):
            raise ValueError("bad class")
        classes[name] = ClassFacts(name, start, end, list(bases), {m: _binding(r) for m, r in members.items()},
                                   {m: [_binding(r) for r in rows] for m, rows in properties.items()})
    stars = [_binding(r) for r in data["stars"]]
    if not all(b.kind == "star" and b.module for b in stars):
        raise ValueError("bad star import")
    effects = []
    for kind, start, end, name, callees in data["effects"]:
        if not (isinstance(kind, str) and type(start) is int and type(end) is int and (name is None or isinstance(name, str))
                and all((c is None or isinstance(c, str)) and isinstance(f, bool) for c, f in callees)):
            raise ValueError("bad effect")
        effects.append(Effect(kind, start, end, name, [(c, f) for c, f in callees]))
    return ModuleFacts(bindings, classes, stars=stars, effects=effects)


def _bind_target_names(target: ast.AST, out: list[str]) -> None:
    if isinstance(target, ast.Name):
        out.append(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for t in target.elts:
            _bind_target_names(t, out)
    elif isinstance(target, ast.Starred):
        _bind_target_names(target.value, out)


def _is_accessor(name: str, st) -> bool:
    """``st`` is a ``def name`` decorated ``@name.setter`` / ``.deleter`` / ``.getter``."""
    return isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef)) and st.name == name and any(
        isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter", "getter")
        and isinstance(d.value, ast.Name) and d.value.id == name for d in st.decorator_list)


def _accessor_chain(name: str, bindings: list[Binding], nodes: dict) -> list[Binding]:
    """The defs that build property ``name`` (its getter first), ending at its last binding."""
    chain: list[Binding] = []
    for b in reversed(bindings):
        chain.insert(0, b)
        if b.kind != "def" or not any(_is_accessor(name, st) for st in nodes.get((b.start, b.end), ())):
            break
    return chain if chain[0].kind == "def" else []


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _callee(node: ast.AST) -> tuple[str | None, bool]:
    if isinstance(node, ast.Call):
        return _dotted(node.func), True
    return _dotted(node), False


def _effect(st: ast.stmt, start: int, end: int) -> Effect | None:
    """The import-time effect of an unconditional top-level statement, or None."""
    if isinstance(st, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and st.decorator_list:
        return Effect("decorated", start, end, st.name, [_callee(d) for d in reversed(st.decorator_list)])
    if isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
        return Effect("call", start, end, None, [_callee(st.value.func) if isinstance(st.value.func, ast.Call)
                                                 else (_dotted(st.value.func), False)])
    if isinstance(st, ast.Assign) and isinstance(st.value, ast.Call) and isinstance(st.targets[0], ast.Name):
        return Effect("assign", start, end, st.targets[0].id, [(_dotted(st.value.func), False)])
    return None


def _index_statements(stmts, bindings: dict[str, list[Binding]], classes: dict, conditional: bool,
                      nodes: dict, stars: list | None = None, effects: list | None = None) -> None:
    """Index ``stmts``; ``stars`` collects the ``from module import *`` statements (module level
    only: a class body cannot hold one), ``effects`` the unconditional top-level import-time effects."""
    for st in stmts:
        start = min([st.lineno] + [d.lineno for d in getattr(st, "decorator_list", [])])
        end = st.end_lineno or st.lineno
        nodes.setdefault((start, end), []).append(st)
        if effects is not None and not conditional:
            effect = _effect(st, start, end)
            if effect is not None:
                effects.append(effect)
        if isinstance(st, ast.ClassDef):
            bindings.setdefault(st.name, []).append(Binding("class", start, end, conditional))
            cf = ClassFacts(st.name, start, end, [ast.unparse(b) for b in st.bases])
            member_bindings: dict[str, list[Binding]] = {}
            _index_statements(st.body, member_bindings, {}, False, nodes, None)
            cf.members = {k: v[-1] for k, v in member_bindings.items()}
            cf.properties = {k: chain for k, v in member_bindings.items() if len(chain := _accessor_chain(k, v, nodes)) > 1}
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
                    if stars is not None:
                        stars.append(Binding("star", start, end, conditional, module=mod))
                    continue
                bindings.setdefault(alias.asname or alias.name, []).append(
                    Binding("from", start, end, conditional, module=mod, attr=alias.name)
                )
        elif isinstance(st, ast.If):
            _index_statements(st.body, bindings, classes, True, nodes, stars, effects)
            _index_statements(st.orelse, bindings, classes, True, nodes, stars, effects)
        elif isinstance(st, ast.Try):
            _index_statements(st.body, bindings, classes, True, nodes, stars, effects)
            for h in st.handlers:
                _index_statements(h.body, bindings, classes, True, nodes, stars, effects)
            _index_statements(st.orelse, bindings, classes, True, nodes, stars, effects)
            _index_statements(st.finalbody, bindings, classes, conditional, nodes, stars, effects)
        elif isinstance(st, ast.With):
            _index_statements(st.body, bindings, classes, conditional, nodes, stars, effects)


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
    stars: list[Binding] = []
    effects: list[Effect] = []
    _index_statements(tree.body, bindings, classes, False, nodes, stars, effects)
    _mark_fallbacks(tree, [b for bs in bindings.values() for b in bs] + stars)
    return ModuleFacts(bindings, classes, nodes, stars, effects)


def _mark_fallbacks(tree: ast.Module, bindings: list[Binding]) -> None:
    """Flag the module-level bindings made in an ``except`` handler (``try: from .real import *
    except E: from .dummy import *``): Python takes that path only when the ``try`` body raised."""
    spans = []
    stack = list(tree.body)
    while stack:
        st = stack.pop()
        if isinstance(st, ast.Try):
            spans += [(h.lineno, h.end_lineno or h.lineno) for h in st.handlers]
            stack += st.body + st.orelse + st.finalbody + [s for h in st.handlers for s in h.body]
        elif isinstance(st, (ast.If, ast.With)):
            stack += st.body + getattr(st, "orelse", [])
    for b in bindings:
        if any(lo <= b.start <= hi for lo, hi in spans):
            b.fallback = True


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
        self.ast_trees: dict = {}  # (start, end) -> (ast statements, base): file line = their line + base
        self._lines: list[str] | None = None
        self._facts: ModuleFacts | None = None
        self._snippets: dict = {}  # (start, end) -> sources.Snippet

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

    def snippet(self, start: int, end: int):
        """Lines start..end (1-based, inclusive) parsed as one statement with LibCST (a ``Snippet``)."""
        key = (start, end)
        snip = self._snippets.get(key)
        if snip is None:
            from analyzer.source.parse import parse_snippet  # LibCST: only when a definition is evaluated

            snip = self._snippets[key] = parse_snippet(self, start, end)
        return snip


class SourceIndex:
    """Resolves dotted module names to files: the analyzed package first, then the search path."""

    def __init__(self, src_dir: Path, search_paths: list[Path] | tuple = (), site_packages: bool = True,
                 facts_cache: bool = False):
        self.src_dir = src_dir
        self.facts_cache = facts_cache
        # a Hugging Face cache snapshot links its files to the repo's blobs/: those count as inside
        self.blobs = blobs_dir(src_dir)
        top = src_dir
        while (top / "__init__.py").is_file() and (top.parent / "__init__.py").is_file():
            top = top.parent
        if (src_dir / "__init__.py").is_file() and self.blobs is None:  # a snapshot is named by no package
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
                    if not inside and self.blobs and path.is_relative_to(self.src_dir) \
                            and resolved.is_relative_to(self.blobs):
                        inside, display = True, str(path.relative_to(self.src_dir))
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

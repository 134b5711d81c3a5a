"""Source spans, diagnostics with codes, and the exit-code policy.

Every problem the analyzer meets becomes a ``Diagnostic``; nothing is raised to the user
as a traceback. The catalogue of codes lives in ``CODES`` and in docs/diagnostics.md.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# code -> (severity, one-line meaning)
CODES: dict[str, tuple[str, str]] = {
    "E001": ("error", "syntax error in an analyzed source file"),
    "E002": ("error", "input path missing, unreadable or outside the source folder"),
    "E003": ("error", "bad config.json or --set override"),
    "E004": ("error", "cannot determine or resolve the root (--root / auto_map)"),
    "E005": ("error", "bad rules file"),
    "E006": ("error", "bad JSON tree input"),
    "E007": ("error", "runtime dump failed"),
    "E008": ("error", "a Hub model id cannot be resolved or downloaded"),
    "W101": ("warning", "a config key the model reads is missing"),
    "W102": ("warning", "a name or import could not be resolved"),
    "W103": ("warning", "a class or callable is unknown to the analyzer"),
    "W104": ("warning", "a construct the evaluator does not follow"),
    "W105": ("warning", "a condition or loop could not be decided statically"),
    "W106": ("warning", "the analyzed code raises an exception here"),
    "W107": ("warning", "evaluation budget exhausted (step limit or recursion depth)"),
    "W108": ("warning", "an attribute that may hold a module got an unknown value"),
    "I201": ("info", "a YAML fallback rule was used instead of installed package source"),
    "I202": ("info", "a module was stubbed in the runtime dump"),
    "I203": ("info", "the model code read os.environ: what the analysis assumed (--env)"),
    "I204": ("info", "the model code read torch.__version__: the torch version the analysis assumes"),
}


@dataclass(frozen=True, order=True)
class SourceSpan:
    """A place in a file: 1-based line, 0-based column (LibCST's convention)."""

    path: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"

    def short(self) -> str:
        return f"{self.path}:{self.line}" if self.line > 0 else self.path


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: SourceSpan | None = None
    module: str | None = None  # dotted name of the module marked partial, if any

    @property
    def severity(self) -> str:
        return CODES.get(self.code, ("error", ""))[0]

    def format(self) -> str:
        where = f"{self.span} " if self.span else ""
        extra = f" [module '{self.module}']" if self.module is not None else ""
        return f"{where}{self.code} {self.message}{extra}"

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "span": str(self.span) if self.span else None,
            "module": self.module,
        }


class AnalyzerError(Exception):
    """A fatal input problem: reported as a diagnostic, exit code 2."""

    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass
class Reporter:
    """Collects diagnostics, de-duplicated and in a deterministic order."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set = field(default_factory=set)

    def add(self, diag: Diagnostic) -> None:
        key = (diag.code, diag.message, diag.span, diag.module)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(diag)

    def sorted(self) -> list[Diagnostic]:
        return sorted(
            self.items,
            key=lambda d: (d.span or SourceSpan(""), d.code, d.message, d.module or ""),
        )


EXIT_OK = 0
EXIT_DIFFERENT = 1
EXIT_ERROR = 2

"""Accelerators as data: rules/hardware/*.yaml (or a user's file, ``--hardware FILE``) loaded into
a frozen ``Hardware`` of exact numbers (``Fraction``), each figure with the datasheet it comes from.

File shape (units as datasheets print them; GB = 10^9 bytes, TFLOPS = 10^12 FLOP/s):

    name: h100-sxm
    title: NVIDIA H100 SXM 80GB
    sources: {datasheet: {title: ..., url: ...}}     # one or more, named
    peak_tflops: {bf16: {value: 989.5, source: datasheet, note: "..."}, fp32: ..., ...}   # DENSE
    memory_bandwidth_gb_per_s: {value: 3350, source: datasheet}
    memory_capacity_gb: {value: 80, source: datasheet}
    notes: ["..."]

Peak figures are dense: never the "with sparsity" ones (a datasheet that prints only those is
halved, and the figure's note says so). Pure Python, no SymPy.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from analyzer.diagnostics import AnalyzerError, Diagnostic, SourceSpan
from analyzer.rules import RULES_DIR, load_yaml

HARDWARE_DIR = RULES_DIR / "hardware"
PEAK_KEYS = ("fp32", "tf32", "bf16", "fp16", "fp8", "int8")
_KEYS = {"name", "title", "sources", "peak_tflops", "memory_bandwidth_gb_per_s", "memory_capacity_gb", "notes"}
TERA, GIGA = 10 ** 12, 10 ** 9


@dataclass(frozen=True)
class Figure:
    value: Fraction  # in SI base units: FLOP/s, B/s or B
    printed: str  # the value as the file gives it, with its unit ("989.5 TFLOPS")
    source: dict  # {"title", "url"}
    note: str = ""


@dataclass(frozen=True)
class Hardware:
    name: str
    title: str
    path: str
    peaks: dict  # dtype key -> Figure (FLOP/s, dense)
    bandwidth: Figure  # B/s
    capacity: Figure  # B
    notes: tuple = ()

    def peak(self, key: str) -> Figure:
        if key not in self.peaks:
            raise AnalyzerError(Diagnostic("E003", f"{self.title}: no {key} peak in {Path(self.path).name} "
                                                   f"(it gives {', '.join(self.peaks) or 'none'}); choose "
                                                   "another --dtype or --peak-dtype"))
        return self.peaks[key]


def _bad(path, key, message) -> AnalyzerError:
    return AnalyzerError(Diagnostic("E005", f"{key}: {message}", SourceSpan(str(path))))


def known_hardware() -> list:
    return sorted(p.stem for p in HARDWARE_DIR.glob("*.yaml"))


def hardware_path(spec: str) -> Path:
    """A file (a path that exists, or ends in .yaml/.yml) or the name of a shipped accelerator."""
    p = Path(spec)
    if p.suffix in (".yaml", ".yml") or p.is_file():
        if not p.is_file():
            raise AnalyzerError(Diagnostic("E003", f"--hardware: no file {spec!r}"))
        return p
    path = HARDWARE_DIR / f"{spec}.yaml"
    if not path.is_file():
        raise AnalyzerError(Diagnostic("E003", f"--hardware: unknown accelerator {spec!r} "
                                               f"(known: {', '.join(known_hardware())}; or give a YAML file)"))
    return path


def _number(raw, path, key) -> Fraction:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        raise _bad(path, key, f"expected a positive number, got {raw!r}")
    return Fraction(str(raw))


def _figure(raw, scale: int, unit: str, sources: dict, path, key) -> Figure:
    if not isinstance(raw, dict) or "value" not in raw or not set(raw) <= {"value", "source", "note"}:
        raise _bad(path, key, "expected {value, source, note?}")
    src = raw.get("source")
    if src not in sources:
        raise _bad(path, f"{key}.source", f"expected one of the sources {sorted(sources)}, got {src!r}")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise _bad(path, f"{key}.note", "expected a string")
    value = _number(raw["value"], path, f"{key}.value")
    return Figure(value * scale, f"{raw['value']:,} {unit}", dict(sources[src]), note)


def load_hardware(spec: str) -> Hardware:
    path = hardware_path(spec)
    data = load_yaml(path)
    need = {"name", "peak_tflops", "memory_bandwidth_gb_per_s", "memory_capacity_gb", "sources"}
    if not isinstance(data, dict) or not need <= set(data) or not set(data) <= _KEYS:
        raise _bad(path, "(top)", f"expected keys {sorted(_KEYS)} ({', '.join(sorted(need))} required)")
    sources = data["sources"]
    if not isinstance(sources, dict) or not sources or not all(
            isinstance(s, dict) and set(s) == {"title", "url"} and all(isinstance(v, str) and v for v in s.values())
            for s in sources.values()):
        raise _bad(path, "sources", "expected NAME -> {title, url} (strings), at least one")
    peaks_raw = data["peak_tflops"]
    if not isinstance(peaks_raw, dict) or not peaks_raw:
        raise _bad(path, "peak_tflops", f"expected a mapping of {', '.join(PEAK_KEYS)} -> figure")
    peaks = {}
    for k, raw in peaks_raw.items():
        if k not in PEAK_KEYS:
            raise _bad(path, f"peak_tflops.{k}", f"expected one of {', '.join(PEAK_KEYS)}")
        peaks[k] = _figure(raw, TERA, "TOPS" if k == "int8" else "TFLOPS", sources, path, f"peak_tflops.{k}")
    notes = data.get("notes") or []
    if not isinstance(notes, list) or not all(isinstance(n, str) for n in notes):
        raise _bad(path, "notes", "expected a list of strings")
    return Hardware(str(data["name"]), str(data.get("title") or data["name"]), str(path), peaks,
                    _figure(data["memory_bandwidth_gb_per_s"], GIGA, "GB/s", sources, path, "memory_bandwidth_gb_per_s"),
                    _figure(data["memory_capacity_gb"], GIGA, "GB", sources, path, "memory_capacity_gb"),
                    tuple(notes))

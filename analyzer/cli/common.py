"""What the subcommands share: the model source and static options, output writing and the
diagnostics report. Imported by cli/main.py and cli/costs.py (which never import each other's
commands)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analyzer.diagnostics import AnalyzerError


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model source options")
    g.add_argument("--root", metavar="FILE_STEM:NAME",
                   help="class or zero-argument factory to build (default: config.json auto_map.AutoModel)")
    g.add_argument("--config", metavar="PATH", help="config file (default: SRC/config.json)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config.json key; VALUE is parsed as JSON, else taken as a string (repeatable)")
    g.add_argument("--attn-implementation", choices=["eager", "sdpa", "flash_attention_2"],
                   help="as transformers' attn_implementation; default: what transformers picks "
                        "(sdpa when the model class declares support, else eager)")
    g.add_argument("--stages", metavar="YAML", help="your own stage mapping (default: rules/stages.yaml)")


def _add_static_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-cache", action="store_true",
                   help="do not read or write the result cache (see 'cache --help')")
    p.add_argument("--search-path", dest="search_paths", action="append", default=[], metavar="DIR",
                   help="where imported packages' source (transformers, timm...) is looked up before "
                        "this interpreter's site-packages (repeatable)")
    p.add_argument("--no-site-packages", action="store_true",
                   help="read imported packages only from --search-path dirs, never from this interpreter's "
                        "site-packages (reproducible CI; YAML fallbacks apply to what is missing)")


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(target).write_text(text, encoding="utf-8")
        except OSError as exc:
            from analyzer.diagnostics import Diagnostic, SourceSpan

            raise AnalyzerError(Diagnostic("E002", f"cannot write output: {exc.strerror or exc}", SourceSpan(target))) from None


def _report(diagnostics) -> None:
    from analyzer.render.tree import diagnostics_text

    sys.stderr.write(diagnostics_text(diagnostics))

"""What the subcommands share: the model source and static options, output writing and the
diagnostics report. Imported by cli/main.py and cli/costs.py (which never import each other's
commands)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analyzer.diagnostics import AnalyzerError


SRC_HELP = ("a Hub id ORG/NAME, read from the local Hugging Face cache (see --revision, --download), "
            "or a folder with the model's Python files and config.json (an existing folder wins)")

HUB_EPILOG = """\
SRC is a Hub id or a folder. A Hub id is read offline from the Hugging Face cache ($HF_HUB_CACHE, else
$HF_HOME/hub, else ~/.cache/huggingface/hub), where transformers and huggingface_hub put it; nothing
touches the network unless you pass --download, which fetches only *.py, *.json and *.txt (never weights).
"""


def _add_source_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model source options")
    g.add_argument("--revision", metavar="REV",
                   help="for a Hub id: the branch, tag or commit to read (default: main)")
    g.add_argument("--download", action="store_true",
                   help="for a Hub id: first fetch its code files (*.py, *.json, *.txt; never weights) into the "
                        "Hugging Face cache; needs pip install 'modeltree-analyzer[hub]', honours HF_TOKEN and "
                        "HF_HUB_OFFLINE")
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
    p.add_argument("--env", dest="env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable as the model code would see it in os.environ (repeatable); "
                        "the analysis never reads the real environment: unset keys read as unset, and every "
                        "key read is reported (I203)")


def env_pairs(items) -> dict:
    """``--env KEY=VALUE`` options as a dict (E003 for a malformed one)."""
    out = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            from analyzer.diagnostics import Diagnostic

            raise AnalyzerError(Diagnostic("E003", f"--env expects KEY=VALUE, got {item!r}"))
        out[key] = value
    return out


def _write(target: str, text: str) -> None:
    if target == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(target).write_text(text, encoding="utf-8")
        except OSError as exc:
            from analyzer.diagnostics import Diagnostic, SourceSpan

            raise AnalyzerError(Diagnostic("E002", f"cannot write output: {exc.strerror or exc}", SourceSpan(target))) from None


def _report(diagnostics, notes=()) -> None:
    from analyzer.render.tree import diagnostics_text

    sys.stderr.write("".join(f"note: {n}\n" for n in notes) + diagnostics_text(diagnostics))

"""Command line for the visual report: ``report SRC -o report.html``. No logic here.

``add_parser(subparsers)`` registers the subcommand (the source, static and workload options of
``costs``) and returns {name: function} for ``analyzer.cli.main`` to dispatch. The page always
shows the tree; when the workload or cost step fails (a bad option, a workload file that does not
fit the model), the page says why its costs are missing, and the exit code is 1.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EPILOG = """\
examples:
  python -m analyzer report ~/models/MyModel -o report.html
  python -m analyzer report SRC --mode gundam --crops 4 -o report.html        # the workload options of costs
  python -m analyzer report fixtures/sample_vlm --families fixtures/sample_vlm.families.yaml \\
      --workload fixtures/sample_vlm.workload.yaml -o sample.html

The page is one self-contained HTML file (CSS, JavaScript and SVG charts inline; it loads nothing),
byte-identical for the same inputs: the header (model, source, config, analyzer version), the
parameters and costs per stage as charts and tables, the workload and its conventions, the
collapsible and searchable module tree (repeated siblings folded: layers.[1-11]), the diagnostics.
exit codes: 0 complete; 1 costs missing or incomplete, or the tree partial (the page is written); 2 error.
"""


def add_parser(subparsers) -> dict:
    from analyzer.cli import common as cli
    from analyzer.cli.costs import _add_workload_options

    p = subparsers.add_parser("report", help="write one self-contained HTML page: tree, stages, costs, diagnostics",
                              description="A visual report of a model: one self-contained HTML page with the module "
                                          "tree, parameters, FLOPs and bytes per stage (charts and tables), the workload "
                                          "and the diagnostics. Offline, deterministic.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=cli.SRC_HELP)
    cli._add_source_options(p)
    cli._add_static_options(p)
    _add_workload_options(p)
    p.add_argument("-o", "--output", default="report.html", metavar="PATH",
                   help="the HTML file to write (default: report.html; '-' for stdout)")
    return {"report": cmd_report}


def _config(args, tree):
    """The config dict the analysis used (config.json after --set), or None."""
    from analyzer.diagnostics import AnalyzerError
    from analyzer.source import inputs

    hub = tree.meta.get("hub")
    folder = Path(os.path.expanduser(hub["path"])) if isinstance(hub, dict) and isinstance(hub.get("path"), str) else Path(args.src)
    path = Path(args.config) if args.config else folder / "config.json"
    if not path.is_file():
        return None
    try:
        return inputs.load_config(path, args.overrides)[0]
    except AnalyzerError:
        return None


def cmd_report(args) -> int:
    from analyzer.cli import costs as cost_cli
    from analyzer.cli.common import _write
    from analyzer.costs.summary import summary
    from analyzer.diagnostics import EXIT_DIFFERENT, AnalyzerError
    from analyzer.render.report import report_html

    result, attrs = cost_cli._report(args, static_only=True)
    doc = missing = prose = report = None
    try:
        report = cost_cli._costs(args, result, attrs)
    except AnalyzerError as exc:
        missing = exc.diagnostic.format()
        sys.stderr.write(f"{missing}\nnote: the report shows the tree without costs\n")
    else:
        doc = summary(report)
        model = report.workload.model
        prose = {"remarks": dict(model.remarks), "notes": list(model.notes), "references": list(model.references)}
    html = report_html(result.tree, result.diagnostics, source=args.src, costs=doc, costs_missing=missing,
                       config=_config(args, result.tree), overrides=args.overrides, prose=prose)
    _write(args.output, html)
    if args.output != "-":
        sys.stderr.write(f"wrote {args.output} ({len(result.tree.modules)} modules, {len(html.encode()):,} bytes)\n")
    if report is None:
        return EXIT_DIFFERENT
    return cost_cli._exit(result, report)

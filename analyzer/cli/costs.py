"""Command line for the cost models: ``costs`` and ``formulations``. No logic here.

``add_parsers(subparsers)`` registers both subcommands (with the same model source options as
``tree``) and returns {name: function} for ``analyzer.cli`` to dispatch.
SymPy is imported only when one of these commands runs, never by ``tree``.
"""
from __future__ import annotations

import argparse
import sys

COSTS_EPILOG = """\
examples (modes are the workload file's; these are the default workload's):
  python -m analyzer costs my-org/my-model --mode base              # a Hub id, from the Hugging Face cache
  python -m analyzer costs ~/models/MyModel --mode base               # a folder
  python -m analyzer costs SRC --mode gundam --crops 4 --text-tokens 100 --kv-length 2048   # a mode with crops
  python -m analyzer costs SRC --mode gundam --crop-grid 3x2 --json costs.json
  python -m analyzer costs SRC --mode text --text-tokens 1024          # a prompt without image
  python -m analyzer costs SRC --workload my_workload.yaml --families my_families.yaml   # another model
  python -m analyzer costs SRC --mode base --hardware h100-sxm         # + times, bounds, throughput, memory
  python -m analyzer costs SRC --hardware a100-sxm-80gb --batch 8 --memory-efficiency 0.8
  python -m analyzer costs SRC --hardware my_gpu.yaml                  # your accelerator (docs/schema.md)

prefill = one pass over the image(s) and the S-token prompt (S = LLM image tokens + text tokens);
decode = one step of one new token attending over T keys (default T = S + 1).
exit codes: 0 every module handled; 1 some module unsupported or the tree partial; 2 error.

SRC is a Hub id ORG/NAME (read offline from the Hugging Face cache; --revision, --download) or a folder.
"""


def _add_workload_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("workload options")
    g.add_argument("--mode", metavar="MODE",
                   help="resolution mode, one of the workload file's `modes` (default: its `defaults.mode`)")
    g.add_argument("--crops", type=int, metavar="N",
                   help="a mode with crops: N crops (grid: the most square W x H, W <= H)")
    g.add_argument("--crop-grid", metavar="WxH", help="a mode with crops: the crop grid, W crops across, H down")
    g.add_argument("--text-tokens", type=int, metavar="N",
                   help="non-image prompt tokens (BOS, template, text); default from the workload file")
    g.add_argument("--kv-length", type=int, metavar="T", help="keys the decode step attends over (default S + 1)")
    g.add_argument("--dtype", default="bf16", choices=["bf16", "fp16", "fp32", "fp8"], help="element type (default bf16)")
    g.add_argument("--lm-head", choices=["all", "last"], help="positions lm_head projects in the prefill: all "
                   "(a forward computing every position's logits) or last; default: the workload file's "
                   "lm_head_positions convention")
    g.add_argument("--image-size", metavar="N|HxW",
                   help="an image-encoder workload: the input image, N x N or H x W pixels (default: the template's)")
    g.add_argument("--workload", metavar="YAML",
                   help="workload model (default: the most specific template of rules/workloads/index.yaml "
                        "whose `applies` rule fits the tree)")
    g.add_argument("--families", action="append", default=[], metavar="YAML",
                   help="extra class -> family mappings layered over rules/families.yaml (repeatable)")


def _add_hardware_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("roofline options (times, bounds, throughput and memory footprint)")
    g.add_argument("--hardware", metavar="NAME|YAML",
                   help="an accelerator of rules/hardware/ (a100-sxm-80gb, h100-sxm, h200, b200, l40s, mi300x) or "
                        "your own YAML file of the same shape: adds the roofline section")
    g.add_argument("--batch", type=int, default=1, metavar="B",
                   help="requests run together: FLOPs, activations and KV cache scale with B, weights are read "
                        "once per forward (default 1)")
    g.add_argument("--compute-efficiency", type=float, default=1.0, metavar="F",
                   help="fraction of the dense peak reached, in (0, 1] (default 1.0)")
    g.add_argument("--memory-efficiency", type=float, default=1.0, metavar="F",
                   help="fraction of the memory bandwidth reached, in (0, 1] (default 1.0)")
    g.add_argument("--peak-dtype", choices=["fp32", "tf32", "bf16", "fp16", "fp8", "int8"],
                   help="the datasheet peak to use (default: the one of --dtype; e.g. tf32 for fp32 matmuls on "
                        "tensor cores)")


def add_parsers(subparsers) -> dict:
    from analyzer.cli import common as cli

    p = subparsers.add_parser("costs", help="FLOPs, bytes and params per stage for a workload (prefill + decode)",
                              description="Analytic cost model of a model folder for one workload: per stage and in "
                                          "total, params, FLOPs (2 per multiply-add, as torch.utils.flop_counter), "
                                          "weight and activation bytes and arithmetic intensity, symbolic and evaluated.",
                              epilog=COSTS_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=cli.SRC_HELP)
    cli._add_source_options(p)
    cli._add_static_options(p)
    _add_workload_options(p)
    p.add_argument("--json", metavar="PATH", help="write the costs as JSON ('-' for stdout)")
    _add_hardware_options(p)

    p = subparsers.add_parser("formulations", help="write module_formulations.md: every family's math and costs",
                              description="The formulation document of a model folder: conventions, stage totals, "
                                          "every family's LaTeX math and cost expressions, and per stage the module "
                                          "groups (index patterns, counts, dims, per-call and evaluated costs).",
                              epilog="examples:\n"
                                     "  python -m analyzer formulations my-org/my-model -o module_formulations.md\n"
                                     "  python -m analyzer formulations ~/models/MyModel -o formulations.json --json\n\n"
                                     + cli.HUB_EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=cli.SRC_HELP)
    cli._add_source_options(p)
    cli._add_static_options(p)
    _add_workload_options(p)
    p.add_argument("-o", "--output", default="-", metavar="PATH", help="output file ('-' for stdout, the default)")
    p.add_argument("--json", action="store_true", help="write the same content as JSON instead of Markdown")
    return {"costs": cmd_costs, "formulations": cmd_formulations}


def _report(args, *, static_only: bool = False):
    """Static analysis (with attributes) -> families -> workload -> Report; with ``static_only``,
    (Analysis, attributes) without the costs step (``_costs``)."""
    from analyzer.cli.common import _report as report_diagnostics
    from analyzer.api import analyze_with_attrs

    extra = {"site_packages": not args.no_site_packages} if hasattr(args, "no_site_packages") else {}
    from analyzer.cli.common import env_pairs

    extra["env"] = env_pairs(getattr(args, "env", ()))
    result, attrs = analyze_with_attrs(args.src, root=args.root, config=args.config, overrides=args.overrides,
                                       search_paths=args.search_paths, attn_implementation=args.attn_implementation,
                                       stages=args.stages, revision=args.revision, download=args.download, **extra)
    report_diagnostics(result.diagnostics, result.notes)
    if static_only:
        return result, attrs
    return result, _costs(args, result, attrs)


def _costs(args, result, attrs):
    """Families -> workload -> Report; an AnalyzerError for a bad families or workload file or option."""
    from analyzer.costs import aggregate as costs, workload

    binder = costs.build_binder(result.tree, attrs, family_files=args.families)
    model = workload.load_workload_model(args.workload) if args.workload else workload.select_template(binder)
    chosen = workload.choose(model, mode=args.mode, crops=args.crops, crop_grid=args.crop_grid,
                             text_tokens=args.text_tokens, kv_length=args.kv_length, dtype=args.dtype,
                             conventions={"lm_head_positions": args.lm_head} if args.lm_head else None,
                             image_size=getattr(args, "image_size", None))
    return costs.run_workload(binder, chosen, role_stages=not args.stages)


def _hub_meta(result) -> dict | None:
    """The ``meta`` of the costs document: where a Hub id's source came from (else none)."""
    meta = {k: result.tree.meta[k] for k in ("hub", "code_repo") if k in result.tree.meta}
    return meta or None


def _exit(result, report) -> int:
    from analyzer.diagnostics import EXIT_DIFFERENT, EXIT_OK

    if report.walk.unsupported or result.partial:
        sys.stderr.write(f"note: {len(report.walk.unsupported)} unsupported module(s)"
                         f"{' and a PARTIAL static tree' if result.partial else ''}: totals are incomplete\n")
        return EXIT_DIFFERENT
    return EXIT_OK


def cmd_costs(args) -> int:
    from analyzer.cli.common import _write
    from analyzer.costs.summary import summary
    from analyzer.render.costs import costs_json, costs_text

    result, report = _report(args)
    doc = summary(report, _hub_meta(result))
    if args.hardware:
        doc["roofline"] = _roofline(args, report)
    if args.json:
        _write(args.json, costs_json(doc))
    if args.json != "-":
        sys.stdout.write(costs_text(doc, remarks=report.workload.model.remarks))
        if args.hardware:
            from analyzer.render.roofline import roofline_text

            sys.stdout.write(roofline_text(doc))
    return _exit(result, report)


def _roofline(args, report) -> dict:
    from analyzer.costs import roofline_summary
    from analyzer.costs.hardware import load_hardware

    opt = roofline_summary.options(args.batch, args.compute_efficiency, args.memory_efficiency)
    return roofline_summary.build(report, load_hardware(args.hardware), opt, args.peak_dtype)


def cmd_formulations(args) -> int:
    from analyzer.costs import formulations
    from analyzer.cli.common import _write
    from analyzer.render.formulations import formulations_json, formulations_markdown

    result, report = _report(args)
    doc = formulations.build(report, _hub_meta(result))
    _write(args.output, formulations_json(doc) if args.json else formulations_markdown(doc))
    if args.output != "-":
        sys.stderr.write(f"wrote {args.output}\n")
    return _exit(result, report)

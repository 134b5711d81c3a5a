"""Command line: ``python -m analyzer COMMAND ...``. ``main(argv) -> int``; no analysis logic here.

Exit codes: 0 success (identical, complete), 1 differences found or the static tree is partial,
2 bad input or an error (a diagnostic on stderr, never a traceback).
"""
from __future__ import annotations

import argparse
import sys

from analyzer.cli.common import env_pairs, HUB_EPILOG, SRC_HELP, _add_source_options, _add_static_options, _report, _write
from analyzer.diagnostics import EXIT_DIFFERENT, EXIT_ERROR, EXIT_OK, AnalyzerError

DESCRIPTION = """\
Static analyzer of PyTorch model source. It reads a model folder (Python files + config.json),
never imports or runs it, and rebuilds exactly what model.named_modules() would give: names in
registration order, classes, own parameter and buffer shapes, plus a stage tag and a leaf flag.
"""

EPILOG = """\
examples:
  python -m analyzer tree my-org/my-model                     # a Hub id, from the Hugging Face cache
  python -m analyzer tree my-org/my-model --download          # not cached yet: fetch its code (no weights)
  python -m analyzer tree my-org/my-model --revision v1.0 --json out.json   # a branch, tag or commit
  python -m analyzer tree fixtures/sample_vlm                 # a folder: the built-in sample model
  python -m analyzer tree ~/models/MyModel --json out.json
  python -m analyzer tree SRC --root encoder:build_encoder    # a sub-model from a factory (FILE_STEM:NAME)
  python -m analyzer tree SRC --attn-implementation flash_attention_2
  python -m analyzer dump-runtime SRC --stub-module torchvision -o runtime.json   # runs the code!
  python -m analyzer check SRC --against runtime.json         # the CI gate
  python -m analyzer diff SRC runtime.json --ignore-class LlamaAttention=LlamaFlashAttention2

exit codes: 0 ok / identical; 1 differences, or a partial static tree; 2 bad input or error.
""" + "\n" + HUB_EPILOG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analyzer", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("tree", help="print the static module tree of a model folder",
                       description="Rebuild model.named_modules() statically from the source in SRC.",
                       epilog="examples:\n"
                              "  python -m analyzer tree my-org/my-model                          # from the HF cache\n"
                              "  python -m analyzer tree my-org/my-model --download               # code only, no weights\n"
                              "  python -m analyzer tree ORG/NAME --revision 0123abc...(40 hex) --json tree.json\n"
                              "  python -m analyzer tree ~/models/MyModel --max-depth 2\n\n"
                              "Output lines: name: Class  [stage]  leaf  param[shape] ... ; PARTIAL marks modules\n"
                              "the evaluator could not fully resolve (see the diagnostics on stderr).\n\n" + HUB_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=SRC_HELP)
    _add_source_options(p)
    _add_static_options(p)
    p.add_argument("--json", metavar="OUT", help="write the full tree as JSON (schema modeltree/1); '-' for stdout")
    p.add_argument("--seed-json", metavar="OUT", help="write the plain [{name, class, stage}] list; '-' for stdout")
    p.add_argument("--max-depth", type=int, metavar="N", help="print only modules up to depth N")

    p = sub.add_parser("dump-runtime", help="OPT-IN: build the model for real on the meta device and dump its tree",
                       description="Imports and EXECUTES the model code in SRC (on torch.device('meta'): no weights, "
                                   "no GPU) and writes its named_modules() tree in the same JSON schema as 'tree --json'. "
                                   "Needs: pip install -e '.[runtime]'.",
                       epilog="example: python -m analyzer dump-runtime my-org/my-model --stub-module torchvision "
                              "-o runtime.json\n\n" + HUB_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=SRC_HELP)
    _add_source_options(p)
    p.add_argument("--stub-module", dest="stubs", action="append", default=[], metavar="NAME",
                   help="replace an import needed only at inference time (e.g. torchvision) by a stub (repeatable)")
    p.add_argument("-o", "--output", metavar="OUT", default="-", help="output JSON file ('-' for stdout, the default)")

    p = sub.add_parser("diff", help="compare two trees (source folders or JSON dumps)",
                       description="Each side is a model source folder (analyzed statically) or a JSON tree: this "
                                   "tool's schema, a runtime dump, or a plain [{name, class, stage}] list. Reports "
                                   "missing modules, class, order, parameter, buffer and stage changes, grouped and "
                                   "collapsed (layers.{1..11}.mlp.experts.{0..63}).",
                       epilog="examples:\n"
                              "  python -m analyzer diff my-org/my-model runtime.json             # Hub id vs a dump\n"
                              "  python -m analyzer diff ORG/NAME ~/models/NAME                    # cache vs a local copy\n"
                              "  python -m analyzer diff tree_a.json tree_b.json --json -\n\n"
                              "A side is a model when it is a folder, or an ORG/NAME that is no existing path and does\n"
                              "not end in .json; otherwise it is a JSON tree file.\n\n" + HUB_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("left", metavar="LEFT", help="a JSON tree file, or a model (Hub id or folder) analyzed statically")
    p.add_argument("right", metavar="RIGHT", help="the same, for the other side")
    _add_source_options(p)
    _add_static_options(p)
    p.add_argument("--ignore-class", action="append", default=[], metavar="A=B",
                   help="accept class A on one side for class B on the other (repeatable)")
    p.add_argument("--only-stage", action="append", default=[], metavar="STAGE",
                   help="compare only modules of this stage (repeatable)")
    p.add_argument("--json", metavar="OUT", help="write the differences as JSON ('-' for stdout)")

    p = sub.add_parser("check", help="CI gate: static tree of SRC against a committed runtime dump",
                       description="Runs the static analysis of SRC, diffs it against the JSON tree given with "
                                   "--against, and prints one summary line. Exit 0 only when identical and complete.",
                       epilog="examples:\n"
                              "  python -m analyzer check my-org/my-model --against runtime.json\n"
                              "  python -m analyzer check vendor/my-model --against vendor/my-model.runtime.json\n\n"
                              + HUB_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", metavar="SRC", help=SRC_HELP)
    p.add_argument("--against", required=True, metavar="JSON", help="runtime dump (dump-runtime output or a seed list)")
    _add_source_options(p)
    _add_static_options(p)
    p.add_argument("--ignore-class", action="append", default=[], metavar="A=B")
    p.add_argument("--only-stage", action="append", default=[], metavar="STAGE")
    p.add_argument("-v", "--verbose", action="store_true", help="print the full diff report, not only the summary")
    p = sub.add_parser("cache", help="show or clear the result cache",
                       description="Static results are cached under a key of everything they depend on (source "
                                   "file hashes, config, options, rules) and reused only when every file read still "
                                   "has the same hash; below them, each source file's index is cached under the "
                                   "hash of its bytes (facts/). Location: $MODELTREE_CACHE_DIR, else "
                                   "$XDG_CACHE_HOME/modeltree-analyzer, else ~/.cache/modeltree-analyzer.")
    p.add_argument("action", choices=["clear", "dir"], help="clear: delete every entry (results and per-file facts); dir: print the location")

    from analyzer.cli.costs import add_parsers
    from analyzer.cli.report import add_parser as add_report_parser

    COMMANDS.update(add_parsers(sub))
    COMMANDS.update(add_report_parser(sub))
    return parser


def _analyze(args, src):
    from analyzer.api import analyze

    return analyze(src, root=args.root, config=args.config, overrides=args.overrides,
                   search_paths=args.search_paths, attn_implementation=args.attn_implementation, stages=args.stages,
                   use_cache=not args.no_cache, site_packages=not args.no_site_packages, prefetch=True,
                   env=env_pairs(getattr(args, "env", ())),
                   revision=args.revision, download=args.download)


def cmd_tree(args) -> int:
    from analyzer.render import tree as render

    result = _analyze(args, args.src)
    _report(result.diagnostics, result.notes)
    if args.json:
        _write(args.json, render.tree_json(result.tree, result.diagnostics))
    if args.seed_json:
        _write(args.seed_json, render.seed_json(result.tree))
    if "-" not in (args.json, args.seed_json):
        sys.stdout.write(render.text_tree(result.tree, result.diagnostics, max_depth=args.max_depth))
    return EXIT_DIFFERENT if result.partial else EXIT_OK


def cmd_dump_runtime(args) -> int:
    from analyzer.render import tree as render
    from analyzer.tree.runtime import dump_runtime

    sys.stderr.write("dump-runtime: importing and EXECUTING the model code in "
                     f"{args.src} (on torch.device('meta'), no weights)\n")
    notes: list[str] = []
    tree = dump_runtime(args.src, root=args.root, config=args.config, overrides=args.overrides,
                        attn_implementation=args.attn_implementation, stub_modules=args.stubs, stages=args.stages,
                        revision=args.revision, download=args.download, notes=notes)
    _report([], notes)
    for name in tree.meta.get("stubs", []):
        sys.stderr.write(f"I202 module '{name}' was replaced by a stub (--stub-module)\n")
    _write(args.output, render.tree_json(tree, []))
    if args.output != "-":
        sys.stderr.write(f"wrote {len(tree.modules)} modules to {args.output}\n")
    return EXIT_OK


def _side(args, path: str):
    """A diff side: a model (a folder or a Hub id) is analyzed statically, a file is read as a JSON tree."""
    from analyzer.source.inputs import names_model
    from analyzer.tree.diff import load_tree

    if names_model(path):
        result = _analyze(args, path)
        _report(result.diagnostics, result.notes)
        return result.tree, result.partial
    return load_tree(path), False


def _pairs(items: list[str]) -> dict[str, str]:
    from analyzer.diagnostics import Diagnostic

    out = {}
    for item in items:
        a, sep, b = item.partition("=")
        if not sep or not a or not b:
            raise AnalyzerError(Diagnostic("E003", f"--ignore-class expects A=B, got {item!r}"))
        out[a] = b
    return out


def cmd_diff(args) -> int:
    import json

    from analyzer.tree.diff import diff_trees, require_related
    from analyzer.render.diff import render_text

    left, lpartial = _side(args, args.left)
    right, rpartial = _side(args, args.right)
    require_related(left, right, args.left, args.right)
    result = diff_trees(left, right, ignore_class=_pairs(args.ignore_class), only_stages=set(args.only_stage) or None)
    if args.json:
        _write(args.json, json.dumps(result.to_json(), indent=1) + "\n")
    if args.json != "-":
        sys.stdout.write(render_text(result, args.left, args.right))
    if lpartial or rpartial:
        sys.stderr.write("note: a static side is PARTIAL; see its diagnostics\n")
    return EXIT_OK if result.identical and not (lpartial or rpartial) else EXIT_DIFFERENT


def cmd_check(args) -> int:
    from analyzer.tree.diff import diff_trees, load_tree, require_related
    from analyzer.render.diff import render_text, summary_line

    against = load_tree(args.against)
    result = _analyze(args, args.src)
    _report(result.diagnostics, result.notes)
    require_related(result.tree, against, args.src, args.against)
    diff = diff_trees(result.tree, against, ignore_class=_pairs(args.ignore_class),
                      only_stages=set(args.only_stage) or None)
    if args.verbose or not diff.identical:
        sys.stdout.write(render_text(diff, args.src, args.against))
    else:
        sys.stdout.write(summary_line(diff) + "\n")
    if result.partial:
        sys.stdout.write(f"static tree is PARTIAL ({sum(m.partial for m in result.tree.modules)} module(s)); "
                         "the check cannot pass until the diagnostics above are resolved\n")
    return EXIT_OK if diff.identical and not result.partial else EXIT_DIFFERENT


def cmd_cache(args) -> int:
    from analyzer import cache

    if args.action == "clear":
        n = cache.clear()
        sys.stdout.write(f"removed {n} cache entr{'y' if n == 1 else 'ies'} from {cache.cache_dir()}\n")
    else:
        sys.stdout.write(f"{cache.cache_dir()}\n")
    return EXIT_OK


COMMANDS = {"cache": cmd_cache, "tree": cmd_tree, "dump-runtime": cmd_dump_runtime, "diff": cmd_diff, "check": cmd_check}


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_ERROR
    try:
        return COMMANDS[args.command](args)
    except AnalyzerError as exc:
        sys.stderr.write(exc.diagnostic.format() + "\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        sys.stderr.write(f"internal error: {type(exc).__name__}: {exc} (please report this with the input)\n")
        return EXIT_ERROR

"""Benchmark: static `tree` (cold and warm cache) against the live meta-device `dump-runtime`,
measured in one run on this machine, each in a fresh process. Prints wall time (median of
--runs), peak memory (max RSS) and the ratios.

    python bench/bench.py PATH/TO/DeepSeek-OCR --stub-module torchvision
    python bench/bench.py --registry          # segment-anything's SAM ViT-B only (no model folder needed)

By default it also measures segment-anything's build_sam_vit_b from the installed package.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(cmd: list[str], env: dict) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one fresh process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace")
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return wall, usage.ru_maxrss // 1024


def compile_bytecode() -> None:
    """Byte-compile the analyzer package first, as pip does when it installs a package: an
    editable install under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile it in every
    process, and "cold" here means an empty result cache, not a missing bytecode cache."""
    import compileall

    compileall.compile_dir(str(REPO / "analyzer"), quiet=1)


def measure(name: str, src: str, extra: list[str], stubs: list[str], runs: int) -> dict:
    """``runs`` rounds of (cold tree, warm tree, dump-runtime), interleaved so that all three see the
    same machine state: on a shared VM the speed drifts by tens of percent within a minute."""
    cache = tempfile.mkdtemp(prefix="modeltree-bench-")
    env = {**os.environ, "MODELTREE_CACHE_DIR": cache}
    base = [sys.executable, "-m", "analyzer"]
    stub_args = [a for s in stubs for a in ("--stub-module", s)]
    samples: dict[str, list] = {"tree (cold)": [], "tree (warm)": [], "dump-runtime": []}
    try:
        for _ in range(runs):
            shutil.rmtree(cache, ignore_errors=True)
            samples["tree (cold)"].append(run([*base, "tree", src, *extra], env))
            samples["tree (warm)"].append(run([*base, "tree", src, *extra], env))
            samples["dump-runtime"].append(run([*base, "dump-runtime", src, *extra, *stub_args, "-o", os.devnull], env))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    live = [s[0] for s in samples["dump-runtime"]]
    results = {}
    for label, got in samples.items():
        walls = [s[0] for s in got]
        ratio = statistics.median(lv / w for lv, w in zip(live, walls))  # per round, then the median
        results[label] = (statistics.median(walls), min(walls), max(s[1] for s in got), ratio)
    return {"name": name, "results": results}


def report(rows: list[dict], runs: int) -> str:
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {runs} rounds of fresh processes; "
        "cold = empty cache (bytecode compiled, as after a pip install)",
        "",
        "| model | command | median wall (s) | best wall (s) | peak RSS (MiB) | dump-runtime / this (median of rounds) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        for label, (wall, best, rss, ratio) in row["results"].items():
            lines.append(f"| {row['name']} | {label} | {wall:.3f} | {best:.3f} | {rss} | {ratio:.1f}x |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", nargs="?", help="model folder (e.g. your DeepSeek-OCR files)")
    p.add_argument("--root", help="FILE_STEM:NAME, when config.json has no auto_map")
    p.add_argument("--stub-module", action="append", default=[], help="passed to dump-runtime")
    p.add_argument("--runs", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--registry", action="store_true", help="only the registry-served SAM model")
    args = p.parse_args()
    compile_bytecode()
    rows = []
    if args.model and not args.registry:
        extra = ["--root", args.root] if args.root else []
        rows.append(measure(Path(args.model).name, args.model, extra, args.stub_module, args.runs))
    try:
        import importlib.util

        sam = importlib.util.find_spec("segment_anything")
    except ImportError:
        sam = None
    if sam is not None and sam.submodule_search_locations:
        folder = list(sam.submodule_search_locations)[0]
        rows.append(measure("segment-anything SAM ViT-B", folder, ["--root", "build_sam:build_sam_vit_b"],
                            ["torchvision"], args.runs))
    print(report(rows, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())

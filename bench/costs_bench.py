"""Speed of issue 11's ``costs`` against its FlopCounterMode baseline, measured in one run on this
machine, every sample a fresh process (``python bench/costs_zoo.py --time`` runs this too):

    python bench/costs_bench.py                            # llama, mixtral, vit; 3 rounds
    python bench/costs_bench.py --only llama --rounds 5

Per model and round, interleaved so that all three see the same machine state:

* ``costs (cold)``: ``python -m analyzer costs <src> --root ... --config config.json --text-tokens 512
  --kv-length 1024 --json /dev/null`` (image encoders: ``--image-size 224``) with an empty
  MODELTREE_CACHE_DIR (the analyzer's bytecode compiled first, as after a pip install);
* ``costs (warm)``: the same command again with that MODELTREE_CACHE_DIR (``costs`` does not use the
  result cache today, analyzer/api.py ``analyze_with_attrs``: expect the cold figure);
* ``FlopCounterMode``: the truth built anew, ``python bench/flop_truth.py worker`` (import torch and
  transformers, build the default config under FakeTensorMode, count the prefill and the decode step
  under FlopCounterMode), written to a scratch folder, never read from /tmp/flop-truth.

The config.json given to the analyzer is the cached truth's ``config.to_dict()`` (costs_zoo.py's);
build the truths first with ``python bench/flop_truth.py run --only ...``. Prints the median wall,
the best wall, the peak RSS and the median over rounds of (baseline wall / this wall).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from bench import compile_bytecode
from costs_zoo import site_packages
from flop_truth import DEFAULT_OUT, IMAGE, S_PREFILL, T_DECODE, key, load, sweep

DEFAULT_MODELS = "llama,mixtral,vit"
BASELINE = "FlopCounterMode"


def run(cmd: list[str], env: dict, ok: tuple[int, ...] = (0,)) -> tuple[float, int]:
    """(wall seconds, peak RSS in MiB) of one fresh process; stderr to a file (no pipe to fill)."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, env=env, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        if code not in ok:
            err.seek(0)
            raise SystemExit(f"failed ({code}): {' '.join(cmd)}\n{err.read().decode(errors='replace')[-3000:]}")
    return wall, usage.ru_maxrss // 1024


def costs_command(record: dict, config: Path) -> list[str]:
    src = site_packages(record["zoo"]) / record["src"]
    cmd = [sys.executable, "-m", "analyzer", "costs", str(src), "--root", record["root"], "--config", str(config)]
    if record["kind"] == "decoder":
        cmd += ["--text-tokens", str(S_PREFILL), "--kv-length", str(T_DECODE)]
    else:
        cmd += ["--image-size", str(IMAGE)]
    return cmd + ["--json", os.devnull]


def truth_command(entry: dict, out: Path) -> list[str]:
    return [sys.executable, str(BENCH / "flop_truth.py"), "worker", json.dumps(entry), str(out)]


def measure(entries: list[dict], truths: Path, rounds: int) -> list[dict]:
    scratch = Path(tempfile.mkdtemp(prefix="costs-bench-"))
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    plans = []
    for entry in entries:
        record = load(truths, entry)
        if record is None or record.get("status") != "ok":
            raise SystemExit(f"no truth for {key(entry)} in {truths}: python bench/flop_truth.py run --only {entry['name']}")
        work = scratch / key(entry)
        work.mkdir()
        config = work / "config.json"
        config.write_text(json.dumps(record["config"]), encoding="utf-8")
        plans.append({"name": key(entry), "entry": entry, "work": work, "cmd": costs_command(record, config),
                      "samples": {"costs (cold)": [], "costs (warm)": [], BASELINE: []}})
    try:
        for _ in range(rounds):
            for plan in plans:
                cache, out = plan["work"] / "cache", plan["work"] / "truth"
                shutil.rmtree(cache, ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
                cenv = {**env, "MODELTREE_CACHE_DIR": str(cache)}
                plan["samples"]["costs (cold)"].append(run(plan["cmd"], cenv))
                plan["samples"]["costs (warm)"].append(run(plan["cmd"], cenv))
                plan["samples"][BASELINE].append(run(truth_command(plan["entry"], out), env, ok=(0, 1)))
                rec = json.loads((out / f"{plan['name']}.json").read_text())
                if rec.get("status") != "ok":
                    raise SystemExit(f"the baseline did not build {plan['name']}: {rec.get('reason')}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    rows = []
    for plan in plans:
        base = [s[0] for s in plan["samples"][BASELINE]]
        results = {}
        for label, got in plan["samples"].items():
            walls = [s[0] for s in got]
            ratio = statistics.median(b / w for b, w in zip(base, walls))  # per round, then the median
            results[label] = (statistics.median(walls), min(walls), max(s[1] for s in got), ratio)
        rows.append({"name": plan["name"], "results": results})
    return rows


def report(rows: list[dict], rounds: int) -> str:
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; {rounds} rounds of fresh processes; "
        f"decoders S={S_PREFILL} T={T_DECODE}, images {IMAGE}x{IMAGE}; cold = empty cache (bytecode compiled)",
        "",
        f"| model | command | median wall (s) | best wall (s) | peak RSS (MiB) | {BASELINE} / this (median of rounds) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        for label, (wall, best, rss, ratio) in row["results"].items():
            lines.append(f"| {row['name']} | {label} | {wall:.3f} | {best:.3f} | {rss} | {ratio:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=DEFAULT_MODELS, help=f"comma-separated model names (default {DEFAULT_MODELS})")
    ap.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    ap.add_argument("--truths", type=Path, default=DEFAULT_OUT, help="where the cached truths (their configs) are")
    args = ap.parse_args(argv)
    names = args.only.split(",")
    entries = [e for n in names for e in sweep() if e["name"] == n]
    if len(entries) != len(names):
        raise SystemExit(f"not in the sweep: {sorted(set(names) - {e['name'] for e in entries})}")
    compile_bytecode()
    print(report(measure(entries, args.truths, args.rounds), args.rounds))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

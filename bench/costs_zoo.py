"""Issue 11: the analyzer's ``costs`` against the FlopCounterMode truths of bench/flop_truth.py.

    python bench/costs_zoo.py                        # every cached truth (/tmp/flop-truth)
    python bench/costs_zoo.py --only llama,gpt2 -v   # -v: the analyzer's stderr tail per model
    python bench/costs_zoo.py --json costs-zoo.json
    python bench/costs_zoo.py --time [--only llama,mixtral,vit] [--rounds 3]   # speed: bench/costs_bench.py

For each cached truth (build them with ``python bench/flop_truth.py run``), this writes the truth's
``config.to_dict()`` as a config.json and runs, in a subprocess (static side: no torch imported)::

    python -m analyzer costs <site-packages>/<src> --root <file stem>:<Class> --config config.json \\
        --text-tokens 512 --kv-length 1024 --lm-head all --json out.json --no-cache      # decoders
    python -m analyzer costs ... --image-size 224 --json out.json --no-cache            # image encoders

(src is transformers/models/<type>, or timm/models with the entry point as root and an empty
config). It prints, per model, the truth's prefill and decode FLOPs and the analyzer's, their
relative errors, the parameter totals, and the outcome: ``ok`` (FLOPs within --tolerance, params
exact), ``FAIL`` (numbers off), ``incomplete`` (the analyzer says its totals miss N unsupported
modules), ``exit N: message`` (the analyzer refused or crashed), ``no truth`` (the truth did not
build: its reason).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from flop_truth import DEFAULT_OUT, IMAGE, S_PREFILL, T_DECODE, key, load, sweep

WORK = Path("/tmp/costs-zoo")


def site_packages(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed")
    return Path(next(iter(spec.submodule_search_locations))).parent


def analyzer_numbers(j: dict) -> dict:
    """The figures compared, read from the analyzer's costs JSON (one place to change the layout)."""
    def total(phase):
        node = (j.get(phase) or {}).get("total") or {}
        return node.get("flops"), node.get("params")

    pre, params = total("prefill")
    dec, _ = total("decode")
    return {"prefill": pre, "decode": dec, "params": j.get("params", params),
            "complete": j.get("complete"), "unsupported": len(j.get("unsupported") or {})}


def costs_command(record: dict, config: Path, out: Path) -> list[str]:
    src = site_packages(record["zoo"]) / record["src"]
    cmd = [sys.executable, "-m", "analyzer", "costs", str(src), "--root", record["root"], "--config", str(config)]
    if record["kind"] == "decoder":
        cmd += ["--text-tokens", str(record["S"]), "--kv-length", str(record["T"]), "--lm-head", "all"]
    else:
        cmd += ["--image-size", str(record.get("image_size", IMAGE))]
    return cmd + ["--json", str(out), "--no-cache"]


def run_analyzer(record: dict, timeout: float) -> dict:
    work = WORK / key(record)
    work.mkdir(parents=True, exist_ok=True)
    config, out = work / "config.json", work / "costs.json"
    config.write_text(json.dumps(record.get("config") or {}), encoding="utf-8")
    out.unlink(missing_ok=True)
    cmd = costs_command(record, config, out)
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(work))
    except subprocess.TimeoutExpired:
        return {"exit": "timeout", "message": f"not done within {timeout:g} s", "cmd": cmd}
    res = {"exit": proc.returncode, "seconds": round(time.perf_counter() - start, 1), "cmd": cmd,
           "stderr": proc.stderr[-4000:]}
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()] or lines
    res["message"] = (errs[-1] if errs else "no output")[:300]
    if not out.is_file():  # refused or crashed; with the JSON written (exit 1: incomplete), read it
        return res
    try:
        res.update(analyzer_numbers(json.loads(out.read_text())))
    except (ValueError, AttributeError, TypeError) as exc:
        res["message"] = f"unreadable costs JSON: {exc}"
    return res


def rel(ours, truth):
    if ours is None or truth is None or isinstance(ours, str):
        return None
    return (ours - truth) / truth if truth else (0.0 if ours == 0 else float("inf"))


def compare(record: dict, res: dict, tolerance: float) -> dict:
    row = {"model": key(record), "kind": record["kind"]}
    if record.get("status") != "ok":
        return {**row, "outcome": "no truth: " + record.get("reason", "?")[:200]}
    row.update({"truth_prefill": record["prefill"]["flops"], "truth_decode": (record.get("decode") or {}).get("flops"),
                "truth_params": record["params"], "truth_params_all": record["params_all"]})
    if "prefill" not in res:
        return {**row, "outcome": f"exit {res['exit']}: {res.get('message', '')}"}
    row.update({"prefill": res["prefill"], "decode": res["decode"], "params": res["params"],
                "rel_prefill": rel(res["prefill"], row["truth_prefill"]),
                "rel_decode": rel(res["decode"], row["truth_decode"]) if record["kind"] == "decoder" else None})
    errs = [r for r in (row["rel_prefill"], row["rel_decode"]) if r is not None]
    flops_ok = row["rel_prefill"] is not None and all(abs(r) <= tolerance for r in errs) and (
        record["kind"] != "decoder" or row["rel_decode"] is not None)
    params_ok = res["params"] == record["params"]
    if not params_ok and res["params"] == record["params_all"] != record["params"]:
        row["note"] = "analyzer params = params_all (tied weights counted twice)"
    if res.get("complete") is False or res["exit"] != 0:
        outcome = f"incomplete (exit {res['exit']}): {res['unsupported']} unsupported module(s)"
    elif flops_ok and params_ok:
        outcome = "ok"
    else:
        outcome = "FAIL" + ("" if flops_ok else " flops") + ("" if params_ok else " params")
    if row.get("note"):
        outcome += "; " + row["note"]
    return {**row, "outcome": outcome}


def _num(x) -> str:
    return "-" if x is None else f"{x:.4e}" if isinstance(x, (int, float)) else str(x)


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:+.3f}%"


def table(rows: list[dict]) -> str:
    head = ("model", "truth prefill", "analyzer", "rel", "truth decode", "analyzer", "rel", "params truth",
            "analyzer", "outcome")
    body = [(r["model"], _num(r.get("truth_prefill")), _num(r.get("prefill")), _pct(r.get("rel_prefill")),
             _num(r.get("truth_decode")), _num(r.get("decode")), _pct(r.get("rel_decode")),
             str(r.get("truth_params", "-")), str(r.get("params", "-")), r["outcome"]) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    widths[-1] = len(head[-1])
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body])


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated model names")
    ap.add_argument("--truths", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--tolerance", type=float, default=0.01, help="relative FLOP tolerance (default 0.01)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", type=Path, help="write the rows as JSON")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--time", action="store_true", help="time costs (cold, warm) against building the truth anew "
                    "(bench/costs_bench.py; --only defaults to llama,mixtral,vit)")
    ap.add_argument("--rounds", type=int, default=3, help="with --time: rounds (default 3)")
    args = ap.parse_args(argv)
    if args.time:
        from costs_bench import main as time_main

        return time_main([*(["--only", args.only] if args.only else []), "--rounds", str(args.rounds),
                          "--truths", str(args.truths)])
    entries = sweep()
    if args.only:
        names = set(args.only.split(","))
        entries = [e for e in entries if e["name"] in names]
    rows = []
    for entry in entries:
        record = load(args.truths, entry)
        if record is None:
            rows.append({"model": key(entry), "kind": entry["kind"],
                         "outcome": f"no truth cached in {args.truths} (python bench/flop_truth.py run --only {entry['name']})"})
            continue
        res = run_analyzer(record, args.timeout) if record.get("status") == "ok" else {}
        rows.append(compare(record, res, args.tolerance))
        print(f"{rows[-1]['model']}: {rows[-1]['outcome']}", file=sys.stderr, flush=True)
        if args.verbose and res.get("stderr"):
            print("  " + "\n  ".join(res["stderr"].strip().splitlines()[-8:]), file=sys.stderr)
    print(f"workload: prefill S={S_PREFILL} (lm_head on all positions), decode T={T_DECODE} keys, images "
          f"{IMAGE}x{IMAGE}; tolerance {100 * args.tolerance:g}%, params exact")
    print(table(rows))
    ok = sum(r["outcome"] == "ok" for r in rows)
    print(f"{ok}/{len(rows)} ok")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

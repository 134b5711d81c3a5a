#!/usr/bin/env bash
# The wheel works as a regular install: build it, install it into a fresh virtual environment,
# run `modeltree tree` and `python -m analyzer tree` on the sample model from a folder outside the
# checkout, and compare both with the editable install's output, byte for byte.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
python3 -m build --wheel --outdir "$work/dist" "$repo" > "$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=("$work"/dist/*.whl)
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheel[0]}" 2>&1 | { grep -v "^WARNING: Location" || true; }
unzip -l "${wheel[0]}" | grep -q "analyzer/rulefiles/torch_nn.yaml" || { echo "wheel-check: rules/ missing from the wheel"; exit 1; }
for data in workloads/causal_lm.yaml workloads/image_encoder.yaml hardware/h100-sxm.yaml; do
    unzip -l "${wheel[0]}" | grep -q "analyzer/rulefiles/$data" || { echo "wheel-check: rules/$data missing from the wheel"; exit 1; }
done
for asset in report.css report.js; do
    unzip -l "${wheel[0]}" | grep -q "analyzer/render/assets/$asset" || { echo "wheel-check: render/assets/$asset missing from the wheel"; exit 1; }
done
sample="$repo/fixtures/sample_vlm"
export MODELTREE_CACHE_DIR="$work/cache"
(cd "$work" && python3 -m analyzer tree "$sample" --no-cache --no-site-packages > editable.txt 2> editable.err && python3 -m analyzer tree "$sample" --no-cache --no-site-packages --json editable.json > /dev/null 2>&1)
mkdir "$work/outside"
(cd "$work/outside" && "$work/venv/bin/modeltree" tree "$sample" --no-cache --no-site-packages > "$work/wheel.txt" 2> "$work/wheel.err" \
         && "$work/venv/bin/modeltree" tree "$sample" --no-cache --no-site-packages --json "$work/wheel.json" > /dev/null 2>&1 \
         && "$work/venv/bin/python" -m analyzer tree "$sample" --no-cache --no-site-packages > "$work/wheel_module.txt" 2>/dev/null)
grep -q "sample_vlm" "$work/wheel.json"
cmp "$work/editable.txt" "$work/wheel.txt"
cmp "$work/editable.json" "$work/wheel.json"
cmp "$work/wheel.txt" "$work/wheel_module.txt"
cmp "$work/editable.err" "$work/wheel.err"
# the HTML report (its CSS and JavaScript are package data): the same bytes from the wheel
report_args=(report "$sample" --no-site-packages --families "$repo/fixtures/sample_vlm.families.yaml" --workload "$repo/fixtures/sample_vlm.workload.yaml")
(cd "$work" && python3 -m analyzer "${report_args[@]}" -o editable.html 2> /dev/null)
(cd "$work/outside" && "$work/venv/bin/modeltree" "${report_args[@]}" -o "$work/wheel.html" 2> /dev/null)
cmp "$work/editable.html" "$work/wheel.html"
# costs with a roofline (workload templates and hardware files are package data): the same bytes
costs_args=(costs "$sample" --no-site-packages --families "$repo/fixtures/sample_vlm.families.yaml" --workload "$repo/fixtures/sample_vlm.workload.yaml" --hardware h100-sxm)
(cd "$work" && python3 -m analyzer "${costs_args[@]}" > editable_costs.txt 2> /dev/null) || true
(cd "$work/outside" && "$work/venv/bin/modeltree" "${costs_args[@]}" > "$work/wheel_costs.txt" 2> /dev/null) || true
grep -q "roofline on NVIDIA H100" "$work/wheel_costs.txt" || { echo "wheel-check: costs --hardware from the wheel:"; cat "$work/wheel_costs.txt"; exit 1; }
cmp "$work/editable_costs.txt" "$work/wheel_costs.txt"
# the installed package reads its rules from inside site-packages, not from this checkout
(cd "$work/outside" && "$work/venv/bin/python" -c "import analyzer.rules as r, sys; p = str(r.RULES_DIR); sys.exit(0 if 'site-packages' in p else 'rules read from ' + p)")
echo "wheel-check: the wheel's modeltree tree equals the editable install's ($(wc -l < "$work/wheel.txt") lines, JSON identical; report identical, $(wc -c < "$work/wheel.html") bytes; costs --hardware identical, $(wc -l < "$work/wheel_costs.txt") lines)"

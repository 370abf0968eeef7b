#!/usr/bin/env bash
# `ddnet bench` on a tiny suite (one case, two rounds): both sides where a Python with PyTorch is
# found (/usr/bin/python3 with Debian's python3-torch, or python3 on PATH), ours alone otherwise;
# then the structure of bench.json, the reports beside it, and the errors for bad arguments.
#   bench_cli.sh <ddnet> <bench dir>
set -euo pipefail
ddnet="$1"
bench_dir="$2"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python=""
for p in /usr/bin/python3 python3; do
  if "$p" -c "import torch" 2>/dev/null; then python="$p"; break; fi
done
args=(--suite kernels --cases add --repeat 2 --small-pairs 1 --min-time 0.05 --threads 1 --bench-dir "$bench_dir"
      --out "$tmp/run")
if [[ -n "$python" ]]; then args+=(--python "$python"); else args+=(--python /nonexistent/python3); fi
"$ddnet" bench "${args[@]}" >"$tmp/out.log" 2>"$tmp/err.log" || { cat "$tmp/out.log" "$tmp/err.log"; exit 1; }
grep -q "^add " "$tmp/out.log" || { echo "no table row for add"; cat "$tmp/out.log"; exit 1; }
for f in bench.json bench.md roofline.png ratios.png; do
  [[ -s "$tmp/run/$f" ]] || { echo "missing $f"; exit 1; }
done

python3 - "$tmp/run/bench.json" "${python:+torch}" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
with_torch = len(sys.argv) > 2 and sys.argv[2] == "torch"
for key in ("ddnet", "date", "machine", "libraries", "limits", "settings", "baselines", "cases", "repeatability"):
    assert key in j, "bench.json lacks " + key
assert j["machine"]["cpu"] and j["machine"]["threads"] == 1, j["machine"]
assert j["limits"]["copy_bytes_per_s"] > 0 and j["limits"]["peak_flops"] > 0, j["limits"]
assert "measured" in j["limits"]["copy_source"] and "measured" in j["limits"]["peak_source"]
assert j["settings"]["repeat"] == 2
ids = [c["id"] for c in j["cases"]]
assert ids == ["add", "add#2"], ids  # the case, and again for the repeatability check
for c in j["cases"]:
    assert c["bytes"] > 0 and c["flops"] > 0 and c["napkin"], c
    ours = c["ours"]
    assert ours["samples"] == 2 and len(ours["all"]) == 2, ours  # how many samples it rests on
    assert all(s["seconds"] > 0 and s["iterations"] >= 1 for s in ours["all"]), ours
    assert ours["min_s"] <= ours["median_s"] <= ours["max_s"]
    assert c["achieved"]["GB_per_s"] > 0 and c["achieved"]["fraction_of_copy_bandwidth"] > 0
    if with_torch:
        (b,) = c["baselines"]
        assert b["samples"] == 2 and len(b["all"]) == 2 and b["case"] == "add", b
        assert b["ratio_theirs_over_ours_paired_median"] > 0, b
    else:
        assert c["baselines"] == [], c["baselines"]
if with_torch:
    assert j["baselines"][0]["torch"], j["baselines"]
    r = j["repeatability"]
    assert r["case"] == "add" and r["ratio_first"] > 0 and r["ratio_second"] > 0, r
else:
    assert any("no PyTorch baseline" in n for n in j["notes"]), j["notes"]
print("bench.json: %d cases, %s" % (len(ids), "both sides" if with_torch else "ours alone (no PyTorch)"))
PY
head -c 8 "$tmp/run/roofline.png" | od -c | grep -q "P   N   G" || { echo "roofline.png is not a PNG"; exit 1; }

# Bad arguments are refused before anything runs, naming the argument.
if "$ddnet" bench --suite nope --out "$tmp/bad" 2>"$tmp/bad.log"; then echo "--suite nope accepted"; exit 1; fi
grep -q -- "--suite nope" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
if "$ddnet" bench --cases nope --bench-dir "$bench_dir" 2>"$tmp/bad.log"; then echo "--cases nope accepted"; exit 1; fi
grep -q -- "--cases nope: no such case" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
if "$ddnet" bench --cases add --bench-dir "$tmp/none" 2>"$tmp/bad.log"; then echo "a missing bench dir accepted"; exit 1; fi
grep -q "bench_machine" "$tmp/bad.log" || { cat "$tmp/bad.log"; exit 1; }
echo "ddnet bench: tiny suite, bench.json structure and bad arguments checked"

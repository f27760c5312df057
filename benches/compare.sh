#!/usr/bin/env bash
# Whole-program comparison of Keel with lua5.4, luajit and python3 on the
# same workloads (benches/programs/ holds the Lua and Python versions).
#
#   benches/compare.sh [RUNS]        default 5 runs per command
#   SKIP="python3 luajit" benches/compare.sh   leave interpreters out
#
# Needs hyperfine; interpreters that are not installed are skipped.
# Prints a markdown table of medians (ms) and the ratios to lua5.4 of keel
# (JIT on, the default) and of keel-interp (--jit off, the interpreter).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
skip=" ${SKIP:-} "
cargo build --release --quiet --bin vmrun
vm=target/release/vmrun
p=benches/programs
out=$(mktemp -d)

workloads=("fib(32)" "loop 100M" "sieve 10M" "binary_trees 16")
cmd() { # interpreter, workload index
  case "$1:$2" in
    keel-interp:*) cmd keel "$2" | sed 's|^\([^ ]*\) |\1 --jit off |' ;;
    keel:0) echo "$vm examples/fib.kasm 32" ;;
    keel:1) echo "$vm $p/loop.kasm 100000000" ;;
    keel:2) echo "$vm examples/sieve.kasm 10000000" ;;
    keel:3) echo "$vm examples/binary_trees.kasm 16" ;;
    lua5.4:0|luajit:0) echo "$1 $p/fib.lua 32" ;;
    lua5.4:1|luajit:1) echo "$1 $p/loop.lua 100000000" ;;
    lua5.4:2|luajit:2) echo "$1 $p/sieve.lua 10000000" ;;
    lua5.4:3|luajit:3) echo "$1 $p/binary_trees.lua 16" ;;
    python3:0) echo "python3 $p/fib.py 32" ;;
    python3:1) echo "python3 $p/loop.py 100000000" ;;
    python3:2) echo "python3 $p/sieve.py 10000000" ;;
    python3:3) echo "python3 $p/binary_trees.py 16" ;;
  esac
}

# keel: the default (hot loops compiled); keel-interp: --jit off.
interps=(keel keel-interp)
for i in lua5.4 luajit python3; do
  if command -v "$i" >/dev/null && [[ "$skip" != *" $i "* ]]; then interps+=("$i"); fi
done

for w in "${!workloads[@]}"; do
  for i in "${interps[@]}"; do
    hyperfine --style none --warmup 1 --runs "$runs" --export-json "$out/$w-$i.json" "$(cmd "$i" "$w")" >/dev/null
  done
done
# Lua's numeric `for` has a dedicated loop instruction; the while-loop form
# matches how loop.kasm is written, so both are shown.
if [[ " ${interps[*]} " == *" lua5.4 "* ]]; then
  hyperfine --style none --warmup 1 --runs "$runs" --export-json "$out/1-lua5.4-while.json" "lua5.4 $p/loop_while.lua 100000000" >/dev/null
fi

python3 - "$out" "${interps[@]}" <<'PY'
import json, sys, os
out, interps = sys.argv[1], sys.argv[2:]
names = ["fib(32)", "loop 100M", "sieve 10M", "binary_trees 16"]
def median(path):
    if not os.path.exists(path):
        return None
    return json.load(open(path))["results"][0]["median"] * 1000
print("| workload | " + " | ".join(interps) + " | keel / lua5.4 | keel-interp / lua5.4 |")
print("|---|" + "---|" * (len(interps) + 2))
for w, name in enumerate(names):
    row = [median(f"{out}/{w}-{i}.json") for i in interps]
    cells = [f"{v:.0f} ms" if v is not None else "-" for v in row]
    lua = row[interps.index("lua5.4")] if "lua5.4" in interps else None
    ratio = f"{row[0] / lua:.2f}x" if lua else "-"
    ratio_interp = f"{row[1] / lua:.2f}x" if lua else "-"
    print(f"| {name} | " + " | ".join(cells) + f" | {ratio} | {ratio_interp} |")
w = median(f"{out}/1-lua5.4-while.json")
if w is not None:
    print(f"\nlua5.4 with the loop written as `while` (as loop.kasm is): {w:.0f} ms")
PY
rm -rf "$out"

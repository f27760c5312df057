#!/usr/bin/env bash
# Whole-program comparison of Keel with gcc -O2, luajit (JIT on and -joff),
# lua5.4 and python3 on the same workloads (benches/programs/ holds the C,
# Lua and Python versions; the C ones are compiled -O2 into a temp dir).
#
#   benches/compare.sh [RUNS]        default 5 timed runs per command
#   SKIP="python3 luajit" benches/compare.sh   leave columns out (any of
#       keel keel-interp gcc luajit luajit-joff lua5.4 python3)
#   ONLY="binary_trees strings" benches/compare.sh   run only some workloads
#       (fib loop sieve sieve_bool binary_trees strings loop_mod mandelbrot
#       nbody spectral_norm fannkuch wordfreq)
#
# Needs hyperfine; interpreters (and gcc, /usr/bin/time) that are not
# installed are skipped. Each command first runs once untimed (the warm-up):
# that run's exit status, output and peak resident size (/usr/bin/time -f %M)
# are kept, and for Keel it runs with --stats to collect the GC figures. A
# command that exits non-zero shows as "fail" and is not timed; one whose
# output (its words, numbers compared as numbers) differs from the
# reference's (the first of gcc, lua5.4, luajit, python3, keel that ran)
# shows as "wrong".
#
# Prints: the machine; a table of median wall times (ms) with the ratios of
# keel (JIT on, the default) to gcc, luajit and lua5.4 and of keel-interp
# (--jit off, the interpreter) to lua5.4; the same for CPU time (user +
# system, which other processes on the machine move less); a table of peak
# resident sizes; the GC lines and the JIT lines of Keel's --stats per
# workload; and the issue 11 and issue 12 goals, each with its measured
# value (a goal whose workloads were not run shows "not measured").
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
skip=" ${SKIP:-} "
only=" ${ONLY:-} "
cargo build --release --quiet --bin vmrun
vm=target/release/vmrun
p=benches/programs
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The workloads, in table order, and their names in the tables (the Python
# report below reads both from KEYS and NAMES).
keys=(fib loop sieve sieve_bool binary_trees strings loop_mod mandelbrot nbody spectral_norm fannkuch wordfreq)
names=("fib(32)" "loop 100M" "sieve 10M" "sieve 10M array<bool>" "binary_trees 16" "strings 1M"
  "loop 100M (i*31+7)%1009" "mandelbrot 1000" "nbody 500k" "spectral_norm 1000" "fannkuch 10" "wordfreq 1M")
# The size each workload runs at (its programs' one argument).
declare -A size=([fib]=32 [loop]=100000000 [sieve]=10000000 [sieve_bool]=10000000 [binary_trees]=16
  [strings]=1000000 [loop_mod]=100000000 [mandelbrot]=1000 [nbody]=500000 [spectral_norm]=1000
  [fannkuch]=10 [wordfreq]=1000000)
# The workloads whose Keel, C, Lua and Python programs are all
# benches/programs/KEY.{kasm,c,lua,py}.
ported=" loop_mod mandelbrot nbody spectral_norm fannkuch wordfreq "
# The command for interpreter $1 on workload key $2; nothing when that
# interpreter has no version of the workload.
cmd() {
  local n=${size[$2]}
  if [[ "$ported" == *" $2 "* ]]; then
    case $1 in
      keel-interp) echo "$vm --jit off $p/$2.kasm $n" ;;
      keel) echo "$vm $p/$2.kasm $n" ;;
      gcc) echo "$out/$2 $n" ;;
      luajit-joff) echo "luajit -joff $p/$2.lua $n" ;;
      luajit | lua5.4) echo "$1 $p/$2.lua $n" ;;
      python3) echo "python3 $p/$2.py $n" ;;
    esac
    return
  fi
  case "$1:$2" in
    keel-interp:*) cmd keel "$2" | sed 's|^\([^ ]*\) |\1 --jit off |' ;;
    keel:fib) echo "$vm examples/fib.kasm $n" ;;
    keel:loop) echo "$vm $p/loop.kasm $n" ;;
    keel:sieve) echo "$vm examples/sieve.kasm $n" ;;
    keel:sieve_bool) echo "$vm $p/sieve_bool.kasm $n" ;;
    keel:binary_trees) echo "$vm examples/binary_trees.kasm $n" ;;
    keel:strings) echo "$vm $p/strings.kasm $n" ;;
    gcc:fib) echo "$out/fib $n" ;;
    gcc:sieve | gcc:sieve_bool) echo "$out/sieve $n" ;;
    gcc:binary_trees) echo "$out/binary_trees $n" ;;
    gcc:strings) echo "$out/strings $n" ;;
    luajit-joff:*) cmd luajit "$2" | sed 's|^luajit |luajit -joff |' ;;
    lua5.4:fib | luajit:fib) echo "$1 $p/fib.lua $n" ;;
    lua5.4:loop | luajit:loop) echo "$1 $p/loop.lua $n" ;;
    lua5.4:sieve | luajit:sieve) echo "$1 $p/sieve.lua $n" ;;
    lua5.4:sieve_bool | luajit:sieve_bool) echo "$1 $p/sieve_bool.lua $n" ;;
    lua5.4:binary_trees | luajit:binary_trees) echo "$1 $p/binary_trees.lua $n" ;;
    lua5.4:strings | luajit:strings) echo "$1 $p/strings.lua $n" ;;
    python3:fib) echo "python3 $p/fib.py $n" ;;
    python3:loop) echo "python3 $p/loop.py $n" ;;
    python3:sieve) echo "python3 $p/sieve.py $n" ;;
    python3:sieve_bool) echo "python3 $p/sieve_bool.py $n" ;;
    python3:binary_trees) echo "python3 $p/binary_trees.py $n" ;;
    python3:strings) echo "python3 $p/strings.py $n" ;;
  esac
}

interps=()
for i in keel keel-interp gcc luajit luajit-joff lua5.4 python3; do
  [[ "$skip" == *" $i "* ]] && continue
  case $i in
    keel | keel-interp) ;;
    luajit-joff) command -v luajit >/dev/null || continue ;;
    *) command -v "$i" >/dev/null || continue ;;
  esac
  interps+=("$i")
done
if [[ " ${interps[*]} " == *" gcc "* ]]; then
  for c in fib binary_trees sieve strings $ported; do
    gcc -O2 -o "$out/$c" "$p/$c.c" -lm 2>"$out/gcc-$c.err" || echo "gcc -O2 $p/$c.c failed: $(head -3 "$out/gcc-$c.err")" >&2
  done
fi
time_bin=/usr/bin/time
[[ -x $time_bin ]] || time_bin=

run_one() { # file prefix, command
  local f=$1 c=$2 rc=0
  if [[ $c == "$vm "* ]]; then c="$vm --stats ${c#"$vm "}"; fi
  if [[ -n $time_bin ]]; then
    # shellcheck disable=SC2086 # the command is a plain word list
    $time_bin -f %M -o "$f.rss" $c >"$f.stdout" 2>"$f.stderr" || rc=$?
  else
    # shellcheck disable=SC2086
    $c >"$f.stdout" 2>"$f.stderr" || rc=$?
  fi
  echo "$rc" >"$f.rc"
}

for w in "${!keys[@]}"; do
  k=${keys[$w]}
  [[ "$only" != "  " && "$only" != *" $k "* ]] && continue
  for i in "${interps[@]}"; do
    c=$(cmd "$i" "$k")
    [[ -z $c ]] && continue
    echo "${names[$w]}: $c" >&2
    run_one "$out/$k-$i" "$c"
    if [[ $(cat "$out/$k-$i.rc") == 0 ]]; then
      hyperfine --style none --warmup 0 --runs "$runs" --export-json "$out/$k-$i.json" "$c" >/dev/null 2>"$out/$k-$i.hf" ||
        echo "hyperfine failed on $c: $(tail -2 "$out/$k-$i.hf")" >&2
    else
      echo "  exit status $(cat "$out/$k-$i.rc"): $(tail -3 "$out/$k-$i.stderr")" >&2
    fi
  done
done
# Lua's numeric `for` has a dedicated loop instruction; the while-loop form
# matches how loop.kasm is written, so both are shown.
if [[ " ${interps[*]} " == *" lua5.4 "* && ("$only" == "  " || "$only" == *" loop "*) ]]; then
  hyperfine --style none --warmup 1 --runs "$runs" --export-json "$out/loop-lua5.4-while.json" "lua5.4 $p/loop_while.lua 100000000" >/dev/null || true
fi

versions() {
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(uname -srm), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- $(rustc --version 2>/dev/null || echo rustc ?), vmrun --release"
  for i in "${interps[@]}"; do
    case $i in
      gcc) echo "- $(gcc --version | head -1), -O2" ;;
      luajit) echo "- $(luajit -v 2>&1 | head -1 | sed "s/ -- .*//")" ;;
      lua5.4) echo "- $(lua5.4 -v 2>&1 | head -1 | sed "s/  Copyright.*//")" ;;
      python3) echo "- $(python3 --version 2>&1)" ;;
    esac
  done
}
versions

KEYS="${keys[*]}" NAMES=$(printf '%s|' "${names[@]}") python3 - "$out" "$runs" "${interps[@]}" <<'PY'
import json, os, re, sys

out, runs, interps = sys.argv[1], sys.argv[2], sys.argv[3:]
keys = os.environ["KEYS"].split()
names = os.environ["NAMES"].split("|")[:-1]
assert len(keys) == len(names), "compare.sh: one name per workload"
ref_order = ["gcc", "lua5.4", "luajit", "luajit-joff", "python3", "keel", "keel-interp"]


def read(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return None


def words(text):
    """The output's words, numbers as floats (luajit prints 4.99999995e+15
    where lua5.4 prints 4999999950000000)."""
    def word(w):
        try:
            return float(w)
        except ValueError:
            return w
    return [word(w) for w in (text or "").split()]


def ran(k):
    return any(os.path.exists(f"{out}/{k}-{i}.rc") for i in interps)


def status(k, i):
    """None (no such program), "fail", "wrong" or "ok"."""
    rc = read(f"{out}/{k}-{i}.rc")
    if rc is None:
        return None
    if rc.strip() != "0":
        return "fail"
    ref = next((r for r in ref_order if r in interps and read(f"{out}/{k}-{r}.rc") == "0\n"), None)
    if ref and words(read(f"{out}/{k}-{i}.stdout")) != words(read(f"{out}/{k}-{ref}.stdout")):
        return "wrong"
    return "ok"


def median_ms(k, i):
    if status(k, i) != "ok":
        return None
    j = read(f"{out}/{k}-{i}.json")
    return json.loads(j)["results"][0]["median"] * 1000 if j else None


def cpu_ms(k, i):
    """User plus system time, the mean over the runs (hyperfine keeps no
    median of them): less moved than wall time by other processes."""
    if status(k, i) != "ok":
        return None
    j = read(f"{out}/{k}-{i}.json")
    if not j:
        return None
    r = json.loads(j)["results"][0]
    return (r["user"] + r["system"]) * 1000


def rss_kb(k, i):
    if status(k, i) not in ("ok", "wrong"):
        return None
    r = read(f"{out}/{k}-{i}.rss")
    nums = re.findall(r"^\d+$", r or "", re.M)
    return int(nums[-1]) if nums else None


def cell(k, i, v, fmt):
    s = status(k, i)
    if s is None:
        return "-"
    if s in ("fail", "wrong"):
        return s
    return fmt(v) if v is not None else "?"


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def gc_lines(k, i):
    """The GC and heap lines of Keel's --stats, whatever they are."""
    err = read(f"{out}/{k}-{i}.stderr") or ""
    return [l.strip() for l in err.splitlines()
            if re.search(r"gc|heap|pause|collection|minor|major|nursery", l, re.I)]


def stat_value(k, i, pattern):
    for l in gc_lines(k, i):
        m = re.search(pattern, l, re.I)
        if m:
            return m
    return None


rows = [(k, n) for k, n in zip(keys, names) if ran(k)]
col = lambda i: i



def time_table(title, measure):
    print(f"\n{title}:\n")
    print("| workload | " + " | ".join(interps) + " | keel / gcc | keel / luajit | keel / lua5.4 | keel-interp / lua5.4 |")
    print("|---|" + "---|" * (len(interps) + 4))
    times = {}
    for k, name in rows:
        t = {i: measure(k, i) for i in interps}
        times[k] = t
        cells = [cell(k, i, t[i], lambda v: f"{v:.0f}") for i in interps]
        g = lambda i: t.get(i)
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio(g('keel'), g('gcc'))} | {ratio(g('keel'), g('luajit'))}"
              f" | {ratio(g('keel'), g('lua5.4'))} | {ratio(g('keel-interp'), g('lua5.4'))} |")
    return times


times = time_table(f"Wall time, median of {runs} runs (ms)", median_ms)
time_table(f"CPU time (user + system), mean of {runs} runs (ms; the goals use wall time)", cpu_ms)
w = read(f"{out}/loop-lua5.4-while.json")
if w:
    print(f"\nlua5.4 with the loop written as `while` (as loop.kasm is): {json.loads(w)['results'][0]['median'] * 1000:.0f} ms")

print("\nPeak resident size (MB, /usr/bin/time -f %M of the untimed run; keel's with --stats):\n")
print("| workload | " + " | ".join(interps) + " | keel / gcc |")
print("|---|" + "---|" * (len(interps) + 1))
rss = {}
for k, name in rows:
    r = {i: rss_kb(k, i) for i in interps}
    rss[k] = r
    cells = [cell(k, i, r[i], lambda v: f"{v / 1024:.1f}") for i in interps]
    print(f"| {name} | " + " | ".join(cells) + f" | {ratio(r.get('keel'), r.get('gcc'))} |")

print("\nKeel JIT figures (`vmrun --stats`, the untimed run):\n")
for k, name in rows:
    if "keel" in interps and status(k, "keel") is not None:
        err = read(f"{out}/{k}-keel.stderr") or ""
        lines = [l.strip() for l in err.splitlines() if re.search(r"jit|compiled|osr|code bytes", l, re.I)]
        print(f"- {name}: " + ("; ".join(lines) if lines else f"({status(k, 'keel')}, no jit lines)"))

print("\nKeel GC figures (`vmrun --stats`, the untimed run):\n")
for k, name in rows:
    for i in ("keel", "keel-interp"):
        if i in interps and status(k, i) is not None:
            lines = gc_lines(k, i)
            print(f"- {name}, {i}: " + ("; ".join(lines) if lines else f"({status(k, i)}, no gc lines)"))


def goal(text, value, met):
    mark = "met" if met is True else "MISSED" if met is False else "not measured"
    print(f"| {text} | {value} | {mark} |")


print("\nIssue 11 goals (keel = vmrun as shipped, JIT on):\n")
print("| goal | measured | |")
print("|---|---|---|")
bt, st = times.get("binary_trees", {}), times.get("strings", {})
if bt.get("keel") and bt.get("gcc"):
    r = bt["keel"] / bt["gcc"]
    lj = f", {bt['keel'] / bt['luajit']:.2f}x luajit" if bt.get("luajit") else ""
    goal("binary_trees 16 at most 3x gcc -O2", f"{bt['keel']:.0f} ms = {r:.2f}x gcc ({bt['gcc']:.0f} ms){lj}", r <= 3.0)
else:
    goal("binary_trees 16 at most 3x gcc -O2", "-", None)
m = stat_value("binary_trees", "keel", r"(longest|max(imum)?)[^:]*pause[^:]*:\s*([\d.]+)\s*(ms|us|µs|s)\b")
if m is None:
    m = stat_value("binary_trees", "keel", r"pause[^:]*(longest|max(imum)?)[^:]*:\s*([\d.]+)\s*(ms|us|µs|s)\b")
if m is None:
    m = stat_value("binary_trees", "keel", r"(longest|max(imum)?)[\s:=]*([\d.]+)\s*(ms|us|µs|s)\b")
if m:
    v, unit = float(m.group(3)), m.group(4)
    ms = v * {"ms": 1, "us": 1e-3, "µs": 1e-3, "s": 1e3}[unit]
    goal("binary_trees 16 longest pause under 10 ms", f"{ms:.3f} ms", ms < 10)
else:
    total = stat_value("binary_trees", "keel", r"pause[^:]*:\s*([\d.]+\s*\w+)")
    n = stat_value("binary_trees", "keel", r"collections:\s*(\d+)")
    desc = "not reported by --stats"
    if total:
        desc += f" (total pause {total.group(1)}" + (f" over {n.group(1)} collections)" if n else ")")
    goal("binary_trees 16 longest pause under 10 ms", desc, None)
r = rss.get("binary_trees", {})
if r.get("keel") and r.get("gcc"):
    goal("binary_trees 16 peak resident size at most 2x C's",
         f"{r['keel'] / 1024:.1f} MB = {r['keel'] / r['gcc']:.2f}x gcc ({r['gcc'] / 1024:.1f} MB)", r["keel"] <= 2 * r["gcc"])
else:
    goal("binary_trees 16 peak resident size at most 2x C's", "-", None)
if st.get("keel") and st.get("luajit"):
    goal("strings at most luajit's time", f"{st['keel']:.0f} ms = {st['keel'] / st['luajit']:.2f}x luajit ({st['luajit']:.0f} ms)",
         st["keel"] <= st["luajit"])
else:
    goal("strings at most luajit's time", "-", None)
m = stat_value("sieve_bool", "keel", r"peak heap[^:]*:\s*([\d.]+)\s*([KMG]i?B?)?")
if m:
    scale = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get((m.group(2) or " ")[0], 1)
    b = int(float(m.group(1)) * scale)
    goal("10M array<bool> sieve's heap at most 12 MB (12 000 000 bytes)", f"{b} bytes peak heap ({b / 1e6:.1f} MB)", b <= 12_000_000)
else:
    goal("10M array<bool> sieve's heap at most 12 MB (12 000 000 bytes)", "-", None)

print("\nIssue 12 goals (keel = vmrun as shipped, JIT on):\n")
print("| goal | measured | |")
print("|---|---|---|")
label = dict(zip(keys, names))


def against(k, other, bound, what):
    t = times.get(k, {})
    text = f"{label[k]} at most {what}"
    if t.get("keel") and t.get(other):
        r = t["keel"] / t[other]
        goal(text, f"{t['keel']:.0f} ms = {r:.2f}x {other} ({t[other]:.0f} ms)", r <= bound)
    else:
        goal(text, "-", None)


for k in ["fib", "loop_mod", "sieve_bool", "mandelbrot", "nbody", "spectral_norm", "fannkuch"]:
    against(k, "luajit", 1.0, "luajit's time")
for k in ["loop_mod", "mandelbrot", "nbody"]:
    against(k, "gcc", 2.0, "2x gcc -O2")
PY

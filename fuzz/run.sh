#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz (nightly):
#   fuzz/run.sh SECONDS [TARGET...]     default: every target, 60 s each
# Working corpora live in fuzz/corpus/ (not committed); fuzz/seeds/ holds
# the committed seeds. Crashes land in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(asm kbc kbc_valid interp_vs_jit)
for t in "${targets[@]}"; do
  extra=()
  flags=(-timeout=10)
  case "$t" in
    asm) seeds=seeds/asm ;;
    # .kbc modules, and bytes for the program generator (program_gen.rs),
    # used at their full length at once; a generated program runs a dozen
    # times (both modes, GC stress, fuel cuts).
    interp_vs_jit) seeds=seeds/kbc; extra=(seeds/gen); flags=(-timeout=30 -max_len=4096 -len_control=0) ;;
    *) seeds=seeds/kbc ;;
  esac
  mkdir -p "corpus/$t"
  echo "== fuzzing $t for ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "$seeds" "${extra[@]}" -- -max_total_time="$secs" -rss_limit_mb=2048 "${flags[@]}" 2>&1 \
    | grep -E "^#[0-9]+ +(DONE|INITED)|ERROR|panicked|SUMMARY|Done [0-9]+ runs" || true
  # cargo-fuzz exits non-zero on a crash; grep above may hide it, so check.
  # (One `ls` of the three patterns would fail whenever one of them
  # matches nothing, hiding a crash.)
  if [ -n "$(find "artifacts/$t" -maxdepth 1 \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \) 2>/dev/null)" ]; then
    echo "fuzz target $t found a failure: see fuzz/artifacts/$t" >&2
    exit 1
  fi
done

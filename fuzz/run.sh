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
  case "$t" in
    asm) seeds=seeds/asm ;;
    *) seeds=seeds/kbc ;;
  esac
  mkdir -p "corpus/$t"
  echo "== fuzzing $t for ${secs}s"
  cargo +nightly fuzz run "$t" "corpus/$t" "$seeds" -- -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 2>&1 \
    | grep -E "^#[0-9]+ +(DONE|INITED)|ERROR|panicked|SUMMARY|Done [0-9]+ runs" || true
  # cargo-fuzz exits non-zero on a crash; grep above may hide it, so check.
  if ls "artifacts/$t"/crash-* "artifacts/$t"/oom-* "artifacts/$t"/timeout-* >/dev/null 2>&1; then
    echo "fuzz target $t found a failure: see fuzz/artifacts/$t" >&2
    exit 1
  fi
done

#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 120) with cargo-fuzz on
# nightly, each from its seeds (copied into corpus/<target>/), and prints
# one line a target: runs, corpus size and whether it crashed. Crashes are
# in artifacts/<target>/ (see README.md for what to do with them).
#
#   fuzz/run_all.sh [SECONDS] [TARGET …]      from the project root or fuzz/
set -u
cd "$(dirname "$0")"
SECS=${1:-120}; shift || true
TARGETS=${*:-parse_circuit idx csv safetensors checkpoint report_json cifar10}
cargo +nightly fuzz build >&2 || exit 1
status=0
for t in $TARGETS; do
  mkdir -p "corpus/$t"
  cp -n seeds/"$t"/* "corpus/$t/" 2>/dev/null || true
  if [ "$t" = parse_circuit ]; then cp -n ../tests/bad_circuits/*.toml ../circuits/*.toml "corpus/$t/" 2>/dev/null || true; fi
  log="fuzz-$t.log"
  cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=10 >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -1)
  echo "$t: rc=$rc ${runs:-no summary} corpus=$(ls "corpus/$t" | wc -l) $( [ $rc -ne 0 ] && echo "CRASH: see fuzz/$log and fuzz/artifacts/$t/")"
  [ $rc -ne 0 ] && status=1
done
exit $status

#!/usr/bin/env bash
# pcchip's fixed-point solver against jpc's ePC (issue 25), side by side.
#
#   benches/jpc_epc/run.sh [--depths 8,16,32,64] [--reps 5] [--tol 1e-4]
#
# From the project root. Builds pcchip and examples/equilibrium_vs_epc,
# makes jpc's venv (../shared/bench/make_venv.sh: jax 0.5.2 CPU, jpc), and
# runs compare.py with both codes pinned to CPUs 0 and 1 (2 threads each:
# XLA sizes its pool from the affinity, rayon from the CPUs it may use).
# Run it on an otherwise idle machine.
set -eu
cd "$(dirname "$0")/../.."
cargo build --release --bin pcchip --example equilibrium_vs_epc >&2
PY=$(../shared/bench/make_venv.sh)
CPUS=${CPUS:-0,1}
exec taskset -c "$CPUS" env RAYON_NUM_THREADS=2 "$PY" benches/jpc_epc/compare.py \
  target/release/pcchip target/release/examples/equilibrium_vs_epc "$@"

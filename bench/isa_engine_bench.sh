#!/bin/sh
# `cascade bench engine` on the AVX2 and the AVX-512 kernel paths, in turn,
# ROUNDS times, so drift in a shared machine's speed hits both alike. Each
# run measures its own OpenBLAS sgemm peak and read bandwidth, with OpenBLAS
# forced to the same ISA (Haswell = AVX2 + FMA, SkylakeX = AVX-512).
#
#   bench/isa_engine_bench.sh [CASCADE_BINARY] [OUT_DIR] [ROUNDS]
#
# Writes OUT_DIR/bench_engine_<isa>_t<threads>_r<round>.json and prints each
# run. Threads: OMP_NUM_THREADS (default: every core).
set -eu
bin=${1:-build/cascade}
out=${2:-docs/results}
rounds=${3:-3}
threads=${OMP_NUM_THREADS:-$(nproc)}
export OMP_NUM_THREADS=$threads
mkdir -p "$out"
r=1
while [ "$r" -le "$rounds" ]; do
  for isa in avx2 avx512; do
    case $isa in avx2) core=Haswell ;; avx512) core=SkylakeX ;; esac
    echo "== round $r: CASCADE_ISA=$isa OPENBLAS_CORETYPE=$core"
    CASCADE_ISA=$isa OPENBLAS_CORETYPE=$core "$bin" bench engine --json "$out/bench_engine_${isa}_t${threads}_r$r.json" 2>/dev/null
  done
  r=$((r + 1))
done

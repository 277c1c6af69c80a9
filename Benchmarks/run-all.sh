#!/usr/bin/env bash
# The tagih benchmark harness: every benchmark of the project, micro and macro, in one run on this
# machine, then one table with each figure's target, the anchor measured in the same run, and the
# ratio. Release builds throughout. Raw outputs go to Benchmarks/results/raw/<timestamp>/.
#
#   Benchmarks/run-all.sh            # the full run (the slow-reader soak alone takes 10 minutes)
#   QUICK=1 Benchmarks/run-all.sh    # shorter runs of everything (a smoke run; figures are noisier)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/Benchmarks/results/raw/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
QUICK=${QUICK:-0}

bash scripts/install-deps.sh
swift build -c release --product tagih

step() { echo; echo "=== $1"; }

step "micro: package-benchmark (Decision, Engine, Transport)"
if [ "$QUICK" = 1 ]; then export TAGIH_BENCH_DEBTORS=${TAGIH_BENCH_DEBTORS:-200000}; fi
for target in DecisionBenchmarks TransportBenchmarks EngineBenchmarks; do
    mkdir -p "$OUT/$target"   # one JMH export per target (each is named Current_run.jmh.json)
    (cd Benchmarks && swift package --allow-writing-to-package-directory benchmark --target "$target" \
        --format jmh --path "$OUT/$target") > "$OUT/$target.txt" 2>&1 || echo "$target failed: see $OUT/$target.txt"
done

step "transport: tagih vs nghttpd (small GET, NDJSON streaming, slow readers)"
if [ "$QUICK" = 1 ]; then
    SKIP_BUILD=1 Benchmarks/scripts/transport-vs-nghttpd.sh --quick --slow-seconds 30 | tee "$OUT/transport.txt"
else
    SKIP_BUILD=1 Benchmarks/scripts/transport-vs-nghttpd.sh | tee "$OUT/transport.txt"
fi

step "service: GET /v1/debtors/{id} vs nghttpd"
if [ "$QUICK" = 1 ]; then
    ROUNDS=1 REQUESTS=50000 DEBTORS=20000 Benchmarks/scripts/debtor-get-vs-nghttpd.sh | tee "$OUT/debtor-get.txt"
else
    Benchmarks/scripts/debtor-get-vs-nghttpd.sh | tee "$OUT/debtor-get.txt"
fi

step "service: dialer session lines/s and outcome ack latency"
if [ "$QUICK" = 1 ]; then
    ROUNDS=1 Benchmarks/scripts/service-streams.sh | tee "$OUT/service-streams.txt"
else
    Benchmarks/scripts/service-streams.sh | tee "$OUT/service-streams.txt"
fi

step "simulation: speed and strategy comparison"
if [ "$QUICK" = 1 ]; then
    OUT="$OUT/sim" Benchmarks/scripts/sim-bench.sh compare | tee "$OUT/sim.txt"
else
    OUT="$OUT/sim" Benchmarks/scripts/sim-bench.sh all | tee "$OUT/sim.txt"
fi

step "summary"
python3 Benchmarks/scripts/summarize.py "$OUT" | tee "$OUT/summary.md"

#!/usr/bin/env bash
# The line-protocol streams of a real `tagih serve` (release build), driven by `tagih loadgen`:
#  - call lines/s received by one POST /v1/dialer session (target >= 200,000/s);
#  - ack latency of POST /v1/outcomes at a fixed rate (target p99 <= 5 ms at 10,000/s); the ack is
#    sent once the event is durable and the debtor re-decided.
#
#   Benchmarks/scripts/service-streams.sh
#   DEBTORS=300000 CALLS=250000 RATE=10000 SECONDS_=5 Benchmarks/scripts/service-streams.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
DEBTORS=${DEBTORS:-300000}
CALLS=${CALLS:-250000}
RATE=${RATE:-10000}
SECONDS_=${SECONDS_:-5}
ROUNDS=${ROUNDS:-3}
BIN=${TAGIH_BIN:-.build/release/tagih}
[ -x "$BIN" ] || swift build -c release --product tagih >&2

work=$(mktemp -d)
cleanup() { kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

source Benchmarks/scripts/lib.sh
start_server() {
    start_tagih "$BIN" "$work" "$DEBTORS"
    pid=$TAGIH_PID
    port=$TAGIH_PORT
}

: > "$work/dialer"
for _ in $(seq 1 "$ROUNDS"); do   # a fresh store each round: every call is a new exclusive lease
    start_server
    "$BIN" loadgen --url "http://127.0.0.1:$port/" --scenario dialer --count "$CALLS" --duration 60 --json \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["linesPerSecond"])' >> "$work/dialer"
    kill "$pid"; wait "$pid" || true
done
dialer=$(median < "$work/dialer")
echo "dialer session: call lines/s median $dialer [$(tr '\n' ' ' < "$work/dialer")]"
echo "RESULT dialer_call_lines value=$dialer unit=lines/s target=200000 anchor=- anchor_value=- ratio=$(awk -v v="$dialer" 'BEGIN { printf "%.2f", v / 200000 }')"

start_server
"$BIN" loadgen --url "http://127.0.0.1:$port/" --scenario outcomes --rate "$RATE" --duration "$SECONDS_" \
    --debtors 1000 --json > "$work/outcomes.json"
python3 - "$work/outcomes.json" "$RATE" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latencyMicroseconds"]
print(f"outcomes at {sys.argv[2]}/s: achieved {r['linesPerSecond']:.0f}/s; ack latency ms "
      + ", ".join(f"{k} {lat[k] / 1000:.2f}" for k in ["p50", "p90", "p99", "p999", "max"]))
print(f"RESULT outcome_ack_p99 value={lat['p99'] / 1000:.2f} unit=ms target=<=5 anchor=- anchor_value=- "
      f"ratio={5000 / max(lat['p99'], 1):.2f}")
PY

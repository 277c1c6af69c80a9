#!/usr/bin/env bash
# GET /v1/debtors/{id} on `tagih serve` against nghttpd serving static files of the same body
# size, with the same h2load flags, interleaved in the same run. Prints requests/s (median of
# ROUNDS) and the ratio; target: tagih >= 0.5 x nghttpd.
#
#   Benchmarks/scripts/debtor-get-vs-nghttpd.sh            # defaults below
#   ROUNDS=5 REQUESTS=400000 DEBTORS=100000 Benchmarks/scripts/debtor-get-vs-nghttpd.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
DEBTORS=${DEBTORS:-100000}
IDS=${IDS:-1000}
FLAGS=${H2LOAD_FLAGS:--t 1 -c 8 -m 32}
BIN=${TAGIH_BIN:-.build/release/tagih}
[ -x "$BIN" ] || swift build -c release --product tagih >&2

work=$(mktemp -d)
cleanup() { kill "$tagih_pid" "$nghttpd_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

source Benchmarks/scripts/lib.sh
start_tagih "$BIN" "$work" "$DEBTORS"
tagih_pid=$TAGIH_PID
port=$TAGIH_PORT

# The same number of distinct ids for both servers; nghttpd gets files of tagih's body sizes.
mkdir -p "$work/www"
: > "$work/uris-tagih"
: > "$work/uris-nghttpd"
# A free port for nghttpd (port + 1 was sometimes taken, and a silent nghttpd failure printed 0 req/s).
nport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
total=0
for i in $(seq 1 "$IDS"); do
    id="D-$(( (i * 7919) % DEBTORS + 1 ))"
    curl -s --http2-prior-knowledge "http://127.0.0.1:$port/v1/debtors/$id" > "$work/www/$id"
    total=$((total + $(stat -c %s "$work/www/$id")))
    echo "http://127.0.0.1:$port/v1/debtors/$id" >> "$work/uris-tagih"
    echo "http://127.0.0.1:$nport/$id" >> "$work/uris-nghttpd"
done
nghttpd --no-tls -d "$work/www" "$nport" >"$work/nghttpd.log" 2>&1 &
nghttpd_pid=$!
for _ in $(seq 1 50); do
    curl -s -o /dev/null --http2-prior-knowledge "http://127.0.0.1:$nport/$id" && break
    sleep 0.1
done
curl -sf -o /dev/null --http2-prior-knowledge "http://127.0.0.1:$nport/$id" \
    || { echo "nghttpd did not start on port $nport: $(cat "$work/nghttpd.log")" >&2; exit 1; }

rate() {  # h2load's requests/s for a URI file
    h2load $FLAGS -n "$REQUESTS" -i "$1" 2>/dev/null | awk '/^finished in/ { gsub(",", "", $4); print $4 }'
}

: > "$work/t"
: > "$work/n"
for _ in $(seq 1 "$ROUNDS"); do
    rate "$work/uris-tagih" >> "$work/t"
    rate "$work/uris-nghttpd" >> "$work/n"
done
t=$(median < "$work/t")
n=$(median < "$work/n")
ratio=$(awk -v t="$t" -v n="$n" 'BEGIN { printf "%.2f", t / n }')
echo "GET /v1/debtors/{id}: body ${total}/${IDS} bytes avg; h2load $FLAGS -n $REQUESTS; rounds $ROUNDS"
echo "  tagih   req/s (median): $t   [$(tr '\n' ' ' < "$work/t")]"
echo "  nghttpd req/s (median): $n   [$(tr '\n' ' ' < "$work/n")]"
echo "  ratio: $ratio (target >= 0.5)"
echo "RESULT debtor_get_rps value=$t unit=req/s target=0.5x anchor=nghttpd anchor_value=$n ratio=$ratio"

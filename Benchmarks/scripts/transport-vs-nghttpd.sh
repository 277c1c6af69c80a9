#!/usr/bin/env bash
# Transport macro-benchmark: tagih's HTTP/2 server against nghttpd, same machine, same h2load flags.
#
#   1. small GET: h2load on tagih GET /healthz ("ok\n") and on nghttpd serving a static 3-byte file
#      -> requests/s of each and the ratio (target: tagih >= 0.6 x nghttpd)
#   2. NDJSON streaming over one connection: h2load (1 client, 1 stream) on /v1/debug/stream?n=N, and
#      `tagih loadgen` (the Swift client) on the same URL -> MB/s (target >= 500 MB/s)
#   3. slow readers: K streams each read at 20 KB/s for SLOW_SECONDS; the server's peak RSS
#      (target < 64 MiB)
#
# Usage: Benchmarks/scripts/transport-vs-nghttpd.sh [--in-process] [--slow-seconds S] [--quick]
#   --in-process     measure the transport alone: the server is `tagih loadgen --serve-only`
#                    (HTTP2DebugResponder in-process), not `tagih serve`
#   --slow-seconds S how long the slow readers run (default 600)
#   --quick          fewer requests (smoke run)
# Environment:
#   TAGIH_SERVER_CMD  server command; {port} and {data} are replaced
#                     (default: ".build/release/tagih serve --host 127.0.0.1 --port {port} --data {data}")
#   H2LOAD_FLAGS      small-GET flags (default: "-n 400000 -c 8 -m 32 -t 1")
#   STREAM_LINES      lines per streaming request (default 100000, ~10 MB)
#   SLOW_READERS      number of slow-reader streams (default 20)
#   SKIP_BUILD=1      do not run `swift build -c release`
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$(pwd)
IN_PROCESS=0
SLOW_SECONDS=600
QUICK=0
while [ $# -gt 0 ]; do
    case "$1" in
        --in-process) IN_PROCESS=1 ;;
        --slow-seconds) SLOW_SECONDS="$2"; shift ;;
        --quick) QUICK=1 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    DEFAULT_FLAGS="-n 100000 -c 8 -m 32 -t 1"
    DEFAULT_STREAM_REQUESTS=10
else
    DEFAULT_FLAGS="-n 400000 -c 8 -m 32 -t 1"
    DEFAULT_STREAM_REQUESTS=30
fi
H2LOAD_FLAGS=${H2LOAD_FLAGS:-$DEFAULT_FLAGS}
STREAM_LINES=${STREAM_LINES:-100000}
STREAM_REQUESTS=${STREAM_REQUESTS:-$DEFAULT_STREAM_REQUESTS}
SLOW_READERS=${SLOW_READERS:-20}
if [ "$IN_PROCESS" = 1 ]; then
    TAGIH_SERVER_CMD=${TAGIH_SERVER_CMD:-".build/release/tagih loadgen --serve-only --url http://127.0.0.1:{port}/"}
else
    TAGIH_SERVER_CMD=${TAGIH_SERVER_CMD:-".build/release/tagih serve --host 127.0.0.1 --port {port} --data {data}"}
fi

for tool in h2load nghttpd python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nghttp2-client nghttp2-server)" >&2; exit 1; }
done
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    swift build -c release --product tagih >/dev/null
fi

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]:-}"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),timeout=0.2)" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    return 1
}
reqs_per_sec() { sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' | head -1; }

# --- servers --------------------------------------------------------------------------------------
TAGIH_PORT=$(free_port)
mkdir -p "$WORK/data" "$WORK/htdocs"
CMD=${TAGIH_SERVER_CMD//\{port\}/$TAGIH_PORT}
CMD=${CMD//\{data\}/$WORK/data}
$CMD >"$WORK/tagih.log" 2>&1 &
TAGIH_PID=$!
PIDS+=("$TAGIH_PID")
wait_port "$TAGIH_PORT"

printf 'ok\n' >"$WORK/htdocs/healthz"
NGHTTPD_PORT=$(free_port)
nghttpd --no-tls -n 2 -d "$WORK/htdocs" "$NGHTTPD_PORT" >"$WORK/nghttpd.log" 2>&1 &
PIDS+=("$!")
wait_port "$NGHTTPD_PORT"

echo "date:        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine:     $(nproc) cores, $(uname -sr)"
echo "tagih cmd:   $CMD"
echo "nghttpd:     nghttpd --no-tls -n 2 (static 3-byte file)"
echo "h2load:      $H2LOAD_FLAGS"
echo

# --- 1. small GET ------------------------------------------------------------------------------------
h2load $H2LOAD_FLAGS "http://127.0.0.1:$TAGIH_PORT/healthz" >/dev/null 2>&1 || true   # warm-up
TAGIH_OUT=$(h2load $H2LOAD_FLAGS "http://127.0.0.1:$TAGIH_PORT/healthz")
NGHTTPD_OUT=$(h2load $H2LOAD_FLAGS "http://127.0.0.1:$NGHTTPD_PORT/healthz")
TAGIH_RPS=$(echo "$TAGIH_OUT" | reqs_per_sec)
NGHTTPD_RPS=$(echo "$NGHTTPD_OUT" | reqs_per_sec)
echo "small GET    tagih   $(echo "$TAGIH_OUT" | grep -E '^requests:' )"
echo "small GET    nghttpd $(echo "$NGHTTPD_OUT" | grep -E '^requests:' )"
python3 - "$TAGIH_RPS" "$NGHTTPD_RPS" <<'PY'
import sys
t, n = float(sys.argv[1]), float(sys.argv[2])
print(f"small GET    tagih {t:,.0f} req/s   nghttpd {n:,.0f} req/s   ratio {t / n:.2f} (target >= 0.60)")
PY
echo

# --- 2. streaming ------------------------------------------------------------------------------------
STREAM_URL="http://127.0.0.1:$TAGIH_PORT/v1/debug/stream?n=$STREAM_LINES"
STREAM_OUT=$(h2load -n "$STREAM_REQUESTS" -c 1 -m 1 "$STREAM_URL")
python3 - <<PY
import re
out = """$STREAM_OUT"""
seconds = float(re.search(r"finished in ([0-9.]+)(ms|s)", out).group(1)) / (1000 if "finished in" in out and re.search(r"finished in [0-9.]+ms", out) else 1)
total = int(re.search(r"traffic: .*?\((\d+)\) total", out).group(1))
ok = re.search(r"requests: .*", out).group(0)
print(f"streaming    h2load 1 conn x 1 stream, {$STREAM_REQUESTS} x n=$STREAM_LINES: {total / seconds / 1e6:,.0f} MB/s  ({ok})")
PY
if [ -x .build/release/tagih ]; then
    echo "streaming    tagih loadgen (Swift client), 1 conn x 1 stream, 10 s:"
    .build/release/tagih loadgen --url "$STREAM_URL" --connections 1 --streams 1 --duration 10 | sed 's/^/             /'
    echo "streaming    tagih loadgen (Swift client), 1 conn x 8 streams, 10 s:"
    .build/release/tagih loadgen --url "$STREAM_URL" --connections 1 --streams 8 --duration 10 | sed 's/^/             /'
fi
echo

# --- 3. slow readers ---------------------------------------------------------------------------------
echo "slow readers $SLOW_READERS streams x 20 KB/s for $SLOW_SECONDS s on one connection (server RSS sampled every 2 s)"
python3 - "$TAGIH_PORT" "$SLOW_READERS" "$SLOW_SECONDS" >"$WORK/slow.json" <<'PY' &
import json, socket, sys, time
import h2.config, h2.connection, h2.events, h2.settings
port, streams, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
rate = 20_000  # bytes per second per stream
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
conn.local_settings = h2.settings.Settings(client=True, initial_values={
    h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 16384})
conn.initiate_connection()
conn.increment_flow_control_window(64 << 20)  # only the per-stream windows pace the readers
sock = socket.create_connection(("127.0.0.1", port))
sock.sendall(conn.data_to_send())
ids = []
for _ in range(streams):
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [(":method", "GET"), (":scheme", "http"), (":authority", "127.0.0.1"),
                            (":path", "/v1/debug/stream?n=1000000000")], end_stream=True)
    ids.append(sid)
sock.sendall(conn.data_to_send())
received = {sid: 0 for sid in ids}
statuses = []
owed = {sid: 0 for sid in ids}
start = time.time()
sock.settimeout(0.05)
while time.time() - start < seconds:
    try:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                statuses.append(int(dict(event.headers)[":status"]))
            if isinstance(event, h2.events.DataReceived):
                received[event.stream_id] += len(event.data)
                owed[event.stream_id] += event.flow_controlled_length
    except socket.timeout:
        pass
    # Open each stream's window only at 20 KB/s.
    elapsed = time.time() - start
    for sid in ids:
        allowed = int(rate * elapsed) - (received[sid] - owed[sid])
        give = min(owed[sid], max(0, allowed))
        if give > 0:
            conn.acknowledge_received_data(give, sid)
            owed[sid] -= give
    out = conn.data_to_send()
    if out:
        sock.sendall(out)
total = sum(received.values())
print(json.dumps({"seconds": time.time() - start, "bytes": total, "statuses": sorted(set(statuses)),
                  "bytesPerSecondPerStream": total / streams / (time.time() - start)}))
PY
SLOW_PID=$!
PIDS+=("$SLOW_PID")
PEAK_KB=0
START_KB=$(awk '/VmRSS/ {print $2}' "/proc/$TAGIH_PID/status")
while kill -0 "$SLOW_PID" 2>/dev/null; do
    KB=$(awk '/VmRSS/ {print $2}' "/proc/$TAGIH_PID/status" 2>/dev/null || echo 0)
    [ "${KB:-0}" -gt "$PEAK_KB" ] && PEAK_KB=$KB
    sleep 2
done
wait "$SLOW_PID" || true
echo "slow readers $(cat "$WORK/slow.json")"
echo "slow readers server RSS: before $((START_KB / 1024)) MiB, peak $((PEAK_KB / 1024)) MiB (target < 64 MiB)"
# The RSS bound only means something if the readers really were fed at their pace.
python3 - "$WORK/slow.json" <<'PY' || { echo "slow readers: FAILED: the streams were not served at 20 KB/s" >&2; exit 1; }
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["statuses"] == [200] and r["bytesPerSecondPerStream"] >= 10_000 else 1)
PY

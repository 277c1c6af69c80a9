# Shared by the service benchmark scripts (source it; it defines functions only).

# start_tagih BIN WORK DEBTORS: starts `tagih serve` on a free port with a fresh store of DEBTORS demo
# debtors in WORK/data and the clock at Tuesday 2026-12-01 17:00 UTC (US and GB windows open); waits
# until /readyz answers 200. Sets TAGIH_PID and TAGIH_PORT.
start_tagih() {
    local bin=$1 work=$2 debtors=$3
    rm -rf "$work/data" "$work/port"
    "$bin" serve --port 0 --port-file "$work/port" --data "$work/data" --demo "$debtors" \
        --clock-start 2026-12-01T17:00:00Z --log-level warning &
    TAGIH_PID=$!
    for _ in $(seq 1 1200); do [ -s "$work/port" ] && break; sleep 0.1; done
    TAGIH_PORT=$(cat "$work/port")
    for _ in $(seq 1 1200); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge "http://127.0.0.1:$TAGIH_PORT/readyz")" = 200 ] \
            && return 0
        sleep 0.2
    done
    echo "tagih serve did not become ready" >&2
    return 1
}

# median: the median of the numbers on standard input, one a line.
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

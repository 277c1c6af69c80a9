"""POST /v1/simulations against a live `tagih serve` (started by the Swift test): one at a time (429 for a second
one), and a run whose client goes away stops at once instead of keeping the cores busy for minutes.
Usage: simulation_stop_test.py HOST PORT SERVER_PID [then-shutdown]"""
import json
import os
import signal
import sys
import time

import httpx

from tagih_client import DuplexStream, check_line, check_schema

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BASE = f"http://{HOST}:{PORT}"
TICKS = os.sysconf("SC_CLK_TCK")
# Large enough to run for minutes in a debug build; its first progress line comes after one simulated day.
BIG = {"debtors": 20000, "start": "2026-12-01", "days": 90, "agents": 20, "seed": 3, "strategy": "tagih"}
SMALL = {"debtors": 300, "start": "2026-12-01", "days": 1, "agents": 2, "seed": 1, "strategy": "tagih"}


def cpu_seconds():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start_big():
    s = DuplexStream(HOST, PORT, "POST", "/v1/simulations", headers=[("content-type", "application/json")])
    s.send_line(json.dumps(BIG))
    s.end()
    first = s.next_line(timeout=120, predicate=lambda l: l.get("type") == "progress")
    assert first is not None and s.status == 200, (s.status, s.lines)
    check_line(first)
    return s


def main():
    client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=60)
    big = start_big()

    # A second simulation while the first runs: 429, with the reason and when to retry.
    r = client.post("/v1/simulations", json=SMALL)
    assert r.status_code == 429 and r.headers.get("retry-after") == "30", (r.status_code, r.text)
    check_schema("http-error", r.json())
    assert r.json()["error"]["code"] == "too_many_simulations", r.text

    # The client goes away: the run stops within moments, not at its end.
    big.sock.close()
    time.sleep(1.5)
    before, started = cpu_seconds(), time.time()
    time.sleep(2)
    used, elapsed = cpu_seconds() - before, time.time() - started
    assert used < 0.25 * elapsed, f"the server used {used:.2f} CPU s in {elapsed:.2f} s after the client left"

    # Its slot is free again: the next simulation runs to its report.
    r = client.post("/v1/simulations", json=SMALL)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    lines = [json.loads(l) for l in r.text.splitlines() if l.strip()]
    assert lines[-1]["type"] == "report", lines[-1]
    check_line(lines[-1])
    print(f"stopped: {used:.3f} CPU s in {elapsed:.2f} s after the client left")

    # A client that resets its stream (RST_STREAM CANCEL) instead of closing the connection: stopped too, and its
    # slot is free again (the caller checks the server logged both stops).
    s = start_big()
    s.conn.reset_stream(s.stream_id, error_code=8)
    s.sock.sendall(s.conn.data_to_send())
    deadline = time.time() + 10
    while True:
        r = client.post("/v1/simulations", json=SMALL)
        if r.status_code == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    s.sock.close()

    if len(sys.argv) > 4 and sys.argv[4] == "then-shutdown":
        # The server is stopped (SIGTERM) while a run goes on: the stream ends with a shutting_down line.
        s = start_big()
        os.kill(PID, signal.SIGTERM)
        last = None
        deadline = time.time() + 60
        while time.time() < deadline and not s.ended and not s.closed:
            line = s.next_line(timeout=1)
            if line is not None:
                last = line
        assert last is not None and last.get("type") == "error" and last["code"] == "shutting_down", last
        check_line(last)
        print("ended with shutting_down")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

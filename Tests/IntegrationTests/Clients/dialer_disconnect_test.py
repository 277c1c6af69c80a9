"""A dialer that vanishes (its socket closed in the middle of a session, no END_STREAM, no RST) against a live
`tagih serve` (started by the Swift test with a long --heartbeat). The server must go idle at once: before the
fix, the session's writer looped without waiting until its next heartbeat failed, spinning the connection's
event loop at 100 % CPU and stalling every other connection served by that loop. Then a `GET /v1/calls` client
that vanishes while it waits: debtors that become ready afterwards must not be leased to it.
Usage: dialer_disconnect_test.py HOST PORT SERVER_PID"""
import json
import os
import sys
import time

import httpx

from tagih_client import DuplexStream

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BASE = f"http://{HOST}:{PORT}"
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds():
    """User + system CPU seconds of the server process so far (/proc/PID/stat fields 14 and 15)."""
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def main():
    client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=10)
    lines = "".join(json.dumps({
        "id": f"V-{i}", "jurisdiction": "US", "zone": "America/New_York",
        "phones": [{"number": f"+1212557{i:04d}", "zone": "America/New_York"}],
        "debts": [{"id": f"VA-{i}", "balance": "50.00", "currency": "USD"}]}) + "\n" for i in range(8))
    r = client.put("/v1/debtors", content=lines, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and '"ok":false' not in r.text, r.text

    for round in range(3):
        dialer = DuplexStream(HOST, PORT, "POST", "/v1/dialer", headers=[("content-type", "application/x-ndjson")])
        dialer.send_line({"type": "ready", "n": 1})
        call = dialer.next_line(predicate=lambda l: l.get("type") == "call")
        assert call is not None and dialer.status == 200, dialer.lines
        dialer.sock.close()  # vanish: no END_STREAM, no RST_STREAM, no GOAWAY
        time.sleep(0.3)
        before = cpu_seconds()
        # Fresh connections (spread over the server's event loops) are answered at once meanwhile.
        started = time.time()
        for k in range(10):
            with httpx.Client(http2=True, http1=False, base_url=BASE, timeout=5) as fresh:
                r = fresh.get(f"/v1/debtors/{call['debtor']}")
                assert r.status_code == 200 and r.json()["leased"] is True, (r.status_code, r.text[:200])
            time.sleep(0.1)
        elapsed = time.time() - started
        used = cpu_seconds() - before
        # An idle server answering 10 small GETs uses a few milliseconds; a spinning loop uses a core.
        assert used < 0.25 * elapsed, f"round {round}: the server used {used:.2f} CPU s in {elapsed:.2f} s while idle"
        print(f"round {round}: {used:.3f} CPU s in {elapsed:.2f} s after the dialer vanished")
    # A `GET /v1/calls?wait=…` client that vanishes while waiting for more: a debtor that becomes ready
    # afterwards is not leased to it (it was, and then held for the lease TTL and counted as a placed call).
    client.get("/v1/calls?n=10000")  # nothing else ready
    waiting = DuplexStream(HOST, PORT, "GET", "/v1/calls?n=5&wait=30", end_stream=True)
    assert waiting.next_line(timeout=1) is None  # nobody ready: the request waits
    waiting.sock.close()
    time.sleep(0.5)
    late = {"id": "V-late", "jurisdiction": "US", "zone": "America/New_York",
            "phones": [{"number": "+12125579999", "zone": "America/New_York"}],
            "debts": [{"id": "VA-late", "balance": "50.00", "currency": "USD"}]}
    r = client.put("/v1/debtors", content=json.dumps(late) + "\n", headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and '"ok":true' in r.text, r.text
    time.sleep(1)
    state = client.get("/v1/debtors/V-late").json()
    assert state["leased"] is False and state["lease"] is None, state
    got = client.get("/v1/calls?n=1").text
    assert '"debtor":"V-late"' in got, got
    print("a vanished /v1/calls client leased nothing")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()

"""Clients that do not read what the server sends (their HTTP/2 stream window is 0), against a live `tagih serve`
(started by the Swift test with --clock-start 2026-12-01T15:00:00Z, on an empty store): calls leased for them never left
the server, so they must be given back when the stream closes (not held for the lease TTL and then counted as
placed calls); a dialer that sends without reading must be held back by flow control, not buffered in the
server's memory. Also: a dialer session whose whole body arrives at once gets every ack before it ends.
Usage: stalled_reader_test.py HOST PORT SERVER_PID"""
import json
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import httpx

from tagih_client import check_line

HOST, PORT, PID = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BASE = f"http://{HOST}:{PORT}"
NDJSON = [("content-type", "application/x-ndjson")]
client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)


class StalledClient:
    """An HTTP/2 connection whose streams get a receive window of 0: the server can send headers, never data."""

    def __init__(self):
        self.sock = socket.create_connection((HOST, PORT), timeout=10)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
        self.flush()
        self.status = {}
        self.data = {}

    def flush(self):
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)

    def open(self, method, path):
        sid = self.conn.get_next_available_stream_id()
        self.conn.send_headers(sid, [(":method", method), (":path", path), (":scheme", "http"),
                                     (":authority", f"{HOST}:{PORT}")] + NDJSON, end_stream=False)
        self.flush()
        self.data[sid] = b""
        return sid

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.sock], [], [], 0.1)
            if not ready:
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                return
            for event in self.conn.receive_data(chunk):
                if isinstance(event, h2.events.ResponseReceived):
                    self.status[event.stream_id] = dict(event.headers)[b":status"]
                elif isinstance(event, h2.events.DataReceived):
                    self.data[event.stream_id] += event.data  # never acknowledged: the window stays shut
            self.flush()

    def send(self, sid, data, seconds):
        """Sends `data` as long as the server's flow control lets it, for up to `seconds`; returns bytes sent."""
        sent = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and sent < len(data):
            window = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if window <= 0:
                self.pump(0.1)
                continue
            chunk = data[sent:sent + window]
            self.conn.send_data(sid, chunk)
            self.flush()
            sent += len(chunk)
        return sent

    def close(self):
        self.sock.close()


def metric(name):
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def rss_mib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def wait_for(what, check, seconds=10):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def put_debtors(count):
    lines = "".join(json.dumps({
        "id": f"SR-{i}", "jurisdiction": "US", "zone": "America/New_York",
        "phones": [{"number": f"+1212558{i:04d}", "zone": "America/New_York"}],
        "debts": [{"id": f"SRA-{i}", "balance": "75.00", "currency": "USD"}]}) + "\n" for i in range(count))
    r = client.put("/v1/debtors", content=lines, headers=dict(NDJSON))
    assert r.status_code == 200 and '"ok":false' not in r.text, r.text[:500]


def undelivered_calls_are_given_back():
    put_debtors(400)
    # A dialer session that asks for calls and never reads them, then goes away.
    undelivered = metric("tagih_calls_undelivered_total")
    leased = metric("tagih_calls_leased_total")
    stalled = StalledClient()
    sid = stalled.open("POST", "/v1/dialer")
    stalled.conn.send_data(sid, (json.dumps({"type": "ready", "n": 300}) + "\n").encode())
    stalled.flush()
    wait_for("the session's calls to be leased", lambda: metric("tagih_calls_leased_total") > leased)
    stalled.pump(1.0)
    assert stalled.status.get(sid) == b"200" and stalled.data[sid] == b"", (stalled.status, stalled.data[sid][:100])
    dialer_leased = metric("tagih_calls_leased_total") - leased
    assert dialer_leased > 0
    # The same with GET /v1/calls.
    calls = stalled.open("GET", "/v1/calls?n=25")
    stalled.conn.end_stream(calls)
    stalled.flush()
    wait_for("the stream's calls to be leased", lambda: metric("tagih_calls_leased_total") >= leased + dialer_leased + 25)
    stalled.pump(0.5)
    assert stalled.data[calls] == b""
    total = metric("tagih_calls_leased_total") - leased
    stalled.close()
    # Nothing of it left the server: every lease is given back, without a counted call.
    wait_for("the undelivered leases to be given back",
             lambda: metric("tagih_calls_undelivered_total") - undelivered == total)
    # The debtors are leasable again at once, and none has a counted attempt.
    r = client.get("/v1/calls", params={"n": str(int(total))})
    got = [json.loads(l) for l in r.text.splitlines() if l.strip()]
    for line in got:
        check_line(line)
    assert len(got) == total, (len(got), total)
    for line in got[:20]:
        state = client.get(f"/v1/debtors/{line['debtor']}").json()
        assert state["attempts"] == 0 and "cap usage 0/" in json.dumps(state["decisions"]), state
    print(f"{int(total)} calls leased for streams that never read them: all given back when the streams closed")


def a_dialer_that_does_not_read_is_held_back():
    before = rss_mib()
    stalled = StalledClient()
    sid = stalled.open("POST", "/v1/dialer")
    # 64 MiB of lines offered, each answered with an error line the client never reads.
    sent = stalled.send(sid, b"garbage\n" * (8 << 20), seconds=6)
    grown = rss_mib() - before
    stalled.close()
    # The server stops taking input once about a MiB of answers waits: far less than was offered.
    assert sent < 16 << 20, f"the server took {sent} bytes from a client that reads nothing"
    assert grown < 64, f"the server grew by {grown:.0f} MiB"
    # And it still serves.
    assert client.get("/readyz").status_code == 200
    print(f"a dialer that never reads: {sent} bytes taken before flow control held it; RSS +{grown:.1f} MiB")


def a_whole_body_at_once_is_answered():
    # curl --data-binary: the body and its END_STREAM arrive before the session's writer ran once.
    lines = [{"type": "ready", "n": 0}, "not json", {"type": "release", "lease": "no-such-lease"}]
    body = "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)
    for text in (body, body.rstrip("\n")):  # also without a final newline
        r = client.post("/v1/dialer", content=text, headers=dict(NDJSON))
        out = [json.loads(l) for l in r.text.splitlines() if l.strip()]
        assert r.status_code == 200 and [o.get("line") for o in out] == [2, 3], (r.status_code, r.text)
        assert out[0]["code"] == "invalid_json" and out[1]["error"]["code"] == "not_leased", out
    print("a dialer body sent at once gets its answers")


if __name__ == "__main__":
    a_whole_body_at_once_is_answered()
    undelivered_calls_are_given_back()
    a_dialer_that_does_not_read_is_held_back()
    print("1 passed, 0 failed")

"""A full disk under a live `tagih serve` (started by the Swift test on a small tmpfs, with
--clock-start 2026-12-01T15:00:00Z), driven with httpx over HTTP/2 and a raw h2 dialer stream.

Usage:
  disk_full_test.py HOST PORT fill FILL_PATH STATE_FILE
      fills the file system that holds FILL_PATH, checks how the service behaves while it cannot write,
      frees the space, checks that it recovers by itself, and saves the attempt ids it sent to STATE_FILE;
  disk_full_test.py HOST PORT replay STATE_FILE
      after a kill -9 and a restart: every acknowledged attempt is there exactly once.
"""
import errno
import json
import os
import sys
import time

import httpx

from tagih_client import DuplexStream, check_line, check_schema, post_lines

HOST, PORT, PHASE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BASE = f"http://{HOST}:{PORT}"
client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)
DEBTORS = 40


def debtor(i):
    return {"id": f"F-{i}", "jurisdiction": "US", "zone": "America/New_York", "segment": "late",
            "phones": [{"number": f"+1212556{i:04d}", "kind": "mobile", "zone": "America/New_York",
                        "owner": "debtor"}],
            "debts": [{"id": f"FA-{i}", "balance": "800.00", "currency": "USD"}]}


def outcome(attempt, i):
    return {"attempt": attempt, "debtor": f"F-{i}", "debt": f"FA-{i}", "phone": f"+1212556{i:04d}",
            "at": "2026-12-01T15:00:00Z", "outcome": "no_answer"}


def post(path, lines, method="POST"):
    return post_lines(client, path, lines, method)


def metric(name):
    text = client.get("/metrics").text
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def fill(path):
    """Writes zeros to `path` until the file system is full (to its last byte); returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as error:
                    assert error.errno == errno.ENOSPC, error
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    return written


def wait_for(what, check, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def phase_fill(fill_path, state_file):
    out = post("/v1/debtors", [debtor(i) for i in range(DEBTORS)], method="PUT")
    assert all(o["ok"] for o in out), out
    assert client.get("/readyz").status_code == 200
    assert metric("tagih_store_writable") == 1.0

    dialer = DuplexStream(HOST, PORT, "POST", "/v1/dialer", headers=[("content-type", "application/x-ndjson")])
    dialer.send_line({"type": "ready", "n": 1})
    call = dialer.next_line(predicate=lambda l: l.get("type") == "call")
    assert call is not None and dialer.status == 200, (call, dialer.status, dialer.lines)

    targets = [i for i in range(DEBTORS) if f"F-{i}" != call["debtor"]][:DEBTORS // 2]
    assert fill(fill_path) > 0
    acked, refused = [], []
    sent = [0]

    def send(count):
        """Posts `count` new outcomes; returns how many the store refused."""
        # Half of the debtors get outcomes, never the one leased above (an outcome without a lease ends the
        # debtor's lease): the others stay callable for the dialer below.
        lines = [outcome(f"full-{sent[0] + k}", targets[(sent[0] + k) % len(targets)]) for k in range(count)]
        sent[0] += count
        n = 0
        for line, result in zip(lines, post("/v1/outcomes", lines)):
            if result["ok"]:
                assert result["duplicate"] is False, result
                acked.append(line)
            else:
                error = result["error"]
                assert error["code"] == "store_unavailable", result
                assert "disk is full" in error["message"] and "retry" in error["message"], result
                refused.append(line)
                n += 1
        return n

    # SQLite keeps writing into the space its files already hold (the WAL's unused frames), so on a full disk
    # small commits may still succeed for a while after a large one failed: send batches until one is refused,
    # then single lines until several in a row are, twice (the store's probe may use the last frames meanwhile).
    for _ in range(400):
        if send(50):
            break
    else:
        raise AssertionError("the store never refused a write on a full disk")
    for settle in range(2):
        streak = 0
        for _ in range(2000):
            streak = streak + 1 if send(1) else 0
            if streak == 5:
                break
        assert streak == 5, f"single writes still succeed on a full disk ({len(acked)} acknowledged)"
        time.sleep(2.5 if settle == 0 else 0)
    # Now every write is refused, and none is acknowledged.
    assert send(20) == 20

    # Readiness says why; /v1/calls says so instead of an empty stream; metrics show it.
    r = client.get("/readyz")
    assert r.status_code == 503, (r.status_code, r.text)
    assert "the store cannot write since 20" in r.text and "disk is full" in r.text, r.text
    r = client.get("/v1/calls?n=2")
    assert r.status_code == 503 and r.headers.get("retry-after") == "1", (r.status_code, r.headers, r.text)
    body = r.json()
    check_schema("http-error", body)
    assert body["error"]["code"] == "store_unavailable" and "disk is full" in body["error"]["message"], body
    assert metric("tagih_store_writable") == 0.0
    assert metric("tagih_store_write_failures_total") >= 2
    # Reads still work.
    r = client.get(f"/v1/debtors/{call['debtor']}")
    assert r.status_code == 200 and r.json()["leased"] is True, (r.status_code, r.text[:300])
    r = client.get("/v1/schedule?from=2026-12-01T00:00:00Z&to=2026-12-08T00:00:00Z")
    assert r.status_code == 200 and '"debtor":' in r.text, (r.status_code, r.text[:300])

    # The open dialer session is told once and stays open; its outcomes are refused, not acknowledged.
    dialer.send_line({"type": "ready", "n": 3})
    err = dialer.next_line(timeout=5, predicate=lambda l: l.get("type") == "error")
    assert err is not None and err["code"] == "store_unavailable", dialer.lines[-5:]
    check_line(err)
    assert "line" not in err and "disk is full" in err["message"], err
    session_line = dict(outcome("session-1", targets[0]), type="outcome")
    dialer.send_line(session_line)
    ack = dialer.next_line(timeout=5, predicate=lambda l: l.get("type") == "ack")
    assert ack is not None and ack["ok"] is False and ack["error"]["code"] == "store_unavailable", ack
    check_line(ack)
    refused.append(outcome("session-1", targets[0]))
    # Giving back the call leased before the disk filled up cannot be stored either; the lease stays the session's.
    dialer.send_line({"type": "release", "lease": call["lease"]})
    ack = dialer.next_line(timeout=5, predicate=lambda l: l.get("type") == "ack")
    assert ack is not None and ack["ok"] is False and ack["error"]["code"] == "store_unavailable", ack
    assert "send the release again" in ack["error"]["message"], ack
    check_line(ack)
    # No second error line while the failure lasts (the session retries leasing once a second meanwhile).
    second = dialer.next_line(timeout=2.5, predicate=lambda l: l.get("type") == "error")
    assert second is None and not dialer.ended and not dialer.reset, (second, dialer.lines[-5:])

    # Free the space: the store notices by itself (no client write needed) within a few seconds.
    os.remove(fill_path)
    wait_for("/readyz to answer 200", lambda: client.get("/readyz").status_code == 200)
    assert metric("tagih_store_writable") == 1.0
    # The dialer's credit was kept: its calls resume on the same session.
    again = dialer.next_line(timeout=10, predicate=lambda l: l.get("type") == "call")
    assert again is not None, dialer.lines[-5:]
    check_line(again)
    # The release refused during the failure, sent again: stored now.
    dialer.send_line({"type": "release", "lease": call["lease"]})
    ack = dialer.next_line(timeout=5, predicate=lambda l: l.get("type") == "ack")
    assert ack is not None and ack["ok"] is True, ack
    dialer.close()

    # Nothing refused was stored: sent again now, each is new; the acknowledged ones are duplicates.
    out = post("/v1/outcomes", refused)
    assert all(o["ok"] and o["duplicate"] is False for o in out), [o for o in out if not o["ok"] or o["duplicate"]]
    if acked:
        out = post("/v1/outcomes", acked)
        assert all(o["ok"] and o["duplicate"] is True for o in out), out
    with open(state_file, "w") as f:
        json.dump({"acked": acked + refused}, f)
    print(f"{len(acked)} acknowledged before the disk filled up, {len(refused)} refused and stored later")


def phase_replay(state_file):
    with open(state_file) as f:
        lines = json.load(f)["acked"]
    assert lines
    assert client.get("/readyz").status_code == 200
    out = post("/v1/outcomes", lines)
    assert all(o["ok"] and o["duplicate"] is True for o in out), [o for o in out if not o.get("duplicate")][:5]
    print(f"all {len(lines)} acknowledged attempts present after the restart")


if __name__ == "__main__":
    if PHASE == "fill":
        phase_fill(sys.argv[4], sys.argv[5])
    elif PHASE == "replay":
        phase_replay(sys.argv[4])
    else:
        raise SystemExit(f"unknown phase {PHASE!r}")
    print("1 passed, 0 failed")

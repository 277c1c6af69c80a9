"""`tagih backup` of a live `tagih serve` under write load (started by the Swift test with
--clock-start 2026-12-01T15:00:00Z), driven with httpx over HTTP/2.

Usage:
  backup_test.py HOST PORT load TAGIH DATA_DIR BACKUP_FILE STATE_FILE
      upserts debtors, posts outcomes from a thread while `TAGIH backup --data DATA_DIR BACKUP_FILE` runs, and
      checks the copy: sound, every outcome acknowledged before the backup began is in it, no outcome sent after
      it ended is, and its log is exactly the store's log up to the copy's last position (never half a commit).
      Saves the attempt ids in and out of the copy to STATE_FILE;
  backup_test.py HOST PORT restored STATE_FILE
      against a server started on the restored copy: the attempts in the copy are known (duplicates), the
      others are new.
"""
import json
import sqlite3
import subprocess
import sys
import threading
import time

import httpx

from tagih_client import post_lines as post

HOST, PORT, PHASE = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BASE = f"http://{HOST}:{PORT}"
DEBTORS = 200


def debtor(i):
    return {"id": f"K-{i}", "jurisdiction": "US", "zone": "America/New_York", "segment": "late",
            "phones": [{"number": f"+1212557{i:04d}", "kind": "mobile", "zone": "America/New_York",
                        "owner": "debtor"}],
            "debts": [{"id": f"KA-{i}", "balance": "300.00", "currency": "USD"}]}


def outcome(attempt, i):
    return {"attempt": attempt, "debtor": f"K-{i}", "debt": f"KA-{i}", "phone": f"+1212557{i:04d}",
            "at": "2026-12-01T15:00:00Z", "outcome": "busy"}


def attempts_in(path):
    """Attempt ids of the outcome events of a store file, by position."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return db.execute("SELECT lsn, key FROM event ORDER BY lsn").fetchall()
    finally:
        db.close()


def phase_load(tagih, data_dir, backup_file, state_file):
    client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)
    out = post(client, "/v1/debtors", [debtor(i) for i in range(DEBTORS)], method="PUT")
    assert all(o["ok"] for o in out), [o for o in out if not o["ok"]][:3]

    acked = []        # (attempt, when its batch was sent, when it was acknowledged)
    stop = threading.Event()
    failures = []

    def writer():
        own = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)
        n = 0
        try:
            while not stop.is_set():
                batch = [outcome(f"bk-{n + k}", (n + k) % DEBTORS) for k in range(50)]
                n += len(batch)
                sent = time.monotonic()
                results = post(own, "/v1/outcomes", batch)
                done = time.monotonic()
                for line, result in zip(batch, results):
                    assert result["ok"] and not result.get("duplicate"), result
                    acked.append((line["attempt"], sent, done))
        except Exception as error:  # noqa: BLE001 - reported by the main thread
            failures.append(repr(error))

    thread = threading.Thread(target=writer)
    thread.start()
    time.sleep(1.5)
    began = time.monotonic()
    r = subprocess.run([tagih, "backup", "--data", data_dir, "--json", backup_file],
                       capture_output=True, text=True, timeout=120)
    ended = time.monotonic()
    time.sleep(1.0)
    stop.set()
    thread.join(60)
    assert not failures, failures
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    summary = json.loads(r.stdout)
    assert summary["debtors"] >= DEBTORS, summary

    db = sqlite3.connect(backup_file)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    copied = attempts_in(backup_file)
    assert len(copied) == summary["events"] and copied[-1][0] == summary["lastEventPosition"], (len(copied), summary)
    keys = {key for _, key in copied}
    before = [a for a, _, done in acked if done < began]
    after = [a for a, sent, _ in acked if sent > ended]
    during = [a for a, sent, done in acked if done >= began and sent <= ended]
    assert before and after, (len(before), len(after))
    missing = [a for a in before if a not in keys]
    assert not missing, f"{len(missing)} outcomes acknowledged before the backup began are not in it: {missing[:5]}"
    late = [a for a in after if a in keys]
    assert not late, f"outcomes sent after the backup ended are in it: {late[:5]}"
    # The copy's log is the store's log up to its last position: a prefix, never half a group commit.
    store = attempts_in(f"{data_dir}/tagih.sqlite")
    assert store[:len(copied)] == copied, "the copy's log is not a prefix of the store's"
    with open(state_file, "w") as f:
        json.dump({"in": [a for a, _, _ in acked if a in keys], "out": [a for a, _, _ in acked if a not in keys]}, f)
    print(f"{len(acked)} outcomes acknowledged: {len(before)} before the backup, {len(during)} during it, "
          f"{len(after)} after it; the copy holds {len(copied)} events")


def phase_restored(state_file):
    client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)
    with open(state_file) as f:
        state = json.load(f)
    assert state["in"] and state["out"], {k: len(v) for k, v in state.items()}
    assert client.get("/readyz").status_code == 200

    def line(attempt):  # an attempt id carries its number, which names its debtor
        return outcome(attempt, int(attempt.split("-")[1]) % DEBTORS)
    out = post(client, "/v1/outcomes", [line(a) for a in state["in"]])
    assert all(o["ok"] and o["duplicate"] is True for o in out), [o for o in out if not o.get("duplicate")][:3]
    out = post(client, "/v1/outcomes", [line(a) for a in state["out"]])
    assert all(o["ok"] and not o.get("duplicate") for o in out), [o for o in out if o.get("duplicate")][:3]
    print(f"restored: {len(state['in'])} attempts of the copy known, {len(state['out'])} later ones new")


if __name__ == "__main__":
    if PHASE == "load":
        phase_load(*sys.argv[4:8])
    elif PHASE == "restored":
        phase_restored(sys.argv[4])
    else:
        raise SystemExit(f"unknown phase {PHASE!r}")
    print("1 passed, 0 failed")

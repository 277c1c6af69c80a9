"""Line protocol v1 against a live `tagih serve` (started by the Swift test with
--clock-start 2026-12-01T15:00:00Z, --heartbeat 1 and --lease-ttl 3), using httpx over HTTP/2
and a raw h2 full-duplex stream. Usage: protocol_test.py HOST PORT"""
import json
import sys
import time

import httpx

from tagih_client import DuplexStream, Runner, check_line, check_schema

HOST, PORT = sys.argv[1], int(sys.argv[2])
BASE = f"http://{HOST}:{PORT}"
NDJSON = {"content-type": "application/x-ndjson"}
client = httpx.Client(http2=True, http1=False, base_url=BASE, timeout=30)


def debtor(i, jurisdiction="US", zone="America/New_York", phone_zone="America/New_York", **extra):
    d = {"id": f"D-{jurisdiction}-{i}", "jurisdiction": jurisdiction, "zone": zone, "segment": "late",
         "phones": [{"number": f"+1212555{i:04d}", "kind": "mobile", "zone": phone_zone, "owner": "debtor"}],
         "debts": [{"id": f"A-{jurisdiction}-{i}", "balance": "1250.00", "currency": "USD"}]}
    d.update(extra)
    return d


def ndjson(lines):
    return "".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines)


def results(response):
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.http_version == "HTTP/2"
    out = [json.loads(l) for l in response.text.splitlines() if l.strip()]
    for line in out:
        check_line(line)
    return out


def put_debtors(lines):
    return results(client.put("/v1/debtors", content=ndjson(lines), headers=NDJSON))


def test_health():
    r = client.get("/healthz")
    assert r.status_code == 200 and r.http_version == "HTTP/2"
    assert client.get("/readyz").status_code == 200
    m = client.get("/metrics")
    assert m.status_code == 200 and "tagih_" in m.text, m.text[:500]


def test_put_debtors_good_and_bad_lines():
    lines = [
        debtor(1),
        '{"id": "broken", ',
        debtor(2, zone="Mars/Olympus"),
        debtor(3, debts=[{"id": "A-x", "balance": "-5", "currency": "USD"}]),
        debtor(4, status="zombie"),
        debtor(5, phones="not-a-list"),
        debtor(6, favouriteColour="blue"),
        debtor(7),
    ]
    out = put_debtors(lines)
    assert [o["line"] for o in out] == list(range(1, 9)), out
    assert [o["ok"] for o in out] == [True, False, False, False, False, False, True, True], out
    assert out[1]["error"]["code"] == "invalid_json"
    assert out[2]["error"]["code"] == "unknown_zone" and out[2]["error"]["field"] == "zone"
    assert "Mars/Olympus" in out[2]["error"]["message"]
    assert out[3]["error"]["code"] == "invalid_money" and "balance" in out[3]["error"]["field"]
    assert out[4]["error"]["code"] == "unknown_value" and out[4]["error"]["field"] == "status"
    assert out[5]["error"]["code"] == "wrong_type" and out[5]["error"]["field"] == "phones"
    assert any("favouriteColour" in w for w in out[6].get("warnings", [])), out[6]
    assert client.get("/v1/debtors/D-US-1").status_code == 200
    assert client.get("/v1/debtors/D-US-7").status_code == 200
    assert client.get("/v1/debtors/D-US-2").status_code == 404  # bad line applied nothing


def test_get_debtor_and_404():
    put_debtors([debtor(10)])
    r = client.get("/v1/debtors/D-US-10")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["debtor"]["id"] == "D-US-10"
    assert len(body["decisions"]) == 1
    decision = body["decisions"][0]
    check_schema("decision", decision)
    assert decision["debt"] == "A-US-10" and decision["earliest"] is not None
    r = client.get("/v1/debtors/nobody-here")
    assert r.status_code == 404
    check_schema("http-error", r.json())


def test_many_gets_in_one_write():
    """30 GETs sent in a single TCP write (known, unknown and percent-encoded ids) are answered together by
    the server's batched lookups; every stream still gets its own status and body."""
    import socket

    import h2.config
    import h2.connection
    import h2.events

    put_debtors([debtor(i) for i in range(40, 50)])
    ids = [f"D-US-{40 + i % 10}" if i % 3 else f"ghost-{i}" for i in range(30)]
    sock = socket.create_connection((HOST, PORT), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    streams = {}
    for debtor_id in ids:
        sid = conn.get_next_available_stream_id()
        streams[sid] = debtor_id
        conn.send_headers(sid, [(":method", "GET"), (":path", "/v1/debtors/" + debtor_id.replace("-", "%2D")),
                                (":scheme", "http"), (":authority", f"{HOST}:{PORT}")], end_stream=True)
    sock.sendall(conn.data_to_send())
    status, bodies, done = {}, {}, set()
    while len(done) < len(streams):
        data = sock.recv(65536)
        assert data, "connection closed early"
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status[event.stream_id] = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done.add(event.stream_id)
        sock.sendall(conn.data_to_send())
    sock.close()
    for sid, debtor_id in streams.items():
        body = json.loads(bodies[sid])
        if debtor_id.startswith("ghost"):
            assert status[sid] == 404, (debtor_id, status[sid])
            assert debtor_id in body["error"]["message"], body
        else:
            assert status[sid] == 200, (debtor_id, status[sid])
            assert body["debtor"]["id"] == debtor_id, (sid, debtor_id, body["debtor"]["id"])


def test_http_errors():
    r = client.post("/v1/debtors", content="", headers=NDJSON)
    assert r.status_code == 405 and "PUT" in r.headers.get("allow", ""), (r.status_code, r.headers)
    check_schema("http-error", r.json())
    r = client.get("/v1/nothing")
    assert r.status_code == 404
    check_schema("http-error", r.json())
    r = client.put("/v1/debtors", content=ndjson([debtor(11)]), headers={"content-type": "text/csv"})
    assert r.status_code == 415, r.status_code
    check_schema("http-error", r.json())
    r = client.get("/v1/calls?n=banana")
    assert r.status_code == 400 and "n" in r.json()["error"]["message"]


def test_outcomes_idempotent_and_rescheduled():
    put_debtors([debtor(20)])
    before = client.get("/v1/debtors/D-US-20").json()["decisions"][0]
    outcome = {"attempt": "it-att-20", "debtor": "D-US-20", "debt": "A-US-20", "phone": "+12125550020",
               "at": "2026-12-01T15:00:00Z", "outcome": "no_answer"}
    bad = dict(outcome, attempt="it-att-20b", outcome="exploded")
    out = results(client.post("/v1/outcomes", content=ndjson([outcome, outcome, bad]), headers=NDJSON))
    assert out[0] == {"line": 1, "id": "it-att-20", "ok": True, "duplicate": False}, out[0]
    assert out[1]["ok"] and out[1]["duplicate"] is True
    assert not out[2]["ok"] and out[2]["error"]["field"] == "outcome"
    after = client.get("/v1/debtors/D-US-20").json()
    assert after["attempts"] == 1, after
    assert after["decisions"][0]["earliest"] != before["earliest"], (before, after)
    # A replay of the same attempt in a later request is still a duplicate.
    out = results(client.post("/v1/outcomes", content=ndjson([outcome]), headers=NDJSON))
    assert out[0]["duplicate"] is True
    assert client.get("/v1/debtors/D-US-20").json()["attempts"] == 1


def test_payments_idempotent():
    put_debtors([debtor(30)])
    p = {"payment": "it-pay-30", "debtor": "D-US-30", "debt": "A-US-30", "amount": "50.00",
         "at": "2026-12-01T15:00:00Z"}
    out = results(client.post("/v1/payments", content=ndjson([p, p, dict(p, payment="it-pay-30b", amount="-1")]),
                               headers={"content-type": "application/jsonl"}))
    assert out[0]["ok"] and out[0]["duplicate"] is False
    assert out[1]["ok"] and out[1]["duplicate"] is True
    assert not out[2]["ok"] and out[2]["error"]["code"] == "invalid_money"


def test_engine_rejections_name_the_field():
    """Rejections the engine decides (unknown debtor or debt, a time in the future, a callback before the call, a
    payment in another currency) name the field at fault, as the decoder's errors do."""
    put_debtors([debtor(31)])
    o = {"attempt": "it-att-31", "debtor": "D-US-31", "debt": "A-US-31", "phone": "+12125550031",
         "at": "2026-12-01T15:00:00Z", "outcome": "no_answer"}
    out = results(client.post("/v1/outcomes", headers=NDJSON, content=ndjson([
        dict(o, attempt="it-att-31a", debtor="D-US-NOBODY"),
        dict(o, attempt="it-att-31b", debt="A-NONE"),
        dict(o, attempt="it-att-31c", at="2027-12-01T15:00:00Z"),
        dict(o, attempt="it-att-31d", outcome="callback_requested", callbackAt="2026-12-01T14:00:00Z"),
        o])))
    got = [(l["error"]["code"], l["error"]["field"]) if not l["ok"] else "ok" for l in out]
    assert got == [("unknown_debtor", "debtor"), ("unknown_debt", "debt"), ("invalid_time", "at"),
                   ("invalid_time", "callbackAt"), "ok"], out
    p = {"payment": "it-pay-31", "debtor": "D-US-31", "debt": "A-US-31", "amount": "5.00", "currency": "EUR",
         "at": "2026-12-01T15:00:00Z"}
    out = results(client.post("/v1/payments", content=ndjson([p]), headers=NDJSON))
    assert out[0]["error"]["code"] == "invalid_value" and out[0]["error"]["field"] == "currency", out


def test_repeats_in_one_body_follow_line_order():
    """The lines of a body run in input order (in batches): the first of two lines with one attempt id is
    applied and the second is the duplicate, and the last upsert of a debtor is the one kept. Hundreds of pairs
    in one body make a race visible (there was one: a later line sometimes won)."""
    n = 300
    put_debtors([debtor(1000 + i) for i in range(n)])
    lines = []
    for i in range(n):
        o = {"attempt": f"ord-{i}", "debtor": f"D-US-{1000 + i}", "debt": f"A-US-{1000 + i}",
             "phone": f"+1212555{1000 + i:04d}", "at": "2026-12-01T15:00:00Z", "outcome": "no_answer"}
        lines += [o, o]
    out = results(client.post("/v1/outcomes", content=ndjson(lines), headers=NDJSON))
    assert len(out) == 2 * n
    firsts = [o["duplicate"] for o in out[0::2]]
    seconds = [o["duplicate"] for o in out[1::2]]
    assert firsts == [False] * n and seconds == [True] * n, (firsts.count(True), seconds.count(False))
    # Two versions of each debtor in one body: the later line's segment stays.
    versions = []
    for i in range(n):
        versions += [debtor(2000 + i, segment="early"), debtor(2000 + i, segment="late")]
    assert all(r["ok"] for r in put_debtors(versions))
    for i in range(0, n, 37):
        assert client.get(f"/v1/debtors/D-US-{2000 + i}").json()["debtor"]["segment"] == "late", i
    # Every batch is timed and counted in /metrics: the histogram saw at least the lines sent here.
    text = client.get("/metrics").text
    counts = {}
    for row in text.splitlines():
        if row.startswith("tagih_line_batch_lines_sum{") or row.startswith("tagih_line_batch_seconds_count{"):
            name, value = row.rsplit(" ", 1)
            counts[name] = float(value)
    assert counts.get('tagih_line_batch_lines_sum{kind="outcome"}', 0) >= 2 * n, counts
    assert counts.get('tagih_line_batch_seconds_count{kind="outcome"}', 0) >= 1, counts
    assert counts.get('tagih_line_batch_lines_sum{kind="debtor"}', 0) >= 3 * n, counts


def test_calls_lease_exclusively():
    put_debtors([debtor(i, jurisdiction="US-NY") for i in range(40, 46)])
    r = client.get("/v1/calls?n=4&jurisdiction=US-NY")
    first = results(r)
    assert len(first) == 4, first
    assert all(c["type"] == "call" for c in first)
    r = client.get("/v1/calls?n=10&jurisdiction=US-NY")
    second = results(r)
    ids1 = {c["debtor"] for c in first}
    ids2 = {c["debtor"] for c in second}
    assert len(second) == 2 and not (ids1 & ids2), (ids1, ids2)


def test_schedule_stream():
    put_debtors([debtor(50, jurisdiction="US-FL")])
    r = client.get("/v1/schedule?from=2026-12-01T00:00:00Z&to=2026-12-09T00:00:00Z&limit=1000")
    out = results(r)
    assert any(o["debtor"] == "D-US-FL-50" for o in out), out[:3]
    bests = [o["best"] for o in out if o["best"]]
    assert len(bests) == len(out)


def test_line_too_long_keeps_stream():
    big = json.dumps(debtor(60, segment="x" * (1100 * 1024)))
    out = put_debtors([big, debtor(61)])
    assert not out[0]["ok"] and out[0]["error"]["code"] == "line_too_long", out[0]
    assert out[1]["ok"] and out[1]["line"] == 2


def test_dialer_session():
    put_debtors([debtor(i, jurisdiction="US-WA") for i in range(70, 73)])
    s = DuplexStream(HOST, PORT, "POST", "/v1/dialer?jurisdiction=US-WA",
                     headers=[("content-type", "application/x-ndjson")])
    try:
        s.send_line({"type": "ready", "n": 2})
        c1 = s.next_line(predicate=lambda l: l.get("type") == "call")
        c2 = s.next_line(predicate=lambda l: l.get("type") == "call")
        assert c1 and c2 and c1["debtor"] != c2["debtor"], (c1, c2)
        assert s.status == 200
        for c in (c1, c2):
            check_line(c)
        assert c1["seq"] == 1 and c2["seq"] == 2
        # Report one outcome on the same stream: acked after it is durable.
        s.send_line({"type": "outcome", "attempt": "dial-" + c1["lease"], "debtor": c1["debtor"],
                     "debt": c1["debt"], "phone": c1["phone"], "at": "2026-12-01T15:00:01Z",
                     "outcome": "no_answer", "lease": c1["lease"]})
        ack = s.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack and ack["ok"] and ack["line"] == 2, ack
        assert "warnings" not in ack, ack
        check_line(ack)
        # A call to a number the debtor's record does not list: accepted and counted, and the ack says so.
        s.send_line({"type": "outcome", "attempt": "dial-off-" + c1["lease"], "debtor": c1["debtor"],
                     "debt": c1["debt"], "phone": "+12065550199", "at": "2026-12-01T15:00:02Z",
                     "outcome": "no_answer"})
        ack = s.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack and ack["ok"] and ack["line"] == 3, ack
        check_line(ack)
        assert any(w.startswith("phone: '+12065550199' is not one of debtor") for w in ack.get("warnings", [])), ack
        assert ack["warningCodes"] == ["phone_not_on_record"], ack
        s.send_line('{"type": "ready", "n": "many"}')
        err = s.next_line(predicate=lambda l: l.get("type") == "error")
        assert err and err["line"] == 4 and err.get("field") == "n", err
        check_line(err)
        hb = s.next_line(timeout=5, predicate=lambda l: l.get("type") == "heartbeat")
        assert hb is not None, "no heartbeat while idle"
        check_line(hb)
        unreported = c2
    finally:
        s.close()  # disconnect with c2's lease unreported
    # While its lease lives, c2's debtor is leased to nobody else; the third debtor still is leasable.
    state = client.get(f"/v1/debtors/{unreported['debtor']}").json()
    assert state["leased"] is True and state["attempts"] == 0, state
    lease = state["lease"]
    assert lease["id"] == unreported["lease"] and lease["holder"].startswith("dialer-"), state
    assert lease["expires"] == unreported["leaseExpires"] and lease["phone"] == unreported["phone"], state
    assert lease["debt"] == unreported["debt"] and state["state"] == "leased", state
    got = results(client.get("/v1/calls?n=5&jurisdiction=US-WA"))
    assert unreported["debtor"] not in {c["debtor"] for c in got}, got
    # After the TTL (3 s) the lease expires: the debtor returns to the queues and the lease
    # counts as a placed call, which the caps and the retry rules see.
    deadline = time.time() + 10
    while time.time() < deadline:
        state = client.get(f"/v1/debtors/{unreported['debtor']}").json()
        if not state["leased"]:
            break
        time.sleep(0.25)
    assert state["leased"] is False and state["lease"] is None, state
    assert state["attempts"] == 1, state
    assert any("1/" in r for r in state["decisions"][0]["reasons"]), state


def test_dialer_release():
    """A lease given back with a release line: acked once durable, leasable again at once, no call counted."""
    put_debtors([debtor(i, jurisdiction="US-OR") for i in range(90, 92)])
    s = DuplexStream(HOST, PORT, "POST", "/v1/dialer?jurisdiction=US-OR",
                     headers=[("content-type", "application/x-ndjson")])
    try:
        s.send_line({"type": "ready", "n": 1})
        call = s.next_line(predicate=lambda l: l.get("type") == "call")
        assert call, "no call"
        s.send_line({"type": "release", "lease": call["lease"]})
        ack = s.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack == {"type": "ack", "line": 2, "id": call["lease"], "ok": True}, ack
        check_line(ack)
        state = client.get(f"/v1/debtors/{call['debtor']}").json()
        assert state["leased"] is False and state["attempts"] == 0, state
        # Given back twice, or a lease this session never had: refused, and the session goes on.
        s.send_line({"type": "release", "lease": call["lease"]})
        again = s.next_line(predicate=lambda l: l.get("type") == "ack")
        assert again["ok"] is False and again["line"] == 3, again
        assert again["error"]["code"] == "not_leased" and again["error"]["field"] == "lease", again
        check_line(again)
        s.send_line({"type": "release"})
        err = s.next_line(predicate=lambda l: l.get("type") == "error")
        assert err and err["line"] == 4 and err["code"] == "missing_field" and err["field"] == "lease", err
        # The released debtor is the best again: the next credit gets it back.
        s.send_line({"type": "ready", "n": 2})
        calls = [s.next_line(predicate=lambda l: l.get("type") == "call") for _ in range(2)]
        assert call["debtor"] in {c["debtor"] for c in calls if c}, calls
        # Another session cannot give back the leases of a session that is still open.
        other = DuplexStream(HOST, PORT, "POST", "/v1/dialer", headers=[("content-type", "application/x-ndjson")])
        other.send_line({"type": "release", "lease": calls[0]["lease"]})
        ack = other.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack["ok"] is False and ack["error"]["code"] == "not_leased", ack
        assert "another open session" in ack["error"]["message"], ack
        state = client.get(f"/v1/debtors/{calls[0]['debtor']}").json()
        assert state["leased"] is True, state
    finally:
        s.close()
    # Once that session is gone (a dialer that lost its connection and came back), its calls can be given back
    # from the new session, without counting calls; so can a call fetched with GET /v1/calls.
    try:
        deadline = time.time() + 5
        while True:
            other.send_line({"type": "release", "lease": calls[0]["lease"]})
            ack = other.next_line(predicate=lambda l: l.get("type") == "ack")
            if ack["ok"] or time.time() > deadline:
                break
            time.sleep(0.1)  # the server notices the dropped session
        assert ack["ok"] is True and ack["id"] == calls[0]["lease"], ack
        state = client.get(f"/v1/debtors/{calls[0]['debtor']}").json()
        assert state["leased"] is False and state["attempts"] == 0, state
        fetched = results(client.get("/v1/calls?n=1&jurisdiction=US-OR"))
        assert fetched and fetched[0]["type"] == "call", fetched
        other.send_line({"type": "release", "lease": fetched[0]["lease"]})
        ack = other.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack["ok"] is True, ack
        # While a GET /v1/calls stream is still open (waiting for more), its leases are its own.
        waiting = DuplexStream(HOST, PORT, "GET", "/v1/calls?n=5&wait=3&jurisdiction=US-OR", end_stream=True)
        try:
            held = waiting.next_line(predicate=lambda l: l.get("type") == "call")
            assert held, "no call on the waiting GET"
            other.send_line({"type": "release", "lease": held["lease"]})
            ack = other.next_line(predicate=lambda l: l.get("type") == "ack")
            assert ack["ok"] is False and ack["error"]["code"] == "not_leased", ack
        finally:
            waiting.close()
    finally:
        other.close()


def test_dialer_release_after_outcome_in_one_write():
    """An outcome, a release of the same lease and new credit sent in one write are handled in that order: the
    outcome ends the lease (the release is refused not_leased), and the debtor it set a retry delay for is not
    leased again (the release used to overtake the outcome and hand the debtor straight back)."""
    put_debtors([debtor(140, jurisdiction="US-VT")])
    s = DuplexStream(HOST, PORT, "POST", "/v1/dialer?jurisdiction=US-VT",
                     headers=[("content-type", "application/x-ndjson")])
    try:
        s.send_line({"type": "ready", "n": 1})
        call = s.next_line(predicate=lambda l: l.get("type") == "call")
        assert call, "no call"
        outcome = {"type": "outcome", "attempt": "rel-" + call["lease"], "debtor": call["debtor"],
                   "debt": call["debt"], "phone": call["phone"], "at": "2026-12-01T15:00:01Z",
                   "outcome": "right_party", "lease": call["lease"]}
        lines = [json.dumps(outcome), json.dumps({"type": "release", "lease": call["lease"]}),
                 json.dumps({"type": "ready", "n": 1})]
        s.send_line("\n".join(lines))
        acks = [s.next_line(predicate=lambda l: l.get("type") == "ack") for _ in range(2)]
        assert acks[0] and acks[0]["ok"] is True and acks[0]["line"] == 2, acks
        assert acks[1] and acks[1]["ok"] is False and acks[1]["line"] == 3, acks
        assert acks[1]["error"]["code"] == "not_leased", acks
        again = s.next_line(timeout=1.5, predicate=lambda l: l.get("type") == "call")
        assert again is None, again
        state = client.get(f"/v1/debtors/{call['debtor']}").json()
        assert state["leased"] is False and state["attempts"] == 1, state
        # Credit beyond the 1,000,000 a session holds is not added, and an error line says how much was dropped
        # (the session still holds the 1 credit of line 4: nobody was ready).
        s.send_line("\n".join(json.dumps({"type": "ready", "n": 10000}) for _ in range(101)))
        errs = [s.next_line(predicate=lambda l: l.get("type") == "error") for _ in range(2)]
        assert all(e and e["code"] == "out_of_range" and e["field"] == "n" for e in errs), errs
        assert [e["line"] for e in errs] == [104, 105], errs
        assert "1 of this line's 10000 were not added" in errs[0]["message"], errs
        assert "10000 of this line's 10000 were not added" in errs[1]["message"], errs
    finally:
        s.close()


def test_dialer_revoke():
    """A leased debtor whose status turns to cease: the session holding the lease gets a revoke line at once; a
    release then ends the lease without a counted call. A change that leaves the call permitted revokes nothing."""
    put_debtors([debtor(i, jurisdiction="US-ME") for i in range(95, 97)])
    s = DuplexStream(HOST, PORT, "POST", "/v1/dialer?jurisdiction=US-ME",
                     headers=[("content-type", "application/x-ndjson")])
    try:
        s.send_line({"type": "ready", "n": 2})
        calls = [s.next_line(predicate=lambda l: l.get("type") == "call") for _ in range(2)]
        assert all(calls), calls
        kept, ceased = calls
        # Another writer (the CRM) updates both: a new segment for one, status cease for the other.
        n = int(ceased["debtor"].rsplit("-", 1)[1])
        m = int(kept["debtor"].rsplit("-", 1)[1])
        out = put_debtors([debtor(m, jurisdiction="US-ME", segment="early"),
                           debtor(n, jurisdiction="US-ME", status="cease")])
        assert all(o["ok"] for o in out), out
        revoke = s.next_line(predicate=lambda l: l.get("type") == "revoke")
        assert revoke, "no revoke line"
        check_line(revoke)
        assert revoke["lease"] == ceased["lease"] and revoke["debtor"] == ceased["debtor"], revoke
        assert revoke["phone"] == ceased["phone"] and "cease" in revoke["reason"], revoke
        s.send_line({"type": "release", "lease": revoke["lease"]})
        ack = s.next_line(predicate=lambda l: l.get("type") == "ack")
        assert ack["ok"] is True and ack["id"] == revoke["lease"], ack
        assert revoke["leaseEnded"] is False, revoke
        # Nothing revoked the other lease.
        s.send_line({"type": "ready", "n": 0})
        later = s.next_line(timeout=1.5, predicate=lambda l: l.get("type") == "revoke")
        assert later is None, later
        # An inbound call on the other debtor ends in a dispute, reported without the lease id: its lease ends,
        # and the session is told not to dial the call line it holds.
        inbound = {"attempt": "inbound-" + kept["lease"], "debtor": kept["debtor"], "debt": kept["debt"],
                   "phone": kept["phone"], "at": "2026-12-01T15:00:05Z", "outcome": "dispute"}
        acks = results(client.post("/v1/outcomes", content=ndjson([inbound]),
                                   headers={"content-type": "application/x-ndjson"}))
        assert acks[0]["ok"], acks
        ended = s.next_line(predicate=lambda l: l.get("type") == "revoke")
        assert ended and ended["lease"] == kept["lease"] and ended["leaseEnded"] is True, ended
        assert "dispute" in ended["reason"], ended
        check_line(ended)
    finally:
        s.close()
    state = client.get(f"/v1/debtors/{ceased['debtor']}").json()
    assert state["leased"] is False and state["attempts"] == 0, state
    metrics = client.get("/metrics").text
    assert 'tagih_revocations_total{delivered="true"} 2' in metrics, metrics


def test_body_that_never_ends_times_out():
    """A body that stops sending (no END_STREAM) gets its answers, then a body_timeout line."""
    s = DuplexStream(HOST, PORT, "PUT", "/v1/debtors", headers=[("content-type", "application/x-ndjson")])
    try:
        s.send_line(debtor(80))
        first = s.next_line(timeout=5)
        assert first and first["ok"] and first["line"] == 1, first
        s.send_raw(b'{"id":"unfinished')  # no newline: never a line, and the timeout message says so
        started = time.time()
        err = s.next_line(timeout=10)
        assert err and err["type"] == "error" and err["code"] == "body_timeout", err
        assert "not processed" in err["message"], err
        check_line(err)
        assert 1.5 < time.time() - started < 8
        s.next_line(timeout=3)
        assert s.ended, "the stream must end after the timeout line"
    finally:
        s.close()
    assert client.get("/v1/debtors/D-US-80").status_code == 200  # the line it did send was applied


def schema_accepts(name, obj):
    try:
        check_schema(name, obj)
        return True
    except AssertionError:
        return False


def test_id_limits_match_the_schemas():
    """The documented id limit is the enforced one: for ASCII ids (where JSON Schema's maxLength, which counts
    characters, and the server's 255-byte limit agree) the server accepts exactly the lines the schemas accept;
    a non-ASCII id is limited in bytes (the schema's maxLength only bounds it)."""
    for n in (128, 129, 255, 256):
        d = debtor(900 + n)
        d["id"] = "L" * n
        d["debts"][0]["id"] = "M" * n
        got = put_debtors([d])[0]
        assert got["ok"] == schema_accepts("debtor", d) == (n <= 255), (n, got)
        if not got["ok"]:
            assert got["error"]["code"] == "invalid_value" and got["error"]["field"] == "id", got
            assert "256 bytes" in got["error"]["message"], got
    short = "O-" + "é" * 10
    put_debtors([dict(debtor(990), id=short)])
    for n, ok in ((255, True), (256, False)):
        o = {"attempt": "A" * n, "debtor": short, "debt": "A-US-990", "phone": "+12125550990",
             "at": "2026-12-01T15:00:00Z", "outcome": "busy"}
        got = results(client.post("/v1/outcomes", content=ndjson([o]), headers=NDJSON))[0]
        assert got["ok"] == ok == schema_accepts("outcome", o), (n, got)
        p = {"payment": "P" * n, "debtor": short, "debt": "A-US-990", "amount": "1", "at": "2026-12-01T15:00:00Z"}
        got = results(client.post("/v1/payments", content=ndjson([p]), headers=NDJSON))[0]
        assert got["ok"] == ok == schema_accepts("payment", p), (n, got)
    # 128 two-byte characters: 256 bytes. The schema's maxLength (characters) lets it through; the server counts
    # bytes and says so.
    d = dict(debtor(991), id="é" * 128)
    assert schema_accepts("debtor", d)
    got = put_debtors([d])[0]
    assert not got["ok"] and got["error"]["field"] == "id" and "256 bytes long in UTF-8 (128 characters)" in \
        got["error"]["message"], got


def test_duplicate_keys_reject_the_line():
    """A repeated key is never resolved silently: the line is rejected with duplicate_key naming the field, and
    the other lines of the batch are applied."""
    put_debtors([debtor(70), debtor(71)])
    good = {"attempt": "dup-0", "debtor": "D-US-71", "debt": "A-US-71", "phone": "+12125550071",
            "at": "2026-12-01T15:00:00Z", "outcome": "busy"}
    twice = json.dumps(dict(good, attempt="dup-1"))[:-1] + ', "debtor": "D-US-70"}'
    out = results(client.post("/v1/outcomes", content=ndjson([good, twice]), headers=NDJSON))
    assert out[0]["ok"] and not out[1]["ok"], out
    assert out[1]["line"] == 2 and out[1]["error"]["code"] == "duplicate_key", out
    assert out[1]["error"]["field"] == "debtor" and "duplicate key" in out[1]["error"]["message"], out
    assert client.get("/v1/debtors/D-US-70").json()["attempts"] == 0
    assert client.get("/v1/debtors/D-US-71").json()["attempts"] == 1
    # The phone of another debtor (D-US-70's) is not on D-US-71's record: applied, counted, warned about.
    off = dict(good, attempt="dup-2", phone="+12125550070", outcome="no_answer")
    out = results(client.post("/v1/outcomes", content=ndjson([off]), headers=NDJSON))
    assert out[0]["ok"] and out[0]["duplicate"] is False, out
    assert any(w.startswith("phone: '+12125550070' is not one of debtor 'D-US-71'") for w in out[0]["warnings"]), out
    assert out[0]["warningCodes"] == ["phone_not_on_record"], out
    assert client.get("/v1/debtors/D-US-71").json()["attempts"] == 2


def test_debug_stream_lines():
    out = results(client.get("/v1/debug/stream?n=2000"))
    assert [o["seq"] for o in out] == list(range(1, 2001))


def test_simulation_streams_progress_then_report():
    body = {"debtors": 300, "start": "2026-12-01", "days": 2, "agents": 2, "seed": 3, "strategy": "all"}
    r = client.post("/v1/simulations", json=body)
    out = results(r)
    kinds = [o["type"] for o in out]
    assert kinds[-1] == "report" and kinds.count("report") == 1, kinds
    assert kinds.count("progress") >= 2 * 3, kinds  # a line per simulated day of each strategy
    report = out[-1]
    assert {s["strategy"] for s in report["strategies"]} == {"tagih", "baseline", "earliest"}
    # Bad parameters are answered 400 before any simulation runs, naming the parameter.
    accepted = ["debtors", "start", "days", "agents", "seed", "strategy", "dialer", "mix", "floorZone"]
    for bad_body, code, field in [
        (dict(body, strategy="magic"), "unknown_value", "strategy"),
        ({k: v for k, v in body.items() if k != "agents"} | {"agent": 50}, "unknown_field", "agent"),
        (dict(body, Days=3), "unknown_field", "Days"),
        (dict(body, days=0), "out_of_range", "days"),
        (dict(body, agents="2"), "wrong_type", "agents"),
        (dict(body, agents=[2, 0]), "out_of_range", "agents"),
        (dict(body, seed=-1), "out_of_range", "seed"),
        # Each limit alone allows this; together, more work than one request may ask for.
        (dict(body, debtors=2000000, days=90, agents=[1, 2], strategy="all"), "out_of_range", "debtors"),
        (dict(body, mix={"never": "0.5"}), "wrong_type", "mix.never"),
        (dict(body, mix={"nobody": 1}), "invalid_mix", "mix.nobody"),
        (dict(body, floorZone="Mars/Base"), "unknown_value", "floorZone"),
        ({k: v for k, v in body.items() if k != "start"}, "missing_field", "start"),
    ]:
        bad = client.post("/v1/simulations", json=bad_body)
        assert bad.status_code == 400 and bad.http_version == "HTTP/2", (bad_body, bad.status_code, bad.text)
        err = bad.json()
        check_schema("http-error", err)
        assert err["error"]["code"] == code and err["error"]["field"] == field, (bad_body, err)
        if code == "unknown_field":
            assert err["error"]["accepted"] == accepted, err
            assert f"'{field}'" in err["error"]["message"] and ", ".join(accepted) in err["error"]["message"], err
    # The agents curve and the archetype mix, as `tagih simulate --agents 2,3 --mix ...`: a report per count.
    curve = dict(body, agents=[2, 3], strategy="tagih", days=1, mix={"day-worker": 0.7, "never": 0.3},
                 floorZone="Asia/Jakarta")
    out = results(client.post("/v1/simulations", json=curve))
    reports = [o for o in out if o["type"] == "report"]
    assert [r["agents"] for r in reports] == [2, 3], out
    assert all(r["mix"] == {"day-worker": 0.7, "never": 0.3} for r in reports), reports
    assert reports[0]["start"] == "2026-11-30T17:00:00Z", reports[0]["start"]  # midnight in Jakarta
    assert {o["agents"] for o in out if o["type"] == "progress"} == {2, 3}, out
    dup = client.post("/v1/simulations", content=b'{"start":"2026-12-01","debtors":50,"days":1,"days":2}',
                      headers={"content-type": "application/json"})
    assert dup.status_code == 400 and dup.json()["error"]["code"] == "duplicate_key", dup.text
    assert dup.json()["error"]["field"] == "days", dup.text


if __name__ == "__main__":
    runner = Runner()
    for t in [test_health, test_put_debtors_good_and_bad_lines, test_get_debtor_and_404, test_many_gets_in_one_write, test_http_errors,
              test_outcomes_idempotent_and_rescheduled, test_payments_idempotent, test_engine_rejections_name_the_field,
              test_repeats_in_one_body_follow_line_order, test_calls_lease_exclusively,
              test_schedule_stream, test_line_too_long_keeps_stream, test_dialer_session, test_dialer_release,
              test_dialer_release_after_outcome_in_one_write, test_dialer_revoke,
              test_body_that_never_ends_times_out, test_id_limits_match_the_schemas,
              test_duplicate_keys_reject_the_line, test_debug_stream_lines,
              test_simulation_streams_progress_then_report]:
        runner.run(t)
    runner.finish()

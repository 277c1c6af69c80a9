"""Replays proto-docs/transcripts/*.json against a live server started with
--clock-start 2026-12-01T17:00:00Z --clock-frozen on an empty store, and validates every line
against proto-docs/schemas. Usage: transcripts_test.py HOST PORT"""
import json
import sys

import httpx

from tagih_client import ROOT, DuplexStream, Runner, check_line, check_schema

HOST, PORT = sys.argv[1], int(sys.argv[2])
client = httpx.Client(http2=True, http1=False, base_url=f"http://{HOST}:{PORT}", timeout=30)


INPUT_SCHEMAS = {"/v1/debtors": "debtor", "/v1/outcomes": "outcome", "/v1/payments": "payment",
                 "/v1/clearances": "clearance"}


def matches(expected, actual, path="$"):
    """Every key in `expected` must be in `actual` with an equal value; "*" matches anything."""
    if expected == "*":
        return
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{path}.{key} missing in {actual!r}"
            matches(value, actual[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), \
            f"{path}: expected {len(expected)} items, got {actual!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, f"{path}[{i}]")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


def encode(line):
    return line if isinstance(line, str) else json.dumps(line)


def run_request(step):
    req, exp = step["request"], step["response"]
    if "lines" in req:
        content = "".join(encode(l) + "\n" for l in req["lines"])
    else:
        content = req.get("body")
    r = client.request(req["method"], req["path"], headers=req.get("headers", {}), content=content)
    assert r.status_code == exp["status"], f"{req['method']} {req['path']}: {r.status_code} {r.text[:500]}"
    if "lines" in exp:
        lines = [json.loads(l) for l in r.text.splitlines() if l.strip()]
        for line in lines:
            check_line(line)
        matches(exp["lines"], lines)
        # The input lines the server accepted must satisfy the input schema the docs publish.
        schema = INPUT_SCHEMAS.get(req["path"])
        if schema and "lines" in req:
            for sent, answer in zip(req["lines"], lines):
                if answer.get("ok") and not isinstance(sent, str):
                    check_schema(schema, sent)
    if "json" in exp:
        body = r.json()
        if r.status_code >= 400:
            check_schema("http-error", body)
        for d in body.get("decisions", []):
            check_schema("decision", d)
        matches(exp["json"], body)


def run_duplex(step):
    spec = step["duplex"]
    s = DuplexStream(HOST, PORT, spec["method"], spec["path"], headers=list(spec.get("headers", {}).items()))
    try:
        for action in spec["script"]:
            if "send" in action:
                s.send_line(encode(action["send"]))
            else:
                want = action["expect"]
                got = s.next_line(timeout=10, predicate=lambda l: l.get("type") == want.get("type"))
                assert got is not None, f"no {want.get('type')} line arrived"
                check_line(got)
                matches(want, got)
        assert s.status == 200
    finally:
        s.close()


def make_test(path):
    def test():
        transcript = json.loads(path.read_text())
        for step in transcript["steps"]:
            (run_duplex if "duplex" in step else run_request)(step)
    test.__name__ = f"transcript_{path.stem}"
    return test


if __name__ == "__main__":
    runner = Runner()
    for path in sorted((ROOT / "proto-docs" / "transcripts").glob("*.json")):
        runner.run(make_test(path))
    runner.finish()

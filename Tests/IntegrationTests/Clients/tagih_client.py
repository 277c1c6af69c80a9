"""Test-only helpers: a raw full-duplex HTTP/2 client on the `h2` library, schema checks,
and a tiny test runner that prints the plain 'N passed, N failed' closing line."""
import json
import os
import pathlib
import socket
import sys
import time
import traceback

import h2.config
import h2.connection
import h2.events

ROOT = pathlib.Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "proto-docs" / "schemas"

_validators = {}


def validator(name):
    import jsonschema
    if name not in _validators:
        schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
        _validators[name] = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return _validators[name]


def check_schema(name, obj):
    errors = sorted(validator(name).iter_errors(obj), key=lambda e: e.path)
    assert not errors, f"{name} schema: {[e.message for e in errors]} in {obj}"


def check_line(obj):
    """Validates an output line against the schema its `type` names."""
    kind = obj.get("type")
    name = {"call": "call", "heartbeat": "heartbeat", "error": "error", "ack": "result",
            "decision": "decision", "progress": "progress", "report": "report", "debug": "debug",
            "revoke": "revoke"}.get(kind)
    if name is None and "line" in obj and "ok" in obj:
        name = "result"
    assert name is not None, f"line of unknown type: {obj}"
    check_schema(name, obj)


def post_lines(client, path, lines, method="POST"):
    """Sends `lines` as one NDJSON body with an httpx HTTP/2 client; checks the status, the protocol, one
    schema-valid result line per input line in order; returns the result lines."""
    r = client.request(method, path, content="".join(json.dumps(l) + "\n" for l in lines),
                       headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.http_version == "HTTP/2", (r.status_code, r.text[:300])
    out = [json.loads(l) for l in r.text.splitlines() if l.strip()]
    assert [o["line"] for o in out] == list(range(1, len(lines) + 1)), out[:3]
    for o in out:
        check_line(o)
    return out


class DuplexStream:
    """One HTTP/2 stream over a raw socket: send body lines and read response lines at will."""

    def __init__(self, host, port, method, path, headers=(), end_stream=False):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.conn.increment_flow_control_window(1 << 24)
        self.sock.sendall(self.conn.data_to_send())
        self.stream_id = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":path", path), (":scheme", "http"), (":authority", f"{host}:{port}")]
        hdrs += list(headers)
        self.conn.send_headers(self.stream_id, hdrs, end_stream=end_stream)
        self.sock.sendall(self.conn.data_to_send())
        self.status = None
        self.buffer = b""
        self.lines = []
        self.ended = False
        self.reset = False
        self.closed = False
        self.goaway = False
        self.raw = b""

    def send_line(self, obj):
        data = (json.dumps(obj) if not isinstance(obj, (bytes, str)) else obj)
        if isinstance(data, str):
            data = data.encode()
        if not data.endswith(b"\n"):
            data += b"\n"
        self.conn.send_data(self.stream_id, data)
        self.sock.sendall(self.conn.data_to_send())

    def send_raw(self, data):
        """Sends bytes as they are (no newline added)."""
        self.conn.send_data(self.stream_id, data)
        self.sock.sendall(self.conn.data_to_send())

    def end(self):
        self.conn.end_stream(self.stream_id)
        self.sock.sendall(self.conn.data_to_send())

    def _pump(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        if not data:
            self.closed = True
            return False
        # Hand h2 one frame at a time: a graceful GOAWAY and the DATA that follows it on a stream it covers
        # often arrive in one read, and h2 would refuse that DATA before the GOAWAY handling below could put
        # its state machine back (see ConnectionTerminated).
        self.raw += data
        while len(self.raw) >= 9:
            end = 9 + int.from_bytes(self.raw[0:3], "big")
            if len(self.raw) < end:
                break
            frame, self.raw = self.raw[:end], self.raw[end:]
            self._handle(self.conn.receive_data(frame))
        out = self.conn.data_to_send()
        if out:
            self.sock.sendall(out)
        return True

    def _handle(self, events):
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                self.status = int(dict(event.headers)[b":status"])
            elif isinstance(event, h2.events.DataReceived):
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                self.buffer += event.data
                while b"\n" in self.buffer:
                    line, self.buffer = self.buffer.split(b"\n", 1)
                    if line.strip():
                        self.lines.append(json.loads(line))
            elif isinstance(event, h2.events.StreamEnded):
                self.ended = True
            elif isinstance(event, h2.events.StreamReset):
                self.reset = True
            elif isinstance(event, h2.events.ConnectionTerminated):
                if event.error_code == 0 and (event.last_stream_id or 0) >= self.stream_id:
                    # A graceful-shutdown GOAWAY (RFC 9113 6.8) that still covers our stream:
                    # the server keeps sending on it. python-h2 treats every GOAWAY as the end
                    # of the connection, so put its state machine back to keep reading.
                    self.goaway = True
                    self.conn.state_machine.state = h2.connection.ConnectionState.CLIENT_OPEN
                else:
                    self.closed = True

    def next_line(self, timeout=10, predicate=None):
        """Returns the next response line (matching predicate), or None on timeout/end."""
        deadline = time.time() + timeout
        while True:
            for i, line in enumerate(self.lines):
                if predicate is None or predicate(line):
                    del self.lines[i]
                    return line
            if self.ended or self.closed or self.reset or time.time() > deadline:
                return None
            self._pump(max(0.01, deadline - time.time()))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Runner:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def run(self, fn, *args):
        name = fn.__name__
        try:
            fn(*args)
            self.passed += 1
            print(f"PASS {name}", flush=True)
        except Exception:  # noqa: BLE001 - report every failure and go on
            self.failed += 1
            print(f"FAIL {name}\n{traceback.format_exc()}", flush=True)

    def finish(self):
        print(f"{self.passed} passed, {self.failed} failed", flush=True)
        sys.exit(0 if self.failed == 0 and self.passed > 0 else 1)

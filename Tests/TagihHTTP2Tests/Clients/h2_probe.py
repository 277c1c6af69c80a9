#!/usr/bin/env python3
"""Raw HTTP/2 test clients for the tagih transport (h2c, prior knowledge).

Each mode prints one JSON object on stdout; the Swift tests assert on it.

  rapid-reset PORT COUNT        open COUNT streams, each reset at once (CVE-2023-44487 pattern)
  continuation-flood PORT COUNT one HEADERS without END_HEADERS followed by COUNT CONTINUATION frames
  slow-reader PORT PATH HOLD    request PATH with a 1 KiB stream window, never open it, hold HOLD seconds
                                (or until the server closes); reports END_STREAM, RST_STREAM codes, GOAWAY
  get PORT PATH                 a plain GET with the h2 state machine (checks interop)
  many-streams PORT N PATH      N concurrent GETs on one connection; reports statuses and resets
"""
import json
import socket
import struct
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def frame(ftype, flags, stream_id, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", stream_id) + payload


def read_until_closed(sock, limit_seconds):
    """Reads frames until EOF; returns (closed, goaway_error_code or None, bytes)."""
    deadline = time.time() + limit_seconds
    data = b""
    sock.settimeout(0.5)
    closed = False
    while time.time() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            closed = True
            break
        if not chunk:
            closed = True
            break
        data += chunk
    goaway = None
    resets = {}
    offset = 0
    while offset + 9 <= len(data):
        length = int.from_bytes(data[offset:offset + 3], "big")
        ftype = data[offset + 3]
        if ftype == 7 and offset + 9 + 8 <= len(data):
            goaway = int.from_bytes(data[offset + 13:offset + 17], "big")
        if ftype == 3 and offset + 13 <= len(data):
            code = int.from_bytes(data[offset + 9:offset + 13], "big")
            resets[code] = resets.get(code, 0) + 1
        offset += 9 + length
    read_until_closed.resets = resets
    return closed, goaway, len(data)


def rapid_reset(port, count):
    sock = connect(port)
    sock.sendall(PREFACE + frame(4, 0, 0))
    encoder = hpack.Encoder()
    burst = b""
    stream_id = 1
    for _ in range(count):
        block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", "/small"),
                                (":authority", "127.0.0.1")])
        burst += frame(1, 0x4 | 0x1, stream_id, block)       # HEADERS, END_HEADERS|END_STREAM
        burst += frame(3, 0, stream_id, struct.pack(">I", 8))  # RST_STREAM CANCEL
        stream_id += 2
    try:
        sock.sendall(burst)
    except (ConnectionResetError, BrokenPipeError):
        pass
    closed, goaway, received = read_until_closed(sock, 10)
    print(json.dumps({"closed": closed, "goaway": goaway, "received": received}))


def continuation_flood(port, count):
    sock = connect(port)
    sock.sendall(PREFACE + frame(4, 0, 0))
    encoder = hpack.Encoder()
    headers = [(":method", "GET"), (":scheme", "http"), (":path", "/small"), (":authority", "127.0.0.1")]
    headers += [("x-flood-%d" % i, "v" * 8) for i in range(count)]
    block = encoder.encode(headers)
    first = encoder.encode(headers[:4])
    rest = block[len(first):]
    pieces = [rest[i * len(rest) // count:(i + 1) * len(rest) // count] for i in range(count)]
    payload = frame(1, 0x1, 1, first)  # HEADERS, END_STREAM, no END_HEADERS
    for index, piece in enumerate(pieces):
        flags = 0x4 if index == count - 1 else 0
        payload += frame(9, flags, 1, piece)
    try:
        sock.sendall(payload)
    except (ConnectionResetError, BrokenPipeError):
        pass
    closed, goaway, received = read_until_closed(sock, 10)
    print(json.dumps({"closed": closed, "goaway": goaway, "received": received}))


def slow_reader(port, path, hold):
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    conn.initiate_connection()
    sock = connect(port)
    sock.sendall(conn.data_to_send())
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                  (":authority", "127.0.0.1")], end_stream=True)
    sock.sendall(conn.data_to_send())
    status = None
    body = 0
    raw = b""
    closed = False
    usable = True  # h2 treats a received GOAWAY as the end: later frames are read from the raw bytes only
    deadline = time.time() + hold
    sock.settimeout(0.2)
    while time.time() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not data:
            closed = True
            break
        raw += data
        if not usable:
            continue
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            usable = False
            continue
        for event in events:
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[":status"])
            elif isinstance(event, h2.events.DataReceived):
                body += len(event.data)  # never acknowledged: the window stays shut
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
    # The stream's fate from the frames themselves: END_STREAM on DATA or HEADERS, RST_STREAM codes, GOAWAY.
    ended = False
    resets = {}
    goaway = None
    offset = 0
    while offset + 9 <= len(raw):
        length = int.from_bytes(raw[offset:offset + 3], "big")
        ftype, flags = raw[offset + 3], raw[offset + 4]
        stream = int.from_bytes(raw[offset + 5:offset + 9], "big") & 0x7FFFFFFF
        payload = raw[offset + 9:offset + 9 + length]
        if ftype in (0, 1) and stream == stream_id and flags & 0x1:
            ended = True
        elif ftype == 3 and stream == stream_id and len(payload) == 4:
            code = str(int.from_bytes(payload, "big"))
            resets[code] = resets.get(code, 0) + 1
        elif ftype == 7 and len(payload) >= 8:
            goaway = int.from_bytes(payload[4:8], "big")
        offset += 9 + length
    print(json.dumps({"status": status, "bodyBytes": body, "ended": ended, "resets": resets, "closed": closed,
                      "goaway": goaway}))
    sock.close()


def get(port, path):
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock = connect(port)
    sock.sendall(conn.data_to_send())
    stream_id = conn.get_next_available_stream_id()
    conn.send_headers(stream_id, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                  (":authority", "127.0.0.1")], end_stream=True)
    sock.sendall(conn.data_to_send())
    status, body, done = None, b"", False
    while not done:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                status = int(dict(event.headers)[":status"])
            elif isinstance(event, h2.events.DataReceived):
                body += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            elif isinstance(event, h2.events.StreamEnded):
                done = True
        sock.sendall(conn.data_to_send())
    print(json.dumps({"status": status, "body": body.decode()}))
    sock.close()


def many_streams(port, count, path):
    config = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    conn = h2.connection.H2Connection(config=config)
    conn.initiate_connection()
    sock = connect(port)
    sock.sendall(conn.data_to_send())
    # Raw HEADERS frames beyond the server's MAX_CONCURRENT_STREAMS must be refused by the server.
    encoder = hpack.Encoder()
    payload = b""
    for index in range(count):
        block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":path", path),
                                (":authority", "127.0.0.1")])
        payload += frame(1, 0x4 | 0x1, 1 + 2 * index, block)
    sock.sendall(payload)
    closed, goaway, received = read_until_closed(sock, 1.5)
    resets = {str(k): v for k, v in read_until_closed.resets.items()}
    print(json.dumps({"closed": closed, "goaway": goaway, "resets": resets}))


if __name__ == "__main__":
    mode = sys.argv[1]
    port = int(sys.argv[2])
    if mode == "rapid-reset":
        rapid_reset(port, int(sys.argv[3]))
    elif mode == "continuation-flood":
        continuation_flood(port, int(sys.argv[3]))
    elif mode == "slow-reader":
        slow_reader(port, sys.argv[3], float(sys.argv[4]))
    elif mode == "many-streams":
        many_streams(port, int(sys.argv[3]), sys.argv[4])
    elif mode == "get":
        get(port, sys.argv[3])
    else:
        raise SystemExit("unknown mode " + mode)

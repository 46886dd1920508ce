"""Drives denvoy's HTTP/2 codec (tests/http2_peer.ts echo server) with Python's h2 package.

Usage: python3 http2_peer.py <scenario> <port>; prints one JSON object.
Interop scenarios use h2's own state machine; the malformed ones write raw frames and report
the first GOAWAY / RST_STREAM the server answers with.
"""
import json
import socket
import struct
import sys

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
NAMES = {GOAWAY: "GOAWAY", RST_STREAM: "RST_STREAM"}


def connect(port):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    return s


def client(port, window=None):
    s = connect(port)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    if window:
        conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        conn.increment_flow_control_window(window)
    s.sendall(conn.data_to_send())
    return s, conn


def run(s, conn, streams, bodies=None):
    """Reads events until every stream in `streams` ended; returns per-stream results."""
    out = {sid: {"headers": {}, "body": 0, "trailers": {}, "ended": False} for sid in streams}
    pending = dict(bodies or {})
    while not all(r["ended"] for r in out.values()):
        # Send what flow control allows of pending request bodies.
        for sid, (data, trailers) in list(pending.items()):
            while data:
                window = min(conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
                if window <= 0:
                    break
                chunk, data = data[:window], data[window:]
                conn.send_data(sid, chunk, end_stream=(not data and not trailers))
            if not data:
                if trailers:
                    conn.send_headers(sid, trailers, end_stream=True)
                del pending[sid]
            else:
                pending[sid] = (data, trailers)
        s.sendall(conn.data_to_send())
        raw = s.recv(65536)
        if not raw:
            raise SystemExit(json.dumps({"error": "eof"}))
        for ev in conn.receive_data(raw):
            sid = getattr(ev, "stream_id", None)
            if isinstance(ev, h2.events.ResponseReceived):
                out[sid]["headers"] = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h2.events.DataReceived):
                out[sid]["body"] += len(ev.data)
                conn.acknowledge_received_data(ev.flow_controlled_length, sid)
            elif isinstance(ev, h2.events.TrailersReceived):
                out[sid]["trailers"] = {k.decode(): v.decode() for k, v in ev.headers}
            elif isinstance(ev, h2.events.StreamEnded):
                out[sid]["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                out[sid]["ended"] = True
                out[sid]["reset"] = ev.error_code
            elif isinstance(ev, h2.events.ConnectionTerminated):
                raise SystemExit(json.dumps({"error": "goaway", "code": ev.error_code}))
        s.sendall(conn.data_to_send())
    return out


def req(path, method="GET"):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "peer")]


def concurrent(port):
    s, conn = client(port)
    sids = []
    for i in range(100):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, req("/size/%d" % (i * 100)), end_stream=True)
        sids.append(sid)
    res = run(s, conn, sids)
    ok = sum(1 for i, sid in enumerate(sids)
             if res[sid]["headers"].get("x-path") == "/size/%d" % (i * 100) and res[sid]["body"] == i * 100)
    return {"ok": ok}


def large(port):
    # A small receive window forces the server to wait for our WINDOW_UPDATEs.
    s, conn = client(port, window=65535)
    up = conn.get_next_available_stream_id()
    conn.send_headers(up, req("/echo", "POST"))
    down = conn.get_next_available_stream_id() + 0
    body = b"x" * (4 * 1024 * 1024 + 17)
    res = run(s, conn, [up], {up: (body, None)})
    conn.send_headers(conn.get_next_available_stream_id(), req("/size/5000000"), end_stream=True)
    down = 3
    res2 = run(s, conn, [down])
    return {"echoed": res[up]["body"], "sent": res[up]["headers"].get("x-request-bytes"),
            "downloaded": res2[down]["body"]}


def trailers(port):
    s, conn = client(port)
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, req("/trailers", "POST"))
    res = run(s, conn, [sid], {sid: (b"abc", [("x-req", "1")])})
    return {"trailers": res[sid]["trailers"], "body": res[sid]["body"]}


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def first_error(s, data):
    """Sends data; returns the first GOAWAY or RST_STREAM (type, code, stream) the server sends."""
    s.sendall(data)
    buf = b""
    while True:
        while len(buf) >= 9:
            length = struct.unpack(">I", b"\0" + buf[:3])[0]
            if len(buf) < 9 + length:
                break
            ftype, flags, sid = struct.unpack(">BBI", buf[3:9])
            payload = buf[9:9 + length]
            buf = buf[9 + length:]
            if ftype == GOAWAY:
                return {"type": "GOAWAY", "code": struct.unpack(">I", payload[4:8])[0],
                        "last": struct.unpack(">I", payload[:4])[0]}
            if ftype == RST_STREAM:
                return {"type": "RST_STREAM", "code": struct.unpack(">I", payload)[0], "stream": sid}
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return {"type": "timeout"}
        except ConnectionResetError:
            # The server closed with our frames still unread (a flood it stopped reading):
            # the kernel resets instead of a FIN, and whatever it wrote last may be lost.
            return {"type": "reset"}
        if not chunk:
            return {"type": "eof"}
        buf += chunk


def read_until_end(s, sid):
    """Reads frames until one with END_STREAM arrives on stream `sid`."""
    buf = b""
    while True:
        while len(buf) >= 9:
            length = struct.unpack(">I", b"\0" + buf[:3])[0]
            if len(buf) < 9 + length:
                break
            ftype, flags, fsid = struct.unpack(">BBI", buf[3:9])
            buf = buf[9 + length:]
            if fsid == sid and ftype in (DATA, HEADERS) and flags & 1:
                return
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit(json.dumps({"error": "eof"}))
        buf += chunk


def start():
    return PREFACE + frame(SETTINGS, 0, 0)


def block(enc, path="/"):
    return enc.encode(req(path))


def malformed(port, case):
    s = connect(port)
    enc = hpack.Encoder()
    if case == "bad_preface":
        return first_error(s, b"PRI * HTTP/1.1\r\n\r\nXX\r\n\r\n")
    if case in ("closed_stream_data", "closed_stream_headers"):
        # A whole exchange on stream 1, then one more frame on the closed stream.
        s.sendall(start() + frame(HEADERS, 5, 1, block(enc)))
        read_until_end(s, 1)
        if case == "closed_stream_data":
            return first_error(s, frame(DATA, 1, 1, b"late"))
        return first_error(s, frame(HEADERS, 5, 1, block(enc)))
    if case == "oversized":
        return first_error(s, start() + frame(HEADERS, 4, 1, block(enc)) + frame(DATA, 0, 1, b"x" * 16385))
    if case == "bad_hpack":
        return first_error(s, start() + frame(HEADERS, 5, 1, b"\xff\xff\xff\xff\xff\xff"))
    if case == "window_overflow":
        return first_error(s, start() + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 0x7fffffff)))
    if case == "stream_window_overflow":
        return first_error(s, start() + frame(HEADERS, 4, 1, block(enc)) +
                           frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 0x7fffffff)))
    if case == "idle_data":
        return first_error(s, start() + frame(DATA, 1, 5, b"x"))
    if case == "ping_flood":
        # 20,000 PINGs while never reading: the server must stop answering (control flood).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(start())
        try:
            for _ in range(100):
                s.sendall(frame(PING, 0, 0, b"\0" * 8) * 200)
        except (BrokenPipeError, ConnectionResetError):
            return {"type": "closed"}
        return first_error(s, b"")
    if case == "empty_frames":
        return first_error(s, start() + frame(HEADERS, 4, 1, block(enc)) + frame(DATA, 0, 1) * 3)
    if case == "continuation_flood":
        data = start() + frame(HEADERS, 0, 1, block(enc))
        try:
            s.sendall(data)
            for _ in range(200):
                s.sendall(frame(CONTINUATION, 0, 1, b"\x82" * 16384))
        except (BrokenPipeError, ConnectionResetError):
            return {"type": "closed"}
        return first_error(s, b"")
    if case == "hpack_bomb":
        # One 3 KB header enters the dynamic table, then a block references it 12,000 times
        # (36 MB if expanded): the stream is reset, the connection lives.
        first = enc.encode(req("/") + [("x-big", "v" * 3000)])
        bomb = bytes([0xbe]) * 12000
        return first_error(s, start() + frame(HEADERS, 5, 1, first) + frame(HEADERS, 5, 3, bomb))
    if case == "rapid_reset":
        # 1,000 streams opened and reset at once, then a normal request still gets answered.
        data = start()
        sid = 1
        for _ in range(1000):
            data += frame(HEADERS, 4, sid, block(enc)) + frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
            sid += 2
        data += frame(HEADERS, 5, sid, block(enc, "/size/3"))
        s.sendall(data)
        read_until_end(s, sid)
        return {"type": "answered", "stream": sid}
    raise SystemExit("unknown case " + case)


def main():
    scenario, port = sys.argv[1], int(sys.argv[2])
    if scenario == "concurrent":
        out = concurrent(port)
    elif scenario == "large":
        out = large(port)
    elif scenario == "trailers":
        out = trailers(port)
    else:
        out = malformed(port, scenario)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

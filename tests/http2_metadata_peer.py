"""HTTP/2 peers that speak Envoy's METADATA extension (frame type 0x4D), for
tests/http2_metadata_test.ts, built on Python's h2 package (which hands unknown frame types over
as UnknownFrameReceived) and hpack (a context of its own per stream and direction, as Envoy's).

  python3 http2_metadata_peer.py server
      An h2c upstream on an ephemeral port (printed first). Per request it answers one METADATA
      map {"resp-key": "resp-val"} before its response headers; the headers report the metadata
      it received as JSON in `x-got-metadata`.
  python3 http2_metadata_peer.py client <port> <path>
      Sends HEADERS, a METADATA map {"req-key": "req-val"}, then "hi" with END_STREAM; prints
      the response status, headers, body and the metadata maps received as JSON.
"""
import json
import socket
import struct
import sys
import threading

import h2.config
import h2.connection
import h2.events
import hpack

METADATA = 0x4D
END_METADATA = 0x4


def metadata_frame(stream_id, encoder, mapping):
    payload = encoder.encode(list(mapping.items()))
    head = struct.pack(">I", len(payload))[1:] + bytes([METADATA, END_METADATA])
    return head + struct.pack(">I", stream_id) + payload


class Collector:
    """Metadata maps of each stream, decoded with that stream's own HPACK context."""

    def __init__(self):
        self.decoders = {}
        self.partial = {}
        self.maps = {}

    def on_frame(self, frame):
        if frame.type != METADATA:
            return
        sid = frame.stream_id
        buf = self.partial.get(sid, b"") + frame.body
        if not frame.flag_byte & END_METADATA:
            self.partial[sid] = buf
            return
        self.partial.pop(sid, None)
        dec = self.decoders.setdefault(sid, hpack.Decoder())
        pairs = dec.decode(buf, raw=True)
        self.maps.setdefault(sid, []).append({k.decode(): v.decode() for k, v in pairs})


def serve_connection(sock):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    got = Collector()
    encoders = {}
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.UnknownFrameReceived):
                    got.on_frame(event.frame)
                elif isinstance(event, h2.events.StreamEnded):
                    sid = event.stream_id
                    sock.sendall(conn.data_to_send())
                    enc = encoders.setdefault(sid, hpack.Encoder())
                    sock.sendall(metadata_frame(sid, enc, {"resp-key": "resp-val"}))
                    conn.send_headers(sid, [
                        (":status", "200"),
                        ("x-got-metadata", json.dumps(got.maps.get(sid, []))),
                    ])
                    conn.send_data(sid, b"done", end_stream=True)
            sock.sendall(conn.data_to_send())
    except OSError:
        return
    finally:
        sock.close()


def server():
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    print(lst.getsockname()[1], flush=True)
    while True:
        c, _ = lst.accept()
        threading.Thread(target=serve_connection, args=(c,), daemon=True).start()


def client(port, path):
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sid = conn.get_next_available_stream_id()
    conn.send_headers(sid, [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "test"),
    ])
    sock.sendall(conn.data_to_send())
    sock.sendall(metadata_frame(sid, hpack.Encoder(), {"req-key": "req-val"}))
    conn.send_data(sid, b"hi", end_stream=True)
    sock.sendall(conn.data_to_send())
    got = Collector()
    out = {"status": None, "headers": {}, "body": "", "metadata": []}
    done = False
    while not done:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.UnknownFrameReceived):
                got.on_frame(event.frame)
            elif isinstance(event, h2.events.ResponseReceived):
                for k, v in event.headers:
                    out["headers"][k.decode()] = v.decode()
                out["status"] = out["headers"].get(":status")
            elif isinstance(event, h2.events.DataReceived):
                out["body"] += event.data.decode()
                conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, (h2.events.StreamEnded, h2.events.StreamReset)):
                done = True
        sock.sendall(conn.data_to_send())
    out["metadata"] = got.maps.get(sid, [])
    print(json.dumps(out))
    sock.close()


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server()
    else:
        client(int(sys.argv[2]), sys.argv[3])

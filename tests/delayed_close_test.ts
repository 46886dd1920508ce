/**
 * The HCM's `delayed_close_timeout` end to end, with raw sockets for exactness: a client whose
 * request the proxy answers without reading it (a direct response to a large upload, an
 * HTTP/2 protocol error followed by more bytes) gets the whole response and then a FIN, not a
 * reset, by default; the timer closes a connection whose peer never does (counted); a peer
 * that closes first is a remote close; an HTTP/2 drain's final GOAWAY is followed by the
 * delayed close; over TLS the close is clean (close_notify); `delayed_close_timeout: 0s`
 * closes at once, resetting. One proxy serves every case.
 */
import { assert, assertEquals } from "../src/testing/assert.ts";
import { frames } from "../src/http/http2/test_util.ts";
import { adminStats, adminStatsWhen, Proxy } from "./proxy.ts";
import { type TestCerts, testCerts } from "./tls_certs.ts";

function listener(name: string, hcmExtra: string, transportSocket = ""): string {
  return `  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains:
    - ${transportSocket}filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: ${name}
          ${hcmExtra}
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                direct_response: { status: 413, body: { inline_string: "too big for us" } }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
`;
}

function config(c: TestCerts): string {
  const tls = `transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            tls_certificates:
            - certificate_chain: { filename: ${c.serverChain} }
              private_key: { filename: ${c.serverKey} }
      `;
  return `admin:
  address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
static_resources:
  listeners:
${listener("delayed", "codec_type: AUTO")}${listener("immediate", "delayed_close_timeout: 0s")}${
    listener(
      "drained",
      "drain_timeout: 0.1s\n          common_http_protocol_options: { max_requests_per_connection: 1 }",
    )
  }${listener("tls", "codec_type: HTTP1", tls)}`;
}

const enc = new TextEncoder();
const dec = new TextDecoder("latin1");
/** A large upload's head: the proxy answers it at once and never reads the body. */
const UPLOAD_HEAD = enc.encode(
  "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100000000\r\n\r\n",
);
const BODY = new Uint8Array(256 * 1024).fill(0x61);
/**
 * More body than every socket buffer between the client and the proxy holds (a proxy that
 * does not read cannot take it; Linux autotunes an unread receive buffer no higher than its
 * initial 128 KiB, and a send buffer to 4 MiB at most).
 */
const MORE_BODY = new Uint8Array(12 * 1024 * 1024).fill(0x61);

/** How a raw connection went: what it read, and whether it ended with FIN or an error. */
interface Outcome {
  text: string;
  end: "fin" | "error";
}

/** Reads until `done(text)` holds, then, unless `stop`, until the connection ends. */
async function readUntil(
  c: Deno.Conn,
  done: (text: string) => boolean,
  stop = false,
): Promise<Outcome> {
  const buf = new Uint8Array(65536);
  let text = "";
  try {
    for (;;) {
      if (stop && done(text)) return { text, end: "fin" };
      const n = await c.read(buf);
      if (n === null) return { text, end: "fin" };
      text += dec.decode(buf.subarray(0, n));
    }
  } catch {
    return { text, end: "error" };
  }
}

/** The 413 with its whole body has arrived. */
const wholeResponse = (t: string) => t.includes("\r\n\r\ntoo big for us");

/**
 * Sends the upload's head and a first part of its body, reads the whole response, then sends
 * more body (as a client still uploading would) and reads on until the proxy ends the
 * connection; `closeFirst` closes the client instead once the response is in. A proxy that
 * closed with the upload unread reset the connection: the writes fail ("error"). (A read
 * after a reset returns end of stream on Linux: only the writes tell.)
 */
async function upload(
  port: number,
  closeFirst = false,
  connect = (): Promise<Deno.Conn> => Deno.connect({ hostname: "127.0.0.1", port }),
  more = MORE_BODY,
): Promise<Outcome> {
  const c = await connect();
  try {
    await c.write(UPLOAD_HEAD);
    // Not awaited: a proxy that stops reading leaves this write pending, and a reset fails it.
    const sending = writeAll(c, BODY);
    const first = await readUntil(c, wholeResponse, true);
    if (first.end === "error" || closeFirst) {
      sending.catch(() => {});
      return first;
    }
    const sent = (await sending) && (await writeAll(c, more));
    const rest = await readUntil(c, () => false);
    return { text: first.text + rest.text, end: sent ? rest.end : "error" };
  } finally {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

/** Writes all of `data`; false when the connection failed (reset). */
async function writeAll(c: Deno.Conn, data: Uint8Array): Promise<boolean> {
  try {
    for (let o = 0; o < data.length;) o += await c.write(data.subarray(o));
    return true;
  } catch {
    return false;
  }
}

Deno.test("delayed_close_timeout: unread requests get the whole response and a FIN (HTTP/1.1, HTTP/2); 0s resets", async () => {
  const certs = await testCerts();
  const proxy = await Proxy.start(config(certs));
  try {
    const delayed = proxy.port("delayed");
    const statsOf = (s: Record<string, number>, prefix: string, name: string) =>
      s[`http.${prefix}.downstream_cx_${name}`] ?? 0;

    // The peer never closes: the timer does, counted, after the whole response; the bytes sent
    // meanwhile were read and dropped (the close is a FIN, not a reset).
    const r = await upload(delayed);
    assert(wholeResponse(r.text), r.text);
    assert(r.text.startsWith("HTTP/1.1 413 "), r.text);
    assert(/\r\nconnection: close\r\n/i.test(r.text), r.text);
    assertEquals(r.end, "fin");
    await adminStatsWhen(
      proxy.adminPort,
      (s) => statsOf(s, "delayed", "delayed_close_timeout") === 1,
    );

    // The peer closes first: a remote close, the timer does not fire.
    const before = await adminStats(proxy.adminPort);
    const early = await upload(delayed, true);
    assert(wholeResponse(early.text), early.text);
    const after = await adminStatsWhen(
      proxy.adminPort,
      (s) => statsOf(s, "delayed", "destroy_remote") > statsOf(before, "delayed", "destroy_remote"),
    );
    assertEquals(statsOf(after, "delayed", "delayed_close_timeout"), 1);

    // HTTP/2: a connection error (DATA on stream 0) followed by more bytes: the GOAWAY, then a
    // FIN when the timer closes the connection; the bytes after the error were read and dropped.
    const c = await Deno.connect({ hostname: "127.0.0.1", port: delayed });
    await c.write(
      new Uint8Array([
        ...enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ...[0, 0, 0, 4, 0, 0, 0, 0, 0], // SETTINGS
        ...[0, 0, 1, 0, 0, 0, 0, 0, 0, 0x78], // DATA on stream 0: PROTOCOL_ERROR
      ]),
    );
    const sent = writeAll(c, MORE_BODY);
    const h2 = await readRaw(c);
    c.close();
    assert(await sent);
    assertEquals(h2.end, "fin");
    const types = frames(h2.bytes).map((f) => f.type);
    assertEquals(types.at(-1), 7, `the last frame is the GOAWAY: ${types}`);
    await adminStatsWhen(
      proxy.adminPort,
      (s) => statsOf(s, "delayed", "delayed_close_timeout") === 2,
    );

    // HTTP/2 drain (max_requests_per_connection): the response, the GOAWAYs, and after the
    // final one (drain_timeout later) the delayed close, ended by the timer with a FIN.
    const d = await Deno.connect({ hostname: "127.0.0.1", port: proxy.port("drained") });
    await d.write(
      new Uint8Array([
        ...enc.encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ...[0, 0, 0, 4, 0, 0, 0, 0, 0], // SETTINGS
        // HEADERS on stream 1, END_STREAM | END_HEADERS: GET http://x/ (HPACK static indexes).
        ...[0, 0, 6, 1, 5, 0, 0, 0, 1, 0x82, 0x86, 0x84, 0x41, 1, 0x78],
      ]),
    );
    const drained = await readRaw(d);
    d.close();
    assertEquals(drained.end, "fin");
    const got = frames(drained.bytes);
    assert(got.some((f) => f.type === 1 && f.id === 1), `the response: ${got.map((f) => f.type)}`);
    assertEquals(got.at(-1)?.type, 7, `the last frame is the GOAWAY: ${got.map((f) => f.type)}`);
    await adminStatsWhen(
      proxy.adminPort,
      (s) => statsOf(s, "drained", "delayed_close_timeout") === 1,
    );

    // TLS: the same over a TLS transport socket, whose close says goodbye (close_notify, then
    // FIN) as Envoy's does: the client's TLS stack sees a clean end, not a truncation. (Less
    // body follows the response here: what is checked is the goodbye, not the reset.)
    const caCerts = [await Deno.readTextFile(certs.caCert)];
    const tlsPort = proxy.port("tls");
    const t = await upload(
      tlsPort,
      false,
      () => Deno.connectTls({ hostname: "localhost", port: tlsPort, caCerts }),
      BODY,
    );
    assert(wholeResponse(t.text), t.text);
    assertEquals(t.end, "fin");
    await adminStatsWhen(proxy.adminPort, (s) => statsOf(s, "tls", "delayed_close_timeout") === 1);

    // delayed_close_timeout: 0s: the close follows the flush at once, with the upload's bytes
    // unread: the client's connection is reset.
    const immediate = await upload(proxy.port("immediate"));
    assertEquals(immediate.end, "error", immediate.text);
    const s = await adminStats(proxy.adminPort);
    assertEquals(statsOf(s, "immediate", "delayed_close_timeout"), 0);
  } finally {
    await proxy.stop();
  }
});

/** Reads raw bytes until the connection ends. */
async function readRaw(c: Deno.Conn): Promise<{ bytes: Uint8Array; end: "fin" | "error" }> {
  const parts: Uint8Array[] = [];
  let end: "fin" | "error" = "fin";
  try {
    const buf = new Uint8Array(65536);
    for (let n = await c.read(buf); n !== null; n = await c.read(buf)) {
      parts.push(buf.slice(0, n));
    }
  } catch {
    end = "error";
  }
  const bytes = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) bytes.set(p, (o += p.length) - p.length);
  return { bytes, end };
}

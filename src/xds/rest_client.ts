/**
 * The HTTP/1.1 exchange of REST xDS: one POST of a JSON DiscoveryRequest to a host of the
 * config source's cluster, on its own connection (`connection: close`, as a poll every
 * `refresh_delay` needs no pool), with the cluster's name as `:authority`, as Envoy's
 * RestApiFetcher sends it. The answer is read in full (Content-Length, chunked, or to close)
 * up to a size limit, within `request_timeout`.
 *
 * @module
 */

/** A REST xDS response: its status and body text. */
export interface RestResponse {
  status: number;
  body: string;
}

/** The largest response body read (the bootstrap's own limit). */
const MAX_BODY = 32 * 1024 * 1024;

const enc = new TextEncoder();

/** POSTs `body` (JSON) to `address:port` `path`; rejects on a connection error or the timeout. */
export async function postJson(
  address: string,
  port: number,
  authority: string,
  path: string,
  body: string,
  timeoutMs: number,
): Promise<RestResponse> {
  const conn = await Deno.connect({ hostname: address, port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* already closed */ }
  }, timeoutMs);
  try {
    const payload = enc.encode(body);
    const head = `POST ${path} HTTP/1.1\r\nhost: ${authority}\r\n` +
      `content-type: application/json\r\ncontent-length: ${payload.length}\r\n` +
      `connection: close\r\n\r\n`;
    await writeAll(conn, enc.encode(head));
    await writeAll(conn, payload);
    const chunks: Uint8Array[] = [];
    let size = 0;
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      size += n;
      if (size > MAX_BODY) throw new Error(`response larger than ${MAX_BODY} bytes`);
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
    return parseResponse(all);
  } catch (e) {
    if (timedOut) throw new Error(`no response within ${timeoutMs} ms`);
    throw e;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* already closed */ }
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Parses a whole HTTP/1.1 response (read to close). Throws on what is not one. */
export function parseResponse(bytes: Uint8Array): RestResponse {
  let end = -1;
  for (let i = 0; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error("incomplete HTTP response");
  const dec = new TextDecoder();
  const lines = dec.decode(bytes.subarray(0, end)).split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!status) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 40))}`);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  let body = bytes.subarray(end + 4);
  const length = headers.get("content-length");
  if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
    const parts: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      let nl = at;
      while (nl + 1 < body.length && !(body[nl] === 13 && body[nl + 1] === 10)) nl++;
      if (nl + 1 >= body.length) throw new Error("truncated chunked body");
      const n = parseInt(dec.decode(body.subarray(at, nl)), 16);
      if (Number.isNaN(n)) throw new Error("bad chunk size");
      if (n === 0) break;
      if (nl + 2 + n > body.length) throw new Error("truncated chunked body");
      parts.push(body.subarray(nl + 2, nl + 2 + n));
      at = nl + 2 + n + 2;
    }
    const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    body = out;
  } else if (length !== undefined) {
    body = body.subarray(0, Number(length));
  }
  return { status: Number(status[1]), body: dec.decode(body) };
}

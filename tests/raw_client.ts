/**
 * Raw-socket tools for the robustness and fuzz tests: a client that writes pieces and reads
 * until the proxy closes, and an upstream that speaks HTTP/1.1 from a script, byte for byte.
 */
import { tcpServer } from "./proxy.ts";

const dec = new TextDecoder("latin1");

/** What a raw client got: every byte (latin1), and whether the proxy closed in time. */
export interface Exchange {
  text: string;
  closed: boolean;
}

/**
 * Writes `parts` (one write each) and reads until the proxy closes or `timeoutMs` passes (a
 * generous bound: a proxy that keeps the connection open fails the `closed` check).
 * `halfClose` sends FIN after the last part, so that a proxy waiting for more bytes ends too.
 */
export async function exchange(
  port: number,
  parts: (string | Uint8Array)[],
  opts: { timeoutMs?: number; halfClose?: boolean } = {},
): Promise<Exchange> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch { /* closed */ }
  }, opts.timeoutMs ?? 5000);
  let text = "";
  const reading = (async () => {
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        text += dec.decode(buf.subarray(0, n), { stream: true });
      }
    } catch { /* reset by the peer or closed by the timer */ }
  })();
  try {
    for (const p of parts) await conn.write(typeof p === "string" ? latin1(p) : p);
    if (opts.halfClose) await conn.closeWrite();
  } catch { /* the proxy may close before everything is written */ }
  await reading;
  clearTimeout(timer);
  try {
    conn.close();
  } catch { /* already closed */ }
  return { text, closed: !timedOut };
}

function latin1(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i) & 0xff;
  return out;
}

/** Status codes of the responses in `text`, in order (bodies here never hold a status line). */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}

/** A request as a raw upstream saw it. */
export interface UpstreamRequest {
  method: string;
  path: string;
  body: string;
}

/**
 * A raw HTTP/1.1 upstream: reads each request (Content-Length or chunked body) and writes
 * what `answer` returns for it, in one write; `closeAfter` closes the connection after it.
 */
export function rawUpstream(
  answer: (req: UpstreamRequest, conn: Deno.TcpConn) => string | undefined,
  opts: { closeAfter?: (req: UpstreamRequest) => boolean } = {},
) {
  const seen: UpstreamRequest[] = [];
  const server = tcpServer(async (c) => {
    let buf = "";
    const b = new Uint8Array(16384);
    const more = async () => {
      const n = await c.read(b);
      if (n === null) return false;
      buf += dec.decode(b.subarray(0, n));
      return true;
    };
    try {
      for (;;) {
        let end = buf.indexOf("\r\n\r\n");
        while (end < 0) {
          if (!(await more())) return;
          end = buf.indexOf("\r\n\r\n");
        }
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const [method, path] = head.split(" ");
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
        let body = "";
        if (cl) {
          while (buf.length < Number(cl[1])) if (!(await more())) return;
          body = buf.slice(0, Number(cl[1]));
          buf = buf.slice(body.length);
        } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
          for (;;) {
            let eol = buf.indexOf("\r\n");
            while (eol < 0) {
              if (!(await more())) return;
              eol = buf.indexOf("\r\n");
            }
            const size = parseInt(buf.slice(0, eol), 16);
            while (buf.length < eol + 2 + size + 2) if (!(await more())) return;
            body += buf.slice(eol + 2, eol + 2 + size);
            buf = buf.slice(eol + 2 + size + 2);
            if (size === 0) break;
          }
        }
        const req = { method, path, body };
        seen.push(req);
        const out = answer(req, c);
        if (out !== undefined) await c.write(latin1(out));
        if (opts.closeAfter?.(req)) break;
      }
    } catch {
      /* the proxy closed it */
    } finally {
      try {
        c.close();
      } catch { /* closed */ }
    }
  });
  return { ...server, seen };
}

/** A 200 response carrying `body` (latin1: one byte per code unit, as written). */
export function ok(body: string): string {
  return `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;
}

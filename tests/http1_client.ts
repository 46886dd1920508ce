/**
 * A minimal HTTP/1.1 keep-alive client over a raw socket, for tests that must see exactly what
 * happens to one connection (its `connection: close`, the server closing it) across a drain or
 * a hot restart. Responses must be framed by content-length.
 */

/** One response read off the connection. */
export interface Http1Response {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One keep-alive connection. */
export class Http1Client {
  #buf = "";
  readonly #dec = new TextDecoder();
  readonly #enc = new TextEncoder();
  readonly #chunk = new Uint8Array(16 * 1024);
  /** The server closed the connection (a read returned EOF or failed). */
  closed = false;

  private constructor(readonly conn: Deno.TcpConn) {}

  /** Connects to `hostname`:`port`. */
  static async connect(port: number, hostname = "127.0.0.1"): Promise<Http1Client> {
    return new Http1Client(await Deno.connect({ hostname, port }));
  }

  /** Sends a GET and reads its response. Throws if the connection ends first. */
  async get(path: string, headers: Record<string, string> = {}): Promise<Http1Response> {
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await this.conn.write(this.#enc.encode(`GET ${path} HTTP/1.1\r\nhost: test\r\n${extra}\r\n`));
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const lines = this.#buf.slice(0, end).split("\r\n");
        const headers: Record<string, string> = {};
        for (const l of lines.slice(1)) {
          const c = l.indexOf(":");
          headers[l.slice(0, c).toLowerCase()] = l.slice(c + 1).trim();
        }
        const length = Number(headers["content-length"] ?? 0);
        if (this.#buf.length >= end + 4 + length) {
          const body = this.#buf.slice(end + 4, end + 4 + length);
          this.#buf = this.#buf.slice(end + 4 + length);
          return { status: Number(lines[0].split(" ")[1]), headers, body };
        }
      }
      if (!(await this.#read())) {
        throw new Error(`connection closed; got ${JSON.stringify(this.#buf)}`);
      }
    }
  }

  /** Resolves once the server closes the connection (true), or false after `ms`. */
  async waitClosed(ms = 20_000): Promise<boolean> {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      this.close();
    }, ms);
    while (!this.closed) await this.#read();
    clearTimeout(timer);
    return !timedOut;
  }

  async #read(): Promise<boolean> {
    let n: number | null = null;
    try {
      n = await this.conn.read(this.#chunk);
    } catch { /* reset, or closed by us */ }
    if (n === null) {
      this.closed = true;
      return false;
    }
    this.#buf += this.#dec.decode(this.#chunk.subarray(0, n));
    return true;
  }

  /** Closes our side. */
  close(): void {
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}

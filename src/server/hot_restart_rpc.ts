/**
 * The hot restart RPC between two epochs of one server: the domain socket names (Envoy's
 * scheme) and the messages, framed on a Unix stream socket.
 *
 * Envoy sends protobuf `HotRestartMessage`s in datagrams and passes each listen socket's fd
 * with SCM_RIGHTS. denvoy's epochs speak only to each other (a denvoy process cannot take over
 * from an Envoy one, nor the reverse), so the messages are JSON, each preceded by its length
 * as a big-endian uint32, and the listen sockets are shared through SO_REUSEPORT instead of
 * passed (see `hot_restart.ts` for why).
 *
 * @module
 */
import type { StoreSnapshot } from "../stats/snapshot.ts";

/** Envoy allows three epochs at once (the oldest is killed by the third): ids cycle mod 3. */
const MAX_CONCURRENT_PROCESSES = 3;

/** Messages bigger than this are refused: a peer that sends one is broken or hostile. */
export const MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * The id in a domain socket's name: Envoy's `base_id * 10 + epoch % 3`, so that base ids a
 * unit apart never share a name.
 */
export function domainSocketId(baseId: number, epoch: number): number {
  return baseId * 10 + epoch % MAX_CONCURRENT_PROCESSES;
}

/**
 * The domain socket `role` ("parent": where a process waits for its next epoch) of the process
 * with `epoch`, as Envoy names it: `<socket path>_<role>_<id>`. A leading '@' is the abstract
 * namespace, which the socket API spells with a leading NUL.
 */
export function domainSocketPath(
  socketPath: string,
  role: "parent" | "child",
  baseId: number,
  epoch: number,
): string {
  const name = `${socketPath}_${role}_${domainSocketId(baseId, epoch)}`;
  return name.startsWith("@") ? "\0" + name.slice(1) : name;
}

/** A listener of the parent, by its configured address, with the port it is bound to. */
export interface ParentListener {
  name: string;
  /** The configured address (`127.0.0.1:0` for a port-0 listener). */
  address: string;
  port: number;
}

/** Child → parent. The child asks; the parent answers each request in order. */
export type ChildRequest =
  /** Which listeners the parent serves and on which ports (Envoy's PassListenSocket). */
  | { type: "listeners" }
  /** Close the admin listener, so the child can bind its address (ShutdownAdmin). */
  | { type: "shutdownAdmin" }
  /**
   * The child accepts on every listener: stop accepting and drain (DrainListeners). `steered`:
   * the child has taken every new connection over (`reuseport_steering.ts`), so the parent
   * accepts what is queued on its sockets for a moment before it closes them.
   */
  | { type: "drain"; steered: boolean }
  /** The parent's stats, merged into the child's (Stats). */
  | { type: "stats" }
  /** The parent shutdown time is over: exit (Terminate). */
  | { type: "terminate" };

/** Parent → child. */
export type ParentReply =
  | {
    type: "listeners";
    /** The parent's `--hot-restart-version`: epochs with different ones cannot hand over. */
    version: string;
    epoch: number;
    /** The parent's `server.hot_restart_generation`. */
    generation: number;
    /** Sockets the parent has in each listener's reuse-port group (one per worker). */
    workers: number;
    listeners: ParentListener[];
  }
  | {
    type: "adminShutdown";
    /** When the first epoch started (ms since the Unix epoch), for `uptime_all_epochs`. */
    originalStartTimeMs: number;
  }
  | { type: "draining" }
  | { type: "stats"; stats: StoreSnapshot }
  | { type: "terminating" }
  | { type: "error"; message: string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One message as it goes on the wire: length, then JSON. */
export function encodeMessage(m: ChildRequest | ParentReply): Uint8Array {
  const body = encoder.encode(JSON.stringify(m));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
}

/** Cuts a byte stream into messages. */
export class MessageReader {
  #buf = new Uint8Array(0);

  /** Adds bytes; returns the messages they complete. Throws on a malformed message. */
  push(chunk: Uint8Array): unknown[] {
    const joined = new Uint8Array(this.#buf.length + chunk.length);
    joined.set(this.#buf);
    joined.set(chunk, this.#buf.length);
    const out: unknown[] = [];
    let off = 0;
    while (joined.length - off >= 4) {
      const n = new DataView(joined.buffer, off).getUint32(0);
      if (n > MAX_MESSAGE_BYTES) throw new Error(`hot restart message of ${n} bytes`);
      if (joined.length - off - 4 < n) break;
      const m = JSON.parse(decoder.decode(joined.subarray(off + 4, off + 4 + n)));
      if (typeof m !== "object" || m === null || typeof m.type !== "string") {
        throw new Error("malformed hot restart message");
      }
      out.push(m);
      off += 4 + n;
    }
    this.#buf = joined.slice(off);
    return out;
  }
}

/** Messages over one connection: send, and receive in order. */
export class RpcStream {
  readonly #reader = new MessageReader();
  readonly #queue: unknown[] = [];
  readonly #chunk = new Uint8Array(64 * 1024);
  #closed = false;

  constructor(readonly conn: Deno.Conn) {}

  /** Sends one message (the whole of it). */
  async send(m: ChildRequest | ParentReply): Promise<void> {
    const data = encodeMessage(m);
    for (let off = 0; off < data.length;) off += await this.conn.write(data.subarray(off));
  }

  /** The next message, or undefined once the peer closed (or sent garbage). */
  async receive(): Promise<unknown | undefined> {
    while (this.#queue.length === 0) {
      if (this.#closed) return undefined;
      let n: number | null = null;
      try {
        n = await this.conn.read(this.#chunk);
      } catch { /* reset: the peer is gone */ }
      if (n === null) {
        this.#closed = true;
        return undefined;
      }
      try {
        this.#queue.push(...this.#reader.push(this.#chunk.subarray(0, n)));
      } catch {
        this.close();
        return undefined;
      }
    }
    return this.#queue.shift();
  }

  close(): void {
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}
